import numpy as np
import pytest
import tensorflow as tf

from keras_sgm import ScoreModel
from tests.conftest import small_model


@pytest.fixture(scope="module")
def model():
    return small_model()


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((4, 28, 28), "uint8"), "Add a channel axis"),
        (np.zeros((4, 28, 28, 1, 1), "float32"), "rank 4"),
        (np.zeros((4, 32, 32, 1), "float32"), r"shape \(32, 32, 1\)"),
        (np.zeros((4, 28, 28, 3), "float32"), "3 channels"),
        (np.full((4, 28, 28, 1), np.nan, "float32"), "NaN or infinite"),
        (np.full((4, 28, 28, 1), np.inf, "float32"), "NaN or infinite"),
        (np.zeros((0, 28, 28, 1), "float32"), "no images"),
        (np.full((4, 28, 28, 1), 255.0, "float32"), "Divide by 255"),
    ],
)
def test_bad_arrays_are_rejected_before_training(model, images, message):
    weights = model.network.get_weights()
    with pytest.raises(ValueError, match=message):
        model.fit(images, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=message):
        model.fit(np.zeros((4, 28, 28, 1), "float32"), validation_data=images, verbose=0)
    for before, after in zip(weights, model.network.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_empty_dataset_is_rejected(model):
    empty = tf.data.Dataset.from_tensor_slices(np.zeros((0, 28, 28, 1), "float32")).batch(8)
    with pytest.raises(ValueError, match="empty dataset"):
        model.fit(empty, epochs=1, verbose=0)


def test_unbatched_dataset_is_rejected(model):
    single = tf.data.Dataset.from_tensor_slices(np.zeros((4, 28, 28, 1), "float32"))
    with pytest.raises(ValueError, match=r"\.batch"):
        model.fit(single, epochs=1, verbose=0)


def test_dataset_with_nan_is_rejected(model):
    bad = tf.data.Dataset.from_tensor_slices(np.full((4, 28, 28, 1), np.nan, "float32")).batch(2)
    with pytest.raises(ValueError, match="NaN"):
        model.fit(bad, epochs=1, verbose=0)


def test_dataset_with_wrong_channels_is_rejected(model):
    rgb = tf.data.Dataset.from_tensor_slices(np.zeros((4, 28, 28, 3), "float32")).batch(2)
    with pytest.raises(ValueError, match="3 channels"):
        model.fit(rgb, epochs=1, verbose=0)


@pytest.mark.parametrize("eps", [0.0, -1e-5, 1.0])
def test_eps_outside_zero_one_is_rejected(eps):
    with pytest.raises(ValueError, match="eps"):
        ScoreModel(eps=eps)

