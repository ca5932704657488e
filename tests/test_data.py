import pathlib

import numpy as np
import pytest

from keras_sgm.data.datasets import DatasetUnavailableError, load_mnist, load_npz_images
from tests.conftest import FIXTURE

SHARED_TFDS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "tfds"
needs_tfds_copy = pytest.mark.skipif(
    not (SHARED_TFDS / "mnist").is_dir(), reason=f"no prepared MNIST in {SHARED_TFDS}"
)


@needs_tfds_copy
def test_load_mnist_gives_shuffled_uint8_batches_with_labels():
    dataset = load_mnist("test", batch_size=64, data_dir=str(SHARED_TFDS), seed=1)
    images, labels = next(iter(dataset))
    assert tuple(images.shape) == (64, 28, 28, 1) and images.dtype.name == "uint8"
    assert int(np.min(images)) == 0 and int(np.max(images)) == 255
    assert labels.shape == (64,) and set(np.unique(labels)) <= set(range(10))
    # 10,000 test digits in whole batches of 64.
    assert int(dataset.cardinality()) == 10_000 // 64
    again = next(iter(load_mnist("test", batch_size=64, data_dir=str(SHARED_TFDS), seed=2)))[1]
    assert not np.array_equal(labels, again), "a different seed should shuffle differently"


@needs_tfds_copy
def test_tfds_data_dir_environment_variable_is_honoured(monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(SHARED_TFDS))
    images, _ = next(iter(load_mnist("test", batch_size=8, shuffle=False)))
    assert tuple(images.shape) == (8, 28, 28, 1)


def test_missing_dataset_names_the_fix(tmp_path):
    with pytest.raises(DatasetUnavailableError, match="TFDS_DATA_DIR"):
        load_mnist(data_dir=str(tmp_path), download=False)


def test_load_npz_images_adds_the_channel_axis():
    images, labels = load_npz_images(FIXTURE)
    assert images.shape == (512, 28, 28, 1) and images.dtype == np.uint8
    assert labels.shape == (512,)


def test_load_npz_without_images_is_rejected(tmp_path):
    np.savez(tmp_path / "bad.npz", y=np.zeros(3))
    with pytest.raises(ValueError, match="x_train"):
        load_npz_images(tmp_path / "bad.npz")


def test_the_recipes_batches_follow_the_seed_however_far_another_iterator_ran():
    import time

    from keras_sgm.recipes.data import training_data

    fit_data, _ = training_data(str(FIXTURE), 16, steps_per_epoch=4, seed=0)

    def first_batches(count=8):
        batches = iter(fit_data["x"])
        return [np.asarray(next(batches)[0]) for _ in range(count)]

    reference = first_batches()
    abandoned = iter(fit_data["x"])
    for _ in range(64):  # two epochs of the fixture's 512 digits
        next(abandoned)
    time.sleep(0.5)  # its prefetching runs on past the epochs read
    again = first_batches()
    assert all(np.array_equal(a, b) for a, b in zip(reference, again))
    other_seed, _ = training_data(str(FIXTURE), 16, steps_per_epoch=4, seed=1)
    assert not np.array_equal(reference[0], np.asarray(next(iter(other_seed["x"]))[0]))


@pytest.mark.skipif(not (SHARED_TFDS / "fashion_mnist").is_dir(), reason=f"no prepared Fashion-MNIST in {SHARED_TFDS}")
def test_any_tfds_image_dataset_by_name_with_its_class_names():
    from keras_sgm.data.sources import open_data

    data = open_data("fashion_mnist", str(SHARED_TFDS))
    assert (data.name, data.image_shape, data.sizes) == ("fashion_mnist", (28, 28, 1), {"train": 60_000, "test": 10_000})
    assert data.class_names[0] == "T-shirt/top" and data.class_names[9] == "Ankle boot"
    images, labels = next(iter(data.examples("test").batch(8)))
    assert images.dtype.name == "uint8" and tuple(images.shape) == (8, 28, 28, 1) and labels.dtype.name == "int64"
    colour = open_data("fashion_mnist", str(SHARED_TFDS), image_size=32, color="rgb", crop="pad", labels=False)
    assert colour.image_shape == (32, 32, 3) and colour.class_names is None
    assert tuple(next(iter(colour.examples("test").batch(2))).shape) == (2, 32, 32, 3)
