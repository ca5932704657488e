"""The pretrained class-conditional MNIST score model that ships with keras-sgm, and its defaults.

Importing this module imports no backend, so the command line can show the
defaults in its help at once.
"""

import pathlib

PRETRAINED = pathlib.Path(__file__).parent / "weights" / "mnist_score_model.keras"

REPRODUCE = (
    "mkdir -p runs && git show 0bb2451:keras_sgm/weights/mnist_score_model.keras > runs/mnist_v5.keras && "
    "KERAS_BACKEND=tensorflow python examples/mnist.py --epochs 12 --learning-rate 3e-4 --label-dropout 0.5 "
    "--seed 4 --init-weights runs/mnist_v5.keras --output-dir runs/mnist-tf-ft6 && "
    "python scripts/export_pretrained.py runs/mnist-tf-ft6/model.keras"
)
"""The commands that produced the shipped weights (offline, add TFDS_DATA_DIR).

The shipped version 6 fine-tunes version 5 for 12 epochs with TensorFlow (the
fastest backend on a CPU) and half of the images unlabelled, which trains the
unconditional path that guidance also uses. Versions 5 (commit 0bb2451, whose
`REPRODUCE` gives its commands), 4 (commit b63c9f2) and 3 (commit 141f016)
did the same from versions 4, 3 and 2 with seeds 3, 2 and 1.
Version 2 (commit 5ba1c4f) fine-tuned version 1 for 25 epochs with
`ln sigma ~ N(-0.6, 1.6^2)`; version 1 (commit a1eaeca) is 16 epochs of the
main job with JAX and `N(-1.2, 1.2^2)`.
"""


DEFAULT_GUIDANCE = 4.0
"""Guidance scale used when a digit is asked for: `s(x) + 4 (s(x | y) - s(x))`, the
smallest of 1, 2, 4, 6 and 8 at which version 2 of the shipped model drew 300 guided
samples all recognised as the requested digit (smaller scales keep more variety); the
shipped version 6 draws 99.92 % of 10,000 so."""

DEFAULT_RECONSTRUCTION_GUIDANCE = 25.0
"""Reconstruction guidance weight of `inpaint`. With version 2 of the shipped
model and 100 steps, completions of test digits from their top half kept the
true label 64 % of the time with replacement alone, 74 % at 1, 82 % at 4, 88 %
at 10, 92 % at 25 and 92 % at 60 (200 digits); at 60 grey blotches appear in
the background, so 25 is the default. The shipped version 6: 63 % alone, 92 %
at 25 (1,000 digits)."""


def load_pretrained():
    """The shipped MNIST model: class-conditional, EMA weights, any backend.

    Returns:
        A `ScoreModel` of 28x28x1 digits with `num_classes=10`.

    Example:

    >>> model = keras_sgm.load_pretrained()
    >>> images, nfe, seconds = sample(model, 10, labels=range(10))
    """
    if not PRETRAINED.exists():
        raise FileNotFoundError(
            f"The pretrained model is missing from {PRETRAINED}. Reinstall keras-sgm, "
            f"or recreate it with: {REPRODUCE}"
        )
    import keras

    return keras.saving.load_model(PRETRAINED, compile=False)


def inference_copy(model):
    """A copy of `model` that holds only the weights sampling uses.

    The EMA weights become the copy's only network and the optimizer is
    left out, which makes the saved file about a third of a training
    checkpoint's size.

    Args:
        model: A trained `ScoreModel` (or `LatentScoreModel`, whose
            autoencoder is copied along).

    Returns:
        A model of the same class with `ema_decay=0` and the same scores
        (and decoded images) as `model`.
    """
    config = model.get_config()
    config["ema_decay"] = 0.0
    copy = type(model).from_config(config)
    copy.network.set_weights(model.inference_network.get_weights())
    if hasattr(model, "autoencoder"):
        copy.autoencoder.set_weights(model.autoencoder.get_weights())
    return copy
