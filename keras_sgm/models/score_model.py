"""`ScoreModel`: a U-Net, its noise schedule, a train step for the score-matching loss, and an EMA."""

import functools

import keras
from keras import ops

from keras_sgm.backend.train_step import ReplicaSeedGenerator
from keras_sgm.backend.compile import ProgramCache
from keras_sgm.diffusion.consistency import ConsistencyTuning
from keras_sgm.diffusion.guidance import DEFAULT_GUIDANCE, check_interval, guided_view, label_input
from keras_sgm.diffusion.loss import DenoisingScoreMatching
from keras_sgm.diffusion.preconditioning import Preconditioning
from keras_sgm.diffusion.schedules import VESchedule
from keras_sgm.data.images import unit_floats
from keras_sgm.models.ema import average_copy, update_average
from keras_sgm.models.fitting import CheckedImageFit, ImageFitting
from keras_sgm.models.unet import build_unet, network_classes

_TRACED_INTO_PROGRAMS = ("network", "ema_network", "guide_network", "schedule", "preconditioning")


@keras.saving.register_keras_serializable(package="keras_sgm")
class ScoreModel(CheckedImageFit, ImageFitting, keras.Model):
    """A score-based generative model trained by denoising score matching.

    `fit` draws a noise level `sigma` and `z ~ N(0, I)` for every image and
    minimises the sigma-weighted loss of `DenoisingScoreMatching`,

        mean over the batch of sum over pixels of (s(x0 + sigma z, sigma) sigma + z)^2,

    in a custom train step (`keras_sgm.backend.train_step`), so plain
    `model.fit` works on every backend. The model is a denoiser
    `D(x, sigma)` (`denoise`), whose score is `(D - x) / sigma^2`; the
    network's raw output becomes `D` through `Preconditioning`, EDM's by
    default, which is what makes few-step samplers work.

    A conditional network (`num_classes`) learns both `s(x, t, label)` and
    the unconditional `s(x, t)`: each label is replaced by the "no label"
    token with probability `label_dropout`. Batches of images alone train
    the unconditional score only.

    An exponential moving average (EMA) of the weights is kept in a second
    copy of the network; `denoise` and the samplers use it, and it is saved
    with the model.

    The model is a `ScoreFunction`: every sampler takes it, or its guided
    view `model.guided(labels, guidance)`.

    Args:
        network: A Keras model mapping `[images, times]` (and `labels` when
            conditional) to an output of the images' shape. Defaults to
            `build_unet(image_shape, num_classes=num_classes)`.
        schedule: The noise schedule. Defaults to `VESchedule(sigma=25)`.
        eps: Smallest training time, in (0, 1).
        ema_decay: Decay of the EMA of the weights, in [0, 1). `None` or 0
            turns the EMA off and samples from the raw weights.
        seed: Seed of the training noise, for reproducible runs.
        image_shape: Shape of the images when `network` is not given.
        num_classes: Number of classes of a conditional model, or None. Read
            from the network's `label_embedding` layer when not given.
        parameterization: `"edm"` (default) or `"noise"` (see `Preconditioning`).
        sigma_data: The data's scale in EDM's preconditioning.
        label_dropout: Probability of training a labelled image as unlabelled.
        noise_distribution: `"lognormal"` (default) or `"uniform"` (see
            `DenoisingScoreMatching`).
        log_sigma_mean: Mean of `ln sigma` for `"lognormal"`.
        log_sigma_std: Standard deviation of `ln sigma` for `"lognormal"`.
        default_guidance: The classifier-free guidance scale that sampling
            with labels uses when none is given (`guided`, `sample()`, the
            command line).
        class_names: The name of each class, by label (`--label NAME` on the
            command line); None names them by number.
        dataset: The name of the training data (such as `"fashion_mnist"`),
            kept in the saved file for `keras-sgm evaluate` and for people.
        consistency: A `ConsistencyTuning` (or its config) makes this a
            consistency model: `fit` tunes it with that loss instead of
            denoising score matching, and `denoise` is its consistency
            function, which the `consistency` sampler calls. None (default)
            is a score model.
        guide_network: A weaker network of the same inputs and outputs,
            trained the same way (an early state of this one, see
            `keep_guide`, or a smaller one): it autoguides the model's
            unconditional samples by default (see `guided`), and is saved
            with it. None: unconditional samples are unguided.
        autoguidance: The autoguidance scale with the guide network; None:
            `DEFAULT_AUTOGUIDANCE`.
        autoguidance_interval: The `(low, high)` noise levels where the
            guide network guides; None: all of them.
        objective: The training loss, `objective(denoise, schedule, images,
            labels, seed) -> scalar`; None: `DenoisingScoreMatching` with the
            settings above. A custom one is not saved: the loaded model
            trains with the default, so give it again to train on.

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
        default_guidance=DEFAULT_GUIDANCE,
        class_names=None,
        dataset=None,
        consistency=None,
        guide_network=None,
        autoguidance=None,
        autoguidance_interval=None,
        objective=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        ema_decay = float(ema_decay or 0.0)
        if not 0.0 <= ema_decay < 1.0:
            raise ValueError(
                f"ema_decay must lie in [0, 1) (0 turns the EMA off); got {ema_decay}. "
                f"Typical values are 0.999 to 0.9999."
            )
        if network is None:
            network = build_unet(image_shape, num_classes=num_classes)
        self.network = network
        self.num_classes = network_classes(network, num_classes)
        if class_names is not None:
            class_names = tuple(str(name) for name in class_names)
            if len(class_names) != (self.num_classes or 0):
                raise ValueError(f"{len(class_names)} class names were given for a model of "
                                 f"{self.num_classes or 0} classes; give one name per class.")
        self.class_names = class_names
        self.dataset = None if dataset is None else str(dataset)
        self.preconditioning = Preconditioning(parameterization, sigma_data)
        self.score_matching = DenoisingScoreMatching(
            eps, noise_distribution, log_sigma_mean, log_sigma_std, label_dropout, self.num_classes
        )
        self.objective = objective or self.score_matching
        if isinstance(consistency, dict):
            consistency = ConsistencyTuning(**consistency)
        if consistency is not None:
            consistency.label_dropout, consistency.num_classes = float(label_dropout), self.num_classes
        self.consistency = consistency
        self.schedule = schedule if schedule is not None else VESchedule()
        self.ema_decay = ema_decay
        self.default_guidance = float(default_guidance)
        self.seed = seed
        self.seed_generator = ReplicaSeedGenerator(seed)
        self.ema_network = average_copy(self.network) if ema_decay > 0.0 else None
        self.guide_network = guide_network
        self.autoguidance = None if autoguidance is None else float(autoguidance)
        self.autoguidance_interval = check_interval(autoguidance_interval)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.sampling_programs = ProgramCache()
        self.built = True

    @property
    def image_shape(self):
        """`(height, width, channels)` of the images the model generates: its samples, in pixel space."""
        return self.sample_shape

    @property
    def eps(self):
        return self.score_matching.eps

    @property
    def is_consistency_model(self):
        """Whether `denoise` is a consistency function (the `consistency` sampler's need)."""
        return self.consistency is not None

    @property
    def inference_network(self):
        """The network used for sampling: the EMA copy if there is one."""
        return self.ema_network if self.ema_network is not None else self.network

    # The `ScoreFunction` interface of the samplers.

    @property
    def sample_shape(self):
        return tuple(self.network.inputs[0].shape[1:])

    @property
    def state_variables(self):
        return self.weights

    def conditioning(self, batch_size):
        """No conditioning: the model itself is its unconditional score (see `guided`)."""
        return {}

    def encode(self, images):
        """Images (uint8 0..255 or floats in [0, 1]) as samples, what `decode` inverts: themselves."""
        return unit_floats(ops.convert_to_tensor(images))

    def decode(self, x):
        return x

    def __setattr__(self, name, value):
        # The sampler programs have the schedule and the networks traced into them.
        if name in _TRACED_INTO_PROGRAMS and "sampling_programs" in self.__dict__:
            self.sampling_programs.clear()
        super().__setattr__(name, value)

    def labels_for(self, labels, batch_size):
        """`labels` as the network's int32 `(batch_size,)` input (see `label_input`)."""
        return label_input(labels, batch_size, self.num_classes)

    def denoise(self, x, sigma, labels=None, network=None, training=False):
        """The denoised images `D(x, sigma)`, EDM's interface: what the samplers and the loss call.

        Args:
            x: `(batch, *sample_shape)` noisy samples.
            sigma: `(batch,)` noise levels.
            labels: For a conditional model, one label or `(batch,)` labels
                to condition on (the "no label" token allowed); None is the
                unconditional denoiser. Guidance is `guided`'s.
            network: Which network to use; the EMA network by default.
            training: Runs the network in training mode (its dropout on).

        Returns:
            A float32 tensor of `x`'s shape.
        """
        network = network if network is not None else self.inference_network
        x = ops.convert_to_tensor(x, "float32")
        sigma = ops.convert_to_tensor(sigma, "float32")
        labels = self.labels_for(labels, ops.shape(x)[0])
        # The U-Net's noise input c_noise is the schedule's time of sigma, which it was trained on.
        return self.preconditioning.denoise(network, x, sigma, self.schedule.time_from_std(sigma), labels, training)

    def score(self, images, times, labels=None, network=None):
        """The score `grad log p_t(images | labels)` at a batch of `times`, `(D - x) / sigma(t)^2`.

        For code that works in time, as the score-SDE papers do; the samplers
        call `denoise` at noise levels, guided through `guided`.

        Args:
            images: `(batch, *image_shape)` noisy images.
            times: `(batch,)` times in (0, 1].
            labels: For a conditional model, one label or `(batch,)` labels
                to condition on; None gives the unconditional score.
            network: Which network to use; the EMA network by default.

        Returns:
            A tensor of the images' shape.
        """
        images = ops.convert_to_tensor(images, "float32")
        sigma = self.schedule.marginal_std(times)
        denoised = self.denoise(images, sigma, labels=labels, network=network)
        return (denoised - images) / ops.square(ops.reshape(sigma, (-1, 1, 1, 1)))

    def call(self, inputs):
        """`model([images, times])` (or `[images, times, labels]`) is `model.score(...)`."""
        return self.score(*inputs)

    def keep_guide(self):
        """Keeps the network that samples now (the EMA's) as the guide network: an early,
        weaker state of this model, which then autoguides its unconditional samples.

        Call it between `fit` calls, not from a callback during one: the
        trainer holds the model's variables for the whole of a `fit`.
        """
        self.guide_network = average_copy(self.inference_network)

    def guided(self, labels=None, guidance=None, guide=None, guide_interval=None):
        """This model seen by the samplers with fixed labels and guidance (`keras_sgm.diffusion.guidance`).

        Unconditional samples of a model with a guide network are autoguided
        by it at the model's `autoguidance` scale and interval; labelled ones
        get classifier-free guidance at `default_guidance`.

        Args:
            labels: One label or one per image, or None for unconditional.
            guidance: The scale of whichever guidance applies; None: its default.
            guide: A weaker model of the same data to autoguide with, with or
                without labels; `"none"` turns autoguidance off.
            guide_interval: With autoguidance, the `(low, high)` noise
                levels where the guide guides.

        Returns:
            A `Guided` view, which every sampler takes.

        Example:

        >>> images, nfe = edm_heun(model.guided(labels=7, guidance=2.0), 16)
        >>> images, nfe = edm_heun(model.guided(guide=small_model, guidance=2.0, guide_interval=(0.1, 2)), 16)
        """
        return guided_view(self, labels, guidance, guide, guide_interval)

    # The hooks of the backend's train step (`keras_sgm.backend.TrainStep`) that
    # `ImageFitting` leaves to the model.

    def batch_loss(self, images, labels=None, training=False):
        """The loss of a batch (the consistency loss of a consistency model), its noise and label
        dropout drawn from the model's seed.

        `training` runs the network in training mode (its dropout on).
        """
        denoise = functools.partial(self.denoise, network=self.network, training=training)
        if self.consistency is not None:
            step = self.optimizer.iterations if self.optimizer is not None else 0
            return self.consistency(denoise, self.schedule, images, labels, self.seed_generator, step)
        return self.objective(denoise, self.schedule, images, labels, self.seed_generator)

    def update_ema(self):
        """Moves the EMA weights towards the current weights (see `update_average`)."""
        if self.ema_network is not None:
            update_average(self.ema_network, self.network, self.ema_decay, self.optimizer.iterations)

    # Serialisation.

    def get_config(self):
        objective = self.score_matching
        return {
            "name": self.name,
            "network": keras.saving.serialize_keras_object(self.network),
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "eps": objective.eps,
            "ema_decay": self.ema_decay,
            "seed": self.seed,
            "num_classes": self.num_classes,
            "parameterization": self.preconditioning.parameterization,
            "sigma_data": self.preconditioning.sigma_data,
            "label_dropout": objective.label_dropout,
            "noise_distribution": objective.noise_distribution,
            "log_sigma_mean": objective.log_sigma_mean,
            "log_sigma_std": objective.log_sigma_std,
            "default_guidance": self.default_guidance,
            "class_names": None if self.class_names is None else list(self.class_names),
            "dataset": self.dataset,
            "consistency": None if self.consistency is None else self.consistency.get_config(),
            "guide_network": None if self.guide_network is None
            else keras.saving.serialize_keras_object(self.guide_network),
            "autoguidance": self.autoguidance,
            "autoguidance_interval": None if self.autoguidance_interval is None else list(self.autoguidance_interval),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("guide_network") is not None:
            config["guide_network"] = keras.saving.deserialize_keras_object(config["guide_network"])
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        config["schedule"] = keras.saving.deserialize_keras_object(config["schedule"])
        return cls(**config)

