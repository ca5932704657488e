"""The autoencoder of latent diffusion: images to a small latent grid and back (Rombach et al. 2022).

The encoder halves the image's sides at every level after the first, so
`channels` of three levels map 28x28x1 digits to a 7x7 grid (the
downsampling factor f = 4); a 1x1 convolution gives the mean and the log
variance of `latent_channels` Gaussian latents per position. The decoder
mirrors it. Each level is two plain convolutions, or, with `residual`, a
strided convolution and a residual block, as in Stable Diffusion's
autoencoder.

Training minimises a reconstruction error plus `kl_weight` times the KL
divergence of the latents from N(0, I), which keeps the latent space smooth
without blurring the reconstructions (Stable Diffusion's VAE uses a weight of
about 1e-6 against its per-pixel loss). The error is the summed squared error
(`pixel_loss="l2"`) or absolute error (`"l1"`, Stable Diffusion's), plus
`frequency_weight` times the absolute error of the images' 2-D Fourier
transforms: a squared error lets the decoder average away the fine, high-
frequency detail it cannot place exactly (textures, prints, thin straps),
and the spectral term charges for every frequency alike.

After training, `calibrate` stores the factor that scales the latents to
unit variance (Stable Diffusion's 0.18215), which the score model's noise
schedule assumes.
"""

import math

import keras
import numpy as np
from keras import layers, ops

from keras_sgm.backend.compile import compile_stateful
from keras_sgm.backend.distribution import shard_batch
from keras_sgm.backend.train_step import ReplicaSeedGenerator
from keras_sgm.data.images import unit_floats
from keras_sgm.models.blocks import conv3x3, normalize, num_groups, residual_block
from keras_sgm.models.fitting import ImageFitting

DEFAULT_CHANNELS = (16, 32, 64)
PIXEL_LOSSES = ("l2", "l1")


def _conv_block(h, width, strides, name):
    """Two 3x3 convolutions with GroupNorm and swish; the first may stride."""
    for index, stride in enumerate((strides, 1)):
        h = layers.Conv2D(width, 3, strides=stride, padding="same", name=f"{name}_conv{index}")(h)
        h = layers.GroupNormalization(num_groups(width), name=f"{name}_norm{index}")(h)
        h = layers.Activation("swish", name=f"{name}_swish{index}")(h)
    return h


def _level(h, width, strides, residual, name):
    """One level of the encoder or decoder: `_conv_block`, or with `residual` a (strided)
    3x3 convolution to `width` and a residual block."""
    if not residual:
        return _conv_block(h, width, strides, name)
    h = conv3x3(h, width, strides, f"{name}_conv", None)
    return residual_block(h, None, width, 0.0, f"{name}_block", None)


def latent_shape_for(image_shape, levels, latent_channels):
    """The latent grid of an image after `levels` levels (each after the first halves the sides).

    Raises:
        ValueError: when the sides do not divide.
    """
    factor = 2 ** (levels - 1)
    height, width = image_shape[:2]
    if height % factor or width % factor:
        fits = "x".join(str(-(-side // factor) * factor) for side in (height, width))
        raise ValueError(
            f"an autoencoder of {levels} levels shrinks the sides {factor} times, which does not "
            f"divide a {height}x{width} image; pad or resize the images to {fits} (on the command "
            f"line: --image-size {fits} --crop pad), or train on the pixels (--pixel)."
        )
    return (height // factor, width // factor, int(latent_channels))


def default_channels(image_shape):
    """Channels per level of a new autoencoder: three levels (f = 4) for images of up to 32
    pixels a side, four (f = 8) above, so that the latent grid stays about 8x8 or less per 32
    pixels."""
    return DEFAULT_CHANNELS if max(image_shape[:2]) <= 32 else (*DEFAULT_CHANNELS, 2 * DEFAULT_CHANNELS[-1])


def build_encoder(image_shape=(28, 28, 1), latent_channels=4, channels=DEFAULT_CHANNELS, residual=False,
                  name="encoder"):
    """The encoder: images in [0, 1] -> the mean and log variance of their latents.

    Args:
        image_shape: `(height, width, channels)` of the images.
        latent_channels: Channels of the latent grid.
        channels: Channels per level; each level after the first halves the sides.
        residual: Residual blocks instead of plain convolutions.
        name: Name of the returned model.

    Returns:
        A functional `keras.Model` from `(batch, *image_shape)` to
        `(batch, h / f, w / f, 2 * latent_channels)`: the means, then the log variances.

    Example:

    >>> tuple(build_encoder().output.shape)
    (None, 7, 7, 8)
    """
    latent_shape_for(image_shape, len(channels), latent_channels)
    images = keras.Input(image_shape, name="images")
    h = images
    for level, width in enumerate(channels):
        h = _level(h, width, 1 if level == 0 else 2, residual, f"down{level}")
    if residual:
        h = normalize(h, "moments_in", None)
    moments = layers.Conv2D(2 * latent_channels, 1, name="moments")(h)
    return keras.Model(images, moments, name=name)


def build_decoder(latent_shape=(7, 7, 4), image_channels=1, channels=DEFAULT_CHANNELS, residual=False,
                  name="decoder"):
    """The decoder: latents -> images in [0, 1], the encoder's mirror.

    Args:
        latent_shape: `(height, width, latent_channels)` of the latent grid.
        image_channels: Channels of the images.
        channels: The encoder's channels per level, finest first.
        residual: Residual blocks instead of plain convolutions.
        name: Name of the returned model.

    Returns:
        A functional `keras.Model` from latents to images.
    """
    latents = keras.Input(latent_shape, name="latents")
    h = latents
    for level in reversed(range(len(channels))):
        if level < len(channels) - 1:
            h = layers.UpSampling2D(2, name=f"up{level}_resize")(h)
        h = _level(h, channels[level], 1, residual, f"up{level}")
    if residual:
        h = normalize(h, "pixels_in", None)
    images = layers.Conv2D(image_channels, 3, padding="same", activation="sigmoid", name="pixels")(h)
    return keras.Model(latents, images, name=name)


def spectral_error(images, targets):
    """Summed absolute difference of two batches' orthonormal 2-D Fourier transforms, per image.

    Args:
        images: `(batch, height, width, channels)` floats.
        targets: Floats of the same shape.

    Returns:
        A `(batch,)` tensor.
    """
    height, width = ops.shape(images)[1], ops.shape(images)[2]
    # fft2 transforms the last two axes: channels go first.
    difference = ops.transpose(images - targets, (0, 3, 1, 2))
    real, imaginary = ops.fft2((difference, ops.zeros_like(difference)))
    magnitude = ops.sqrt(ops.square(real) + ops.square(imaginary) + 1e-12)
    return ops.sum(magnitude, axis=(1, 2, 3)) / math.sqrt(height * width)


@keras.saving.register_keras_serializable(package="keras_sgm")
class Autoencoder(ImageFitting, keras.Model):
    """A KL-regularised convolutional autoencoder, trained with `fit` on images.

    The loss of a batch is the mean over images of
    `sum_pixels |decode(z) - x|^p + frequency_weight * sum_frequencies |F(decode(z)) - F(x)|
    + kl_weight * KL(q(z | x) || N(0, I))`, with `z` drawn from the encoder's
    Gaussian, `p` 2 or 1 (`pixel_loss`) and `F` the orthonormal 2-D Fourier
    transform of each channel. `encode` returns the mean, times `latent_scale`;
    `decode` undoes the scale.

    Args:
        image_shape: `(height, width, channels)` of the images.
        latent_channels: Channels of the latent grid.
        channels: Channels per level, finest first (three levels: f = 4);
            None takes `default_channels(image_shape)`.
        kl_weight: Weight of the KL term.
        residual: Residual blocks instead of plain convolutions.
        pixel_loss: `"l2"` (squared error) or `"l1"` (absolute error).
        frequency_weight: Weight of the spectral error; 0 leaves it out.
        seed: Seed of the latent draws in training.
        encoder: A model from `build_encoder` (built from the above if None).
        decoder: A model from `build_decoder`.

    Example:

    ```python
    autoencoder = Autoencoder()
    autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3))
    autoencoder.fit(images, batch_size=128, epochs=2)
    autoencoder.calibrate(images[:5000])
    latents = autoencoder.encode(images[:16])  # (16, 7, 7, 4), unit variance
    ```
    """

    def __init__(self, image_shape=(28, 28, 1), latent_channels=4, channels=None, kl_weight=1e-4,
                 residual=False, pixel_loss="l2", frequency_weight=0.0, seed=None, encoder=None, decoder=None,
                 **kwargs):
        super().__init__(**kwargs)
        for argument, value in (("kl_weight", kl_weight), ("frequency_weight", frequency_weight)):
            if not (math.isfinite(float(value)) and float(value) >= 0):
                raise ValueError(f"{argument} must be a finite number >= 0; got {value}.")
        if pixel_loss not in PIXEL_LOSSES:
            raise ValueError(f"pixel_loss must be one of {', '.join(PIXEL_LOSSES)}; got {pixel_loss!r}.")
        image_shape = tuple(int(d) for d in image_shape)
        channels = tuple(int(c) for c in (channels or default_channels(image_shape)))
        latent_shape = latent_shape_for(image_shape, len(channels), latent_channels)
        self.encoder = encoder or build_encoder(image_shape, latent_channels, channels, residual)
        self.decoder = decoder or build_decoder(latent_shape, image_shape[-1], channels, residual)
        self.channels = channels
        self.kl_weight = float(kl_weight)
        self.residual = bool(residual)
        self.pixel_loss = pixel_loss
        self.frequency_weight = float(frequency_weight)
        self.seed = seed
        self.seed_generator = ReplicaSeedGenerator(seed)
        self.latent_scale = self.add_weight(shape=(), initializer="ones", trainable=False,
                                            name="latent_scale")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self._batched_encoder = None  # compiled by `encode_in_batches` when first asked
        self.built = True

    @property
    def image_shape(self):
        return tuple(self.encoder.inputs[0].shape[1:])

    @property
    def latent_shape(self):
        return tuple(self.decoder.inputs[0].shape[1:])

    def _moments(self, images, training=False):
        mean, log_variance = ops.split(self.encoder(images, training=training), 2, axis=-1)
        return mean, ops.clip(log_variance, -30.0, 20.0)

    def encode(self, images):
        """Images (uint8 0..255 or floats in [0, 1]) -> their scaled latent means."""
        mean, _ = self._moments(unit_floats(ops.convert_to_tensor(images)))
        return mean * self.latent_scale

    def decode(self, latents):
        """Scaled latents -> images in [0, 1]."""
        return ops.cast(self.decoder(latents / self.latent_scale), "float32")

    def call(self, images):
        """The reconstruction of `images` through the latent means."""
        return self.decode(self.encode(images))

    def batch_loss(self, images, labels=None, training=False):
        """The reconstruction error plus the weighted KL divergence of a batch; `training` runs
        the encoder and decoder in training mode."""
        mean, log_variance = self._moments(images, training)
        noise = keras.random.normal(ops.shape(mean), seed=self.seed_generator)
        latents = mean + ops.exp(0.5 * log_variance) * noise
        reconstructions = ops.cast(self.decoder(latents, training=training), "float32")
        difference = reconstructions - images
        pixel_error = ops.square(difference) if self.pixel_loss == "l2" else ops.abs(difference)
        error = ops.sum(pixel_error, axis=(1, 2, 3))
        if self.frequency_weight:
            error += self.frequency_weight * spectral_error(reconstructions, images)
        kl = 0.5 * ops.sum(ops.square(mean) + ops.exp(log_variance) - 1.0 - log_variance, axis=(1, 2, 3))
        return ops.mean(error + self.kl_weight * kl)

    def encode_in_batches(self, images, batch_size=512):
        """The latents of many images, as `encode` gives them, by one compiled program.

        Under a data-parallel distribution each device encodes a share of every
        batch (`shard_batch`). The last batch is padded to the others' size, so
        that the program is compiled once.

        Args:
            images: NumPy images `(N, H, W, C)`, uint8 0..255 or floats in [0, 1].
            batch_size: Images per call of the program.

        Returns:
            A float32 NumPy array `(N, *latent_shape)`.
        """
        if self._batched_encoder is None:
            self._batched_encoder = compile_stateful(self.encode, self.variables)
        images = np.asarray(images)
        latents = [np.zeros((0, *self.latent_shape), "float32")]
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size]
            padded = np.concatenate([batch, np.zeros((batch_size - len(batch), *batch.shape[1:]), batch.dtype)])
            latents.append(ops.convert_to_numpy(self._batched_encoder(shard_batch(padded)))[: len(batch)])
        return np.concatenate(latents)

    def calibrate(self, images, batch_size=512):
        """Sets `latent_scale` so that the latents of `images` have unit standard deviation.

        Returns:
            The new scale.
        """
        self.latent_scale.assign(1.0)
        latents = self.encode_in_batches(images, batch_size)
        scale = float(1.0 / latents.std())
        self.latent_scale.assign(scale)
        return scale

    def get_config(self):
        return {
            "name": self.name,
            "image_shape": self.image_shape,
            "latent_channels": self.latent_shape[-1],
            "channels": self.channels,
            "kl_weight": self.kl_weight,
            "residual": self.residual,
            "pixel_loss": self.pixel_loss,
            "frequency_weight": self.frequency_weight,
            "seed": self.seed,
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for part in ("encoder", "decoder"):
            config[part] = keras.saving.deserialize_keras_object(config[part])
        return cls(**config)
