import os
import pathlib
import subprocess
import sys

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
