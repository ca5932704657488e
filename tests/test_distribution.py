import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest


def _run(script, tmp_path):
    out = tmp_path / "runs.npz"
    result = subprocess.run([sys.executable, str(pathlib.Path(__file__).parent / "helpers" / script), str(out)],
                            env=os.environ.copy(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return np.load(out)


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="keras.distribution.DataParallel is JAX-only in Keras 3")
def test_data_parallel_training_matches_single_device(tmp_path):
    runs = _run("data_parallel_run.py", tmp_path)
    np.testing.assert_allclose(runs["parallel_loss"], runs["single_loss"], rtol=1e-4)
    weights = sorted(k for k in runs if k.startswith("single_") and k != "single_loss")
    assert weights
    for key in weights:
        np.testing.assert_allclose(runs[key.replace("single", "parallel")], runs[key], rtol=1e-3, atol=1e-5)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.distribute needs TensorFlow")
def test_a_mirrored_step_is_the_mean_of_the_replicas_steps_each_with_its_own_noise(tmp_path):
    runs = _run("mirrored_run.py", tmp_path)
    assert runs["replicas"] == 2
    first, second = runs["replica_losses"]
    np.testing.assert_allclose(runs["loss"], (first + second) / 2, rtol=1e-5)
    weights = sorted(k for k in runs if k.startswith("mirrored_"))
    assert weights
    for key in weights:
        np.testing.assert_allclose(runs[key], runs[key.replace("mirrored", "replayed")], rtol=1e-4, atol=1e-5)
