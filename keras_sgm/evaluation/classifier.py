"""A small MNIST classifier whose features measure sample quality offline.

Inception features mean little for 28x28 digits, so keras-sgm scores samples
with its own LeNet-style classifier (>= 99.3% test accuracy). Its weights
ship inside the package, so the metrics need no download and give the same
numbers on every backend. `scripts/train_classifier.py` reproduces them.
"""

import pathlib

import keras
from keras import layers

WEIGHTS = pathlib.Path(__file__).parents[1] / "weights" / "mnist_classifier.weights.h5"
FEATURES_LAYER = "features"


def build_classifier():
    """LeNet-style convolutional classifier of `(28, 28, 1)` images in [0, 1].

    Returns:
        A functional `keras.Model` returning the 10 class logits. Its layer
        named `"features"` (128 units) is the embedding the metrics use.
    """
    images = keras.Input((28, 28, 1), name="images")
    h = images
    for width in (32, 64):
        h = layers.Conv2D(width, 3, padding="same", activation="relu")(h)
        h = layers.Conv2D(width, 3, padding="same", activation="relu")(h)
        h = layers.MaxPooling2D()(h)
    h = layers.Flatten()(h)
    h = layers.Dropout(0.3)(h)
    features = layers.Dense(128, activation="relu", name=FEATURES_LAYER)(h)
    logits = layers.Dense(10, name="logits")(layers.Dropout(0.3)(features))
    return keras.Model(images, logits, name="mnist_classifier")


_SHIPPED = None


def load_classifier():
    """The shipped classifier, as a model returning `(features, logits)`.

    Raises:
        FileNotFoundError: The package was installed without its weights.
    """
    global _SHIPPED
    if _SHIPPED is None:
        if not WEIGHTS.exists():
            raise FileNotFoundError(
                f"The classifier weights are missing from {WEIGHTS}. Reinstall keras-sgm, "
                f"or run scripts/train_classifier.py to recreate them."
            )
        classifier = build_classifier()
        classifier.load_weights(WEIGHTS)
        _SHIPPED = keras.Model(
            classifier.input,
            [classifier.get_layer(FEATURES_LAYER).output, classifier.output],
        )
    return _SHIPPED
