"""The studio in a real browser (Debian's Chromium, headless, through Playwright): Generate gives digits
of the chosen class, then a stroke on the canvas goes through image-to-image.

`.ci/run` installs Chromium; where none can be installed the test skips, saying so."""

import base64
import io
import shutil
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from keras_sgm.evaluation.metrics import classify
from tests.test_studio import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (apt-get install chromium)")


@pytest.fixture(scope="module")
def studio_url(tmp_path_factory):
    """`keras-sgm studio --preset mnist_consistency`, as a user starts it."""
    port = free_port()
    log = tmp_path_factory.mktemp("studio") / "server.log"
    with open(log, "w") as output:
        server = subprocess.Popen([sys.executable, "-m", "keras_sgm.cli", "studio", "--preset", "mnist_consistency",
                                   "--port", str(port)], stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/api/models", timeout=1)
            break
        except httpx.TransportError:
            assert server.poll() is None, log.read_text()
            time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(10)


def tiles(data_url, count, size=28):
    """The `count` images of a grid PNG from the studio (8 to a row, 2 pixels apart, enlarged)."""
    grid = np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("L"))
    scale = 224 // size
    grid = grid[::scale, ::scale]
    return np.stack([grid[2 + (i // 8) * (size + 2):][:size, 2 + (i % 8) * (size + 2):][:, :size]
                     for i in range(count)])[..., None]


def test_generate_then_redraw_a_stroke(studio_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(studio_url)
        page.wait_for_selector("#status:has-text('Ready')", timeout=120_000)

        page.select_option("#label", "7")
        page.fill("#num", "16")
        page.click("#generate")
        page.wait_for_selector("#result[data-done='1']", timeout=120_000)
        generated = page.get_attribute("#result", "src")
        _, probabilities = classify(tiles(generated, 16))
        assert np.mean(probabilities.argmax(axis=1) == 7) >= 0.75
        assert page.inner_text("#command").startswith("keras-sgm sample --preset mnist_consistency --label 7")
        assert page.get_attribute("#download", "href") == generated

        box = page.locator("#mask").bounding_box()
        page.mouse.move(box["x"] + 140, box["y"] + 40)
        page.mouse.down()
        page.mouse.move(box["x"] + 140, box["y"] + 240, steps=12)
        page.mouse.up()
        sketch = page.evaluate("document.getElementById('canvas').toDataURL('image/png')")
        assert np.asarray(Image.open(io.BytesIO(base64.b64decode(sketch.split(",", 1)[1])))).max() == 255
        page.eval_on_selector("#strength", "slider => { slider.value = '0.6'; slider.dispatchEvent(new Event('input')); }")
        page.click("#img2img")
        page.wait_for_selector("#result[data-done='2']", timeout=120_000)
        redrawn = page.get_attribute("#result", "src")
        assert redrawn != generated
        assert "keras-sgm img2img" in page.inner_text("#command")
        assert "error" not in page.get_attribute("#status", "class")
        browser.close()
