import os
import pathlib
import shutil
import tempfile

# On JAX, the test processes and every command they start share one folder of compiled programs
# for the run: the suite's small models compile the same steps again and again, and the command
# line keeps its programs on disk too. Set here, before JAX is imported, so that pytest-xdist's
# workers and the subprocesses inherit it; an unset user cache is never written to.
_OWN_XLA_CACHE = "JAX_COMPILATION_CACHE_DIR" not in os.environ
if _OWN_XLA_CACHE:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="keras-sgm-tests-xla-")
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import keras_sgm  # noqa: E402

FIXTURE = pathlib.Path(__file__).parent / "data" / "mnist_fixture.npz"
SMALL_CHANNELS = (8, 16, 32)
NEXT_BACKEND = {"tensorflow": "jax", "jax": "torch", "torch": "tensorflow"}
"""The backend that a cross-backend test pairs with the one under test: over the suite's three
runs, every backend both writes a file that another reads and reads one that another wrote."""


def small_model(seed=0, ema_decay=0.999, image_shape=(28, 28, 1), lr=2e-3, num_classes=None, **options):
    """A compiled score model small enough to train in seconds on a CPU."""
    keras.utils.set_random_seed(seed)
    network = keras_sgm.build_unet(
        image_shape, channels=SMALL_CHANNELS, embed_dim=32, num_classes=num_classes
    )
    model = keras_sgm.ScoreModel(network, ema_decay=ema_decay, seed=seed, **options)
    model.compile(optimizer=keras.optimizers.Adam(lr))
    return model


@pytest.fixture(scope="session")
def digits():
    """512 real MNIST training digits (uint8, (N, 28, 28, 1)) and their labels."""
    data = np.load(FIXTURE)
    return data["x_train"][..., None], data["y_train"]


@pytest.fixture(scope="session")
def test_digits():
    data = np.load(FIXTURE)
    return data["x_test"][..., None], data["y_test"]


@pytest.fixture
def backend():
    return keras.backend.backend()


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def pytest_unconfigure(config):
    if _OWN_XLA_CACHE:
        shutil.rmtree(os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)
