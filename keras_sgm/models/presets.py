"""The pretrained score models that ship with keras-sgm, by preset name, and their defaults.

Importing this module imports no backend, so the command line can show the
defaults in its help at once.
"""

import dataclasses
import pathlib

WEIGHTS_DIR = pathlib.Path(__file__).parents[1] / "weights"


@dataclasses.dataclass(frozen=True)
class Preset:
    """A shipped model.

    Attributes:
        name: The preset's name, that of its TFDS dataset.
        path: The `.keras` file in the package.
        reproduce: The commands that produced it (offline, add `TFDS_DATA_DIR`).
        description: One line about it.
        guide: The preset of the weaker model that autoguides its
            unconditional samples (`keras_sgm.diffusion.guidance`), or
            None.
        autoguidance: The autoguidance scale with that guide.
        autoguidance_interval: The `(low, high)` noise levels where that
            guide guides; None: all of them.
    """

    name: str
    path: pathlib.Path
    reproduce: str
    description: str
    guide: str | None = None
    autoguidance: float | None = None
    autoguidance_interval: tuple | None = None


AUTOGUIDANCE_SCALE = 2.0
AUTOGUIDANCE_INTERVAL = (0.1, 1.5)
"""The autoguidance scale of the shipped MNIST model's unconditional samples and the noise levels
where it acts, chosen by the sweep of `docs/benchmarks.md` ("Autoguidance")."""

PRESETS = {
    "mnist": Preset(
        "mnist", WEIGHTS_DIR / "mnist_score_model.keras",
        "KERAS_BACKEND=tensorflow keras-sgm train --epochs 48 --autoencoder-epochs 4 --output-dir runs/mnist-v7 && "
        "python scripts/export_pretrained.py runs/mnist-v7/model.keras",
        "class-conditional MNIST digits, latent diffusion",
        guide="mnist_guide", autoguidance=AUTOGUIDANCE_SCALE, autoguidance_interval=AUTOGUIDANCE_INTERVAL),
    "fashion_mnist": Preset(
        "fashion_mnist", WEIGHTS_DIR / "fashion_mnist_score_model.keras",
        "KERAS_BACKEND=jax keras-sgm train --data fashion_mnist --output-dir runs/fashion-v1 && "
        "python scripts/export_pretrained.py runs/fashion-v1/model.keras --preset fashion_mnist",
        "class-conditional Fashion-MNIST clothes, latent diffusion, the default recipe"),
    "mnist_consistency": Preset(
        "mnist_consistency", WEIGHTS_DIR / "mnist_consistency_model.keras",
        "KERAS_BACKEND=jax keras-sgm tune-consistency --output-dir runs/mnist-cd-v3 && "
        "KERAS_BACKEND=jax keras-sgm tune-consistency --epochs 10 --output-dir runs/mnist-cd-v3 && "
        "python scripts/export_pretrained.py runs/mnist-cd-v3/model.keras --preset mnist_consistency",
        "the shipped MNIST model distilled into a consistency model with its guidance built in, for 1 to 4 "
        "network evaluations"),
    "mnist_guide": Preset(
        "mnist_guide", WEIGHTS_DIR / "mnist_guide_model.keras",
        "KERAS_BACKEND=jax python -c \"import keras_sgm; keras_sgm.load_pretrained().autoencoder.save("
        "'runs/mnist_autoencoder.keras')\" && KERAS_BACKEND=jax keras-sgm train --autoencoder "
        "runs/mnist_autoencoder.keras --channels 32,64 --blocks-per-level 1 --no-attention --epochs 8 "
        "--output-dir runs/mnist-guide-e8 && python scripts/export_pretrained.py runs/mnist-guide-e8/model.keras "
        "--preset mnist_guide",
        "the autoguidance guide of the MNIST model: a U-Net of a fifth of its size, trained for 8 epochs "
        "on its autoencoder's latents"),
}
"""The shipped models by name; `"mnist"` is the default everywhere.

Each one's `reproduce` gives the commands that made it; `CHANGELOG.md` tells
how they changed between releases.
"""

DEFAULT_PRESET = "mnist"
CONSISTENCY_PRESET = "mnist_consistency"
"""The preset that `--sampler consistency` loads when no model is named."""
PRETRAINED = PRESETS[DEFAULT_PRESET].path
REPRODUCE = PRESETS[DEFAULT_PRESET].reproduce


DEFAULT_RECONSTRUCTION_GUIDANCE = 25.0
"""Reconstruction guidance weight of `inpaint`: the share of completions that
keep the true label grew with the weight up to 25 and no further, and larger
weights leave grey blotches in the background (the sweep:
`docs/benchmarks.md`, "Inpainting")."""


def load_pretrained(preset=DEFAULT_PRESET):
    """A shipped model, by preset name: class-conditional, EMA weights, any backend.

    Args:
        preset: A name in `PRESETS`: `"mnist"` (the default),
            `"fashion_mnist"`, `"mnist_consistency"` or `"mnist_guide"`.

    Returns:
        A `LatentScoreModel` of 28x28x1 images with `num_classes=10`; the
        preset's guide, if it has one, is its guide network, which
        autoguides its unconditional samples.

    Raises:
        ValueError: An unknown preset name.
        FileNotFoundError: The package was installed without its file.

    Example:

    >>> model = keras_sgm.load_pretrained("fashion_mnist")
    >>> images, nfe, seconds = sample(model, 10, labels=range(10))
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; the shipped ones are {', '.join(PRESETS)}.")
    path = PRESETS[preset].path
    if not path.exists():
        raise FileNotFoundError(
            f"The pretrained model is missing from {path}. Reinstall keras-sgm, "
            f"or recreate it with: {PRESETS[preset].reproduce}"
        )
    import keras

    from keras_sgm.models import latent as _registers_every_model_class  # noqa: F401

    model = keras.saving.load_model(path, compile=False)
    guide = PRESETS[preset].guide
    if guide is not None:
        # The shipped guide autoguides the preset's unconditional samples, in Python as on the command line.
        model.guide_network = load_pretrained(guide).inference_network
        model.autoguidance = PRESETS[preset].autoguidance
        model.autoguidance_interval = PRESETS[preset].autoguidance_interval
    return model


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
        (and decoded images) as `model`, its guide network included.
    """
    config = model.get_config()
    config["ema_decay"] = 0.0
    copy = type(model).from_config(config)
    copy.network.set_weights(model.inference_network.get_weights())
    if model.guide_network is not None:  # the run's own guide, rebuilt from the config with fresh weights
        copy.guide_network.set_weights(model.guide_network.get_weights())
    if hasattr(model, "autoencoder"):
        copy.autoencoder.set_weights(model.autoencoder.get_weights())
    return copy
