"""A folder of image files as training data: checked file by file, then decoded by Pillow.

The layouts are those of `keras.utils.image_dataset_from_directory`:
`root/CLASS/*.png` gives labels and class names, a flat `root/*.png` gives
unlabelled images, and `root/train/...` beside `root/test/...` gives two
splits of either kind.

Folders as people have them hold more than images: what file managers leave
behind (`.DS_Store`, `Thumbs.db`, the `._name.png` AppleDouble files that a copy
from a Mac writes beside every image, a `__MACOSX` folder in an unzipped
archive) is passed over, as are hidden files. Every file is decoded once before
training, so that one that cannot be is named then, not mid-epoch; phone photos
are turned upright by their EXIF orientation, and every mode Pillow opens
(palette, transparency, 16-bit grey, CMYK) becomes 8-bit grey or RGB.
"""

import dataclasses
import pathlib

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
SPLIT_FOLDERS = ("train", "test")
BAD_IMAGES = ("refuse", "skip")
IGNORED_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini"}
_GRAYSCALE_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}
_TRANSPOSED_ORIENTATIONS = {5, 6, 7, 8}  # EXIF orientations that turn the picture a quarter
_EXIF_ORIENTATION = 0x0112


@dataclasses.dataclass(frozen=True)
class FolderScan:
    """What a check of every file found in one split folder.

    Attributes:
        path: The split's folder.
        class_names: Names of the class subfolders, sorted; None for a flat folder.
        files: The images that decode, sorted.
        size: `(height, width)` shared by every image (upright), or None when sizes differ.
        grayscale: Every image is grayscale (so the default colour is grayscale).
        example_sizes: Up to two files of different sizes, for the error message.
        skipped: The files that failed to decode, left out (`bad_images="skip"`).
    """

    path: pathlib.Path
    class_names: tuple | None
    files: tuple
    size: tuple | None
    grayscale: bool
    example_sizes: tuple = ()
    skipped: tuple = ()

    @property
    def count(self):
        """The number of images."""
        return len(self.files)


def _kept(path):
    """Whether a folder entry is the user's: not hidden, not a file manager's or archiver's."""
    return not path.name.startswith(".") and path.name not in IGNORED_NAMES


def _is_image(path):
    return path.is_file() and _kept(path) and path.suffix.lower() in IMAGE_SUFFIXES


def _images_in(folder):
    return sorted(p for p in folder.rglob("*") if _is_image(p)
                  and all(_kept(pathlib.Path(part)) for part in p.relative_to(folder).parts))


def split_folders(root):
    """`{split: folder}` of a data folder: `train/` and `test/` when it has a `train/`, else the
    whole folder as `train`.

    Raises:
        ValueError: The folder does not exist, or is empty.
    """
    root = pathlib.Path(root)
    if not root.is_dir():
        raise ValueError(f"the data folder {root} does not exist.")
    if not any(_kept(p) for p in root.iterdir()):
        raise ValueError(f"the data folder {root} is empty: put images ({', '.join(IMAGE_SUFFIXES)}) in it, "
                         f"or one subfolder of images per class.")
    if (root / "train").is_dir():
        return {split: root / split for split in SPLIT_FOLDERS if (root / split).is_dir()}
    return {"train": root}


def _upright_size(picture):
    """`(height, width)` of a picture once turned by its EXIF orientation."""
    turned = picture.getexif().get(_EXIF_ORIENTATION) in _TRANSPOSED_ORIENTATIONS
    return (picture.width, picture.height) if turned else (picture.height, picture.width)


def scan_folder(folder, bad_images="refuse"):
    """Decodes every image of a split folder once, and reads its size and colour.

    Args:
        folder: A folder of images, or of one subfolder of images per class.
        bad_images: What to do with a file that cannot be decoded:
            `"refuse"` raises, `"skip"` leaves it out (see `FolderScan.skipped`).

    Returns:
        A `FolderScan`.

    Raises:
        ValueError: One line naming the problem and the fix: no images, a
            class folder with none, images beside class folders, or (when
            refused) files that do not decode.
    """
    from PIL import Image

    if bad_images not in BAD_IMAGES:
        raise ValueError(f"bad_images must be one of {', '.join(BAD_IMAGES)}; got {bad_images!r}.")
    folder = pathlib.Path(folder)
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and _kept(p))
    loose = [p for p in folder.iterdir() if _is_image(p)]
    if classes and loose:
        raise ValueError(f"{folder} holds both images ({loose[0].name}, ...) and class folders "
                         f"({classes[0].name}, ...); move the images into a class folder, or the class "
                         f"folders out.")
    if classes:
        files = []
        for class_folder in classes:
            found = _images_in(class_folder)
            if not found:
                raise ValueError(f"the class folder {class_folder} holds no images ({', '.join(IMAGE_SUFFIXES)}); "
                                 f"add some or remove the folder.")
            files += found
    else:
        files = _images_in(folder)
    if not files:
        raise ValueError(f"{folder} holds no images: keras-sgm reads {', '.join(IMAGE_SUFFIXES)} files, "
                         f"flat or in one subfolder per class.")
    sizes, grayscale, good, bad = {}, True, [], []
    for path in files:
        try:
            with Image.open(path) as picture:
                picture.load()  # decodes the whole file: a truncated or corrupt one fails here
                sizes.setdefault(_upright_size(picture), path)
                grayscale &= picture.mode in _GRAYSCALE_MODES
            good.append(path)
        except Exception as error:  # noqa: BLE001 - Pillow's decoders raise many kinds
            bad.append((path, error))
    if bad and (bad_images == "refuse" or not good):
        path, error = bad[0]
        others = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise ValueError(f"cannot read the image {path}{others} ({type(error).__name__}: "
                         f"{' '.join(str(error).split())[:120]}); remove or replace them, or skip them "
                         f"(--bad-images skip).")
    size = next(iter(sizes)) if len(sizes) == 1 else None
    examples = tuple(f"{w}x{h} ({p.name})" for (h, w), p in list(sizes.items())[:2])
    return FolderScan(folder, tuple(p.name for p in classes) or None, tuple(good), size, grayscale, examples,
                      tuple(path for path, _ in bad))


def _eight_bit(picture):
    """A picture of any mode as 8-bit grey ("L") or RGB: high-bit-depth grey scaled down, not
    clipped, and transparent pixels composited over white, as a viewer shows them."""
    from PIL import Image

    if picture.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        values = np.asarray(picture, dtype="float64")
        top = 1.0 if picture.mode == "F" and values.max() <= 1.0 else 255.0 if values.max() <= 255 else 65535.0
        return Image.fromarray(np.clip(np.round(values * (255.0 / top)), 0, 255).astype("uint8"), "L")
    if picture.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in picture.info:
        rgba = picture.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return picture if picture.mode in ("L", "RGB") else picture.convert("RGB")


def load_image(path, image_size, color, crop):
    """One image file as a uint8 array, upright, in `color`, resized to `image_size`.

    Args:
        path: The file.
        image_size: `(height, width)`.
        color: `"grayscale"` or `"rgb"`.
        crop: `"center"` crops, `"pad"` pads with black to the target's aspect
            ratio before resizing; `"none"` stretches.

    Returns:
        A `(height, width, 1 or 3)` uint8 array.
    """
    from PIL import Image, ImageOps

    with Image.open(path) as picture:
        picture = _eight_bit(ImageOps.exif_transpose(picture))
    picture = picture.convert("L" if color == "grayscale" else "RGB")
    height, width = image_size
    if crop == "center":
        picture = ImageOps.fit(picture, (width, height), Image.BILINEAR)
    elif crop == "pad":
        picture = ImageOps.pad(picture, (width, height), Image.BILINEAR, color=0)
    elif picture.size != (width, height):
        picture = picture.resize((width, height), Image.BILINEAR)
    array = np.asarray(picture, dtype="uint8")
    return array[..., None] if array.ndim == 2 else array


def read_folder(scan, image_size, color, crop, class_names=None):
    """The images of a scanned folder as an unbatched uint8 `tf.data.Dataset`.

    Args:
        scan: The folder's `FolderScan`.
        image_size: `(height, width)` every image is resized to.
        color: `"grayscale"` or `"rgb"`.
        crop: See `load_image`.
        class_names: The class folders, in label order (those of the
            training split, so that every split numbers them alike).

    Returns:
        A dataset of `(image, label)` with labels, else of images.
    """
    from keras_sgm.data.datasets import tensorflow_for_data

    tf = tensorflow_for_data()
    shape = (*image_size, 1 if color == "grayscale" else 3)

    def decode(path):
        image = tf.numpy_function(lambda p: load_image(p.decode(), image_size, color, crop), [path], tf.uint8,
                                  stateful=False)
        return tf.ensure_shape(image, shape)

    paths = tf.data.Dataset.from_tensor_slices([str(p) for p in scan.files])
    if scan.class_names is None:
        return paths.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    index = {name: label for label, name in enumerate(class_names or scan.class_names)}
    labels = [index[p.relative_to(scan.path).parts[0]] for p in scan.files]
    pairs = tf.data.Dataset.zip((paths, tf.data.Dataset.from_tensor_slices(np.asarray(labels, "int64"))))
    return pairs.map(lambda path, label: (decode(path), label), num_parallel_calls=tf.data.AUTOTUNE)
