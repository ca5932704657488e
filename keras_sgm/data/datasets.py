"""MNIST through TensorFlow Datasets, as a tf.data pipeline that feeds `fit` on every backend."""

import os
import socket
import zipfile

# Where TFDS downloads MNIST from; probed first so that an offline machine
# fails in seconds instead of after minutes of download retries.
_MNIST_HOST = ("storage.googleapis.com", 443)


class DatasetUnavailableError(RuntimeError):
    """The dataset is neither prepared on disk nor downloadable."""


def npz_source(source):
    """The `.npz` file a data source names, or None when it names MNIST in TensorFlow Datasets.

    Args:
        source: `"mnist"` (or None), or the path of an `.npz` file.

    Returns:
        The path, or None.

    Raises:
        ValueError: `source` is neither, or the file does not exist.
    """
    if source is None or str(source) == "mnist":
        return None
    if not str(source).endswith(".npz"):
        raise ValueError(f"unknown data {str(source)!r}: give mnist (TensorFlow Datasets) or an .npz file.")
    if not os.path.isfile(source):
        raise ValueError(f"data file {str(source)!r} does not exist.")
    return source


def tensorflow_for_data():
    """TensorFlow for tf.data only: when another backend trains, TF stays off the GPUs."""
    import keras

    from keras_sgm.backend.tensorflow import import_tensorflow

    return import_tensorflow(for_data_only=keras.backend.backend() != "tensorflow")


def _unavailable(builder, reason):
    return DatasetUnavailableError(
        f"MNIST is not prepared in {builder.data_dir!s} and cannot be downloaded "
        f"({reason}). Either connect to the internet, or point TFDS_DATA_DIR (or "
        f"data_dir=) to a directory that holds mnist/3.0.1, e.g. "
        f"`export TFDS_DATA_DIR=../shared/tfds`."
    )


def mnist_builder(data_dir=None, download=True):
    """The TFDS builder of MNIST, prepared (downloaded) if needed.

    Args:
        data_dir: TFDS data directory. Defaults to `$TFDS_DATA_DIR`, else
            TFDS's own default (`~/tensorflow_datasets`).
        download: Download and prepare MNIST when it is not on disk.

    Returns:
        A prepared `tfds.core.DatasetBuilder`.

    Raises:
        DatasetUnavailableError: MNIST is not on disk and cannot be downloaded.
    """
    tensorflow_for_data()
    import tensorflow_datasets as tfds

    data_dir = data_dir or os.environ.get("TFDS_DATA_DIR")
    builder = tfds.builder("mnist", data_dir=data_dir)
    if builder.is_prepared():
        return builder
    if not download:
        raise _unavailable(builder, "download=False")
    try:
        socket.create_connection(_MNIST_HOST, timeout=10).close()
    except OSError as error:
        raise _unavailable(builder, f"{_MNIST_HOST[0]} is unreachable: {error}") from error
    try:
        builder.download_and_prepare()
    except Exception as error:  # noqa: BLE001 - any failure means the same to the user
        raise _unavailable(builder, f"{type(error).__name__}: {str(error)[:200]}") from error
    return builder


def load_mnist(split="train", batch_size=128, data_dir=None, shuffle=True, seed=0, download=True):
    """MNIST as a shuffled, batched, prefetched `tf.data.Dataset`.

    Each element is `(images, labels)`: uint8 images 0..255 of shape
    `(batch_size, 28, 28, 1)` and int64 labels. `ScoreModel` rescales uint8
    images to [0, 1] inside its train step, so a quarter of the bytes cross
    from the pipeline to the model; `keras_sgm.images.unit_floats` does the
    same for other uses. Training batches all have
    the same size (the last partial batch is dropped), so compiled steps
    are traced once.

    Args:
        split: TFDS split, such as `"train"`, `"test"` or `"train[:10%]"`.
        batch_size: Images per batch.
        data_dir: TFDS data directory; see `mnist_builder`.
        shuffle: Shuffle every epoch (and drop the last partial batch).
        seed: Shuffle seed.
        download: Download MNIST when it is not on disk.

    Returns:
        A `tf.data.Dataset` that `ScoreModel.fit` accepts on every backend.

    Example:

    >>> train = load_mnist("train", batch_size=128)
    >>> model.fit(train, epochs=10)
    """
    dataset = mnist_builder(data_dir, download).as_dataset(split=split, as_supervised=True)
    return batch_images(dataset.cache(), batch_size, shuffle, seed)


def load_npz_images(path, split="train"):
    """Images (and labels) of one split of an `.npz` file in Keras's `mnist.npz` layout.

    Needs no TensorFlow: `ScoreModel.fit` takes the arrays directly on every
    backend.

    Args:
        path: File with `x_{split}`, uint8 of shape `(N, 28, 28)` or
            `(N, 28, 28, 1)`, and optionally `y_{split}`.
        split: `"train"` or `"test"`.

    Returns:
        `(images, labels)`: uint8 images `(N, 28, 28, 1)` and int64 labels,
        -1 where the file has none.
    """
    import numpy as np

    images_key, labels_key = f"x_{split}", f"y_{split}"
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path} is not an .npz archive (numpy.savez's zip format) with `{images_key}`."
        )
    try:
        archive = np.load(path)
    except Exception as error:  # noqa: BLE001 - a bad file is a bad file, whatever numpy says
        raise ValueError(
            f"cannot read {path} as an .npz archive: {type(error).__name__}: {str(error)[:200]}"
        ) from error
    with archive as data:
        if images_key not in data:
            raise ValueError(f"{path} has no `{images_key}` array (it holds {sorted(data)}).")
        images = data[images_key]
        labels = data[labels_key] if labels_key in data else np.full(len(images), -1)
    if images.ndim == 3:
        images = images[..., None]
    return images, labels.astype("int64")


def batch_images(dataset, batch_size, shuffle=True, seed=0, repeat=False):
    """Shuffles, batches and prefetches.

    Args:
        dataset: A `tf.data.Dataset` of unbatched `(image, label)` pairs.
        batch_size: Images per batch.
        shuffle: Shuffle every epoch (and drop the last partial batch, so
            that compiled steps see one shape).
        seed: Shuffle seed.
        repeat: Repeat without end, for `fit(steps_per_epoch=...)`. The
            order then follows `seed` alone: every iterator of the dataset
            gives the same batches.

    Returns:
        A `tf.data.Dataset` of batches.
    """
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size}.")
    tf = tensorflow_for_data()
    if repeat:
        # Shuffling after the repeat, with one fixed order: a reshuffle each epoch draws from a
        # state that every iterator of the dataset shares, so the order of one would depend on
        # how far another's prefetching had run.
        dataset = dataset.repeat()
    if shuffle:
        dataset = dataset.shuffle(10_000, seed=seed, reshuffle_each_iteration=not repeat)
    dataset = dataset.batch(int(batch_size), drop_remainder=shuffle or repeat)
    return dataset.prefetch(tf.data.AUTOTUNE)
