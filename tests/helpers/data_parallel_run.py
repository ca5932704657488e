"""Run as `python tests/helpers/data_parallel_run.py OUT.npz` with KERAS_BACKEND=jax.

Forces two CPU devices, trains the same small model for a few steps with and
without `keras.distribution.DataParallel`, and saves both losses and weights.
"""

import os
import pathlib
import sys

os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from tests.conftest import FIXTURE, small_model  # noqa: E402


def train(distribution):
    keras.distribution.set_distribution(distribution)
    model = small_model(seed=0)
    images = np.load(FIXTURE)["x_train"][:128, ..., None]
    history = model.fit(images, batch_size=32, epochs=2, shuffle=False, verbose=0)
    keras.distribution.set_distribution(None)
    return history.history["loss"], [keras.ops.convert_to_numpy(w) for w in model.network.weights]


if __name__ == "__main__":
    assert len(jax.devices()) == 2, jax.devices()
    single_loss, single_weights = train(None)
    parallel_loss, parallel_weights = train(keras.distribution.DataParallel(devices=jax.devices()))
    np.savez(sys.argv[1], single_loss=single_loss, parallel_loss=parallel_loss,
             **{f"single_{i}": w for i, w in enumerate(single_weights)},
             **{f"parallel_{i}": w for i, w in enumerate(parallel_weights)})
