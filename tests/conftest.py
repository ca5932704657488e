import pathlib

import keras
import numpy as np
import pytest

import keras_sgm

FIXTURE = pathlib.Path(__file__).parent / "data" / "mnist_fixture.npz"
SMALL_CHANNELS = (8, 16, 32)


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
