"""The U-Net's building blocks: convolutions, the noise bias, residual blocks, self-attention."""

import random

from keras import layers

from keras_sgm.models.layers import SmallMapConv2D

SMALL_MAP_PIXELS = 4


def num_groups(channels):
    """Largest divisor of `channels` not above `channels // 8` (at most 32)."""
    target = max(1, min(32, channels // 8))
    return next(g for g in range(target, 0, -1) if channels % g == 0)


def conv3x3(h, width, strides, name, dtype):
    """A 3x3 "same" convolution without bias; one matrix product on maps of a few pixels."""
    out_pixels = -(-h.shape[1] // strides) * -(-h.shape[2] // strides)
    # On maps of 2x2 pixels XLA's CPU convolution kernels are several times slower than
    # the equivalent matrix product (benchmarks/layer_costs.py), whose dense matrix is
    # still small there.
    conv = SmallMapConv2D if out_pixels <= SMALL_MAP_PIXELS else layers.Conv2D
    return conv(width, 3, strides=strides, padding="same", use_bias=False, name=name, dtype=dtype)(h)


def add_noise_bias(h, time_embedding, name, dtype):
    """Adds the time (and label) embedding, projected to one bias per channel."""
    channels = h.shape[-1]
    time_bias = layers.Dense(channels, name=f"{name}_time", dtype=dtype)(time_embedding)
    time_bias = layers.Reshape((1, 1, channels), name=f"{name}_time_map", dtype=dtype)(time_bias)
    return layers.Add(name=f"{name}_add_time", dtype=dtype)([h, time_bias])


def normalize(h, name, dtype):
    """GroupNorm, then swish."""
    h = layers.GroupNormalization(num_groups(h.shape[-1]), name=f"{name}_norm", dtype=dtype)(h)
    return layers.Activation("swish", name=f"{name}_swish", dtype=dtype)(h)


def residual_block(h, time_embedding, width, dropout, name, dtype):
    """Two 3x3 convolutions, each after GroupNorm and swish, with the time bias between
    them (none where `time_embedding` is None, as in the autoencoder), added to the input
    (through a 1x1 convolution where the width changes)."""
    shortcut = h
    if h.shape[-1] != width:
        shortcut = layers.Conv2D(width, 1, name=f"{name}_shortcut", dtype=dtype)(h)
    h = conv3x3(normalize(h, f"{name}_in", dtype), width, 1, f"{name}_conv1", dtype)
    if time_embedding is not None:
        h = add_noise_bias(h, time_embedding, name, dtype)
    h = normalize(h, f"{name}_out", dtype)
    if dropout:
        # An explicit seed makes PyTorch draw the masks from the layer's own generator, whose
        # state is saved with the model (so a resumed run continues the sequence), rather than
        # from torch's global one; `keras.utils.set_random_seed` fixes it, as it fixes the weights.
        seed = random.randrange(2**31)
        h = layers.Dropout(dropout, seed=seed, name=f"{name}_dropout", dtype=dtype)(h)
    h = conv3x3(h, width, 1, f"{name}_conv2", dtype)
    return layers.Add(name=f"{name}_residual", dtype=dtype)([shortcut, h])


def self_attention(h, name, dtype):
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
