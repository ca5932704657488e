"""The studio's speed, and its picture: `keras-sgm studio` against `sample()` in Python, same backend, warm.

    KERAS_BACKEND=jax python benchmarks/studio.py --screenshot docs/studio.png

Starts `keras-sgm studio --preset mnist --preset mnist_consistency` and times, after a warm-up
request each (medians of `--repeats`):
- Generate to first grid in the browser (Chromium, headless): the consistency model, 16 images;
- `POST /api/sample` and `POST /api/stream` (every step's images) of that grid and of a 16-image
  EDM Heun grid (18 steps, 35 NFE) of the latent MNIST model, beside the same `sample()` call
  in this process.
Then it draws a 3 for the latent model, redraws it with image-to-image and saves a screenshot.
"""

import argparse
import statistics
import subprocess
import sys
import time

import httpx
import numpy as np

from keras_sgm.models.saving import load_model
from keras_sgm.sampling.sample import sample

REQUESTS = {"consistency, 16 images": {"model": "mnist_consistency", "num": 16, "label": 7},
            "latent Heun-35, 16 images": {"model": "mnist", "num": 16, "label": 7, "steps": 18}}


def median_seconds(run, repeats):
    run()  # warm-up: loads and compiles
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def streamed(url, body):
    with httpx.stream("POST", f"{url}/api/stream", json=body, timeout=600) as response:
        return [line for line in response.iter_lines() if line]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--screenshot", help="a PNG of the page after Generate and an image-to-image redraw")
    args = parser.parse_args()

    url = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen([sys.executable, "-m", "keras_sgm.cli", "studio", "--preset", "mnist", "--preset",
                               "mnist_consistency", "--port", str(args.port)])
    try:
        while True:
            try:
                httpx.get(f"{url}/api/models", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        print("| what | sample() in Python | POST /api/sample | x sample() | POST /api/stream | x sample() |")
        print("| --- | --- | --- | --- | --- | --- |")
        for what, body in REQUESTS.items():
            model = load_model(body["model"])
            python = median_seconds(lambda: sample(model, body["num"], steps=body.get("steps"),
                                                   labels=np.full(body["num"], body["label"])), args.repeats)
            api = median_seconds(lambda: httpx.post(f"{url}/api/sample", json=body, timeout=600).raise_for_status(),
                                 args.repeats)
            stream = median_seconds(lambda: streamed(url, {**body, "task": "sample"}), args.repeats)
            print(f"| {what} | {python:.3f} s | {api:.3f} s | {api / python:.2f} | {stream:.3f} s | "
                  f"{stream / python:.2f} |", flush=True)
        browser_figures(url, args)
    finally:
        server.terminate()
        server.wait(30)


def browser_figures(url, args):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1240, "height": 640})
        page.goto(url)
        page.select_option("#model", "mnist_consistency")
        page.wait_for_selector("#status:has-text('Ready: mnist_consistency')", timeout=120_000)
        page.select_option("#label", "7")
        seconds = []
        for click in range(1, args.repeats + 2):
            start = time.perf_counter()
            page.click("#generate")
            page.wait_for_selector(f"#result[data-done='{click}']", timeout=120_000)
            seconds.append(time.perf_counter() - start)
        print(f"Generate to first grid in Chromium, consistency model, 16 images, warm: "
              f"{statistics.median(seconds[1:]):.3f} s (first: {seconds[0]:.3f} s)")
        if args.screenshot:  # the latent model redraws a stroke as a 3, its last step shown live
            page.select_option("#model", "mnist")
            page.wait_for_selector("#status:has-text('Ready: mnist')", timeout=120_000)
            page.select_option("#label", "3")
            page.fill("#num", "16")
            box = page.locator("#mask").bounding_box()
            page.mouse.move(box["x"] + 90, box["y"] + 70)
            page.mouse.down()
            for x, y in ((140, 40), (190, 80), (140, 140), (190, 200), (140, 240), (90, 210)):
                page.mouse.move(box["x"] + x, box["y"] + y, steps=6)
            page.mouse.up()
            page.eval_on_selector("#strength", "slider => { slider.value = '0.7'; slider.dispatchEvent(new Event('input')); }")
            page.click("#img2img")
            page.wait_for_selector(f"#result[data-done='{args.repeats + 2}']", timeout=120_000)
            page.screenshot(path=args.screenshot)
            print(f"wrote {args.screenshot}")
        browser.close()


if __name__ == "__main__":
    main()
