"""The studio's JSON API, served by uvicorn as `keras-sgm studio` serves it: the grids are `sample()`'s,
the stream shows each step, bad requests get one-line 4xx answers, and a crowd of requests, a
client that leaves and oversized input leave the server alive."""

import asyncio
import base64
import io
import json
import socket
import threading
import time

import httpx
import numpy as np
import pytest
import uvicorn
from PIL import Image

from keras_sgm.sampling.sample import sample
from keras_sgm.serving.studio import Limits, create_app, png_bytes
from tests.conftest import small_model

QUEUE = 3


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """A studio over a tiny conditional pixel model, in a uvicorn thread: `(base_url, app, model)`."""
    path = tmp_path_factory.mktemp("studio") / "tiny.keras"
    model = small_model(num_classes=10, seed=3)
    model.save(path)
    app = create_app({"tiny": str(path)}, Limits(num=16, steps=200, image_side=64, body_bytes=200_000, queue=QUEUE))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{server.config.port}", app, model
    server.should_exit = True
    thread.join(10)


def png_of(image):
    """One `(1, h, w, 1)` image in [0, 1] as a PNG data URL, at its own size."""
    file = io.BytesIO()
    Image.fromarray(np.round(image[0, ..., 0] * 255).astype("uint8")).save(file, format="PNG")
    return "data:image/png;base64," + base64.b64encode(file.getvalue()).decode()


def grid_of(response):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.content)))


def test_models_are_listed_and_described(studio):
    url, _, model = studio
    assert httpx.get(f"{url}/api/models").json() == {"models": [{"name": "tiny", "source": studio[1].state.worker.sources["tiny"]}]}
    described = httpx.get(f"{url}/api/models/tiny", timeout=60).json()
    assert described["image_shape"] == [28, 28, 1] and len(described["classes"]) == 10
    assert described["sampler"] == "heun" and "consistency" not in described["samplers"]


def test_a_sample_request_answers_the_grid_of_sample_and_its_command(studio):
    url, _, model = studio
    body = {"model": "tiny", "num": 6, "label": 4, "guidance": 1.5, "steps": 3, "seed": 11}
    response = httpx.post(f"{url}/api/sample", json=body, timeout=120)
    expected, _, _ = sample(model, 6, steps=3, seed=11, labels=np.full(6, 4), guidance=1.5)
    np.testing.assert_array_equal(grid_of(response), np.asarray(Image.open(io.BytesIO(png_bytes(expected)))))
    assert response.headers["x-command"].endswith("--label 4 --guidance 1.5 --steps 3 --sampler heun --num 6 "
                                                  "--seed 11 --out sample.png")


def test_every_sampler_the_page_offers_answers_with_its_command(studio):
    url, _, _ = studio
    for sampler in httpx.get(f"{url}/api/models/tiny", timeout=60).json()["samplers"]:
        steps = {} if sampler == "ode" else {"steps": 3}  # the ODE's default steps are what this checks
        response = httpx.post(f"{url}/api/sample", json={"model": "tiny", "num": 2, "sampler": sampler, **steps},
                              timeout=120)
        assert response.status_code == 200, (sampler, response.text)
        assert f"--sampler {sampler}" in response.headers["x-command"]
        assert ("--steps 18" in response.headers["x-command"]) == (sampler == "ode")  # the CLI's ODE is adaptive


def test_the_stream_shows_every_step_then_the_same_grid(studio):
    url, _, _ = studio
    body = {"model": "tiny", "num": 4, "steps": 5, "seed": 2, "task": "sample"}
    with httpx.stream("POST", f"{url}/api/stream", json=body, timeout=120) as response:
        events = [json.loads(line) for line in response.iter_lines() if line]
    steps = [event["step"] for event in events[:-1]]
    assert steps == [1, 2, 3, 4] and all(event["noisy"] != event["denoised"] for event in events[:-1])
    final = events[-1]
    assert final["done"] and "keras-sgm sample" in final["command"]
    body.pop("task")
    direct = httpx.post(f"{url}/api/sample", json=body, timeout=120).content
    assert base64.b64decode(final["image"].split(",", 1)[1]) == direct


def test_img2img_and_inpaint_take_an_image_sized_for_the_model(studio, digits):
    url, _, _ = studio
    image = png_of(np.repeat(np.repeat(digits[0][:1] / 255.0, 2, axis=1), 2, axis=2))  # 56x56: resized to 28x28
    redrawn = grid_of(httpx.post(f"{url}/api/img2img", json={"model": "tiny", "image": image, "strength": 0.3,
                                                               "num": 2, "steps": 4}, timeout=120))
    assert redrawn.shape == np.asarray(Image.open(io.BytesIO(png_bytes(np.zeros((2, 28, 28, 1)))))).shape
    left_half = np.zeros((1, 28, 28, 1))
    left_half[:, :, :14] = 1.0  # white: redraw the left half
    response = httpx.post(f"{url}/api/inpaint", json={"model": "tiny", "image": image, "mask": png_of(left_half),
                                                        "num": 2, "steps": 4}, timeout=120)
    inpainted = grid_of(response)
    uploaded = Image.open(io.BytesIO(base64.b64decode(image.split(",", 1)[1])))
    known = np.asarray(uploaded.resize((28, 28)))  # the digit as the server sized it
    scale = 224 // 28
    tile = inpainted[2 * scale: 30 * scale: scale, 2 * scale: 30 * scale: scale]
    np.testing.assert_allclose(tile[:, 14:], known[:, 14:], atol=1)  # the known half is kept
    assert "--mask mask.png" in response.headers["x-command"]


@pytest.mark.parametrize("body, status, message", [
    (b"{not json", 400, "not JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (b'{"num": 2}', 400, "give \\\"model\\\""),
    (b'{"model": "nope"}', 404, "no model 'nope'"),
    (b'{"model": "tiny", "num": 17}', 400, "\\\"num\\\" must be an integer in 1..16"),
    (b'{"model": "tiny", "steps": 201}', 400, "1..200"),
    (b'{"model": "tiny", "seed": -1}', 400, "\\\"seed\\\""),
    (b'{"model": "tiny", "guidance": "high"}', 400, "\\\"guidance\\\" must be a number"),
    (b'{"model": "tiny", "label": "seven"}', 400, "not a class of this model"),
    (b'{"model": "tiny", "label": 10}', 400, "0..9"),
    (b'{"model": "tiny", "sampler": "ddim"}', 400, "\\\"sampler\\\" must be one of"),
    (b'{"model": "tiny", "sampler": "consistency"}', 400, "needs a consistency model"),
    (b'{"model": "tiny", "colour": 1}', 400, "unknown field 'colour'"),
])
def test_a_bad_request_gets_a_one_line_4xx(studio, body, status, message):
    response = httpx.post(f"{studio[0]}/api/sample", content=body, timeout=60)
    assert response.status_code == status and message in response.text
    assert "\n" not in response.json()["error"]


def test_bad_images_get_a_4xx(studio):
    url = studio[0]
    whole = base64.b64decode(png_of(np.random.default_rng(0).random((1, 28, 28, 1))).split(",", 1)[1])
    truncated = base64.b64encode(whole[: len(whole) // 2]).decode()  # its header reads, its pixels do not
    cases = [({"image": "not base64!"}, 400), ({"image": base64.b64encode(b"GIF89a broken").decode()}, 400),
             ({"image": png_of(np.zeros((1, 65, 30, 1)))}, 413), ({"image": png_of(np.zeros((1, 28, 28, 1)))}, 400),
             ({"image": truncated, "mask": truncated}, 400)]
    for fields, status in cases:  # the last one lacks its mask
        response = httpx.post(f"{url}/api/inpaint", json={"model": "tiny", **fields}, timeout=60)
        assert response.status_code == status, (fields, response.text)
    too_big = httpx.post(f"{url}/api/img2img", json={"model": "tiny", "image": "A" * 300_000}, timeout=60)
    assert too_big.status_code == 413


def test_a_crowd_is_answered_or_refused_and_the_server_lives(studio):
    url, app, _ = studio

    async def crowd():
        async with httpx.AsyncClient(timeout=300) as client:
            return await asyncio.gather(*(client.post(f"{url}/api/sample", json={"model": "tiny", "num": 4,
                                                                                  "steps": 2, "seed": i})
                                          for i in range(100)))

    responses = asyncio.run(crowd())
    statuses = [response.status_code for response in responses]
    assert set(statuses) <= {200, 503} and statuses.count(200) >= QUEUE
    assert all(response.content.startswith(b"\x89PNG") for response in responses if response.status_code == 200)
    assert all("busy" in response.json()["error"] for response in responses if response.status_code == 503)
    assert httpx.post(f"{url}/api/sample", content=b"{", timeout=60).status_code == 400
    assert httpx.post(f"{url}/api/sample", json={"model": "tiny", "num": 1, "steps": 2}, timeout=60).status_code == 200
    assert app.state.worker.waiting == 0


def test_a_client_that_leaves_a_stream_frees_its_place(studio):
    url, app, _ = studio
    body = {"model": "tiny", "num": 16, "sampler": "euler", "steps": 200, "task": "sample"}
    with httpx.stream("POST", f"{url}/api/stream", json=body, timeout=60) as response:
        next(response.iter_lines())  # the first step, then the client goes
    deadline = time.monotonic() + 30
    while app.state.worker.waiting and time.monotonic() < deadline:
        time.sleep(0.05)
    assert app.state.worker.waiting == 0
    assert httpx.post(f"{url}/api/sample", json={"model": "tiny", "num": 1, "steps": 2}, timeout=60).status_code == 200
