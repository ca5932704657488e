"""Images: the conversion to [0, 1] floats, and grids written as PNG files."""

import math
import pathlib

import numpy as np


def unit_floats(images):
    """Images as float32 in [0, 1]: uint8 0..255 is divided by 255, other dtypes are cast.

    The one conversion of the package: NumPy arrays (and lists) give a
    NumPy array, backend tensors a tensor, inside compiled code too.

    Example:

    >>> unit_floats(np.array([0, 255], "uint8")).tolist()
    [0.0, 1.0]
    """
    if not hasattr(images, "dtype"):
        images = np.asarray(images)
    uint8 = "uint8" in str(images.dtype)
    if isinstance(images, np.ndarray):
        images = images.astype("float32")
    else:
        from keras import ops

        images = ops.cast(images, "float32")
    return images / 255.0 if uint8 else images


def make_grid(images, columns=None, padding=2):
    """Tiles `(n, h, w, c)` images in [0, 1] into one uint8 image.

    Args:
        images: Array of shape `(n, height, width, channels)`, values in [0, 1].
        columns: Images per row; defaults to a square-ish grid.
        padding: Pixels of black between the images.

    Returns:
        A uint8 array `(rows * (h + padding) + padding, ..., channels)`.
    """
    images = np.clip(np.asarray(images, dtype="float32"), 0.0, 1.0)
    count, height, width, channels = images.shape
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    grid = np.zeros(
        (rows * (height + padding) + padding, columns * (width + padding) + padding, channels),
        dtype="uint8",
    )
    for index, image in enumerate(images):
        top = padding + (index // columns) * (height + padding)
        left = padding + (index % columns) * (width + padding)
        grid[top : top + height, left : left + width] = np.round(image * 255.0)
    return grid


def save_grid(images, path, columns=None, scale=2):
    """Writes `images` as a PNG grid (`make_grid`), enlarged `scale` times.

    Returns:
        The path written, as a `pathlib.Path`.
    """
    from PIL import Image

    grid = make_grid(images, columns)
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    path = pathlib.Path(path)
    picture = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    picture.save(path, format="PNG")
    return path


def grey_unknown(images, mask):
    """`images` with the pixels that `mask` marks unknown (0) shown mid-grey.

    How inpainting grids show their input, so that black known pixels stay
    distinguishable from the pixels to be generated.

    Args:
        images: Images in [0, 1].
        mask: 1 where a pixel is known, broadcastable to `images`.

    Returns:
        The images with unknown pixels set to 0.5.
    """
    return mask * images + (1.0 - mask) * 0.5
