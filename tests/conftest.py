import os
import pathlib
import shutil
import tempfile

# The suite's models are tiny, so XLA:CPU spends most of a JAX test compiling rather than running.
# LLVM's optimisation level 1 halves test_unet.py's time on JAX and keeps the sampling of the
# shipped model as fast; level 0 compiles as fast but runs the inpainting test 10 times slower.
# Set before JAX starts; pytest-xdist's workers and the commands the tests start inherit it.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=1")


def _share_the_cores_among_workers():
    """pytest-xdist runs a worker per core, and each would size torch's, TensorFlow's and OpenMP's
    thread pools to the whole machine: more busy threads than cores, which made PyTorch's tests two
    to ten times slower. Each worker, and the commands it starts, takes its share of the cores."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        threads = str(max(1, (os.cpu_count() or 1) // workers))
        for variable in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
            os.environ.setdefault(variable, threads)


_share_the_cores_among_workers()

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


def pytest_configure(config):
    """On JAX, the test processes and every command they start share one folder of compiled
    programs for the run: the suite's small models compile the same steps again and again, and
    the command line keeps its programs on disk too. pytest-xdist's workers and the subprocesses
    inherit the folder from the environment; the user's own cache is never written to."""
    if "JAX_COMPILATION_CACHE_DIR" in os.environ:
        return
    config.xla_cache = tempfile.mkdtemp(prefix="keras-sgm-tests-xla-")
    os.environ.update(JAX_COMPILATION_CACHE_DIR=config.xla_cache, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    if keras.backend.backend() == "jax":  # this process imported JAX before the variables were set
        import jax

        jax.config.update("jax_compilation_cache_dir", config.xla_cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def pytest_unconfigure(config):
    if getattr(config, "xla_cache", None):
        shutil.rmtree(config.xla_cache, ignore_errors=True)
