"""Run as `python tests/helpers/data_parallel_run.py OUT.npz` with KERAS_BACKEND=jax.

Forces two CPU devices, trains the same small model for a few steps with and
without `keras.distribution.DataParallel`, and saves both losses and weights. Then samples
(EDM's stochastic sampler) and encodes images with and without the distribution, and saves
those too, with the images each device holds of a batch laid out by `shard_batch`.
"""

import os
import pathlib
import sys

os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
import keras_sgm  # noqa: E402
from keras_sgm.backend.distribution import shard_batch  # noqa: E402
from keras_sgm.sampling import edm_heun  # noqa: E402
from tests.conftest import FIXTURE, small_model  # noqa: E402


def train(distribution):
    keras.distribution.set_distribution(distribution)
    model = small_model(seed=0)
    images = np.load(FIXTURE)["x_train"][:128, ..., None]
    history = model.fit(images, batch_size=32, epochs=2, shuffle=False, verbose=0)
    keras.distribution.set_distribution(None)
    return history.history["loss"], [keras.ops.convert_to_numpy(w) for w in model.network.weights]


def sample_and_encode(model, autoencoder, images):
    samples, _ = edm_heun(model, 8, steps=4, churn=10.0, seed=3)
    return samples, autoencoder.encode_in_batches(images, batch_size=8)


if __name__ == "__main__":
    assert len(jax.devices()) == 2, jax.devices()
    single_loss, single_weights = train(None)
    parallel = keras.distribution.DataParallel(devices=jax.devices())
    parallel_loss, parallel_weights = train(parallel)

    keras.utils.set_random_seed(0)
    model, autoencoder = small_model(seed=0), keras_sgm.Autoencoder(seed=0)
    images = np.load(FIXTURE)["x_train"][:20, ..., None]
    single_samples, single_latents = sample_and_encode(model, autoencoder, images)
    keras.distribution.set_distribution(parallel)
    parallel_samples, parallel_latents = sample_and_encode(model, autoencoder, images)
    images_per_device = [shard.data.shape[0] for shard in shard_batch(np.zeros((8, 3), "float32")).addressable_shards]
    keras.distribution.set_distribution(None)
    np.savez(sys.argv[1], single_loss=single_loss, parallel_loss=parallel_loss,
             **{f"single_{i}": w for i, w in enumerate(single_weights)},
             **{f"parallel_{i}": w for i, w in enumerate(parallel_weights)},
             single_samples=single_samples, parallel_samples=parallel_samples, single_latents=single_latents,
             parallel_latents=parallel_latents, images_per_device=images_per_device)
