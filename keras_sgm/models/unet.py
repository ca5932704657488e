"""The time-conditioned U-Net that predicts the (scaled) score."""

import random

import keras
from keras import layers

from keras_sgm.models.layers import (
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


def _add_time(h, time_embedding, name, dtype):
    """Adds the time (and label) embedding, projected to one bias per channel."""
    channels = h.shape[-1]
    time_bias = layers.Dense(channels, name=f"{name}_time", dtype=dtype)(time_embedding)
    time_bias = layers.Reshape((1, 1, channels), name=f"{name}_time_map", dtype=dtype)(time_bias)
    return layers.Add(name=f"{name}_add_time", dtype=dtype)([h, time_bias])


def _normalize(h, name, dtype):
    """GroupNorm, then swish."""
    h = layers.GroupNormalization(num_groups(h.shape[-1]), name=f"{name}_norm", dtype=dtype)(h)
    return layers.Activation("swish", name=f"{name}_swish", dtype=dtype)(h)


def _residual_block(h, time_embedding, width, dropout, name, dtype):
    """Two 3x3 convolutions, each after GroupNorm and swish, with the time bias between
    them, added to the input (through a 1x1 convolution where the width changes)."""
    shortcut = h
    if h.shape[-1] != width:
        shortcut = layers.Conv2D(width, 1, name=f"{name}_shortcut", dtype=dtype)(h)
    h = _conv3x3(_normalize(h, f"{name}_in", dtype), width, 1, f"{name}_conv1", dtype)
    h = _normalize(_add_time(h, time_embedding, name, dtype), f"{name}_out", dtype)
    if dropout:
        # An explicit seed makes PyTorch draw the masks from the layer's own generator, whose
        # state is saved with the model (so a resumed run continues the sequence), rather than
        # from torch's global one; `keras.utils.set_random_seed` fixes it, as it fixes the weights.
        seed = random.randrange(2**31)
        h = layers.Dropout(dropout, seed=seed, name=f"{name}_dropout", dtype=dtype)(h)
    h = _conv3x3(h, width, 1, f"{name}_conv2", dtype)
    return layers.Add(name=f"{name}_residual", dtype=dtype)([shortcut, h])


def _self_attention(h, name, dtype):
    """Multi-head self-attention over the positions of a small map, added to its input."""
    height, width, channels = h.shape[1:]
    heads = max(1, channels // 64)
    tokens = layers.GroupNormalization(num_groups(channels), name=f"{name}_norm", dtype=dtype)(h)
    tokens = layers.Reshape((height * width, channels), name=f"{name}_tokens", dtype=dtype)(tokens)
    tokens = layers.MultiHeadAttention(heads, channels // heads, name=f"{name}_mha", dtype=dtype)(
        tokens, tokens
    )
    tokens = layers.Reshape((height, width, channels), name=f"{name}_map", dtype=dtype)(tokens)
    return layers.Add(name=f"{name}_residual", dtype=dtype)([h, tokens])


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
    if int(blocks_per_level) != blocks_per_level or blocks_per_level < 0:
        raise ValueError(f"blocks_per_level must be a non-negative integer; got {blocks_per_level}.")
    blocks_per_level = int(blocks_per_level)
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must lie in [0, 1); got {dropout}.")
    if blocks_per_level == 0 and (attention or dropout):
        raise ValueError(
            "attention and dropout live in the residual blocks; set blocks_per_level >= 1 "
            "to use them."
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
        if not blocks_per_level:
            h = _normalize(_add_time(h, embedding, f"down{level}", dtype), f"down{level}", dtype)
        for block in range(blocks_per_level):
            h = _residual_block(h, embedding, width, dropout, f"down{level}_block{block}", dtype)
            if attention and level == len(channels) - 1:
                h = _self_attention(h, f"down{level}_attention{block}", dtype)
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
        if not blocks_per_level:
            h = _normalize(_add_time(h, embedding, f"up{level}", dtype), f"up{level}", dtype)
        h = layers.Concatenate(name=f"up{level}_skip", dtype=dtype)([h, skip])
        for block in range(blocks_per_level):
            h = _residual_block(h, embedding, width, dropout, f"up{level}_block{block}", dtype)
    if blocks_per_level:
        h = _normalize(h, "output", dtype)

    # float32 for the last layer keeps the small corrections of low noise levels.
    outputs = layers.Conv2D(
        image_shape[-1] * patch_size**2, 3, padding="same", name="output_conv", dtype="float32"
    )(h)
    if patch_size > 1:
        outputs = DepthToSpace(patch_size, name="unpatchify", dtype="float32")(outputs)
    return keras.Model(inputs, outputs, name=name)


def unet_arguments(network):
    """The `build_unet` arguments that shaped `network`, read from its layers.

    Returns:
        A dict with `patch_size`, `channels`, `blocks_per_level`, `attention`
        and `dropout`.

    Example:

    >>> unet_arguments(build_unet(channels=(8, 16, 32), patch_size=2))["channels"]
    (8, 16, 32)
    """
    layers_by_name = {layer.name: layer for layer in network.layers}
    channels = []
    while f"down{len(channels)}_conv" in layers_by_name:
        channels.append(layers_by_name[f"down{len(channels)}_conv"].filters)
    blocks = 0
    while f"down0_block{blocks}_conv1" in layers_by_name:
        blocks += 1
    dropout = layers_by_name.get("down0_block0_dropout")
    patchify = layers_by_name.get("patchify")
    return {
        "patch_size": 1 if patchify is None else patchify.block_size,
        "channels": tuple(channels),
        "blocks_per_level": blocks,
        "attention": any(isinstance(layer, layers.MultiHeadAttention) for layer in network.layers),
        "dropout": 0.0 if dropout is None else dropout.rate,
    }
