"""The noise-conditioned U-Net that predicts the (preconditioned) denoiser output."""

import keras
from keras import layers

from keras_sgm.models.blocks import (
    add_noise_bias,
    conv3x3,
    normalize,
    residual_block,
    self_attention,
)
from keras_sgm.models.layers import DepthToSpace, GaussianFourierFeatures, SpaceToDepth
from keras_sgm.models.legacy import functional_unet_arguments

DEFAULT_CHANNELS = (32, 64, 128, 256)


def check_unet_arguments(image_shape, channels, patch_size, blocks_per_level, attention, dropout,
                         num_classes):
    """`build_unet`'s arguments checked and normalised; a ValueError names the one that is wrong.

    Returns:
        `(image_shape, channels, patch_size, blocks_per_level, dropout,
        num_classes)` as tuples of ints, ints and a float.
    """
    image_shape = tuple(int(d) for d in image_shape)
    channels = tuple(int(c) for c in channels)
    if len(image_shape) != 3 or min(image_shape) <= 0:
        raise ValueError(
            f"image_shape must be (height, width, channels) with positive "
            f"sizes; got {image_shape}."
        )
    if not channels or min(channels) <= 0:
        raise ValueError(f"channels must be positive integers; got {channels}.")
    if int(patch_size) != patch_size or patch_size < 1:
        raise ValueError(f"patch_size must be a positive integer; got {patch_size}.")
    patch_size = int(patch_size)
    if image_shape[0] % patch_size or image_shape[1] % patch_size:
        raise ValueError(
            f"patch_size={patch_size} must divide the image's height and width "
            f"({image_shape[0]}x{image_shape[1]}); use patch_size=1 or a size that divides both."
        )
    if int(blocks_per_level) != blocks_per_level or blocks_per_level < 0:
        raise ValueError(f"blocks_per_level must be a non-negative integer; got {blocks_per_level}.")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must lie in [0, 1); got {dropout}.")
    if blocks_per_level == 0 and (attention or dropout):
        raise ValueError(
            "attention and dropout live in the residual blocks; set blocks_per_level >= 1 "
            "to use them."
        )
    if min(image_shape[:2]) / patch_size / 2 ** (len(channels) - 1) < 1:
        raise ValueError(
            f"{len(channels)} levels halve a {image_shape[0]}x{image_shape[1]} image "
            f"(after patches of {patch_size}) below one pixel; use fewer channels entries "
            f"or a smaller patch_size."
        )
    if num_classes is not None and int(num_classes) < 1:
        raise ValueError(f"num_classes must be a positive integer or None; got {num_classes}.")
    num_classes = None if num_classes is None else int(num_classes)
    return image_shape, channels, patch_size, int(blocks_per_level), float(dropout), num_classes


def _noise_embedding(embed_dim, fourier_scale, num_classes, dtype):
    """The inputs `[images, times(, labels)]` and the embedding of the noise level (and label)."""
    times = keras.Input((), name="times")
    embedding = GaussianFourierFeatures(embed_dim, fourier_scale, name="time_fourier", dtype=dtype)(times)
    embedding = layers.Dense(embed_dim, activation="swish", name="time_mlp", dtype=dtype)(embedding)
    if num_classes is None:
        return [times], embedding
    labels = keras.Input((), dtype="int32", name="labels")
    # Label `num_classes` is the "no label" token of classifier-free guidance.
    label_embedding = layers.Embedding(num_classes + 1, embed_dim, name="label_embedding", dtype=dtype)(labels)
    return [times, labels], layers.Add(name="add_label", dtype=dtype)([embedding, label_embedding])


def _tutorial_level(h, embedding, name, dtype):
    """The tutorial's level after its convolution: the noise bias, GroupNorm and swish."""
    return normalize(add_noise_bias(h, embedding, name, dtype), name, dtype)


def _residual_level(h, embedding, width, blocks, attention, dropout, name, dtype):
    """`blocks` residual blocks of `width` channels, each followed by self-attention if asked."""
    for block in range(blocks):
        h = residual_block(h, embedding, width, dropout, f"{name}_block{block}", dtype)
        if attention:
            h = self_attention(h, f"{name}_attention{block}", dtype)
    return h


def _upsample(h, like, name, dtype):
    """Doubles the map's size, cropped to the size of the encoder stage `like` (odd sides)."""
    h = layers.UpSampling2D(2, name=f"{name}_resize", dtype=dtype)(h)
    extra_rows, extra_cols = h.shape[1] - like.shape[1], h.shape[2] - like.shape[2]
    if extra_rows or extra_cols:
        h = layers.Cropping2D(((0, extra_rows), (0, extra_cols)), name=f"{name}_crop", dtype=dtype)(h)
    return h


@keras.saving.register_keras_serializable(package="keras_sgm")
class UNet(keras.Model):
    """The U-Net of `build_unet`, which saves its build arguments as its config.

    Networks saved by keras-sgm 0.1 load as plain functional models
    (`keras_sgm.models.legacy`).
    """

    def __init__(self, image_shape=(28, 28, 1), channels=DEFAULT_CHANNELS, embed_dim=256, fourier_scale=30.0,
                 num_classes=None, patch_size=1, blocks_per_level=0, attention=False, dropout=0.0, dtype=None,
                 name="unet", **kwargs):
        image_shape, channels, patch_size, blocks_per_level, dropout, num_classes = check_unet_arguments(
            image_shape, channels, patch_size, blocks_per_level, attention, dropout, num_classes)
        images = keras.Input(image_shape, name="images")
        conditioning, embedding = _noise_embedding(embed_dim, fourier_scale, num_classes, dtype)

        skips = []
        h = images if patch_size == 1 else SpaceToDepth(patch_size, name="patchify", dtype=dtype)(images)
        for level, width in enumerate(channels):
            name_ = f"down{level}"
            h = conv3x3(h, width, 1 if level == 0 else 2, f"{name_}_conv", dtype)
            if blocks_per_level:
                coarsest = attention and level == len(channels) - 1
                h = _residual_level(h, embedding, width, blocks_per_level, coarsest, dropout, name_, dtype)
            else:
                h = _tutorial_level(h, embedding, name_, dtype)
            skips.append(h)

        for level in reversed(range(len(channels) - 1)):
            name_, width, skip = f"up{level}", channels[level], skips[level]
            h = _upsample(conv3x3(h, width, 1, f"{name_}_conv", dtype), skip, name_, dtype)
            if not blocks_per_level:
                h = _tutorial_level(h, embedding, name_, dtype)
            # The skip joins the stage of the same size: k channels become 2k.
            h = layers.Concatenate(name=f"{name_}_skip", dtype=dtype)([h, skip])
            h = _residual_level(h, embedding, width, blocks_per_level, False, dropout, name_, dtype)
        if blocks_per_level:
            h = normalize(h, "output", dtype)

        # float32 for the last layer keeps the small corrections of low noise levels.
        outputs = layers.Conv2D(image_shape[-1] * patch_size**2, 3, padding="same", name="output_conv",
                                dtype="float32")(h)
        if patch_size > 1:
            outputs = DepthToSpace(patch_size, name="unpatchify", dtype="float32")(outputs)
        super().__init__([images, *conditioning], outputs, name=name, **kwargs)
        self.build_config_ = {
            "image_shape": image_shape, "channels": channels, "embed_dim": int(embed_dim),
            "fourier_scale": float(fourier_scale), "num_classes": num_classes, "patch_size": patch_size,
            "blocks_per_level": blocks_per_level, "attention": bool(attention), "dropout": dropout,
            "dtype": getattr(dtype, "name", dtype),
        }

    def get_config(self):
        return {**self.build_config_, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def build_unet(
    image_shape=(28, 28, 1),
    channels=DEFAULT_CHANNELS,
    embed_dim=256,
    fourier_scale=30.0,
    num_classes=None,
    patch_size=1,
    blocks_per_level=0,
    attention=False,
    dropout=0.0,
    dtype=None,
    name="unet",
):
    """Builds the U-Net of the score model with the Keras functional API.

    The encoder halves the spatial size and widens the channels at each
    level; the decoder grows the image back level by level and joins each
    stage to the encoder stage of the same size with a `Concatenate` layer
    (`k` channels become `2k`, spatial size unchanged). Time enters through
    Gaussian Fourier features and a small MLP, and is added at every level.
    With `num_classes`, a learned label embedding is added to the time
    embedding; label `num_classes` is the "no label" token that classifier-free
    guidance uses for the unconditional score.

    With `blocks_per_level=0` (the default, and the shipped model's), each
    level is the tutorial's single 3x3 convolution followed by the time
    bias, GroupNorm and swish. With `blocks_per_level=n >= 1`, each level is
    a (strided) 3x3 convolution followed by `n` residual blocks, each two 3x3
    convolutions with GroupNorm, swish and the time (and label) bias, as in
    DDPM and EDM; `attention` adds self-attention after each block of the
    coarsest level, and `dropout` drops features inside every block while
    training.

    With `patch_size=2`, the first layer folds each 2x2 patch of pixels into
    the channels (`SpaceToDepth`) and the last one unfolds them
    (`DepthToSpace`): every level works on a quarter of the positions, with
    the same weights. It trains faster but reaches a higher loss, most of
    all at low noise, where each pixel's own features count
    (`docs/benchmarks.md`); it suits quick experiments.

    The output has the image's shape; `ScoreModel` turns it into the score
    with its preconditioning, which keeps the output of order one at every
    noise level.

    Args:
        image_shape: `(height, width, channels)` of the images.
        channels: Channels per level, from the finest to the coarsest.
            Each level after the first halves the spatial size.
        embed_dim: Size of the time embedding.
        fourier_scale: Scale of the random Fourier frequencies of time.
        num_classes: Number of classes to condition on, or None for an
            unconditional network.
        patch_size: Side of the pixel patches folded into channels before
            the first level; 1 (the default, and the shipped model's) folds
            none. It must divide the image's height and width.
        blocks_per_level: Residual blocks per level and per direction; 0
            builds the tutorial's one convolution per level.
        attention: Self-attention at the coarsest level (needs residual
            blocks).
        dropout: Dropout rate inside the residual blocks, in [0, 1).
        dtype: Dtype policy of the layers, e.g. `"mixed_bfloat16"` (bfloat16
            arithmetic with float32 weights, for GPUs and bfloat16-capable
            CPUs). The time features and the output convolution stay
            float32 whatever the policy. None uses Keras's global policy.
        name: Name of the returned model.

    Returns:
        A `UNet`: a functional `keras.Model` with inputs `[images, times]`
        (and `labels` when `num_classes` is set), of shapes
        `(batch, *image_shape)`, `(batch,)` and `(batch,)` int, and an output
        of the images' shape. Its config holds these arguments.

    Example:

    >>> unet = build_unet((28, 28, 1))
    >>> unet.count_params() > 1_000_000
    True
    """
    return UNet(image_shape, channels, embed_dim, fourier_scale, num_classes, patch_size, blocks_per_level,
                attention, dropout, dtype, name)


def unet_arguments(network):
    """The `build_unet` arguments that shaped `network`.

    A `UNet` keeps them in its config; a network of a keras-sgm 0.1 file is
    read by `keras_sgm.models.legacy`.

    Returns:
        A dict with `patch_size`, `channels`, `blocks_per_level`, `attention`
        and `dropout`.

    Example:

    >>> unet_arguments(build_unet(channels=(8, 16, 32), patch_size=2))["channels"]
    (8, 16, 32)
    """
    if not isinstance(network, UNet):
        return functional_unet_arguments(network)
    keys = ("patch_size", "channels", "blocks_per_level", "attention", "dropout")
    return {key: network.build_config_[key] for key in keys}


def network_classes(network, num_classes=None):
    """The number of classes a network is conditioned on (its `labels` input), or None.

    Args:
        network: A U-Net, with inputs `[images, times]` or `[images, times, labels]`.
        num_classes: The number given by the user, checked against the
            network; None reads it from the `label_embedding` layer.
    """
    if len(network.inputs) < 3:
        if num_classes is not None:
            raise ValueError(
                f"num_classes={num_classes} was given but the network has no labels "
                f"input; build it with `build_unet(..., num_classes={num_classes})`."
            )
        return None
    if num_classes is None:
        try:
            num_classes = network.get_layer("label_embedding").input_dim - 1
        except ValueError:
            raise ValueError(
                "the network takes labels: pass `num_classes` to ScoreModel."
            ) from None
    return int(num_classes)
