"""`ScoreModel`: the U-Net, its noise schedule and the denoising score-matching loss."""

import keras
import numpy as np
from keras import ops

from keras_sgm.backend import TrainStep
from keras_sgm.schedules import VESchedule
from keras_sgm.unet import build_unet


def _image_batch(data):
    """The images of a batch that may be `images` or `(images, labels, ...)`."""
    return data[0] if isinstance(data, (tuple, list)) else data


@keras.saving.register_keras_serializable(package="keras_sgm")
class ScoreModel(TrainStep, keras.Model):
    """A score-based generative model trained by denoising score matching.

    `fit` draws `t ~ U(eps, 1)` and `z ~ N(0, I)` for every image and
    minimises the sigma(t)-weighted loss

        mean over the batch of sum over pixels of (s(x0 + sigma(t) z, t) sigma(t) + z)^2,

    where `s = network([x, t]) / sigma(t)` is the score. An exponential
    moving average (EMA) of the weights is kept in a second copy of the
    network; `score` and the samplers use it, and it is saved with the model.

    Args:
        network: A Keras model mapping `[images, times]` to an output of the
            images' shape. Defaults to `build_unet(image_shape)`.
        schedule: The noise schedule. Defaults to `VESchedule(sigma=25)`.
        eps: Smallest training time, `t ~ U(eps, 1)`. Must be in (0, 1).
        ema_decay: Decay of the EMA of the weights, in [0, 1). `None` or 0
            turns the EMA off and samples from the raw weights.
        seed: Seed of the training noise, for reproducible runs.
        image_shape: Shape of the images when `network` is not given.

    Example:

    ```python
    model = keras_sgm.ScoreModel()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(images, batch_size=128, epochs=10)  # uint8 or [0, 1] floats
    ```
    """

    def __init__(
        self,
        network=None,
        schedule=None,
        eps=1e-5,
        ema_decay=0.999,
        seed=None,
        image_shape=(28, 28, 1),
        **kwargs,
    ):
        super().__init__(**kwargs)
        eps = float(eps)
        if not 0.0 < eps < 1.0:
            raise ValueError(
                f"eps is the smallest training time and must lie in (0, 1); "
                f"got eps={eps}. The default 1e-5 suits most uses."
            )
        ema_decay = float(ema_decay or 0.0)
        if not 0.0 <= ema_decay < 1.0:
            raise ValueError(
                f"ema_decay must lie in [0, 1) (0 turns the EMA off); got {ema_decay}. "
                f"Typical values are 0.999 to 0.9999."
            )
        self.network = network if network is not None else build_unet(image_shape)
        self.schedule = schedule if schedule is not None else VESchedule()
        self.eps = eps
        self.ema_decay = ema_decay
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.ema_network = None
        if ema_decay > 0.0:
            self.ema_network = keras.models.clone_model(self.network)
            self.ema_network.set_weights(self.network.get_weights())
            self.ema_network.trainable = False
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.built = True

    @property
    def image_shape(self):
        """`(height, width, channels)` of the images the model generates."""
        return tuple(self.network.inputs[0].shape[1:])

    @property
    def inference_network(self):
        """The network used for sampling: the EMA copy if there is one."""
        return self.ema_network if self.ema_network is not None else self.network

    @property
    def metrics(self):
        return [self.loss_tracker]

    def score(self, images, times, network=None):
        """The score `grad log p_t(images)` at a batch of `times`.

        Args:
            images: `(batch, *image_shape)` noisy images.
            times: `(batch,)` times in (0, 1].
            network: Which network to use; the EMA network by default.

        Returns:
            A tensor of the images' shape.
        """
        network = network if network is not None else self.inference_network
        images = ops.convert_to_tensor(images, "float32")
        times = ops.convert_to_tensor(times, "float32")
        std = ops.reshape(self.schedule.marginal_std(times), (-1, 1, 1, 1))
        return network([images, times]) / std

    def call(self, inputs):
        """`model([images, times])` is `model.score(images, times)`."""
        images, times = inputs
        return self.score(images, times)

    def score_matching_loss(self, images, times, noise):
        """The denoising score-matching loss for given times and noise.

        Args:
            images: Clean images `x0`, `(batch, *image_shape)`, in [0, 1].
            times: `(batch,)` times `t`.
            noise: Standard normal noise `z` of the images' shape.

        Returns:
            The scalar `mean_b sum_pixels (s(x0 + sigma(t) z, t) sigma(t) + z)^2`.
        """
        std = ops.reshape(self.schedule.marginal_std(times), (-1, 1, 1, 1))
        score = self.score(images + std * noise, times, network=self.network)
        per_image = ops.sum(ops.square(score * std + noise), axis=(1, 2, 3))
        return ops.mean(per_image)

    def sample_loss(self, images):
        """`score_matching_loss` with `t` and `z` drawn from the model's seed."""
        batch = ops.shape(images)[0]
        times = keras.random.uniform(
            (batch,), minval=self.eps, maxval=1.0, seed=self.seed_generator
        )
        noise = keras.random.normal(ops.shape(images), seed=self.seed_generator)
        return self.score_matching_loss(images, times, noise)

    def prepare_images(self, data):
        """Images of a batch as float32 in [0, 1]; uint8 0..255 is rescaled."""
        images = ops.convert_to_tensor(_image_batch(data))
        if "uint8" in str(images.dtype):
            return ops.cast(images, "float32") / 255.0
        return ops.cast(images, "float32")

    def update_ema(self):
        """Moves the EMA weights towards the current weights.

        The decay ramps up as `min(ema_decay, (1 + n) / (10 + n))` over the
        first steps `n`, so that short runs are not dominated by the random
        initial weights.
        """
        if self.ema_network is None:
            return
        steps = ops.cast(self.optimizer.iterations, "float32")
        decay = ops.minimum(self.ema_decay, (1.0 + steps) / (10.0 + steps))
        for average, weight in zip(self.ema_network.weights, self.network.weights):
            average.assign(decay * average + (1.0 - decay) * weight)

    def finish_train_step(self, loss):
        self.update_ema()
        return self.finish_test_step(loss)

    def finish_test_step(self, loss):
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def fit(self, x=None, y=None, validation_data=None, **kwargs):
        """`keras.Model.fit`, after checking that the images suit the model.

        `x` may be an array of images, float in [0, 1] or uint8 0..255, or a
        batched `tf.data.Dataset` of images or of `(image, label)` pairs.
        Labels are ignored. Bad images raise a `ValueError` before training.
        """
        self.check_images(x, "x")
        if validation_data is not None:
            self.check_images(_image_batch(validation_data), "validation_data")
        return super().fit(x, y, validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, y=None, **kwargs):
        self.check_images(x, "x")
        return super().evaluate(x, y, **kwargs)

    def check_images(self, data, argument):
        """Raises a `ValueError` naming the problem if `data` cannot train this model.

        Arrays are checked in full; a `tf.data.Dataset` by its element spec
        and its first batch. Other inputs (generators, `PyDataset`) pass.
        """
        expected = self.image_shape
        if isinstance(data, np.ndarray) or (
            hasattr(data, "shape") and hasattr(data, "dtype")
        ):
            array = np.asarray(data)
            self._check_shape(array.shape, expected, argument)
            if array.shape[0] == 0:
                raise ValueError(f"`{argument}` holds no images (shape {array.shape}).")
            self._check_values(array, argument)
            return
        import tensorflow as tf

        if not isinstance(data, tf.data.Dataset):
            return
        spec = _image_batch(data.element_spec)
        shape = tuple(spec.shape)
        if len(shape) == len(expected):
            raise ValueError(
                f"`{argument}` yields single images of shape {shape}; fit needs "
                f"batches. Call `.batch(batch_size)` on the dataset."
            )
        self._check_shape(shape, expected, argument)
        first = next(iter(data.take(1)), None)
        if first is None:
            raise ValueError(f"`{argument}` is an empty dataset: it yields no batches.")
        self._check_values(np.asarray(_image_batch(first)), argument)

    @staticmethod
    def _check_shape(shape, expected, argument):
        shape = tuple(None if d is None else int(d) for d in shape)
        if len(shape) != len(expected) + 1:
            hint = ""
            if len(shape) == len(expected) and expected[-1] == 1:
                hint = " Add a channel axis, e.g. `images[..., None]`."
            raise ValueError(
                f"`{argument}` must be a batch of images of rank {len(expected) + 1} "
                f"(batch, {', '.join(map(str, expected))}); got shape {shape}.{hint}"
            )
        if shape[-1] != expected[-1]:
            raise ValueError(
                f"`{argument}` has {shape[-1]} channels but the model expects "
                f"{expected[-1]} (image shape {expected}). Build the model with "
                f"`image_shape={(*expected[:-1], shape[-1])}` or convert the images."
            )
        if shape[1:] != expected:
            raise ValueError(
                f"`{argument}` holds images of shape {shape[1:]} but the model expects "
                f"{expected}. Resize the images or build the model with "
                f"`image_shape={shape[1:]}`."
            )

    @staticmethod
    def _check_values(array, argument):
        if array.dtype == np.uint8:
            return
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(
                f"`{argument}` has dtype {array.dtype}; use uint8 0..255 or floats in [0, 1]."
            )
        if not np.all(np.isfinite(array)):
            bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
            raise ValueError(
                f"`{argument}` contains {bad} NaN or infinite values. Clean the data "
                f"(e.g. `np.nan_to_num`) before training."
            )
        if array.size and float(array.max()) > 1.0 + 1e-6:
            raise ValueError(
                f"`{argument}` has float values up to {float(array.max()):g}, but float "
                f"images must lie in [0, 1]. Divide by 255, or pass uint8 images."
            )

    def get_config(self):
        return {
            "name": self.name,
            "network": keras.saving.serialize_keras_object(self.network),
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "eps": self.eps,
            "ema_decay": self.ema_decay,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        config["schedule"] = keras.saving.deserialize_keras_object(config["schedule"])
        return cls(**config)
