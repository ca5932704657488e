"""Layers the U-Net needs beyond the Keras built-ins."""

import math

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="keras_sgm")
class GaussianFourierFeatures(keras.layers.Layer):
    """Random Fourier features of a scalar time, `[sin(2 pi t W), cos(2 pi t W)]`.

    The frequencies `W ~ N(0, scale^2)` are drawn once and never trained, so
    the network sees the time through a fixed, rich set of sinusoids.

    Args:
        embed_dim: Even number of output features.
        scale: Standard deviation of the random frequencies. Defaults to 30,
            as in the reference recipe.
        seed: Seed of the frequencies, so that two fresh networks agree.

    Returns:
        A `(batch, embed_dim)` tensor for a `(batch,)` tensor of times.

    Example:

    >>> features = GaussianFourierFeatures(16)
    >>> tuple(features(keras.ops.ones((2,))).shape)
    (2, 16)
    """

    def __init__(self, embed_dim, scale=30.0, seed=0, **kwargs):
        # Times stay float32 under a mixed policy: in bfloat16, t = 0.51 is off by
        # 1e-3, which moves the fastest sinusoids by a third of a radian.
        kwargs["autocast"] = False
        super().__init__(**kwargs)
        if embed_dim <= 0 or embed_dim % 2:
            raise ValueError(
                f"embed_dim must be a positive even number; got {embed_dim}."
            )
        self.embed_dim = int(embed_dim)
        self.scale = float(scale)
        self.seed = int(seed)

    def build(self, input_shape):
        self.frequencies = self.add_weight(
            shape=(self.embed_dim // 2,),
            initializer=keras.initializers.RandomNormal(
                stddev=self.scale, seed=self.seed
            ),
            trainable=False,
            name="frequencies",
        )

    def call(self, times):
        angles = (2.0 * math.pi * ops.expand_dims(ops.cast(times, "float32"), -1)) * ops.cast(
            self.frequencies, "float32"
        )
        features = ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)
        return ops.cast(features, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.embed_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"embed_dim": self.embed_dim, "scale": self.scale, "seed": self.seed}
        )
        return config


class _PatchLayer(keras.layers.Layer):
    """Base of the two layers that move `block_size x block_size` patches between space and channels."""

    def __init__(self, block_size, **kwargs):
        super().__init__(**kwargs)
        if int(block_size) != block_size or block_size < 1:
            raise ValueError(f"block_size must be a positive integer; got {block_size}.")
        self.block_size = int(block_size)

    def get_config(self):
        config = super().get_config()
        config.update({"block_size": self.block_size})
        return config


@keras.saving.register_keras_serializable(package="keras_sgm")
class SpaceToDepth(_PatchLayer):
    """Folds each `block_size x block_size` patch of pixels into the channels.

    A `(batch, h, w, c)` image becomes `(batch, h / b, w / b, b * b * c)`:
    the same numbers, on a grid with `b * b` times fewer positions.

    Args:
        block_size: Side of the patches, dividing the image's height and width.

    Returns:
        A `(batch, h / b, w / b, b * b * c)` tensor for `(batch, h, w, c)` images.

    Example:

    >>> x = keras.ops.reshape(keras.ops.arange(16.0), (1, 4, 4, 1))
    >>> tuple(SpaceToDepth(2)(x).shape)
    (1, 2, 2, 4)
    """

    def call(self, images):
        b = self.block_size
        height, width, channels = images.shape[1:]
        if height % b or width % b:
            raise ValueError(
                f"SpaceToDepth({b}) needs a height and width divisible by {b}; got {height}x{width}."
            )
        patches = ops.reshape(images, (-1, height // b, b, width // b, b, channels))
        patches = ops.transpose(patches, (0, 1, 3, 2, 4, 5))
        return ops.reshape(patches, (-1, height // b, width // b, b * b * channels))

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        b = self.block_size
        return (batch, height // b, width // b, b * b * channels)


@keras.saving.register_keras_serializable(package="keras_sgm")
class DepthToSpace(_PatchLayer):
    """Unfolds channels into `block_size x block_size` patches: the inverse of `SpaceToDepth`.

    Args:
        block_size: Side of the patches; the channels must be a multiple of
            its square.

    Returns:
        A `(batch, h * b, w * b, c / b^2)` tensor for `(batch, h, w, c)` features.

    Example:

    >>> x = keras.ops.reshape(keras.ops.arange(16.0), (1, 4, 4, 1))
    >>> bool(keras.ops.all(DepthToSpace(2)(SpaceToDepth(2)(x)) == x))
    True
    """

    def call(self, features):
        b = self.block_size
        height, width, channels = features.shape[1:]
        if channels % (b * b):
            raise ValueError(
                f"DepthToSpace({b}) needs channels divisible by {b * b}; got {channels}."
            )
        patches = ops.reshape(features, (-1, height, width, b, b, channels // (b * b)))
        patches = ops.transpose(patches, (0, 1, 3, 2, 4, 5))
        return ops.reshape(patches, (-1, height * b, width * b, channels // (b * b)))

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        b = self.block_size
        return (batch, height * b, width * b, channels // (b * b))


@keras.saving.register_keras_serializable(package="keras_sgm")
class SmallMapConv2D(keras.layers.Conv2D):
    """A `Conv2D` computed as one matrix product over the whole feature map.

    The kernel's taps are gathered into the dense `(h * w * c_in, h' * w' *
    c_out)` matrix that the convolution applies to a flattened map, with
    zeros where a tap falls on the padding. That matrix grows with the
    square of the map's size, so this suits maps of a few pixels only, where
    it is much cheaper than a convolution kernel on XLA's CPU backend. It
    computes exactly what `Conv2D` computes, with the same weights.

    Args:
        *args, **kwargs: Those of `keras.layers.Conv2D`, with
            `data_format="channels_last"` and no dilation or groups.

    Returns:
        What `Conv2D` returns for the same weights and inputs.

    Example:

    >>> conv = SmallMapConv2D(8, 3, strides=2, padding="same")
    >>> tuple(conv(keras.ops.ones((1, 4, 4, 16))).shape)
    (1, 2, 2, 8)
    """

    def build(self, input_shape):
        if self.data_format != "channels_last" or max(self.dilation_rate) > 1 or self.groups > 1:
            raise ValueError(
                "SmallMapConv2D supports channels_last without dilation or groups; use Conv2D for others."
            )
        super().build(input_shape)
        height, width = input_shape[1:3]
        (kernel_h, kernel_w), (stride_h, stride_w) = self.kernel_size, self.strides
        if self.padding == "same":
            out_h, out_w = -(-height // stride_h), -(-width // stride_w)
            top = max((out_h - 1) * stride_h + kernel_h - height, 0) // 2
            left = max((out_w - 1) * stride_w + kernel_w - width, 0) // 2
        else:
            out_h, out_w = (height - kernel_h) // stride_h + 1, (width - kernel_w) // stride_w + 1
            top = left = 0
        # taps[input pixel, output pixel]: the kernel tap joining them, or the zero tap.
        rows = np.arange(height)[:, None] - (np.arange(out_h) * stride_h - top)[None, :]
        cols = np.arange(width)[:, None] - (np.arange(out_w) * stride_w - left)[None, :]
        row_tap = rows[:, None, :, None]
        col_tap = cols[None, :, None, :]
        inside = (row_tap >= 0) & (row_tap < kernel_h) & (col_tap >= 0) & (col_tap < kernel_w)
        taps = np.where(inside, row_tap * kernel_w + col_tap, kernel_h * kernel_w)
        self._taps = taps.reshape(height * width, out_h * out_w).astype("int32")
        self._output_size = (out_h, out_w)

    def convolution_op(self, inputs, kernel):
        kernel_h, kernel_w, channels_in, channels_out = kernel.shape
        pixels_in, pixels_out = self._taps.shape
        taps = ops.concatenate(
            [
                ops.reshape(kernel, (kernel_h * kernel_w, channels_in, channels_out)),
                ops.zeros((1, channels_in, channels_out), kernel.dtype),
            ]
        )
        dense = ops.transpose(ops.take(taps, self._taps, axis=0), (0, 2, 1, 3))
        dense = ops.reshape(dense, (pixels_in * channels_in, pixels_out * channels_out))
        outputs = ops.matmul(ops.reshape(inputs, (-1, pixels_in * channels_in)), dense)
        return ops.reshape(outputs, (-1, *self._output_size, channels_out))
