import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from keras_sgm import LatentScoreModel
from keras_sgm.cli import main
from tests.conftest import FIXTURE

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "mnist.py"
OPTIONS = ["--data", str(FIXTURE), "--batch-size", "16", "--steps-per-epoch", "2"]


def run_example(output_dir, epochs):
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *OPTIONS, "--epochs", str(epochs), "--output-dir", str(output_dir)],
        env=os.environ.copy(), capture_output=True, text=True, timeout=600,
    )


def test_example_trains_samples_and_resumes(tmp_path):
    first = run_example(tmp_path, epochs=1)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "epoch 1:" in first.stdout and "samples:" in first.stdout
    for grid in ("samples.png", "samples_by_digit.png", "progress.png"):
        assert Image.open(tmp_path / grid).size[0] > 8 * 28, grid
    saved = keras.saving.load_model(tmp_path / "model.keras")
    # The default is latent diffusion: an autoencoder first, then the score model on its latents.
    assert isinstance(saved, LatentScoreModel) and (tmp_path / "autoencoder.keras").exists()
    example = [keras.ops.convert_to_numpy(w) for w in saved.weights]

    # `keras-sgm train` runs the same recipe with the same options and defaults.
    result = CliRunner().invoke(main, ["train", *OPTIONS, "--epochs", "1", "--output-dir", str(tmp_path / "cli"),
                                       "--verbose", "2"])
    assert result.exit_code == 0, result.output
    cli = keras.saving.load_model(tmp_path / "cli" / "model.keras").weights
    for ours, theirs in zip(example, cli):
        np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(theirs), rtol=1e-5, atol=1e-6)

    second = run_example(tmp_path, epochs=2)
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
