"""The feature networks by name, without importing a backend: what `evaluate --features` offers."""

import pathlib

WEIGHTS_DIR = pathlib.Path(__file__).parents[1] / "weights"
SHIPPED = {"mnist": WEIGHTS_DIR / "mnist_classifier.weights.h5",
           "fashion_mnist": WEIGHTS_DIR / "fashion_mnist_classifier.weights.h5"}
"""The shipped classifiers' weights, by the name of their dataset (28x28x1 images, 10 classes)."""
INCEPTION = "inception"
"""Inception-V3 with Keras's ImageNet weights, for natural colour images."""
FEATURE_NETWORKS = (*SHIPPED, INCEPTION)
