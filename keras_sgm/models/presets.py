"""The pretrained class-conditional MNIST score model that ships with keras-sgm, and its defaults.

Importing this module imports no backend, so the command line can show the
defaults in its help at once.
"""

import pathlib

PRETRAINED = pathlib.Path(__file__).parents[1] / "weights" / "mnist_score_model.keras"

REPRODUCE = (
    "KERAS_BACKEND=tensorflow keras-sgm train --epochs 48 --autoencoder-epochs 4 "
    "--output-dir runs/mnist-v7 && "
    "python scripts/export_pretrained.py runs/mnist-v7/model.keras"
)
"""The commands that produced the shipped weights (offline, add TFDS_DATA_DIR).

The shipped version 7 is the main job's recipe (latent diffusion: an
autoencoder, here trained for 4 epochs where the main job now trains 2, then
the residual latent U-Net, Adam 2e-3 with warm-up and cosine decay, EMA
0.9995, label dropout 0.1) run for 48 epochs instead of 14, with TensorFlow,
the fastest backend on a CPU. Versions 1 to 6 were the tutorial's
pixel-space network (`CHANGELOG.md`; commit 1e06e6f's `REPRODUCE` gives
their commands).
"""


DEFAULT_RECONSTRUCTION_GUIDANCE = 25.0
"""Reconstruction guidance weight of `inpaint`: the share of completions that
keep the true label grew with the weight up to 25 and no further, and larger
weights leave grey blotches in the background (the sweep:
`docs/benchmarks.md`, "Inpainting")."""


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

    from keras_sgm.backend.loading import initializers_skipped

    with initializers_skipped():
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
