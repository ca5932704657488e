"""Training images from any source, as one `ImageData`: a TensorFlow Datasets name, a folder of
images, or an `.npz` file, resized and converted to one shape and colour."""

import dataclasses
import os
import pathlib
import re

import numpy as np

COLORS = ("grayscale", "rgb")
CROPS = ("center", "pad", "none")
CACHE_LIMIT_BYTES = 2 * 1024**3
"""Sets whose converted images take less than this are kept in memory after the first epoch."""


@dataclasses.dataclass(frozen=True)
class ImageData:
    """A dataset of uint8 images of one shape, with or without class labels, split by name.

    Attributes:
        name: The dataset's name: its TFDS name, or the stem of its folder or file.
        image_shape: `(height, width, channels)` of every image.
        class_names: The names of the classes, by label; None when unlabelled.
        sizes: `{split: number of images}`, e.g. `{"train": 60000, "test": 10000}`.
        read: `read(split)`, the split's unbatched `tf.data.Dataset` of
            `(image, label)` pairs, or of images alone when unlabelled.
        skipped: Files of a folder left out because they do not decode.

    Example:

    >>> data = open_data("fashion_mnist")
    >>> data.image_shape, data.class_names[-1]
    ((28, 28, 1), 'Ankle boot')
    """

    name: str
    image_shape: tuple
    class_names: tuple | None
    sizes: dict
    read: object = dataclasses.field(repr=False)
    skipped: tuple = ()

    @property
    def num_classes(self):
        """The number of classes, or None when unlabelled."""
        return None if self.class_names is None else len(self.class_names)

    def check_split(self, split):
        if split not in self.sizes:
            raise ValueError(f"{self.name} has no {split!r} split; it has {', '.join(self.sizes)}.")
        return split

    def examples(self, split="train"):
        """The split as an unbatched uint8 `tf.data.Dataset`: `(image, label)`, or images alone
        when unlabelled; kept in memory after the first pass when small."""
        dataset = self.read(self.check_split(split))
        if self.sizes[split] * int(np.prod(self.image_shape)) < CACHE_LIMIT_BYTES:
            dataset = dataset.cache()
        return dataset

    def arrays(self, split="train"):
        """The split as NumPy arrays.

        Returns:
            `(images, labels)`: uint8 `(n, *image_shape)` and int64 `(n,)`, or
            None for the labels when unlabelled.
        """
        images, labels = [], []
        for batch in self.examples(split).batch(4096).as_numpy_iterator():
            images.append(batch[0] if self.class_names else batch)
            if self.class_names:
                labels.append(batch[1])
        images = np.concatenate(images) if images else np.zeros((0, *self.image_shape), "uint8")
        return images, (np.concatenate(labels).astype("int64") if self.class_names else None)

    def describe(self, split="train"):
        """One line: e.g. `fashion_mnist: 60,000 28x28 grayscale images in 10 classes`."""
        height, width, channels = self.image_shape
        kind = "grayscale" if channels == 1 else "RGB"
        classes = f"in {self.num_classes} classes" if self.class_names else "without labels"
        skipped = f"; skipped {len(self.skipped)} that do not decode ({self.skipped[0]}, ...)" if self.skipped else ""
        return f"{self.name}: {self.sizes.get(split, 0):,} {height}x{width} {kind} images {classes}{skipped}"


def parse_image_size(value):
    """`(height, width)` from `28`, `"32"`, `"64x48"` or a pair; None stays None.

    Raises:
        ValueError: Not one or two positive integers.
    """
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        sides = tuple(value)
    else:
        match = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?", str(value))
        sides = (match[1], match[2] or match[1]) if match else ()
    try:
        sides = tuple(int(side) for side in sides)
    except (TypeError, ValueError):
        sides = ()
    if len(sides) != 2 or not all(1 <= side <= 4096 for side in sides):
        raise ValueError(f"image size {value!r} is not H or HxW in pixels (1 to 4096), such as 32 or 64x48.")
    return sides


_TFDS_NAME = re.compile(r"[a-z][a-z0-9_]*(/[a-zA-Z0-9_.-]+)?(:[0-9]+\.[0-9]+\.[0-9]+)?")


def kind_of_source(data):
    """`"npz"`, `"folder"` or `"tfds"`: how `open_data` reads `data`.

    A folder wins over a TFDS name of the same spelling; write `./mnist` or
    `mnist` to make the choice plain.

    Raises:
        ValueError: A path that does not exist, a file that is not `.npz`, or
            a name that TFDS names cannot be.
    """
    text = str(data)
    if text.endswith(".npz"):
        if not os.path.isfile(text):
            raise ValueError(f"data file {text!r} does not exist.")
        return "npz"
    if os.path.isdir(text):
        return "folder"
    if os.path.isfile(text):
        raise ValueError(f"{text!r} is a file; give an .npz file, a folder of images or a TensorFlow Datasets name.")
    if not _TFDS_NAME.fullmatch(text) and (os.sep in text or text.startswith((".", "~"))):
        raise ValueError(f"the data folder {text!r} does not exist.")
    if not _TFDS_NAME.fullmatch(text):
        raise ValueError(f"{text!r} is neither a folder of images, an .npz file nor a TensorFlow Datasets name "
                         f"(lower case, such as mnist or fashion_mnist).")
    return "tfds"


def open_data(data="mnist", data_dir=None, image_size=None, color=None, crop="center", labels=True,
              bad_images="refuse"):
    """Opens training images from any source.

    Args:
        data: A TensorFlow Datasets name (`"mnist"`, `"fashion_mnist"`,
            `"cifar10"`...), a folder of images (any of `IMAGE_SUFFIXES`; class
            subfolders give labels; `train/` and `test/` subfolders give
            splits), or an `.npz` file with `x_train` (and `y_train`,
            `x_test`, `y_test`, `class_names`).
        data_dir: The TFDS data directory (default: `$TFDS_DATA_DIR`).
        image_size: `(height, width)` (or `"HxW"`, or one side) to resize
            to; None keeps the data's own size, which must then be one.
        color: `"grayscale"` or `"rgb"`; None keeps the data's own.
        crop: For other aspect ratios: `"center"` crops, `"pad"` pads with
            black, `"none"` stretches.
        labels: Keep the class labels; False trains unconditionally.
        bad_images: For a folder, what to do with files that do not decode:
            `"refuse"` (a `ValueError` that names them) or `"skip"`.

    Returns:
        An `ImageData`.

    Raises:
        ValueError: Bad options or data, in one line that names the fix.
        DatasetUnavailableError: A TFDS dataset that is unknown, or not on
            disk and not downloadable.

    Example:

    >>> data = open_data("photos/", image_size=64, color="rgb")
    >>> data.examples("train")  # uint8 (64, 64, 3) images, with labels from the class folders
    """
    if color is not None and color not in COLORS:
        raise ValueError(f"unknown color {color!r}; give one of {', '.join(COLORS)}.")
    if crop not in CROPS:
        raise ValueError(f"unknown crop {crop!r}; give one of {', '.join(CROPS)}.")
    image_size = parse_image_size(image_size)
    kind = kind_of_source(data)
    if kind == "folder":
        return _open_folder(pathlib.Path(data), image_size, color, crop, labels, bad_images)
    if kind == "npz":
        return _open_npz(data, image_size, color, crop, labels)
    return _open_tfds(str(data), data_dir, image_size, color, crop, labels)


def _target_shape(name, source_shape, image_size, color):
    height, width, channels = source_shape
    if image_size is None:
        if height is None or width is None:
            raise ValueError(f"the images of {name} differ in size; give --image-size HxW "
                             f"(image_size=) to resize them all.")
        image_size = (height, width)
    color = color or ("grayscale" if channels in (1, 2) else "rgb")
    return (*image_size, 1 if color == "grayscale" else 3)


def _converter(source_shape, target_shape, crop):
    """A function of one uint8 image tensor of `source_shape` to `target_shape`, for `tf.data`."""
    import keras

    from keras_sgm.data.datasets import tensorflow_for_data

    tf = tensorflow_for_data()
    channels = target_shape[-1]
    resize = None
    if tuple(source_shape[:2]) != tuple(target_shape[:2]):
        # Keras's preprocessing layer runs in tf.data on every backend.
        resize = keras.layers.Resizing(*target_shape[:2], crop_to_aspect_ratio=crop == "center",
                                       pad_to_aspect_ratio=crop == "pad", antialias=True)

    def convert(image):
        image = image[..., :1] if image.shape[-1] == 2 else image[..., :3]  # drop alpha
        if channels == 1 and image.shape[-1] == 3:
            image = tf.image.rgb_to_grayscale(image)
        elif channels == 3 and image.shape[-1] == 1:
            image = tf.image.grayscale_to_rgb(image)
        if resize is not None:
            image = tf.cast(tf.clip_by_value(tf.round(resize(tf.cast(image, "float32"))), 0, 255), tf.uint8)
        return tf.ensure_shape(image, target_shape)

    return convert


def _mapped(dataset, convert, labelled):
    if labelled:
        return dataset.map(lambda image, label: (convert(image), label))
    return dataset.map(convert)


def _open_tfds(name, data_dir, image_size, color, crop, labels):
    import tensorflow_datasets as tfds

    from keras_sgm.data.datasets import tfds_builder

    builder = tfds_builder(name, data_dir)
    features = builder.info.features
    image_keys = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
    label_keys = [k for k, f in features.items() if isinstance(f, tfds.features.ClassLabel)]
    if not image_keys:
        raise ValueError(f"the TFDS dataset {name} has no image feature; keras-sgm trains on images.")
    image_key = image_keys[0]
    label_key = label_keys[0] if labels and label_keys else None
    source_shape = tuple(features[image_key].shape)
    target = _target_shape(builder.name, source_shape, image_size, color)
    convert = _converter(source_shape, target, crop)
    sizes = {s: builder.info.splits[s].num_examples for s in ("train", "test") if s in builder.info.splits}

    def read(split):
        dataset = builder.as_dataset(split=split, shuffle_files=False)
        if label_key is None:
            return dataset.map(lambda example: convert(example[image_key]))
        return dataset.map(lambda example: (convert(example[image_key]), example[label_key]))

    class_names = tuple(features[label_key].names) if label_key else None
    return ImageData(builder.name, target, class_names, sizes, read)


def _open_npz(path, image_size, color, crop, labels):
    from keras_sgm.data.datasets import load_npz_images, tensorflow_for_data

    splits = {"train": load_npz_images(path, "train")}
    with np.load(path) as archive:
        if "x_test" in archive:
            splits["test"] = load_npz_images(path, "test")
        names = [str(n) for n in archive["class_names"]] if "class_names" in archive else None
    train_images, train_labels = splits["train"]
    labelled = bool(labels) and bool(np.all(train_labels >= 0))
    class_names = None
    if labelled:
        class_names = tuple(names or (str(i) for i in range(int(train_labels.max()) + 1)))
        for split, (_, split_labels) in splits.items():
            if split_labels.min() < 0 or split_labels.max() >= len(class_names):
                raise ValueError(f"the labels y_{split} of {path} must lie in 0..{len(class_names) - 1} "
                                 f"(one per class name); got {split_labels.min()}..{split_labels.max()}.")
    source_shape = train_images.shape[1:]
    for split, (images, _) in splits.items():
        if images.shape[1:] != source_shape:
            raise ValueError(f"x_{split} of {path} holds {images.shape[1:]} images but x_train holds "
                             f"{source_shape}; save both of one shape.")
    target = _target_shape(pathlib.Path(path).stem, source_shape, image_size, color)
    convert = _converter(source_shape, target, crop)
    tf = tensorflow_for_data()

    def read(split):
        images, split_labels = splits[split]
        dataset = tf.data.Dataset.from_tensor_slices((images, split_labels) if labelled else images)
        return _mapped(dataset, convert, labelled)

    return ImageData(pathlib.Path(path).stem, target, class_names,
                     {split: len(images) for split, (images, _) in splits.items()}, read)


def _open_folder(root, image_size, color, crop, labels, bad_images):
    from keras_sgm.data.folders import read_folder, scan_folder, split_folders

    scans = {split: scan_folder(folder, bad_images) for split, folder in split_folders(root).items()}
    train = scans["train"]
    for split, scan in scans.items():
        if scan.class_names != train.class_names:
            raise ValueError(f"the {split} folder's classes ({', '.join(scan.class_names or ['none'])}) differ "
                             f"from train's ({', '.join(train.class_names or ['none'])}); give both the same "
                             f"class folders.")
    size = train.size if all(scan.size == train.size for scan in scans.values()) else None
    if image_size is None and size is None:
        # The folder's own message: it names two files of different sizes.
        sizes = [example for scan in scans.values() for example in scan.example_sizes][:2]
        raise ValueError(f"the images of {root} differ in size ({' and '.join(sizes)}); give --image-size HxW "
                         f"(image_size=) to resize them all.")
    channels = 1 if all(scan.grayscale for scan in scans.values()) else 3
    target = _target_shape(root.name, (*(size or (None, None)), channels), image_size, color)
    image_size, color = target[:2], "grayscale" if target[-1] == 1 else "rgb"
    labelled = bool(labels) and train.class_names is not None

    def read(split):
        dataset = read_folder(scans[split], image_size, color, crop, train.class_names)
        if train.class_names is not None and not labelled:
            return dataset.map(lambda image, label: image)
        return dataset

    return ImageData(root.resolve().name, target, train.class_names if labelled else None,
                     {split: scan.count for split, scan in scans.items()}, read,
                     tuple(path for scan in scans.values() for path in scan.skipped))
