"""Layers the U-Net needs beyond the Keras built-ins."""

import math

import keras
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
