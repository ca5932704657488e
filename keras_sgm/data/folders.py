"""A folder of image files as training data: checked file by file, then read by Keras's loader.

The layouts are those of `keras.utils.image_dataset_from_directory`:
`root/CLASS/*.png` gives labels and class names, a flat `root/*.png` gives
unlabelled images, and `root/train/...` beside `root/test/...` gives two
splits of either kind.
"""

import dataclasses
import pathlib

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
SPLIT_FOLDERS = ("train", "test")
_GRAYSCALE_MODES = {"1", "L", "LA", "I", "I;16", "F"}


@dataclasses.dataclass(frozen=True)
class FolderScan:
    """What a check of every file found in one split folder.

    Attributes:
        path: The split's folder.
        class_names: Names of the class subfolders, sorted; None for a flat folder.
        count: Number of images.
        size: `(height, width)` shared by every image, or None when sizes differ.
        grayscale: Every image is grayscale (so the default colour is grayscale).
        example_sizes: Up to two files of different sizes, for the error message.
    """

    path: pathlib.Path
    class_names: tuple | None
    count: int
    size: tuple | None
    grayscale: bool
    example_sizes: tuple = ()


def _images_in(folder):
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def split_folders(root):
    """`{split: folder}` of a data folder: `train/` and `test/` when it has a `train/`, else the
    whole folder as `train`.

    Raises:
        ValueError: The folder does not exist, or is empty.
    """
    root = pathlib.Path(root)
    if not root.is_dir():
        raise ValueError(f"the data folder {root} does not exist.")
    if not any(not p.name.startswith(".") for p in root.iterdir()):
        raise ValueError(f"the data folder {root} is empty: put images (PNG, JPEG, BMP, GIF) in it, or one "
                         f"subfolder of images per class.")
    if (root / "train").is_dir():
        return {split: root / split for split in SPLIT_FOLDERS if (root / split).is_dir()}
    return {"train": root}


def scan_folder(folder):
    """Checks every image of a split folder (that it opens and decodes) and reads its size and colour.

    Args:
        folder: A folder of images, or of one subfolder of images per class.

    Returns:
        A `FolderScan`.

    Raises:
        ValueError: One line naming the problem and the fix: no images, a
            class folder with none, images beside class folders, or a file
            that is not a readable image.
    """
    from PIL import Image, UnidentifiedImageError

    folder = pathlib.Path(folder)
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if classes and loose:
        raise ValueError(f"{folder} holds both images ({loose[0].name}, ...) and class folders "
                         f"({classes[0].name}, ...); move the images into a class folder, or the class "
                         f"folders out.")
    if classes:
        files = []
        for class_folder in classes:
            found = _images_in(class_folder)
            if not found:
                raise ValueError(f"the class folder {class_folder} holds no images (PNG, JPEG, BMP, GIF); "
                                 f"add some or remove the folder.")
            files += found
    else:
        files = _images_in(folder)
    if not files:
        raise ValueError(f"{folder} holds no images: keras-sgm reads {', '.join(IMAGE_SUFFIXES)} files, "
                         f"flat or in one subfolder per class.")
    sizes, grayscale = {}, True
    for path in files:
        try:
            with Image.open(path) as picture:
                picture.verify()  # reads the whole file: a truncated or corrupt one fails here
            with Image.open(path) as picture:
                sizes.setdefault((picture.height, picture.width), path)
                grayscale &= picture.mode in _GRAYSCALE_MODES
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as error:
            raise ValueError(f"cannot read the image {path}: {' '.join(str(error).split())[:160]}; "
                             f"remove or replace the file.") from None
    size = next(iter(sizes)) if len(sizes) == 1 else None
    examples = tuple(f"{w}x{h} ({p.name})" for (h, w), p in list(sizes.items())[:2])
    return FolderScan(folder, tuple(p.name for p in classes) or None, len(files), size, grayscale, examples)


def read_folder(scan, image_size, color, crop, class_names=None):
    """The images of a scanned folder as an unbatched uint8 `tf.data.Dataset`.

    Args:
        scan: The folder's `FolderScan`.
        image_size: `(height, width)` every image is resized to.
        color: `"grayscale"` or `"rgb"`.
        crop: `"center"` crops, `"pad"` pads to the target's aspect ratio
            before resizing; `"none"` stretches.
        class_names: The class folders, in label order (those of the
            training split, so that every split numbers them alike).

    Returns:
        A dataset of `(image, label)` with labels, else of images.
    """
    import keras

    from keras_sgm.data.datasets import tensorflow_for_data

    tf = tensorflow_for_data()
    labelled = scan.class_names is not None
    dataset = keras.utils.image_dataset_from_directory(
        str(scan.path), labels="inferred" if labelled else None, class_names=class_names if labelled else None,
        color_mode=color, batch_size=None, image_size=tuple(image_size), shuffle=False,
        crop_to_aspect_ratio=crop == "center", pad_to_aspect_ratio=crop == "pad", verbose=False)

    def to_uint8(image):
        return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)

    if labelled:
        return dataset.map(lambda image, label: (to_uint8(image), tf.cast(label, tf.int64)))
    return dataset.map(to_uint8)
