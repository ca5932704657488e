"""The command line's files: checks of output paths, PNG and npz I/O, model loading, and the
one-line input error."""

import os
import pathlib

import click


class InputError(click.ClickException):
    """Bad input: a one-line `Error: ...` and exit code 2, as for a bad option."""

    exit_code = 2


def fail(message):
    raise InputError(message)


def writable_file(path, suffix):
    path = pathlib.Path(path)
    if path.is_dir():
        fail(f"{path} is a directory; give a file name ending in {suffix}.")
    if path.suffix.lower() != suffix:
        fail(f"{path} must end in {suffix}.")
    folder = path.parent if str(path.parent) else pathlib.Path(".")
    if not folder.is_dir():
        fail(f"cannot write {path}: the folder {folder} does not exist.")
    if not can_create_files_in(folder):
        fail(f"cannot write {path}: the folder {folder} is not writable.")
    return path


def can_create_files_in(folder):
    """Tries it, since permission bits miss read-only mounts and root's rights."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def load_model_or_fail(checkpoint, preset=None):
    """The model of `--checkpoint`, else the shipped one of `--preset` (MNIST when both are None)."""
    from keras_sgm.cli.backend import import_tensorflow
    from keras_sgm.models.saving import CheckpointError, load_model

    if checkpoint is not None and preset is not None:
        fail("give --checkpoint or --preset, not both.")
    if checkpoint is not None:
        # A training checkpoint's EMA copy makes Keras import TensorFlow; the shipped model has none.
        import_tensorflow()
    try:
        return load_model(checkpoint if preset is None else preset)
    except CheckpointError as error:
        fail(str(error))


def save_npz(path, **arrays):
    """Writes an .npz through a temporary file, so that a kill never leaves half of one."""
    import numpy as np

    partial = path.with_name(f".{path.name}.partial")
    with open(partial, "wb") as file:
        np.savez_compressed(file, **arrays)
    os.replace(partial, path)


def read_png(path, shape, what):
    """A PNG as floats in [0, 1] of `shape` (h, w, c): grayscale for one channel, RGB for three;
    or a one-line error."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from keras_sgm.data.images import unit_floats

    try:
        with Image.open(path) as picture:
            picture.load()
    except (OSError, UnidentifiedImageError, ValueError) as error:
        fail(f"cannot read the {what} {path}: {' '.join(str(error).split())[:200]}")
    height, width, channels = shape
    modes, mode, kind = (("L", "1"), "L", "8-bit grayscale") if channels == 1 else (("RGB", "RGBA"), "RGB", "RGB")
    if picture.mode not in modes:
        fail(f"the {what} {path} has mode {picture.mode}; this model needs {kind} (mode {mode}). "
             f"Convert it, e.g. with PIL: Image.open(path).convert('{mode}').save(path).")
    if picture.size != (width, height):
        fail(f"the {what} {path} is {picture.size[0]}x{picture.size[1]} pixels; "
             f"the model needs {width}x{height}.")
    return unit_floats(np.asarray(picture.convert(mode)).reshape(shape))
