"""Latent diffusion ("Stable Diffusion" for MNIST): a score model on an autoencoder's latent grid."""

import keras
from keras import ops

from keras_sgm.data import validation
from keras_sgm.models import autoencoder as _registers_autoencoder  # noqa: F401 - for from_config
from keras_sgm.models.score_model import ScoreModel
from keras_sgm.models.unet import build_unet

LATENT_UNET = {"channels": (64, 128), "blocks_per_level": 2, "attention": True}
"""`build_unet` arguments of the default latent U-Net: two residual blocks at each of
7x7 and 4x4 positions, self-attention at 4x4 (chosen by `benchmarks/time_to_quality.py`)."""

LATENT_AUTOENCODER = {"pixel_loss": "l1", "frequency_weight": 1.0}
"""`Autoencoder` arguments of a new run's autoencoder: the absolute error of the pixels and of
their Fourier transforms, which keep the detail that a squared error averages away (the
candidates: `benchmarks/autoencoder.py`, `docs/benchmarks.md`)."""

LATENTS = "latents"
"""The key of latents encoded beforehand in the batches of `LatentScoreModel.fit`."""


@keras.saving.register_keras_serializable(package="keras_sgm")
class LatentScoreModel(ScoreModel):
    """A `ScoreModel` of an autoencoder's latents, which samples images: latent diffusion.

    `fit` takes images (and labels), encodes them with the frozen autoencoder
    and trains the score of their latents with the same sigma(t)-weighted
    loss and train step as a pixel `ScoreModel`. It also takes the latents
    themselves, encoded once beforehand, as `{"latents": z}` (see
    `keras_sgm.recipes.data.training_data`), which spares every step the
    encoder. As a `ScoreFunction` it samples on the latent grid
    (`sample_shape`) and `decode` turns the result into images once, at the
    end, so every sampler, `sample()` and guidance work on it unchanged. The
    autoencoder is saved inside the same `.keras` file.

    Args:
        autoencoder: A trained, calibrated `Autoencoder`.
        network: A U-Net of the latent grid's shape; `build_unet(latent_shape,
            num_classes=num_classes, **LATENT_UNET)` if None.
        num_classes: Number of classes of a conditional model, or None.
        **kwargs: The other arguments of `ScoreModel`.

    Example:

    ```python
    model = LatentScoreModel(autoencoder, num_classes=10)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(images, labels, batch_size=128, epochs=10)
    # or, the images encoded once:
    model.fit({"latents": autoencoder.encode_in_batches(images)}, labels, batch_size=128, epochs=10)
    digits, nfe = edm_heun(model.guided(labels=7, guidance=2.0), 16)  # (16, 28, 28, 1)
    ```
    """

    def __init__(self, autoencoder, network=None, num_classes=None, **kwargs):
        if network is None:
            network = build_unet(autoencoder.latent_shape, num_classes=num_classes, **LATENT_UNET)
        latent_shape = tuple(network.inputs[0].shape[1:])
        if latent_shape != autoencoder.latent_shape:
            raise ValueError(
                f"the score network takes {latent_shape} inputs but the autoencoder's latents are "
                f"{autoencoder.latent_shape}; build it with build_unet({autoencoder.latent_shape}, ...)."
            )
        kwargs.pop("image_shape", None)
        super().__init__(network, num_classes=num_classes, **kwargs)
        autoencoder.trainable = False
        self.autoencoder = autoencoder

    @property
    def image_shape(self):
        """`(height, width, channels)` of the images the model generates."""
        return self.autoencoder.image_shape

    def encode(self, images):
        """Images (uint8 0..255 or floats in [0, 1]) as latents, what `decode` inverts."""
        return self.autoencoder.encode(images)

    def decode(self, latents):
        return self.autoencoder.decode(latents)

    def training_batch(self, data):
        """`(latents, labels)` of a batch: the scaled latent means of its images, or the
        latents it holds as `{"latents": z}`."""
        inputs = validation.image_batch(data)
        if isinstance(inputs, dict):
            return ops.convert_to_tensor(inputs[LATENTS], "float32"), validation.label_batch(data)
        images, labels = super().training_batch(data)
        return self.autoencoder.encode(images), labels

    def check_images(self, data, argument):
        """Also accepts the latents of this model's autoencoder, as `{"latents": z}`."""
        spec = validation.image_batch(getattr(data, "element_spec", data))
        if not isinstance(spec, dict):
            return super().check_images(data, argument)
        if set(spec) != {LATENTS}:
            raise ValueError(f"`{argument}` holds {sorted(spec)}; a latent model takes images, or "
                             f"{{'{LATENTS}': z}} with the latents z of its autoencoder.")
        shape = tuple(spec[LATENTS].shape[1:])
        if shape != self.autoencoder.latent_shape:
            raise ValueError(f"`{argument}` holds latents of shape {shape} but this model's autoencoder "
                             f"makes {self.autoencoder.latent_shape}; encode the images with "
                             f"`model.autoencoder.encode`.")

    def get_config(self):
        return {**super().get_config(), "autoencoder": keras.saving.serialize_keras_object(self.autoencoder)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["autoencoder"] = keras.saving.deserialize_keras_object(config["autoencoder"])
        return super().from_config(config)
