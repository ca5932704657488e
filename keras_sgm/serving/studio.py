"""keras-sgm studio: a local web app to generate, redraw and inpaint with any model, over a JSON API.

The page (`keras_sgm/serving/static/`) and programs use the same endpoints:

- `GET /api/models`: the models it can load, by name;
- `GET /api/models/{name}`: one model, loaded: its image shape, classes, samplers and defaults;
- `POST /api/sample`: `{"model", "num", "label", "guidance", "sampler", "steps", "seed"}` (all but
  `model` optional), answered with a PNG grid;
- `POST /api/img2img`: the same fields plus `"image"` (a base64 PNG) and `"strength"`;
- `POST /api/inpaint`: the same fields plus `"image"` and `"mask"` (white where to repaint);
- `POST /api/stream`: any of the three with `"task": "sample" | "img2img" | "inpaint"`, answered
  as newline-delimited JSON: one line per sampler step with the current noisy images and the
  denoiser's prediction as PNG data URLs, then `{"done": true, "image": ..., "command": ...}`.

Every model runs on one worker thread; requests queue for it, up to `Limits.queue`, and are
refused with 503 beyond. A bad request gets a 4xx with `{"error": "one line"}`. A client that
leaves a stream stops its sampler at the next step, which frees its place in the queue.
"""

import asyncio
import base64
import binascii
import concurrent.futures
import dataclasses
import io
import json
import pathlib
import shlex
import threading
import time

import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from keras_sgm.data.images import make_grid
from keras_sgm.sampling.names import IMG2IMG_SAMPLERS

STATIC = pathlib.Path(__file__).parent / "static"
TASKS = ("sample", "img2img", "inpaint")


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one request may ask for, and how many may wait for the model.

    Args:
        num: Images per request.
        steps: Sampler steps per request.
        image_side: Pixels on a side of an uploaded image or mask.
        body_bytes: Bytes of a request's body.
        queue: Requests running or waiting at once; more get 503.
    """

    num: int = 64
    steps: int = 1000
    image_side: int = 1024
    body_bytes: int = 8_000_000
    queue: int = 8


class RequestError(Exception):
    """A request the studio refuses: its HTTP status and a one-line message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class Cancelled(Exception):
    """The client of a stream has gone."""


def model_sources(presets=(), checkpoints=()):
    """`{name: source}` of the models the studio offers: preset names, `.keras` files, and the
    `.keras` files in folders (named by their path); every shipped preset when given neither."""
    from keras_sgm.models.presets import PRESETS

    sources = {name: name for name in presets}
    for checkpoint in map(pathlib.Path, checkpoints):
        files = sorted(checkpoint.rglob("*.keras")) if checkpoint.is_dir() else [checkpoint]
        for file in files:
            if not any(part.startswith(".") for part in file.parts):
                sources[str(file)] = str(file)
    if not presets and not checkpoints:
        return {name: name for name in PRESETS}
    return sources


class ModelWorker:
    """The one thread that loads and runs the models, and its bounded queue.

    Args:
        sources: `{name: preset name or .keras path}`.
        limits: `Limits`.
    """

    def __init__(self, sources, limits):
        self.sources, self.limits = dict(sources), limits
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="keras-sgm-model")
        self.models = {}
        self.waiting = 0
        self.lock = threading.Lock()

    def check_room(self):
        """A 503 when the queue is full."""
        if self.waiting >= self.limits.queue:
            raise RequestError(503, f"the model is busy with {self.waiting} requests; try again shortly.")

    async def run(self, job, *args):
        """`job(*args)` on the model thread, or a 503 when the queue is full."""
        with self.lock:
            self.check_room()
            self.waiting += 1
        try:
            return await asyncio.wrap_future(self.executor.submit(job, *args))
        finally:
            with self.lock:
                self.waiting -= 1

    def check_name(self, name):
        if name not in self.sources:
            raise RequestError(404, f"no model {name!r}; GET /api/models lists them.")
        return name

    def model(self, name):
        """The model `name`, loaded on first use (on the model thread)."""
        from keras_sgm.models.saving import CheckpointError, load_model

        if self.check_name(name) not in self.models:
            try:
                self.models[name] = load_model(self.sources[name])
            except CheckpointError as error:
                raise RequestError(422, str(error)) from None
        return self.models[name]

    def describe(self, name):
        from keras_sgm.sampling.sample import default_sampler

        model = self.model(name)
        samplers = ["consistency"] if model.is_consistency_model else [s for s in IMG2IMG_SAMPLERS
                                                                          if s != "consistency"]
        return {
            "name": name, "image_shape": list(model.image_shape), "latent": hasattr(model, "autoencoder"),
            "classes": list(model.class_names or range(model.num_classes or 0)),
            "samplers": samplers, "sampler": default_sampler(model),
            "default_steps": 1 if model.is_consistency_model else 18,
            "guidance": model.default_guidance if model.num_classes else None,
            "inpaint": not model.is_consistency_model,
        }


# Requests.

_OPTIONAL_NUMBERS = {"num": (int, 1, "limit"), "steps": (int, 1, "limit"), "seed": (int, 0, 2**31 - 1),
                     "guidance": (float, 0.0, 100.0), "strength": (float, 0.0, 1.0)}


def parse_request(body, task, limits):
    """The checked fields of a request's JSON `body` for `task`, or a 400 naming the first bad one."""
    if not isinstance(body, dict):
        raise RequestError(400, "the body must be a JSON object, such as {\"model\": \"mnist\"}.")
    known = {"model", "num", "label", "guidance", "sampler", "steps", "seed", "task", "image", "mask", "strength"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise RequestError(400, f"unknown field {unknown[0]!r}; the fields are {', '.join(sorted(known))}.")
    if not isinstance(body.get("model"), str):
        raise RequestError(400, "give \"model\": a name from GET /api/models.")
    request = {"model": body["model"], "label": body.get("label"), "sampler": body.get("sampler"),
               "num": 16, "seed": 0, "steps": None, "guidance": None, "strength": 0.5}
    for field, (kind, low, high) in _OPTIONAL_NUMBERS.items():
        value = body.get(field)
        if value is None:
            continue
        high = getattr(limits, field) if high == "limit" else high
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)) \
                or not low <= value <= high or (field == "strength" and value == 0):
            interval = f"({low}, {high}]" if field == "strength" else f"{low}..{high}"
            raise RequestError(400, f"\"{field}\" must be a{'n integer' if kind is int else ' number'} in "
                                    f"{interval}; got {value!r}.")
        request[field] = kind(value)
    label = request["label"]
    if label is not None and (isinstance(label, bool) or not isinstance(label, (int, str))):
        raise RequestError(400, "\"label\" is a class index, a class name, or null.")
    if request["sampler"] is not None and request["sampler"] not in IMG2IMG_SAMPLERS:
        raise RequestError(400, f"\"sampler\" must be one of {', '.join(IMG2IMG_SAMPLERS)}; got {request['sampler']!r}.")
    for field in ("image", "mask") if task != "sample" else ():
        if field == "mask" and task != "inpaint":
            continue
        if not isinstance(body.get(field), str):
            raise RequestError(400, f"give \"{field}\": a PNG as base64 (a data URL is fine).")
        request[field] = decode_png(body[field], field, limits)
    return request


def decode_png(text, field, limits):
    """A base64 PNG (or data URL) as a PIL image, checked against `limits.image_side`."""
    from PIL import Image, UnidentifiedImageError

    try:
        data = base64.b64decode(text.split(",", 1)[1] if text.startswith("data:") else text, validate=True)
        picture = Image.open(io.BytesIO(data))
    except (binascii.Error, ValueError, UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise RequestError(400, f"\"{field}\" is not a base64 image.") from None
    if max(picture.size) > limits.image_side:
        raise RequestError(413, f"\"{field}\" is {picture.size[0]}x{picture.size[1]} pixels; at most "
                                f"{limits.image_side} on a side.")
    return picture


def label_of(model, label):
    """The class index of a request's `"label"`: an index, or a class name in any case; None for none."""
    if label is None or label == "none":
        return None
    if model.num_classes is None:
        raise RequestError(400, "this model is unconditional; give \"label\": null.")
    names = [str(name) for name in (model.class_names or range(model.num_classes))]
    if isinstance(label, str):
        folded = [name.casefold() for name in names]
        if label.casefold() not in folded:
            raise RequestError(400, f"\"label\" {label!r} is not a class of this model; its classes are "
                                    f"{', '.join(names)}.")
        return folded.index(label.casefold())
    if not 0 <= label < model.num_classes:
        raise RequestError(400, f"\"label\" {label} is not a class of this model (0..{model.num_classes - 1}).")
    return label


def model_images(picture, model, mask=False):
    """An uploaded picture as the model's `(1, h, w, c)` floats in [0, 1], or a mask's `(1, h, w, 1)`."""
    height, width, channels = model.image_shape
    mode = "L" if mask or channels == 1 else "RGB"
    try:
        picture = picture.convert("RGBA").convert(mode) if picture.mode in ("P", "LA", "PA") else picture.convert(mode)
        array = np.asarray(picture.resize((width, height)), "float32") / 255.0
    except (OSError, ValueError) as error:  # a truncated file, or a mode Pillow cannot convert
        raise RequestError(400, f"cannot read the image: {' '.join(str(error).split())}.") from None
    return array.reshape(1, height, width, -1)


def png_data_url(images):
    """A grid of `(n, h, w, c)` images in [0, 1], enlarged for the screen, as a PNG data URL."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(images)).decode()


def png_bytes(images):
    from PIL import Image

    grid = make_grid(images, columns=min(len(images), 8))
    scale = max(1, 224 // images.shape[1])
    grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    file = io.BytesIO()
    Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(file, format="PNG")
    return file.getvalue()


def equivalent_command(source, task, request, label, sampler):
    """The `keras-sgm` command that draws the same images."""
    words = ["keras-sgm", task, *(["--preset", source] if "/" not in source and not source.endswith(".keras")
                                  else ["--checkpoint", source])]
    if task != "sample":
        words += ["--image", "input.png"] + (["--mask", "mask.png"] if task == "inpaint" else [])
    if task == "img2img":
        words += ["--strength", f"{request['strength']:g}"]
    if label is not None:
        words += ["--label", str(label)]
    for option in ("guidance", "steps"):
        if request[option] is not None:
            words += [f"--{option}", f"{request[option]:g}"]
    if task != "inpaint":
        words += ["--sampler", sampler]
    words += ["--num", str(request["num"]), "--seed", str(request["seed"]), "--out", f"{task}.png"]
    return shlex.join(words)


def run_task(worker, task, request, on_step=None):
    """The images of a checked request, drawn on the model thread: `(images, command, seconds)`."""
    from keras_sgm.sampling.generate import StepWatcher
    from keras_sgm.sampling.img2img import img2img
    from keras_sgm.sampling.inpainting import inpaint
    from keras_sgm.sampling.sample import default_sampler, sample

    start = time.perf_counter()
    model = worker.model(request["model"])
    label = label_of(model, request["label"])
    sampler = request["sampler"] or default_sampler(model)
    if sampler == "consistency" and not model.is_consistency_model:
        raise RequestError(400, "the consistency sampler needs a consistency model; choose heun.")
    progress = False if on_step is None else StepWatcher(on_step)
    # Steps where the command line's default differs: the ODE's fixed Heun steps, and a short inpainting.
    defaults = {"sample": 18 if sampler == "ode" else None, "img2img": None, "inpaint": 100}
    num, seed, steps = request["num"], request["seed"], request["steps"] or defaults[task]
    options = {"solver": "heun"} if sampler == "ode" and task == "sample" else {}
    labels = None if label is None else np.full(num, label)
    try:
        if task == "sample":
            images = sample(model, num, sampler=sampler, steps=steps, seed=seed, labels=labels,
                            guidance=request["guidance"], progress=progress, **options)[0]
        else:
            view = model.guided(labels, request["guidance"])
            known = np.repeat(model_images(request["image"], model), num, axis=0)
            if task == "img2img":
                images = img2img(view, known, request["strength"], sampler=sampler, steps=steps, seed=seed,
                                 progress=progress)[0]
            elif model.is_consistency_model:
                raise RequestError(400, "a consistency model cannot inpaint; choose a score model.")
            else:
                mask = 1.0 - np.round(model_images(request["mask"], model, mask=True)[0])  # white: repaint
                images = inpaint(view, known, mask, steps=steps, seed=seed)[0]
    except ValueError as error:  # the samplers' one-line refusals of what a request asked
        raise RequestError(400, str(error)) from None
    command = equivalent_command(worker.sources[request["model"]], task, {**request, "steps": steps}, label, sampler)
    return np.clip(images, 0.0, 1.0), command, time.perf_counter() - start


# The app.


def create_app(sources, limits=Limits()):
    """The studio's Starlette app over the models of `sources` (`model_sources`)."""
    worker = ModelWorker(sources, limits)

    async def read_json(request):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limits.body_bytes):
            raise RequestError(413, f"the body is over {limits.body_bytes:,} bytes.")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > limits.body_bytes:
                raise RequestError(413, f"the body is over {limits.body_bytes:,} bytes.")
        try:
            return json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise RequestError(400, f"the body is not JSON ({error}).") from None

    def refusals(handler):
        async def handle(request):
            try:
                return await handler(request)
            except RequestError as error:
                headers = {"Retry-After": "1"} if error.status == 503 else None
                return JSONResponse({"error": str(error)}, status_code=error.status, headers=headers)

        return handle

    async def models(request):
        return JSONResponse({"models": [{"name": name, "source": source} for name, source in worker.sources.items()]})

    async def model(request):
        return JSONResponse(await worker.run(worker.describe, worker.check_name(request.path_params["name"])))

    def task_endpoint(task):
        async def draw(request):
            checked = parse_request(await read_json(request), task, limits)
            worker.check_name(checked["model"])
            images, command, seconds = await worker.run(run_task, worker, task, checked)
            return Response(png_bytes(images), media_type="image/png",
                            headers={"X-Command": command, "X-Seconds": f"{seconds:.3f}"})

        return draw

    async def stream(request):
        body = await read_json(request)
        task = body.get("task", "sample") if isinstance(body, dict) else None
        if task not in TASKS:
            raise RequestError(400, f"\"task\" must be one of {', '.join(TASKS)}; got {task!r}.")
        checked = parse_request(body, task, limits)
        worker.check_name(checked["model"])
        loop, events, gone = asyncio.get_running_loop(), asyncio.Queue(), threading.Event()

        def on_step(step, steps, noisy, denoised):
            if gone.is_set():
                raise Cancelled()
            event = {"step": step, "steps": steps, "noisy": png_data_url(np.clip(noisy, 0, 1)),
                     "denoised": png_data_url(np.clip(denoised, 0, 1))}
            loop.call_soon_threadsafe(events.put_nowait, event)

        async def draw():
            try:
                images, command, seconds = await worker.run(run_task, worker, task, checked, on_step)
                return {"done": True, "image": png_data_url(images), "command": command, "seconds": seconds}
            except RequestError as error:
                return {"error": str(error), "status": error.status}
            except Cancelled:
                return None

        async def lines():
            job = asyncio.ensure_future(draw())
            try:
                while True:
                    waiting = asyncio.ensure_future(events.get())
                    done, _ = await asyncio.wait({job, waiting}, return_when=asyncio.FIRST_COMPLETED)
                    if waiting in done:
                        yield json.dumps(waiting.result()) + "\n"
                        continue
                    waiting.cancel()
                    while not events.empty():
                        yield json.dumps(events.get_nowait()) + "\n"
                    yield json.dumps(job.result()) + "\n"
                    return
            finally:
                gone.set()  # a client that left stops the sampler at its next step

        # A full queue is refused before the stream starts, with its status.
        worker.check_room()
        return StreamingResponse(lines(), media_type="application/x-ndjson")

    async def page(request):
        return FileResponse(STATIC / "index.html")

    routes = [
        Route("/", page),
        Route("/api/models", refusals(models)),
        Route("/api/models/{name:path}", refusals(model)),
        *(Route(f"/api/{task}", refusals(task_endpoint(task)), methods=["POST"]) for task in TASKS),
        Route("/api/stream", refusals(stream), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.worker = worker
    return app


def serve(sources, host="127.0.0.1", port=8000, limits=Limits()):
    """Runs the studio until interrupted."""
    print(f"keras-sgm studio: http://{host}:{port}/ ({len(sources)} models; Ctrl+C to stop)", flush=True)
    uvicorn.run(create_app(sources, limits), host=host, port=port, log_level="warning")
