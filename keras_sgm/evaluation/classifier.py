"""Feature networks that measure sample quality offline: small classifiers of the data itself.

Inception features mean little for 28x28 digits or clothes, so keras-sgm
scores samples with a LeNet-style classifier of the same data (>= 99.3 %
test accuracy on MNIST, >= 90 % on Fashion-MNIST). Those two ship inside the
package, so their metrics need no download and give the same numbers on every
backend; `keras-sgm train-classifier` trains one for any other labelled
dataset, and `scripts/train_classifier.py` reproduces the shipped ones.
"""

import pathlib

import keras
from keras import layers

WEIGHTS_DIR = pathlib.Path(__file__).parents[1] / "weights"
SHIPPED = {"mnist": WEIGHTS_DIR / "mnist_classifier.weights.h5",
           "fashion_mnist": WEIGHTS_DIR / "fashion_mnist_classifier.weights.h5"}
"""The shipped classifiers' weights, by the name of their dataset (28x28x1 images, 10 classes)."""
WEIGHTS = SHIPPED["mnist"]
FEATURES_LAYER = "features"


def build_classifier(image_shape=(28, 28, 1), num_classes=10, name="classifier"):
    """LeNet-style convolutional classifier of images in [0, 1].

    Args:
        image_shape: `(height, width, channels)` of the images.
        num_classes: Number of classes.
        name: Name of the model.

    Returns:
        A functional `keras.Model` returning the class logits. Its layer
        named `"features"` (128 units) is the embedding the metrics use.

    Example:

    >>> build_classifier((32, 32, 3), num_classes=5).output.shape
    (None, 5)
    """
    images = keras.Input(tuple(image_shape), name="images")
    h = images
    for width in (32, 64):
        h = layers.Conv2D(width, 3, padding="same", activation="relu")(h)
        h = layers.Conv2D(width, 3, padding="same", activation="relu")(h)
        h = layers.MaxPooling2D()(h)
    h = layers.Flatten()(h)
    h = layers.Dropout(0.3)(h)
    features = layers.Dense(128, activation="relu", name=FEATURES_LAYER)(h)
    logits = layers.Dense(int(num_classes), name="logits")(layers.Dropout(0.3)(features))
    return keras.Model(images, logits, name=name)


def feature_network(classifier):
    """A model from images to `(features, logits)` of a classifier made by `build_classifier`."""
    return keras.Model(classifier.input, [classifier.get_layer(FEATURES_LAYER).output, classifier.output])


_LOADED = {}


def load_classifier(features=None):
    """A feature network for the metrics, as a model returning `(features, logits)`.

    Args:
        features: None or `"mnist"` for the shipped MNIST classifier,
            `"fashion_mnist"` for the shipped Fashion-MNIST one, or the
            `.keras` file of a classifier from `keras-sgm train-classifier`.

    Raises:
        FileNotFoundError: The file, or the shipped weights, are missing.
        ValueError: The file holds no classifier with a `"features"` layer.
    """
    key = str(features or "mnist")
    if key not in _LOADED:
        if key in SHIPPED:
            if not SHIPPED[key].exists():
                raise FileNotFoundError(
                    f"The {key} classifier's weights are missing from {SHIPPED[key]}. Reinstall keras-sgm, "
                    f"or run scripts/train_classifier.py --data {key} to recreate them."
                )
            classifier = build_classifier(name=f"{key}_classifier")
            classifier.load_weights(SHIPPED[key])
        else:
            path = pathlib.Path(key)
            if not path.is_file():
                raise FileNotFoundError(f"no feature network {key}: give mnist, fashion_mnist, or a .keras file "
                                        f"written by `keras-sgm train-classifier`.")
            try:
                classifier = keras.saving.load_model(path, compile=False)
                classifier.get_layer(FEATURES_LAYER)
            except Exception as error:  # noqa: BLE001 - any failure means the same to the user
                raise ValueError(f"{key} is not a classifier from `keras-sgm train-classifier` (a .keras file "
                                 f"with a 'features' layer): {type(error).__name__}: {str(error)[:160]}") from None
        _LOADED[key] = feature_network(classifier)
    return _LOADED[key]


def shipped_features_for(dataset):
    """The name of the shipped feature network of a dataset, or None when none ships."""
    return dataset if dataset in SHIPPED else None
