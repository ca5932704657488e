"""The pretrained model that ships in the package.

`python -m tests.test_pretrained` rewrites the reference outputs after the
shipped weights change (run it on any backend; the test checks all three).
"""

import pathlib
import re

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import keras_sgm
from keras_sgm.cli import main
from keras_sgm.evaluation import metrics
from keras_sgm.evaluation.evaluate import inpainting_accuracy
from keras_sgm.models.presets import (
    DEFAULT_RECONSTRUCTION_GUIDANCE,
    PRETRAINED,
)
from keras_sgm.recipes.checkpoints import start_from
from keras_sgm.sampling.inpainting import inpaint
from keras_sgm.sampling.masks import half_mask
from keras_sgm.sampling.sample import sample
from tests.conftest import small_model, to_numpy

REFERENCE = pathlib.Path(__file__).parent / "data" / "pretrained_outputs.npz"


def probe_inputs(sample_shape):
    """Fixed noisy samples (digits, or latent grids), times and labels (the "no label" token included)."""
    rng = np.random.default_rng(0)
    images = rng.random((11, *sample_shape), dtype=np.float32)
    times = np.linspace(0.05, 1.0, 11, dtype=np.float32)
    labels = np.arange(11, dtype=np.int32)
    return images, times, labels


def probe_outputs(model):
    images, times, labels = probe_inputs(model.sample_shape)
    std = to_numpy(model.schedule.marginal_std(times))[:, None, None, None]
    # sigma^2 s = D - x is of order one at every noise level.
    return to_numpy(model.score(images, times, labels=labels)) * std**2


@pytest.fixture(scope="module")
def pretrained():
    return keras_sgm.load_pretrained()


def test_the_shipped_model_fits_the_size_budget(pretrained):
    assert PRETRAINED.stat().st_size <= 10 * 2**20
    assert pretrained.num_classes == 10 and pretrained.image_shape == (28, 28, 1)


def test_the_shipped_model_gives_the_same_outputs_on_every_backend(pretrained):
    expected = np.load(REFERENCE)["outputs"]
    np.testing.assert_allclose(probe_outputs(pretrained), expected, rtol=1e-4, atol=1e-4)


def test_inpainted_digits_keep_their_label(pretrained, test_digits):
    # The shipped latent model inpaints through the guidance alone (it has no pixels to
    # replace), which brings the true digit back in about 73 % of completions of the top half
    # (docs/benchmarks.md); the test below checks the guidance's pull itself.
    images, labels = test_digits[0][:64], test_digits[1][:64]
    report = inpainting_accuracy(pretrained, images, labels, keep="top", steps=40)
    assert report["accuracy"] >= 0.65


def test_reconstruction_guidance_draws_what_the_model_makes_of_the_known_half_to_it(pretrained, test_digits):
    # A latent model has no pixels to replace: only the guidance, through the decoder, ties
    # the model's own output (before the known pixels are pasted back) to the known half.
    known = test_digits[0][:8] / 255.0
    mask = half_mask((28, 28, 1), "top")

    def known_half_error(weight):
        raw, _ = inpaint(pretrained, known, mask, steps=20, reconstruction_guidance=weight, keep_known=False,
                         seed=0)
        return float(np.mean((raw[:, :14] - known[:, :14]) ** 2))

    assert known_half_error(DEFAULT_RECONSTRUCTION_GUIDANCE) < 0.6 * known_half_error(1e-3)


def test_sample_digit_all_draws_every_requested_digit_with_no_other_argument(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["sample", "--label", "all", "--out", "grid.png", "--npz", "raw.npz",
                                       "--no-progress"])
    assert result.exit_code == 0, result.output
    assert int(re.search(r"\((\d+) NFE\)", result.output)[1]) <= 35, result.output
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    assert grid.shape == (2 * (10 * 30 + 2), 2 * (10 * 30 + 2))
    # One row per digit, in order, each drawn as the digit it asks for: the bar is 9 of 10 of every
    # digit recognised by the shipped classifier (the shipped model misses 0.4 % of 10,000;
    # `keras-sgm evaluate --conditional` measures it at full size).
    raw = np.load(tmp_path / "raw.npz")
    np.testing.assert_array_equal(raw["labels"], np.repeat(np.arange(10), 10))
    predicted = metrics.classify(raw["images"])[1].argmax(axis=1)
    per_digit = [float(np.mean(predicted[raw["labels"] == d] == d)) for d in range(10)]
    assert min(per_digit) >= 0.9, per_digit


def test_fine_tuning_starts_from_the_shipped_weights(pretrained):
    # The shipped model is the default latent design, around its own autoencoder.
    model = keras_sgm.LatentScoreModel(pretrained.autoencoder, num_classes=10, seed=1)
    assert not np.allclose(probe_outputs(model), probe_outputs(pretrained), atol=1e-2)
    start_from(model, "pretrained")
    np.testing.assert_allclose(probe_outputs(model), probe_outputs(pretrained), rtol=1e-5, atol=1e-5)
    # The trained network, not only the EMA that sampling reads, holds them.
    for trained, shipped in zip(model.network.get_weights(), pretrained.inference_network.get_weights()):
        np.testing.assert_array_equal(trained, shipped)


def test_fine_tuning_refuses_weights_of_another_architecture(tmp_path):
    other = tmp_path / "small.keras"
    small_model(num_classes=10).save(other)
    model = keras_sgm.ScoreModel(num_classes=10, seed=1)
    before = model.network.get_weights()
    with pytest.raises(ValueError, match="same architecture"):
        start_from(model, other)
    for kept, original in zip(model.network.get_weights(), before):
        np.testing.assert_array_equal(kept, original)
    result = CliRunner().invoke(
        main, ["train", "--init-weights", str(other), "--output-dir", str(tmp_path / "run"),
               "--data", str(pathlib.Path(__file__).parent / "data" / "mnist_fixture.npz")]
    )
    assert result.exit_code == 2 and "cannot start from" in result.output, result.output
    assert not (tmp_path / "run").exists()


FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
SHARED_FASHION = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "fashion_mnist.npz"


def test_presets_by_name_fit_the_size_budget_and_name_their_classes():
    from keras_sgm.models.presets import PRESETS

    fashion = keras_sgm.load_pretrained("fashion_mnist")
    assert all(preset.path.stat().st_size <= 10 * 2**20 for preset in PRESETS.values())
    assert (fashion.image_shape, fashion.class_names, fashion.dataset) == ((28, 28, 1), FASHION_CLASSES,
                                                                           "fashion_mnist")
    with pytest.raises(ValueError, match="mnist, fashion_mnist"):
        keras_sgm.load_pretrained("cifar10")


def test_sample_preset_fashion_mnist_by_class_name_is_recognised_by_the_shipped_classifier(tmp_path):
    common = ["sample", "--preset", "fashion_mnist", "--num", 8, "--no-progress", "--out", tmp_path / "g.png"]
    result = CliRunner().invoke(main, [str(a) for a in [*common, "--label", "all", "--npz", tmp_path / "all.npz"]])
    assert result.exit_code == 0 and "80 images (one row per class" in result.output, result.output
    raw = np.load(tmp_path / "all.npz")
    recognised = metrics.classify(raw["images"], features="fashion_mnist")[1].argmax(axis=1) == raw["labels"]
    assert np.mean(recognised) >= 0.8
    result = CliRunner().invoke(main, [str(a) for a in [*common, "--label", "ankle boot", "--npz",
                                                        tmp_path / "boots.npz"]])
    assert result.exit_code == 0 and "(Ankle boot, guidance" in result.output, result.output
    assert np.load(tmp_path / "boots.npz")["labels"].tolist() == [9] * 8
    both = CliRunner().invoke(main, [*map(str, common), "--checkpoint", "x.keras"])
    assert both.exit_code == 2 and "not both" in both.output


@pytest.mark.skipif(not SHARED_FASHION.exists(), reason=f"no {SHARED_FASHION}")
def test_the_shipped_fashion_classifier_reaches_90_percent_on_test_clothes():
    with np.load(SHARED_FASHION) as data:
        images, labels = data["x_test"][:2000, ..., None], data["y_test"][:2000]
    predicted = metrics.classify(images, features="fashion_mnist")[1].argmax(axis=1)
    assert np.mean(predicted == labels) >= 0.9


def test_unconditional_samples_of_the_shipped_model_are_autoguided_by_its_guide_unless_told_not(tmp_path):
    from keras_sgm.models.presets import AUTOGUIDANCE_INTERVAL, AUTOGUIDANCE_SCALE

    common = ["sample", "--label", "none", "--num", 3, "--steps", 3, "--no-progress", "--out", tmp_path / "g.png"]
    low, high = AUTOGUIDANCE_INTERVAL
    runs = {}
    for guide in (None, "mnist_guide", "none"):
        named = ["--guide", guide, *(["--guide-interval", f"{low},{high}"] if guide != "none" else [])]
        result = CliRunner().invoke(main, [str(a) for a in [*common, *(named if guide else []),
                                                            "--npz", tmp_path / f"{guide}.npz"]])
        assert result.exit_code == 0, result.output
        runs[guide] = result.output, np.load(tmp_path / f"{guide}.npz")["images"]
    assert (f"3 unconditional digits (autoguidance {AUTOGUIDANCE_SCALE:g} at noise levels {low:g} to {high:g}) "
            f"with heun") in runs[None][0]
    np.testing.assert_array_equal(runs[None][1], runs["mnist_guide"][1])
    assert "3 unconditional digits with heun" in runs["none"][0]
    assert np.abs(runs["none"][1] - runs[None][1]).max() > 0.05
    # Python's sample() takes the same default: the preset's guide, at its scale and interval.
    model = keras_sgm.load_pretrained()
    images, _, _ = sample(model, 3, steps=3, seed=0)
    np.testing.assert_allclose(images, runs[None][1], atol=1e-5)
    unguided, _, _ = sample(model, 3, steps=3, seed=0, guide="none")
    np.testing.assert_allclose(unguided, runs["none"][1], atol=1e-5)


def test_the_consistency_sampler_without_a_checkpoint_draws_recognisable_digits_in_one_step(tmp_path):
    result = CliRunner().invoke(main, [str(a) for a in ["sample", "--sampler", "consistency", "--label", "all",
                                                        "--num", 10, "--no-progress", "--out", tmp_path / "g.png",
                                                        "--npz", tmp_path / "g.npz"]])
    assert result.exit_code == 0 and "with consistency (1 NFE)" in result.output, result.output
    drawn = np.load(tmp_path / "g.npz")
    recognised = metrics.classify(drawn["images"])[1].argmax(axis=1) == drawn["labels"]
    assert np.mean(recognised) >= 0.8


if __name__ == "__main__":
    np.savez_compressed(REFERENCE, outputs=probe_outputs(keras_sgm.load_pretrained()))
    print(f"wrote {REFERENCE}")
