"""The time-conditioned U-Net that predicts the (scaled) score."""

import keras
from keras import layers

from keras_sgm.layers import (
    DepthToSpace,
    GaussianFourierFeatures,
    SmallMapConv2D,
    SpaceToDepth,
)

DEFAULT_CHANNELS = (32, 64, 128, 256)
SMALL_MAP_PIXELS = 4


def num_groups(channels):
    """Largest divisor of `channels` not above `channels // 8` (at most 32)."""
    target = max(1, min(32, channels // 8))
    return next(g for g in range(target, 0, -1) if channels % g == 0)


def _conv3x3(h, width, strides, name, dtype):
    """A 3x3 "same" convolution without bias; one matrix product on maps of a few pixels."""
    out_pixels = -(-h.shape[1] // strides) * -(-h.shape[2] // strides)
    # On maps of 2x2 pixels, XLA's CPU convolution kernels took 6 to 8 times as long as the
    # equivalent matrix product (JAX, batch 128, forward and backward); the dense matrix is
    # still small there.
    conv = SmallMapConv2D if out_pixels <= SMALL_MAP_PIXELS else layers.Conv2D
    return conv(width, 3, strides=strides, padding="same", use_bias=False, name=name, dtype=dtype)(h)


def _condition_and_normalize(h, time_embedding, channels, name, dtype):
    """Adds the projected time vector, then GroupNorm and swish."""
    time_bias = layers.Dense(channels, name=f"{name}_time", dtype=dtype)(time_embedding)
    time_bias = layers.Reshape((1, 1, channels), name=f"{name}_time_map", dtype=dtype)(time_bias)
    h = layers.Add(name=f"{name}_add_time", dtype=dtype)([h, time_bias])
    h = layers.GroupNormalization(num_groups(channels), name=f"{name}_norm", dtype=dtype)(h)
    return layers.Activation("swish", name=f"{name}_swish", dtype=dtype)(h)


def build_unet(
    image_shape=(28, 28, 1),
    channels=DEFAULT_CHANNELS,
    embed_dim=256,
    fourier_scale=30.0,
    num_classes=None,
    patch_size=1,
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

    With `patch_size=2`, the first layer folds each 2x2 patch of pixels into
    the channels (`SpaceToDepth`) and the last one unfolds them
    (`DepthToSpace`): every level works on a quarter of the positions, with
    the same weights. On a 2-core CPU that trains 2 to 3 times faster, but
    the loss after the same epochs is higher, most of all at low noise, where
    each pixel's own features count (README, speed section). It suits quick
    experiments; the default stays 1.

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
        dtype: Dtype policy of the layers, e.g. `"mixed_bfloat16"` (bfloat16
            arithmetic with float32 weights, for GPUs and bfloat16-capable
            CPUs). The time features and the output convolution stay
            float32 whatever the policy. None uses Keras's global policy.
        name: Name of the returned model.

    Returns:
        A functional `keras.Model` with inputs `[images, times]` (and
        `labels` when `num_classes` is set), of shapes `(batch, *image_shape)`,
        `(batch,)` and `(batch,)` int, and an output of the images' shape.

    Example:

    >>> unet = build_unet((28, 28, 1))
    >>> unet.count_params() > 1_000_000
    True
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
    coarsest = min(image_shape[:2]) / patch_size / 2 ** (len(channels) - 1)
    if coarsest < 1:
        raise ValueError(
            f"{len(channels)} levels halve a {image_shape[0]}x{image_shape[1]} image "
            f"(after patches of {patch_size}) below one pixel; use fewer channels entries "
            f"or a smaller patch_size."
        )

    images = keras.Input(image_shape, name="images")
    times = keras.Input((), name="times")
    embedding = GaussianFourierFeatures(
        embed_dim, fourier_scale, name="time_fourier", dtype=dtype
    )(times)
    embedding = layers.Dense(embed_dim, activation="swish", name="time_mlp", dtype=dtype)(embedding)
    inputs = [images, times]
    if num_classes is not None:
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be a positive integer or None; got {num_classes}.")
        labels = keras.Input((), dtype="int32", name="labels")
        label_embedding = layers.Embedding(
            int(num_classes) + 1, embed_dim, name="label_embedding", dtype=dtype
        )(labels)
        embedding = layers.Add(name="add_label", dtype=dtype)([embedding, label_embedding])
        inputs.append(labels)

    skips = []
    h = images if patch_size == 1 else SpaceToDepth(patch_size, name="patchify", dtype=dtype)(images)
    for level, width in enumerate(channels):
        h = _conv3x3(h, width, 1 if level == 0 else 2, f"down{level}_conv", dtype)
        h = _condition_and_normalize(h, embedding, width, f"down{level}", dtype)
        skips.append(h)

    for level in reversed(range(len(channels) - 1)):
        skip = skips[level]
        width = channels[level]
        h = _conv3x3(h, width, 1, f"up{level}_conv", dtype)
        h = layers.UpSampling2D(2, name=f"up{level}_resize", dtype=dtype)(h)
        extra_rows = h.shape[1] - skip.shape[1]
        extra_cols = h.shape[2] - skip.shape[2]
        if extra_rows or extra_cols:
            h = layers.Cropping2D(
                ((0, extra_rows), (0, extra_cols)), name=f"up{level}_crop", dtype=dtype
            )(h)
        h = _condition_and_normalize(h, embedding, width, f"up{level}", dtype)
        h = layers.Concatenate(name=f"up{level}_skip", dtype=dtype)([h, skip])

    # float32 for the last layer keeps the small corrections of low noise levels.
    outputs = layers.Conv2D(
        image_shape[-1] * patch_size**2, 3, padding="same", name="output_conv", dtype="float32"
    )(h)
    if patch_size > 1:
        outputs = DepthToSpace(patch_size, name="unpatchify", dtype="float32")(outputs)
    return keras.Model(inputs, outputs, name=name)


def patch_size_of(network):
    """The `patch_size` a network was built with: its `SpaceToDepth` block size, else 1.

    Example:

    >>> patch_size_of(build_unet(patch_size=2))
    2
    """
    return next((layer.block_size for layer in network.layers if isinstance(layer, SpaceToDepth)), 1)


def channels_of(network):
    """The `channels` a network was built with, read from its `down{level}_conv` layers.

    Example:

    >>> channels_of(build_unet(channels=(8, 16, 32)))
    (8, 16, 32)
    """
    layers_by_name = {layer.name: layer for layer in network.layers}
    channels = []
    while f"down{len(channels)}_conv" in layers_by_name:
        channels.append(layers_by_name[f"down{len(channels)}_conv"].filters)
    return tuple(channels)
