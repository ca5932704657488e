"""TensorFlow Datasets builders, `.npz` arrays, and the batched tf.data pipeline that feeds `fit` on every backend."""

import os
import socket
import zipfile

# Where TFDS downloads most datasets from; probed first so that an offline machine
# fails in seconds instead of after minutes of download retries.
_DOWNLOAD_HOST = ("storage.googleapis.com", 443)


class DatasetUnavailableError(RuntimeError):
    """The dataset is neither prepared on disk nor downloadable."""


def tensorflow_for_data():
    """TensorFlow for tf.data: when another backend computes, TensorFlow stays off the GPUs,
    whose memory it would otherwise take."""
    import keras
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        try:
            tf.config.set_visible_devices([], "GPU")
        except RuntimeError:  # TensorFlow's devices are already initialised: they stay as they are
            pass
    return tf


def _unavailable(builder, reason):
    name = builder.info.full_name
    return DatasetUnavailableError(
        f"{builder.name} is not prepared in {builder.data_dir_root!s} and cannot be downloaded "
        f"({reason}). Either connect to the internet, or point TFDS_DATA_DIR (or --data-dir) to a "
        f"directory that holds {name}, e.g. `export TFDS_DATA_DIR=../shared/tfds`, or prepare it "
        f"elsewhere with `tfds build {builder.name}` and copy it there."
    )


def tfds_builder(name="mnist", data_dir=None, download=True):
    """The TFDS builder of a dataset, prepared (downloaded) if needed.

    Args:
        name: A TensorFlow Datasets name, such as `"mnist"`,
            `"fashion_mnist"` or `"cifar10"` (optionally with a config and
            version, `"name/config:1.0.0"`).
        data_dir: TFDS data directory. Defaults to `$TFDS_DATA_DIR`, else
            TFDS's own default (`~/tensorflow_datasets`).
        download: Download and prepare the dataset when it is not on disk.

    Returns:
        A prepared `tfds.core.DatasetBuilder`.

    Raises:
        DatasetUnavailableError: The name is unknown, or the dataset is not
            on disk and cannot be downloaded.
    """
    tensorflow_for_data()
    import tensorflow_datasets as tfds

    data_dir = data_dir or os.environ.get("TFDS_DATA_DIR")
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise DatasetUnavailableError(
            f"TensorFlow Datasets has no dataset {name!r}: give a TFDS name (such as mnist, "
            f"fashion_mnist or cifar10; tfds.list_builders() lists them), a folder of images or "
            f"an .npz file."
        ) from None
    if builder.is_prepared():
        return builder
    if not download:
        raise _unavailable(builder, "download=False")
    try:
        socket.create_connection(_DOWNLOAD_HOST, timeout=10).close()
    except OSError as error:
        raise _unavailable(builder, f"{_DOWNLOAD_HOST[0]} is unreachable: {error}") from error
    try:
        builder.download_and_prepare()
    except Exception as error:  # noqa: BLE001 - any failure means the same to the user
        raise _unavailable(builder, f"{type(error).__name__}: {str(error)[:200]}") from error
    return builder


def mnist_builder(data_dir=None, download=True):
    """The TFDS builder of MNIST, prepared if needed: `tfds_builder("mnist", ...)`."""
    return tfds_builder("mnist", data_dir, download)


def load_mnist(split="train", batch_size=128, data_dir=None, shuffle=True, seed=0, download=True):
    """MNIST as a shuffled, batched, prefetched `tf.data.Dataset`.

    Each element is `(images, labels)`: uint8 images 0..255 of shape
    `(batch_size, 28, 28, 1)` and int64 labels. `ScoreModel` rescales uint8
    images to [0, 1] inside its train step, so a quarter of the bytes cross
    from the pipeline to the model; `keras_sgm.data.images.unit_floats` does the
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
        path: File with `x_{split}`: images `(N, H, W)` or `(N, H, W, C)`
            with 1 to 4 channels, uint8 0..255 or floats in [0, 1]; and
            optionally `y_{split}`, their integer labels.
        split: `"train"` or `"test"`.

    Returns:
        `(images, labels)`: uint8 images `(N, H, W, C)` and int64 labels,
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
    if labels.ndim == 2 and labels.shape[1] == 1:  # CIFAR's (N, 1)
        labels = labels[:, 0]
    if images.ndim != 4 or not 1 <= images.shape[-1] <= 4 or len(images) == 0:
        raise ValueError(f"`{images_key}` of {path} must hold images (N, H, W) or (N, H, W, C) with 1 to 4 "
                         f"channels; got shape {images.shape}.")
    if len(labels) != len(images) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"`{labels_key}` of {path} must hold one integer label per image; got "
                         f"{labels.dtype} of shape {labels.shape} for {len(images)} images.")
    if images.dtype != np.uint8:
        if not np.issubdtype(images.dtype, np.floating) or not np.all(np.isfinite(images)) \
                or images.min() < 0 or images.max() > 1:
            raise ValueError(f"`{images_key}` of {path} must be uint8 0..255 or floats in [0, 1]; "
                             f"got {images.dtype}.")
        images = np.round(images * 255).astype("uint8")
    return images, labels.astype("int64")


def batch_images(dataset, batch_size, shuffle=True, seed=0, repeat=False, flip=False):
    """Shuffles, batches and prefetches (and flips).

    Args:
        dataset: A `tf.data.Dataset` of unbatched `(image, label)` pairs, or
            of images.
        batch_size: Images per batch.
        shuffle: Shuffle every epoch (and drop the last partial batch, so
            that compiled steps see one shape).
        seed: Shuffle seed.
        repeat: Repeat without end, for `fit(steps_per_epoch=...)`. The
            order then follows `seed` alone: every iterator of the dataset
            gives the same batches.
        flip: Mirror a random half of the images left to right, each draw
            decided by `seed` and the image's place in the stream, so that a
            rerun sees the same flips (of examples that hold the latents of
            an image and of its mirror: pick one of them).

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
    if flip:
        def flipped(index, example):
            image = example[0] if isinstance(example, tuple) else example
            draw = tf.stack([tf.cast(seed, tf.int64), index])
            if isinstance(image, dict):  # the latents of an image and of its mirror (`encoded_examples`)
                mirrored = tf.random.stateless_uniform([], seed=draw) < 0.5
                image = {"latents": tf.where(mirrored, image["mirrored_latents"], image["latents"])}
            else:
                image = tf.image.stateless_random_flip_left_right(image, seed=draw)
            return (image, *example[1:]) if isinstance(example, tuple) else image

        dataset = dataset.enumerate().map(flipped)
    dataset = dataset.batch(int(batch_size), drop_remainder=shuffle or repeat)
    return dataset.prefetch(tf.data.AUTOTUNE)
