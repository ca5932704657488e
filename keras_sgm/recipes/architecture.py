"""Which model a run trains: pixel or latent, and the U-Net's build arguments."""

from keras_sgm.models.latent import LATENT_UNET, LatentScoreModel
from keras_sgm.models.score_model import ScoreModel
from keras_sgm.models.unet import DEFAULT_CHANNELS, build_unet, unet_arguments

PIXEL_UNET = {"patch_size": 1, "channels": DEFAULT_CHANNELS, "blocks_per_level": 0, "attention": False,
              "dropout": 0.0}
"""`build_unet` arguments of a new pixel-space run: the tutorial's one convolution per level."""


def architecture(image_shape, continued=None, autoencoder=None, **given):
    """The `build_unet` arguments of a run on images of `image_shape`.

    Each of `patch_size`, `channels`, `blocks_per_level`, `attention` and
    `dropout` is as given when not None, else that of the `continued` model
    (see `continued_run`), else the default: `PIXEL_UNET`, or
    `keras_sgm.models.latent.LATENT_UNET` with an `autoencoder`.
    """
    saved = unet_arguments(continued.network) if continued is not None else {}
    defaults = PIXEL_UNET if autoencoder is None else {**PIXEL_UNET, **LATENT_UNET}
    unknown = set(given) - set(defaults)
    if unknown:
        raise TypeError(f"architecture() got unknown build_unet arguments {sorted(unknown)}.")
    options = {key: next(v for v in (given.get(key), saved.get(key), default) if v is not None)
               for key, default in defaults.items()}
    options["channels"] = tuple(options["channels"])
    return {"image_shape": tuple(image_shape) if autoencoder is None else autoencoder.latent_shape, **options}


def score_model(network_options, data, autoencoder=None, mixed_precision=False, **options):
    """A `ScoreModel` of `data`'s images, or a `LatentScoreModel` with an `autoencoder`:
    class-conditional when the data has labels, with its class names and name.

    Args:
        network_options: `build_unet` arguments (see `architecture`).
        data: The run's `ImageData`.
        autoencoder: A calibrated `Autoencoder` for latent diffusion, or None.
        mixed_precision: The `mixed_bfloat16` policy for the U-Net.
        **options: Further `ScoreModel` arguments (`label_dropout`, `ema_decay`, `seed`).
    """
    network = build_unet(num_classes=data.num_classes, dtype="mixed_bfloat16" if mixed_precision else None,
                         **network_options)
    options.update(class_names=data.class_names, dataset=data.name)
    if autoencoder is None:
        return ScoreModel(network, **options)
    return LatentScoreModel(autoencoder, network, **options)


def is_latent_run(continued=None, latent=None):
    """Whether a run trains a `LatentScoreModel`: `latent` when not None, else
    whether the `continued` model (see `continued_run`) is one, else True."""
    if latent is not None:
        return latent
    return continued is None or isinstance(continued, LatentScoreModel)
