"""Image-to-image (SDEdit): images noised to the level `strength` picks, then sampled back."""

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from keras_sgm.cli import main
from keras_sgm.sampling.img2img import img2img
from tests.conftest import FIXTURE, small_model
from tests.helpers.analytic import GaussianDataConsistency, GaussianDataScore

MEAN, STD, START = 0.5, 0.1, 0.9


@pytest.mark.parametrize("sampler", ["heun", "consistency", "ode", "euler"])
def test_img2img_of_gaussian_data_ends_where_its_dynamics_from_the_level_strength_picks_say(sampler):
    # Data N(m, s^2), noised to level e: N(m, s^2 + e^2). From x at level sigma, the probability-flow ODE (and
    # the consistency function) ends at level e at m + (x - m) sqrt(s^2 + e^2) / sqrt(s^2 + sigma^2); the
    # reverse SDE draws from the posterior at level e, of mean m + (x - m) (s^2 + e^2) / (s^2 + sigma^2) and
    # variance (s^2 + e^2) (sigma^2 - e^2) / (s^2 + sigma^2). An image at 0.9, noised to sigma(strength) as
    # x = 0.9 + sigma z, lands accordingly. Heun and consistency end at e = 0, the samplers in time at t = 1e-3.
    model = (GaussianDataConsistency if sampler == "consistency" else GaussianDataScore)(MEAN, STD)
    images = np.full((2000, *model.image_shape), START, "float32")
    steps = {"heun": 32, "consistency": 1, "ode": 256, "euler": 1000}[sampler]
    end = float(np.asarray(model.schedule.marginal_std(np.float32(1e-3)))) if sampler in ("ode", "euler") else 0.0
    data = STD**2 + end**2
    for strength in (0.05, 0.3, 1.0):
        sigma = float(np.asarray(model.schedule.marginal_std(np.float32(strength))))
        if sampler == "euler":
            shrink = data / (STD**2 + sigma**2)
            spread = np.sqrt((sigma * shrink) ** 2 + data * (sigma**2 - end**2) / (STD**2 + sigma**2))
        else:
            shrink = np.sqrt(data / (STD**2 + sigma**2))
            spread = sigma * shrink
        out, nfe = img2img(model, images, strength, sampler=sampler, steps=steps, seed=1)
        assert nfe == {"heun": 63, "consistency": 1, "ode": 512, "euler": 1000}[sampler]
        assert abs(out.mean() - (MEAN + (START - MEAN) * shrink)) < 0.01, (strength, out.mean())
        assert abs(out.std() / spread - 1.0) < 0.05, (strength, out.std())


def test_low_strength_keeps_the_layout_and_labels_guide_the_redrawing():
    model = small_model(seed=2, num_classes=10)
    digits = np.load(FIXTURE)["x_test"][:4, ..., None]
    distance = {}
    for strength in (0.1, 1.0):
        out, _ = img2img(model.guided(labels=[1, 2, 3, 4], guidance=2.0), digits, strength, steps=4, seed=0)
        assert out.shape == digits.shape
        distance[strength] = np.abs(out - digits / 255.0).mean()
    assert distance[0.1] < 0.5 * distance[1.0]
    with pytest.raises(ValueError, match="strength"):
        img2img(model, digits, 0.0)
    with pytest.raises(ValueError, match="shape"):
        img2img(model, digits[..., 0], 0.5)


def test_the_img2img_command_redraws_each_png_of_a_folder(tmp_path):
    checkpoint = tmp_path / "conditional.keras"
    small_model(seed=9, num_classes=10).save(checkpoint)
    folder = tmp_path / "inputs"
    folder.mkdir()
    for index, digit in enumerate(np.load(FIXTURE)["x_test"][:2]):
        Image.fromarray(digit).save(folder / f"{index}.png")
    out = tmp_path / "redrawn.png"
    result = CliRunner().invoke(main, ["img2img", "--checkpoint", str(checkpoint), "--image", str(folder),
                                       "--strength", "0.4", "--label", "7", "--num", "3", "--steps", "3",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 image(s) redrawn 3 times at strength 0.4 (5 NFE each)" in result.output
    # Two rows (input, then 3 redrawings) of 28-pixel digits with 2-pixel gaps, doubled.
    assert Image.open(out).size == (2 * (30 * 4 + 2), 2 * (30 * 2 + 2))
    refused = CliRunner().invoke(main, ["img2img", "--checkpoint", str(checkpoint), "--image", str(folder),
                                        "--strength", "0", "--out", str(out)])
    assert refused.exit_code == 2 and "--strength must be above 0" in refused.output
