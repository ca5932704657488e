"""Feature networks that measure sample quality offline: small classifiers of the data itself.

Inception features mean little for 28x28 digits or clothes, so keras-sgm
scores samples with a LeNet-style classifier of the same data (>= 99.3 %
test accuracy on MNIST, >= 90 % on Fashion-MNIST). Those two ship inside the
package, so their metrics need no download and give the same numbers on every
backend; `keras-sgm train-classifier` trains one for any other labelled
dataset, and `scripts/train_classifier.py` reproduces the shipped ones. For
natural colour images, `"inception"` is the standard Inception-V3 FID network
(Keras's ImageNet weights, downloaded once into `~/.keras/models`).
"""

import os
import pathlib
import socket

import keras
from keras import layers

from keras_sgm.evaluation.names import INCEPTION, SHIPPED

WEIGHTS = SHIPPED["mnist"]
FEATURES_LAYER = "features"
INCEPTION_WEIGHTS = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
_DOWNLOAD_HOST = ("storage.googleapis.com", 443)


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


def inception_network(image_shape, weights="imagenet", size=299):
    """Inception-V3 as a feature network: 2,048 pooled features and 1,000 ImageNet logits.

    Images in [0, 1] of any size are resized to 299x299 (grayscale repeated
    to three channels) and scaled to [-1, 1], Inception's own input.
    `keras.applications.InceptionV3` differs slightly from the TF-slim graph
    that pytorch-fid and clean-fid use, so its FIDs compare with each other,
    not with theirs.

    Args:
        image_shape: `(height, width, channels)` of the images to score.
        weights: `"imagenet"` (downloaded once, cached in `~/.keras/models`),
            a weights file, or None for random weights (tests).
        size: The side Inception sees: 299, that of its ImageNet weights;
            down to 75 with random weights.

    Raises:
        FileNotFoundError: The ImageNet weights are neither cached nor
            downloadable; the message says where to put the file.
    """
    cached = pathlib.Path(os.environ.get("KERAS_HOME", pathlib.Path.home() / ".keras")) / "models" / INCEPTION_WEIGHTS
    if weights == "imagenet" and not cached.exists():
        try:
            socket.create_connection(_DOWNLOAD_HOST, timeout=10).close()
        except OSError:
            raise FileNotFoundError(
                f"the Inception-V3 ImageNet weights are not cached and cannot be downloaded "
                f"({_DOWNLOAD_HOST[0]} is unreachable): put {INCEPTION_WEIGHTS} (from keras-applications' "
                f"release files) at {cached}, or give --features a classifier of your data."
            ) from None
    inception = keras.applications.InceptionV3(weights=weights, input_shape=(size, size, 3),
                                               classifier_activation=None)
    images = keras.Input(tuple(image_shape), name="images")
    h = layers.Resizing(size, size, name="to_inception_size")(images)
    if image_shape[-1] == 1:
        h = layers.Concatenate(name="gray_to_rgb")([h, h, h])
    h = layers.Rescaling(2.0, offset=-1.0, name="to_inception_range")(h)
    inner = keras.Model(inception.input, [inception.get_layer("avg_pool").output, inception.output])
    return keras.Model(images, inner(h), name="inception_features")


_LOADED = {}


def load_classifier(features=None, image_shape=None):
    """A feature network for the metrics, as a model returning `(features, logits)`.

    Args:
        features: None or `"mnist"` for the shipped MNIST classifier,
            `"fashion_mnist"` for the shipped Fashion-MNIST one,
            `"inception"` for Inception-V3 (see `inception_network`), or the
            `.keras` file of a classifier from `keras-sgm train-classifier`.
        image_shape: The images' shape, for `"inception"` (which resizes
            any); the others take the shape they were trained on.

    Raises:
        FileNotFoundError: The file, or the shipped or ImageNet weights, are missing.
        ValueError: The file holds no classifier with a `"features"` layer.
    """
    key = str(features or "mnist")
    if key == INCEPTION:
        key = f"{INCEPTION}:{'x'.join(map(str, image_shape or (299, 299, 3)))}"
    if key not in _LOADED:
        if key.startswith(f"{INCEPTION}:"):
            _LOADED[key] = inception_network(image_shape or (299, 299, 3))
            return _LOADED[key]
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
                raise FileNotFoundError(f"no feature network {key}: give mnist, fashion_mnist, inception, or a "
                                        f".keras file written by `keras-sgm train-classifier`.")
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
