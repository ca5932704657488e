// keras-sgm studio: the page over the JSON API of keras_sgm/serving/studio.py. No libraries, no network.
"use strict";

const $ = (id) => document.getElementById(id);
const canvas = $("canvas"), maskCanvas = $("mask");
const paint = canvas.getContext("2d"), marks = maskCanvas.getContext("2d");
let info = null;  // GET /api/models/{name} of the chosen model

function setStatus(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

function busy(on) {
  for (const id of ["generate", "img2img", "inpaint"]) $(id).disabled = on;
}

async function getJSON(url) {
  const response = await fetch(url);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

async function loadModels() {
  const { models } = await getJSON("/api/models");
  $("model").replaceChildren(...models.map((m) => new Option(m.name, m.name)));
  await chooseModel();
}

async function chooseModel() {
  busy(true);
  setStatus(`Loading ${$("model").value}...`);
  try {
    info = await getJSON(`/api/models/${encodeURIComponent($("model").value)}`);
  } catch (error) {
    setStatus(error.message, true);
    return;
  }
  const [height, width, channels] = info.image_shape;
  $("model-info").textContent = `${height}x${width}, ${channels === 1 ? "grey" : "colour"}` +
    `${info.latent ? ", latent" : ""}, ${info.classes.length || "no"} classes`;
  $("label").replaceChildren(new Option("none", ""), ...info.classes.map((name, i) => new Option(name, i)));
  $("label").disabled = info.classes.length === 0;
  $("sampler").replaceChildren(...info.samplers.map((s) => new Option(s, s)));
  $("sampler").value = info.sampler;
  $("guidance").placeholder = info.guidance === null ? "none" : `model's own (${info.guidance})`;
  $("colour").hidden = channels === 1;
  // The canvas takes the model's aspect ratio, 280 pixels on its longer side.
  const scale = 280 / Math.max(height, width);
  for (const element of [canvas, maskCanvas]) {
    element.width = Math.round(width * scale);
    element.height = Math.round(height * scale);
  }
  $("canvases").style.width = `${canvas.width}px`;
  $("canvases").style.height = `${canvas.height}px`;
  clearCanvas();
  busy(false);
  $("inpaint").disabled = !info.inpaint;
  setStatus(`Ready: ${info.name}.`);
}

function fields() {
  const number = (id) => ($(id).value === "" ? null : Number($(id).value));
  return {
    model: info.name, num: number("num"), seed: number("seed"), steps: number("steps"),
    guidance: number("guidance"), sampler: $("sampler").value,
    label: $("label").value === "" ? null : Number($("label").value),
  };
}

// Runs a task through POST /api/stream: each line is a step's images, then the result (or an error).
async function run(task, extra = {}) {
  busy(true);
  $("live").hidden = true;  // shown by the first step: a one-step model has none
  setStatus(`${task}: starting...`);
  const started = performance.now();
  try {
    const response = await fetch("/api/stream", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ...fields(), ...extra, task }),
    });
    if (!response.ok) throw new Error((await response.json()).error || response.statusText);
    const reader = response.body.getReader(), decoder = new TextDecoder();
    let pending = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += decoder.decode(value, { stream: true });
      const lines = pending.split("\n");
      pending = lines.pop();
      for (const line of lines.filter(Boolean)) show(JSON.parse(line), task, started);
    }
  } catch (error) {
    setStatus(error.message, true);
  } finally {
    busy(false);
    if (info) $("inpaint").disabled = !info.inpaint;
  }
}

function show(event, task, started) {
  if (event.error) throw new Error(event.error);
  if (event.step !== undefined) {
    $("live").hidden = false;
    $("noisy").src = event.noisy;
    $("denoised").src = event.denoised;
    setStatus(`${task}: step ${event.step} of ${event.steps}`);
    return;
  }
  $("result").src = event.image;
  $("result").dataset.done = String(Number($("result").dataset.done || 0) + 1);
  $("download").href = event.image;
  $("download").hidden = false;
  $("command").textContent = event.command;
  $("copy").hidden = false;
  setStatus(`${task}: done in ${((performance.now() - started) / 1000).toFixed(2)} s ` +
            `(${event.seconds.toFixed(2)} s on the server).`);
}

// Drawing: the brush paints the image, or marks in red what inpainting redraws.
let drawing = false, last = null;

function brushMode() {
  return document.querySelector("input[name=brush]:checked").value;
}

function stroke(from, to) {
  const context = brushMode() === "mask" ? marks : paint;
  context.strokeStyle = brushMode() === "mask" ? "rgba(255, 40, 40, 0.55)" :
    (info && info.image_shape[2] === 3 ? $("colour").value : "#ffffff");
  context.lineWidth = Number($("brush-size").value);
  context.lineCap = context.lineJoin = "round";
  context.beginPath();
  context.moveTo(from.x, from.y);
  context.lineTo(to.x, to.y);
  context.stroke();
}

function point(event) {
  const box = maskCanvas.getBoundingClientRect();
  return { x: (event.clientX - box.left) * maskCanvas.width / box.width,
           y: (event.clientY - box.top) * maskCanvas.height / box.height };
}

maskCanvas.addEventListener("pointerdown", (event) => {
  drawing = true;
  last = point(event);
  stroke(last, last);
});
maskCanvas.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const next = point(event);
  stroke(last, next);
  last = next;
});
for (const name of ["pointerup", "pointerleave"]) maskCanvas.addEventListener(name, () => { drawing = false; });

function clearCanvas() {
  paint.fillStyle = "#000";
  paint.fillRect(0, 0, canvas.width, canvas.height);
  marks.clearRect(0, 0, maskCanvas.width, maskCanvas.height);
}

$("upload").addEventListener("change", () => {
  const file = $("upload").files[0];
  if (!file) return;
  const picture = new Image();
  picture.onload = () => {
    clearCanvas();
    paint.drawImage(picture, 0, 0, canvas.width, canvas.height);
    URL.revokeObjectURL(picture.src);
  };
  picture.onerror = () => setStatus(`${file.name} is not an image this browser can read.`, true);
  picture.src = URL.createObjectURL(file);
});

// The marks as a mask PNG: white where marked, black elsewhere.
function maskPNG() {
  const out = document.createElement("canvas");
  out.width = maskCanvas.width;
  out.height = maskCanvas.height;
  const context = out.getContext("2d");
  context.fillStyle = "#000";
  context.fillRect(0, 0, out.width, out.height);
  const source = marks.getImageData(0, 0, out.width, out.height), target = context.getImageData(0, 0, out.width, out.height);
  let marked = 0;
  for (let i = 3; i < source.data.length; i += 4) {
    if (source.data[i] > 0) {
      target.data[i - 3] = target.data[i - 2] = target.data[i - 1] = 255;
      marked += 1;
    }
  }
  context.putImageData(target, 0, 0);
  return marked ? out.toDataURL("image/png") : null;
}

$("model").addEventListener("change", chooseModel);
$("generate").addEventListener("click", () => run("sample"));
$("img2img").addEventListener("click", () =>
  run("img2img", { image: canvas.toDataURL("image/png"), strength: Number($("strength").value) }));
$("inpaint").addEventListener("click", () => {
  const mask = maskPNG();
  if (!mask) {
    setStatus("Mark the part to redraw first: choose 'mark to inpaint' and brush over it.", true);
    return;
  }
  run("inpaint", { image: canvas.toDataURL("image/png"), mask });
});
$("strength").addEventListener("input", () => { $("strength-value").textContent = $("strength").value; });
$("clear").addEventListener("click", clearCanvas);
$("copy").addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText($("command").textContent);
    setStatus("Command copied.");
  } catch {
    setStatus("The browser refused the clipboard; select the command and copy it.", true);
  }
});

clearCanvas();
loadModels().catch((error) => setStatus(error.message, true));
