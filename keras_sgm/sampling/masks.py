"""Masks of known pixels, for inpainting."""

import numpy as np

HALVES = ("top", "bottom", "left", "right")


def half_mask(image_shape, keep):
    """A mask that marks one half of an image as known.

    Args:
        image_shape: `(height, width, channels)`.
        keep: Which half is known: `"top"`, `"bottom"`, `"left"` or `"right"`.

    Returns:
        A float32 array of `image_shape`, 1 on the known half and 0 elsewhere.

    Example:

    >>> half_mask((4, 4, 1), "top")[:, 0, 0].tolist()
    [1.0, 1.0, 0.0, 0.0]
    """
    if keep not in HALVES:
        raise ValueError(f"keep must be one of {HALVES}; got {keep!r}.")
    height, width, _ = image_shape
    rows = {"top": slice(0, height // 2), "bottom": slice(height // 2, None)}.get(keep, slice(None))
    columns = {"left": slice(0, width // 2), "right": slice(width // 2, None)}.get(keep, slice(None))
    mask = np.zeros(image_shape, dtype="float32")
    mask[rows, columns] = 1.0
    return mask
