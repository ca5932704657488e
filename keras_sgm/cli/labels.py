"""`--label` against a loaded model: class names and indices to labels, and the words for its images."""

import re
import unicodedata

from keras_sgm.cli.io import fail


def _folded(name):
    """A class name as compared: lower case, letters and digits only, accents dropped
    (`T-shirt/top` -> `tshirttop`, `Crème brûlée` -> `cremebrulee`). Decomposing first also
    matches the decomposed accents of file names written on a Mac."""
    decomposed = unicodedata.normalize("NFKD", str(name))
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    return "".join(c for c in letters.casefold() if c.isalnum())


def class_names(model):
    """The model's class names, by label: its saved ones, else the indices as text."""
    return model.class_names or tuple(str(index) for index in range(model.num_classes or 0))


def class_index(model, label, option="--label"):
    """The index of one class of `model`, given by name (in any case and punctuation, or by a
    prefix that no other class shares), else by index (a name that is a number wins over the
    index); a one-line error if the model has no such class."""
    names = class_names(model)
    if isinstance(label, str) and re.fullmatch(r"\s*[+-]\d+\s*", label):
        label = int(label)  # a signed number is an index, not a name
    if isinstance(label, str):
        wanted = _folded(label)
        exact = [i for i, name in enumerate(names) if _folded(name) == wanted]
        if len(exact) == 1:
            return exact[0]
        if label.strip().isdigit():
            label = int(label)
        else:
            prefixed = [i for i, name in enumerate(names) if _folded(name).startswith(wanted)]
            if len(prefixed) == 1:
                return prefixed[0]
            why = "matches several of its classes" if prefixed else "is not a class of this model"
            fail(f"{option} {label!r} {why}; its classes are {', '.join(names)} (or give an index "
                 f"0..{len(names) - 1}).")
    if not 0 <= label < len(names):
        fail(f"{option} {label} is not a class of this model (0..{len(names) - 1}).")
    return int(label)


def class_labels(model, label, num, option="--label", seed=0):
    """Labels for `--label`: None for `none` (or None), `num` of one class, `num` of each class
    for `all`, or `num` random classes for `any`, after checking the model takes labels."""
    if label in (None, "none"):
        return None
    if model.num_classes is None:
        fail(f"{option} needs a class-conditional model; this checkpoint is unconditional.")
    import numpy as np

    if label == "all":
        return np.repeat(np.arange(model.num_classes), num)
    if label == "any":
        return np.random.default_rng(seed).integers(0, model.num_classes, num)
    return np.full(num, class_index(model, label, option))


def noun(model):
    """What the model's images are called in messages: digits for MNIST, else images."""
    return "digits" if (model.dataset or "mnist") == "mnist" and model.image_shape == (28, 28, 1) else "images"
