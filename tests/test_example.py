import os
import pathlib
import subprocess
import sys

import pytest
from PIL import Image

from tests.conftest import FIXTURE

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "mnist.py"


def run_example(output_dir, epochs):
    return subprocess.run(
        [sys.executable, str(EXAMPLE), "--data", str(FIXTURE), "--epochs", str(epochs),
         "--batch-size", "32", "--steps-per-epoch", "3", "--output-dir", str(output_dir),
         "--verbose", "2"],
        env=os.environ.copy(), capture_output=True, text=True, timeout=600,
    )


def test_example_trains_samples_and_resumes(tmp_path):
    first = run_example(tmp_path, epochs=1)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "epoch 1:" in first.stdout and "samples:" in first.stdout
    grid = Image.open(tmp_path / "samples.png")
    assert grid.size[0] > 8 * 28
    second = run_example(tmp_path, epochs=2)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "epoch 2:" in second.stdout and "epoch 1:" not in second.stdout


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    import keras

    from keras_sgm.training import AtomicCheckpoint
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
