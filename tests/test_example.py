import pathlib
import subprocess
import sys

import csv

import keras
import numpy as np
import pytest
from PIL import Image

from keras_sgm import LatentScoreModel
from keras_sgm.data.sources import open_data
from keras_sgm.recipes.architecture import architecture, score_model
from keras_sgm.data.images import save_grid
from keras_sgm.recipes.config import DEFAULTS
from keras_sgm.sampling.samplers import edm_heun
from tests.conftest import FIXTURE

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "mnist.py"
OPTIONS = ["--data", str(FIXTURE), "--batch-size", "16", "--steps-per-epoch", "2", "--num-samples", "4"]


def run_example(output_dir, epochs):
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *OPTIONS, "--epochs", str(epochs), "--output-dir", str(output_dir)],
        capture_output=True, text=True, timeout=600,
    )


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """The example run for one epoch: its output folder and its stdout."""
    output_dir = tmp_path_factory.mktemp("example")
    first = run_example(output_dir, epochs=1)
    assert first.returncode == 0, first.stderr[-2000:]
    return output_dir, first.stdout


def test_example_trains_and_samples(first_run):
    output_dir, stdout = first_run
    assert "epoch 1:" in stdout and "samples:" in stdout
    # --num-samples 4: 2x2 grids, and a by-class grid of 10 rows of 4 (28-pixel digits, 2-pixel gaps, doubled).
    for grid, (columns, rows) in {"samples.png": (2, 2), "progress.png": (2, 2), "samples_by_class.png": (4, 10)}.items():
        assert Image.open(output_dir / grid).size == (2 * (30 * columns + 2), 2 * (30 * rows + 2)), grid
    saved = keras.saving.load_model(output_dir / "model.keras")
    # The default is latent diffusion: an autoencoder first, then the score model on its latents.
    assert isinstance(saved, LatentScoreModel) and (output_dir / "autoencoder.keras").exists()
    # The model of the recipe that `keras-sgm train` runs, from the same defaults.
    recipe = score_model(architecture(saved.image_shape, None, saved.autoencoder), open_data(str(FIXTURE)),
                         saved.autoencoder, label_dropout=DEFAULTS.label_dropout, ema_decay=DEFAULTS.ema_decay,
                         seed=DEFAULTS.seed)
    assert {**recipe.get_config(), "name": None} == {**saved.get_config(), "name": None}


def test_the_examples_heun_loop_is_the_packages_sampler(first_run, tmp_path):
    output_dir, _ = first_run
    saved = keras.saving.load_model(output_dir / "model.keras")
    classes = np.repeat(np.arange(10), 4)
    images, nfe = edm_heun(saved.guided(labels=classes, guidance=2.0), len(classes), seed=DEFAULTS.seed)
    save_grid(np.clip(images, 0, 1), tmp_path / "package.png", columns=4)
    written, package = (np.asarray(Image.open(path), "int16")
                        for path in (output_dir / "samples_by_class.png", tmp_path / "package.png"))
    assert nfe == 35 and np.abs(written - package).max() <= 2  # 8-bit pixels, compiled against eager rounding


def _losses(history):
    with open(history) as file:
        return [float(row["loss"]) for row in csv.DictReader(file)]


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="the main job's backend, JAX: one more training run")
def test_the_examples_loss_trains_as_keras_sgm_train_does(first_run, tmp_path):
    output_dir, _ = first_run
    train = subprocess.run([sys.executable, "-m", "keras_sgm.cli", "train", *OPTIONS, "--epochs", "1",
                            "--output-dir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, train.stderr[-2000:]
    np.testing.assert_allclose(_losses(output_dir / "history.csv"), _losses(tmp_path / "history.csv"), rtol=1e-5)


@pytest.mark.skipif(keras.backend.backend() != "jax",
                    reason="the example's resume is Python around `fit`; run on the main job's backend, JAX")
def test_the_example_run_again_resumes(first_run):
    output_dir, _ = first_run
    second = run_example(output_dir, epochs=2)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "epoch 2:" in second.stdout and "epoch 1:" not in second.stdout


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    import keras

    from keras_sgm.recipes.callbacks import AtomicCheckpoint
    from tests.conftest import small_model

    model = small_model()
    checkpoint = AtomicCheckpoint(tmp_path / "model.keras")
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0)
    saved = (tmp_path / "model.keras").read_bytes()

    def broken_save(self, path, *args, **kwargs):
        with open(path, "wb") as file:
            file.write(b"half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(type(model), "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.on_epoch_end(1)
    assert (tmp_path / "model.keras").read_bytes() == saved
    assert isinstance(keras.saving.load_model(tmp_path / "model.keras"), type(model))
