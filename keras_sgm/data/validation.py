"""Checks of user input (training data, labels, inpainting input), raising a `ValueError`
that names the problem and the fix."""

import math

import numpy as np


def image_batch(data):
    """The images of a batch that may be `images` or `(images, labels, ...)`."""
    return data[0] if isinstance(data, (tuple, list)) else data


def label_batch(data):
    """The labels of a batch `(images, labels, ...)`, or None for images alone."""
    return data[1] if isinstance(data, (tuple, list)) and len(data) > 1 else None


def check_images(data, image_shape, argument, num_classes=None):
    """Raises a `ValueError` naming the problem if `data` cannot train a model of `image_shape`.

    Arrays are checked in full; a `tf.data.Dataset` by its element spec and
    its first batch (whose labels must then suit `num_classes`). Other
    inputs (generators, `PyDataset`) pass.

    Args:
        data: Images (uint8 0..255 or floats in [0, 1]) or a batched dataset.
        image_shape: `(height, width, channels)` the model expects.
        argument: How the error names `data`, e.g. `"x"`.
        num_classes: The model's number of classes, or None.
    """
    if isinstance(data, np.ndarray) or (hasattr(data, "shape") and hasattr(data, "dtype")):
        array = np.asarray(data)
        _check_shape(array.shape, image_shape, argument)
        if array.shape[0] == 0:
            raise ValueError(f"`{argument}` holds no images (shape {array.shape}).")
        _check_values(array, argument)
        return
    import tensorflow as tf

    if not isinstance(data, tf.data.Dataset):
        return
    shape = tuple(image_batch(data.element_spec).shape)
    if len(shape) == len(image_shape):
        raise ValueError(
            f"`{argument}` yields single images of shape {shape}; fit needs "
            f"batches. Call `.batch(batch_size)` on the dataset."
        )
    _check_shape(shape, image_shape, argument)
    first = next(iter(data.take(1)), None)
    if first is None:
        raise ValueError(f"`{argument}` is an empty dataset: it yields no batches.")
    _check_values(np.asarray(image_batch(first)), argument)
    if label_batch(first) is not None:
        check_labels(np.asarray(label_batch(first)), num_classes, f"the labels of `{argument}`")


def check_labels(labels, num_classes, argument):
    """Raises a `ValueError` unless `labels` are integers in 0..num_classes - 1.

    An unconditional model (`num_classes=None`) ignores labels, so any pass.
    """
    if num_classes is None:
        return
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{argument} must be integer class labels; got dtype {labels.dtype}.")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"{argument} must lie in 0..{num_classes - 1}; got values {labels.min()}..{labels.max()}."
        )


def _check_shape(shape, expected, argument):
    shape = tuple(None if d is None else int(d) for d in shape)
    if len(shape) != len(expected) + 1:
        hint = ""
        if len(shape) == len(expected) and expected[-1] == 1:
            hint = " Add a channel axis, e.g. `images[..., None]`."
        raise ValueError(
            f"`{argument}` must be a batch of images of rank {len(expected) + 1} "
            f"(batch, {', '.join(map(str, expected))}); got shape {shape}.{hint}"
        )
    if shape[-1] != expected[-1]:
        raise ValueError(
            f"`{argument}` has {shape[-1]} channels but the model expects "
            f"{expected[-1]} (image shape {expected}). Build the model with "
            f"`image_shape={(*expected[:-1], shape[-1])}` or convert the images."
        )
    if shape[1:] != expected:
        raise ValueError(
            f"`{argument}` holds images of shape {shape[1:]} but the model expects "
            f"{expected}. Resize the images or build the model with "
            f"`image_shape={shape[1:]}`."
        )


def _check_values(array, argument):
    if array.dtype == np.uint8:
        return
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"`{argument}` has dtype {array.dtype}; use uint8 0..255 or floats in [0, 1].")
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(
            f"`{argument}` contains {bad} NaN or infinite values. Clean the data "
            f"(e.g. `np.nan_to_num`) before training."
        )
    if array.size and float(array.max()) > 1.0 + 1e-6:
        raise ValueError(
            f"`{argument}` has float values up to {float(array.max()):g}, but float "
            f"images must lie in [0, 1]. Divide by 255, or pass uint8 images."
        )


def known_pixels(images, mask, image_shape):
    """The images and the mask of inpainting, checked, as float32 arrays of one shape.

    Args:
        images: `(batch, *image_shape)` images in [0, 1].
        mask: 1 where a pixel is known; of the images' shape or broadcastable to it.
        image_shape: The model's image shape.

    Returns:
        `(images, mask)`.
    """
    images = np.asarray(images, dtype="float32")
    if images.shape[1:] != tuple(image_shape):
        raise ValueError(
            f"images must have shape (batch, {', '.join(map(str, image_shape))}) "
            f"for this model; got {images.shape}."
        )
    try:
        mask = np.broadcast_to(np.asarray(mask, dtype="float32"), images.shape)
    except ValueError:
        raise ValueError(
            f"mask of shape {np.shape(mask)} does not fit images of shape {images.shape}."
        ) from None
    return images, mask


def positive_int(value, name):
    """`value` as an int, or a `ValueError` unless it is a positive integer."""
    number = int(value)
    if number < 1:
        raise ValueError(f"{name} must be a positive integer; got {value}.")
    return number


def finite_non_negative(value, name):
    """`value` as a float, or a `ValueError` unless it is finite and >= 0."""
    number = float(value)
    if not (math.isfinite(number) and number >= 0):
        raise ValueError(f"{name} must be a finite number >= 0; got {number}.")
    return number
