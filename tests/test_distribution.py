import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="keras.distribution.DataParallel is JAX-only in Keras 3"
)


def test_data_parallel_training_matches_single_device(tmp_path):
    script = pathlib.Path(__file__).parent / "data_parallel_run.py"
    out = tmp_path / "runs.npz"
    result = subprocess.run([sys.executable, str(script), str(out)], env=os.environ.copy(),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = np.load(out)
    np.testing.assert_allclose(runs["parallel_loss"], runs["single_loss"], rtol=1e-4)
    weights = sorted(k for k in runs if k.startswith("single_") and k != "single_loss")
    assert weights
    for key in weights:
        np.testing.assert_allclose(runs[key.replace("single", "parallel")], runs[key], rtol=1e-3, atol=1e-5)
