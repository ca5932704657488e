"""`ScoreModel`: the U-Net, its noise schedule and the denoising score-matching loss."""

import copy

import keras
import numpy as np
from keras import ops

from keras_sgm.backend import ReplicaSeedGenerator, TrainStep
from keras_sgm.schedules import VESchedule
from keras_sgm.unet import build_unet


def _image_batch(data):
    """The images of a batch that may be `images` or `(images, labels, ...)`."""
    return data[0] if isinstance(data, (tuple, list)) else data


def _label_batch(data):
    """The labels of a batch `(images, labels, ...)`, or None for images alone."""
    return data[1] if isinstance(data, (tuple, list)) and len(data) > 1 else None


PARAMETERIZATIONS = ("edm", "noise")
NOISE_DISTRIBUTIONS = ("lognormal", "uniform")
_SEED_STATE = "seed_generator_state"


@keras.saving.register_keras_serializable(package="keras_sgm")
class ScoreModel(TrainStep, keras.Model):
    """A score-based generative model trained by denoising score matching.

    `fit` draws a time `t` and `z ~ N(0, I)` for every image and minimises
    the sigma(t)-weighted loss

        mean over the batch of sum over pixels of (s(x0 + sigma(t) z, t) sigma(t) + z)^2.

    By default the noise level is drawn log-normal, `ln sigma ~ N(-0.6, 1.6^2)`,
    and `t` is the time with that `sigma(t)`. This is wider and higher than
    EDM's `N(-1.2, 1.2^2)`: EDM pairs its distribution with a loss weight that
    stays constant at large sigma, whereas the sigma(t)-weighted loss here
    weighs an error in the denoised image by `1 / sigma^2`, so large noise
    levels, where a digit's class and shape are decided, need more of the
    draws (35% above sigma = 1 against EDM's 16%; 35% stay below 0.3 for the
    fine strokes). `noise_distribution="uniform"` draws `t ~ U(eps, 1)` as in
    the score-SDE tutorial, which puts half of the updates on `sigma > 1.9`
    and only 9% on `sigma < 0.3`.

    The network's raw output `F` becomes the score `s` through a
    preconditioning. With `"edm"` (Karras et al. 2022) the network sees
    `c_in x` and predicts the denoised image `D = c_skip x + c_out F`, so that
    its input and output stay of order one at every noise level and an error
    in `F` moves a sample by `c_out F <= sigma_data` rather than by `sigma F`;
    then `s = (D - x) / sigma^2`. With `"noise"` (the score-SDE tutorial)
    `s = F / sigma`, i.e. `F` predicts `-z`. The loss is the same function of
    `s` either way; EDM's form is what makes few-step samplers work.

    A conditional network (`num_classes`) learns both `s(x, t, label)` and
    the unconditional `s(x, t)`: each label is replaced by the "no label"
    token with probability `label_dropout`. Batches of images alone train
    the unconditional score only.

    An exponential moving average (EMA) of the weights is kept in a second
    copy of the network; `score` and the samplers use it, and it is saved
    with the model.

    Args:
        network: A Keras model mapping `[images, times]` (and `labels` when
            conditional) to an output of the images' shape. Defaults to
            `build_unet(image_shape, num_classes=num_classes)`.
        schedule: The noise schedule. Defaults to `VESchedule(sigma=25)`.
        eps: Smallest training time, `t ~ U(eps, 1)`. Must be in (0, 1).
        ema_decay: Decay of the EMA of the weights, in [0, 1). `None` or 0
            turns the EMA off and samples from the raw weights.
        seed: Seed of the training noise, for reproducible runs.
        image_shape: Shape of the images when `network` is not given.
        num_classes: Number of classes of a conditional model, or None. Read
            from the network's `label_embedding` layer when not given.
        parameterization: `"edm"` (default) or `"noise"`, see above.
        sigma_data: The data's scale in EDM's preconditioning.
        label_dropout: Probability of training a labelled image as unlabelled.
        noise_distribution: `"lognormal"` (default) or `"uniform"`, see above.
        log_sigma_mean: Mean of `ln sigma` for `"lognormal"`.
        log_sigma_std: Standard deviation of `ln sigma` for `"lognormal"`.

    Example:

    ```python
    model = keras_sgm.ScoreModel(num_classes=10)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(images, labels, batch_size=128, epochs=10)  # uint8 or [0, 1] floats
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
        num_classes=None,
        parameterization="edm",
        sigma_data=0.5,
        label_dropout=0.1,
        noise_distribution="lognormal",
        log_sigma_mean=-0.6,
        log_sigma_std=1.6,
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
        if parameterization not in PARAMETERIZATIONS:
            raise ValueError(
                f"parameterization must be one of {PARAMETERIZATIONS}; got {parameterization!r}."
            )
        if noise_distribution not in NOISE_DISTRIBUTIONS:
            raise ValueError(
                f"noise_distribution must be one of {NOISE_DISTRIBUTIONS}; got {noise_distribution!r}."
            )
        if not float(log_sigma_std) > 0.0:
            raise ValueError(f"log_sigma_std must be positive; got {log_sigma_std}.")
        if not float(sigma_data) > 0.0:
            raise ValueError(f"sigma_data must be positive; got {sigma_data}.")
        if not 0.0 <= float(label_dropout) < 1.0:
            raise ValueError(f"label_dropout must lie in [0, 1); got {label_dropout}.")
        if network is None:
            network = build_unet(image_shape, num_classes=num_classes)
        self.network = network
        self.num_classes = _network_classes(network, num_classes)
        self.schedule = schedule if schedule is not None else VESchedule()
        self.eps = eps
        self.ema_decay = ema_decay
        self.seed = seed
        self.parameterization = parameterization
        self.sigma_data = float(sigma_data)
        self.label_dropout = float(label_dropout)
        self.noise_distribution = noise_distribution
        self.log_sigma_mean = float(log_sigma_mean)
        self.log_sigma_std = float(log_sigma_std)
        self.seed_generator = ReplicaSeedGenerator(seed)
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

    def _preconditioning(self, std):
        """`(c_in, c_out, 1 - c_skip)` at noise level `std`, without cancellation."""
        if self.parameterization == "noise":
            return ops.ones_like(std), std, ops.zeros_like(std)
        variance = ops.square(std) + self.sigma_data**2
        return (
            ops.rsqrt(variance),
            std * self.sigma_data * ops.rsqrt(variance),
            ops.square(std) / variance,
        )

    def labels_for(self, labels, batch_size):
        """`labels` as an int32 `(batch_size,)` tensor; None means "no label".

        Args:
            labels: None, one int for the whole batch, or one per image.
            batch_size: Number of images.

        Returns:
            A tensor for the network's `labels` input, or None for an
            unconditional network.
        """
        if self.num_classes is None:
            if labels is not None:
                raise ValueError(
                    "this model is unconditional: it takes no labels. Train a model "
                    "with `num_classes` to sample given digits."
                )
            return None
        if labels is None:
            return ops.full((batch_size,), self.num_classes, dtype="int32")
        labels = ops.cast(ops.convert_to_tensor(labels), "int32")
        if len(ops.shape(labels)) == 0:
            return ops.full((batch_size,), labels, dtype="int32")
        return labels

    def score(self, images, times, labels=None, guidance=1.0, network=None):
        """The score `grad log p_t(images | labels)` at a batch of `times`.

        Args:
            images: `(batch, *image_shape)` noisy images.
            times: `(batch,)` times in (0, 1].
            labels: For a conditional model, one label or `(batch,)` labels
                to condition on; None gives the unconditional score.
            guidance: Classifier-free guidance scale `w`: the score is
                `s(x) + w (s(x | label) - s(x))`, so 0 is unconditional, 1
                is plainly conditional and larger values sharpen the class.
            network: Which network to use; the EMA network by default.

        Returns:
            A tensor of the images' shape.
        """
        network = network if network is not None else self.inference_network
        images = ops.convert_to_tensor(images, "float32")
        times = ops.convert_to_tensor(times, "float32")
        batch_size = ops.shape(images)[0]
        if guidance == 0.0:
            labels = None
        if labels is None or guidance == 1.0:
            return self._score(network, images, times, self.labels_for(labels, batch_size))
        unlabelled = self.labels_for(None, batch_size)
        both = self._score(
            network,
            ops.concatenate([images, images]),
            ops.concatenate([times, times]),
            ops.concatenate([self.labels_for(labels, batch_size), unlabelled]),
        )
        conditional, unconditional = both[:batch_size], both[batch_size:]
        return unconditional + guidance * (conditional - unconditional)

    def _score(self, network, images, times, labels):
        std = ops.reshape(self.schedule.marginal_std(times), (-1, 1, 1, 1))
        c_in, c_out, c_drop = self._preconditioning(std)
        inputs = [c_in * images, times] + ([] if labels is None else [labels])
        # s = (D - x) / sigma^2 with D = c_skip x + c_out F, written without x - x.
        output = ops.cast(network(inputs), "float32")  # a mixed-precision network's too
        return (c_out * output - c_drop * images) / ops.square(std)

    def call(self, inputs):
        """`model([images, times])` (or `[images, times, labels]`) is `model.score(...)`."""
        return self.score(*inputs)

    def guided(self, labels=None, guidance=1.0):
        """This model's score for fixed labels and guidance, for the samplers.

        Example:

        >>> images, nfe = edm_heun(model.guided(labels=7, guidance=4.0), 16)
        """
        return GuidedScore(self, labels, guidance)

    def score_matching_loss(self, images, times, noise, labels=None):
        """The denoising score-matching loss for given times and noise.

        Args:
            images: Clean images `x0`, `(batch, *image_shape)`, in [0, 1].
            times: `(batch,)` times `t`.
            noise: Standard normal noise `z` of the images' shape.
            labels: `(batch,)` labels for a conditional model (the "no label"
                token `num_classes` allowed), or None.

        Returns:
            The scalar `mean_b sum_pixels (s(x0 + sigma(t) z, t) sigma(t) + z)^2`.
        """
        images = ops.convert_to_tensor(images, "float32")
        times = ops.convert_to_tensor(times, "float32")
        std = ops.reshape(self.schedule.marginal_std(times), (-1, 1, 1, 1))
        score = self._score(
            self.network,
            images + std * noise,
            times,
            self.labels_for(labels, ops.shape(images)[0]),
        )
        per_image = ops.sum(ops.square(score * std + noise), axis=(1, 2, 3))
        return ops.mean(per_image)

    def sample_times(self, batch):
        """Training times for a batch, from `noise_distribution`, within [eps, 1]."""
        if self.noise_distribution == "uniform":
            return keras.random.uniform((batch,), minval=self.eps, maxval=1.0, seed=self.seed_generator)
        log_sigma = self.log_sigma_mean + self.log_sigma_std * keras.random.normal(
            (batch,), seed=self.seed_generator
        )
        sigma_range = self.schedule.marginal_std(ops.convert_to_tensor([self.eps, 1.0]))
        sigma = ops.clip(ops.exp(log_sigma), sigma_range[0], sigma_range[1])
        return ops.clip(self.schedule.time_from_std(sigma), self.eps, 1.0)

    def sample_loss(self, images, labels=None):
        """`score_matching_loss` with `t`, `z` and the label dropout drawn from the model's seed."""
        batch = ops.shape(images)[0]
        times = self.sample_times(batch)
        noise = keras.random.normal(ops.shape(images), seed=self.seed_generator)
        if self.num_classes is not None and labels is not None:
            drop = keras.random.uniform((batch,), seed=self.seed_generator) < self.label_dropout
            labels = ops.where(drop, self.num_classes, ops.cast(labels, "int32"))
        else:
            labels = None
        return self.score_matching_loss(images, times, noise, labels)

    def prepare_batch(self, data):
        """`(images, labels)` of a batch: float32 images in [0, 1] (uint8 0..255
        is rescaled) and the labels, or None when the batch has none."""
        images = ops.convert_to_tensor(_image_batch(data))
        if "uint8" in str(images.dtype):
            images = ops.cast(images, "float32") / 255.0
        labels = _label_batch(data)
        return ops.cast(images, "float32"), labels

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
        batched `tf.data.Dataset` of images or of `(image, label)` pairs; `y`
        holds the labels of an array `x`. A conditional model learns from the
        labels, an unconditional one ignores them. Bad images raise a
        `ValueError` before training.
        """
        self.check_images(x, "x")
        if y is not None:
            self.check_labels(y, "`y`")
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
        if _label_batch(first) is not None:
            self.check_labels(np.asarray(_label_batch(first)), f"the labels of `{argument}`")

    def check_labels(self, labels, argument):
        """Raises a `ValueError` unless `labels` are integers in 0..num_classes - 1.

        An unconditional model ignores labels, so any labels pass.
        """
        if self.num_classes is None:
            return
        labels = np.asarray(labels)
        if not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"{argument} must be integer class labels; got dtype {labels.dtype}.")
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(
                f"{argument} must lie in 0..{self.num_classes - 1}; got values "
                f"{labels.min()}..{labels.max()}."
            )

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

    def save_own_variables(self, store):
        # The training noise's RNG state is saved too, so that a resumed run
        # draws the noise an uninterrupted one would have.
        super().save_own_variables(store)
        store[_SEED_STATE] = ops.convert_to_numpy(self.seed_generator.state)

    def load_own_variables(self, store):
        own = self._trainable_variables + self._non_trainable_variables
        for index, variable in enumerate(own):
            variable.assign(store[f"{index}"])
        if _SEED_STATE in store.keys():  # absent from checkpoints of keras-sgm 0.1
            self.seed_generator.state.assign(store[_SEED_STATE])

    def get_config(self):
        return {
            "name": self.name,
            "network": keras.saving.serialize_keras_object(self.network),
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "eps": self.eps,
            "ema_decay": self.ema_decay,
            "seed": self.seed,
            "num_classes": self.num_classes,
            "parameterization": self.parameterization,
            "sigma_data": self.sigma_data,
            "label_dropout": self.label_dropout,
            "noise_distribution": self.noise_distribution,
            "log_sigma_mean": self.log_sigma_mean,
            "log_sigma_std": self.log_sigma_std,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        config["schedule"] = keras.saving.deserialize_keras_object(config["schedule"])
        return cls(**config)


def _network_classes(network, num_classes):
    """The number of classes a network is conditioned on, or None."""
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


class GuidedScore:
    """A `ScoreModel` seen by the samplers with its labels and guidance fixed.

    It has what a sampler needs (`schedule`, `image_shape`, `weights` and
    `score(x, t)`), so every sampler does conditional and guided sampling
    without knowing about labels.

    Args:
        model: A `ScoreModel`.
        labels: One label or one per image, or None for unconditional.
        guidance: The classifier-free guidance scale (see `ScoreModel.score`).
    """

    def __init__(self, model, labels=None, guidance=1.0):
        if labels is not None:
            model.labels_for(labels, 1)  # rejects labels for an unconditional model
            labels = np.asarray(labels)
            model.check_labels(labels, "`labels`")
        self.model = model
        self.labels = labels
        self.guidance = float(guidance)
        self.schedule = model.schedule
        self.image_shape = model.image_shape
        self.weights = model.weights

    def score(self, images, times):
        return self.model.score(images, times, labels=self.labels, guidance=self.guidance)

    def with_labels(self, labels):
        """The same guided score for other labels, taken as they are (a
        compiled sampler's traced input)."""
        bound = copy.copy(self)
        bound.labels = labels
        return bound
