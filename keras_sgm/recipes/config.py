"""The training recipe as data: one `TrainingConfig` that the CLI, the example and the benchmarks read.

This module imports no backend, so the command line can take its defaults
for `--help` at once.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Everything a training run of the recipe is made of, with the main job's defaults.

    The network fields left at None (`latent`, `patch_size`, `channels`,
    `blocks_per_level`, `attention`, `dropout`) are taken from the run being
    resumed or from `init_weights`, else from the latent (or pixel) default:
    a resumed run keeps its model.

    Attributes:
        output_dir: Where the checkpoint (resumed from), the loss history
            and the samples go.
        data: The training images (see `keras_sgm.data.open_data`): a
            TensorFlow Datasets name (`"mnist"`, `"fashion_mnist"`, from
            `data_dir` or `$TFDS_DATA_DIR`), a folder of images (class
            subfolders give labels), or an `.npz` file with `x_train` (and
            `y_train`, `class_names`).
        data_dir: The TFDS data directory.
        image_size: `(height, width)` (or `"HxW"`) to resize the images
            to; None keeps their own size.
        color: `"grayscale"` or `"rgb"`; None keeps the data's own.
        crop: For another aspect ratio: `"center"` crops, `"pad"` pads,
            `"none"` stretches.
        labels: Train on the class labels (a class-conditional model);
            False, or data without labels, trains an unconditional one.
        bad_images: Files of a folder that do not decode: `"refuse"` them
            (an error that names them, before training) or `"skip"` them.
        flip: Random horizontal flips (not for digits or text).
        epochs: Epochs in the whole run.
        batch_size: Images per training batch.
        steps_per_epoch: Cap on the steps per epoch, for quick runs.
        learning_rate: Peak learning rate of Adam (warm-up, then cosine decay).
        ema_decay: Decay of the EMA of the weights, which samples.
        label_dropout: Share of images trained without their label: all the
            training the unconditional path, which guidance needs, gets.
        latent: Latent diffusion (an autoencoder first, then the score model
            on its latents); False trains on the pixels.
        autoencoder: With `latent`, a trained `Autoencoder` file to use
            instead of training one.
        autoencoder_epochs: Epochs of the autoencoder's training.
        patch_size: The U-Net's `patch_size` (see `build_unet`).
        channels: The U-Net's channels per level, finest first.
        blocks_per_level: Residual blocks per U-Net level; 0 is the
            tutorial's one convolution per level.
        attention: Self-attention at the coarsest level.
        dropout: Dropout rate inside the residual blocks.
        mixed_precision: bfloat16 arithmetic with float32 weights (the
            `"mixed_bfloat16"` policy; the loss and samplers stay float32).
        init_weights: Start from the weights of this saved model (or
            `"pretrained"`, the shipped one), with a fresh optimizer; ignored
            when resuming.
        consistency: Tune `init_weights` into a consistency model with
            ECT's loss (`keras_sgm.diffusion.consistency`) instead of
            training a score model; see `keras_sgm.recipes.consistency`.
        consistency_stages: With `consistency`, ECT's staged schedule: the
            gap `t - r` halves (`q = 2`) this many times, evenly over the
            run; 0 keeps ECT's one-hour recipe, `q = 256` throughout.
        teacher_guidance: With `consistency`, distil the probability-flow
            ODE of `init_weights` guided at this classifier-free guidance
            scale (consistency distillation): the tuned model draws guided
            samples in one network evaluation per step, and its
            `default_guidance` is 1. None tunes on the data's own noise
            paths (ECT). Without labels the teacher is unguided.
        jit_compile: `model.compile`'s `jit_compile`; `"auto"` takes the
            fastest for the run's length on this backend (see
            `keras_sgm.backend.compile.training_jit_compile`).
        distribute: Data parallelism: `"auto"` (JAX spreads the batch over
            its devices, on a CPU over replicas that fill its cores; the other
            backends use one device), `"on"` (every local device, on JAX and
            TensorFlow) or `"off"`. Keras's `KERAS_DISTRIBUTION_*` variables
            join several processes (JAX); see `docs/scaling.md`.
        num_samples: Samples in the grids drawn after every epoch and at the end
            (the by-class grid: up to 10, at most this many, per class).
        guide_epoch: Keep the network that samples after this epoch as the
            model's guide network, which autoguides its unconditional
            samples (`keras_sgm.recipes.guide`); 0, or a run of no more
            epochs: none.
        eval_every: Measure FID, KID and the recognised share of `eval_num`
            samples every this many epochs (`keras_sgm.evaluation.SampleQuality`),
            into `history.csv` (and TensorBoard); 0: never; None: every 2
            epochs where a feature network of the data is known.
        eval_num: Samples per quality measurement.
        features: The feature network of the measurements: `"mnist"`,
            `"fashion_mnist"`, `"inception"` or a classifier's `.keras` file;
            None: the data's shipped classifier.
        tensorboard: Also log to TensorBoard, in `output_dir/tensorboard`:
            the losses, the quality figures and the grid.
        seed: Seed of the weights, the training noise and the samples.
        verbose: 0 silent, 1 progress bars and summaries, 2 one line per epoch.

    Example:

    >>> config = TrainingConfig(epochs=2, output_dir="runs/quick")
    >>> config.batch_size
    128
    """

    output_dir: str = "runs/mnist"
    data: str = "mnist"
    data_dir: str | None = None
    image_size: tuple | str | None = None
    color: str | None = None
    crop: str = "center"
    labels: bool = True
    bad_images: str = "refuse"
    flip: bool = False
    epochs: int = 14
    batch_size: int = 128
    steps_per_epoch: int | None = None
    learning_rate: float = 2e-3
    ema_decay: float = 0.9995
    label_dropout: float = 0.1
    latent: bool | None = None
    autoencoder: str | None = None
    autoencoder_epochs: int = 2
    patch_size: int | None = None
    channels: tuple | None = None
    blocks_per_level: int | None = None
    attention: bool | None = None
    dropout: float | None = None
    mixed_precision: bool = False
    init_weights: str | None = None
    consistency: bool = False
    consistency_stages: int = 0
    teacher_guidance: float | None = None
    jit_compile: str | bool = "auto"
    distribute: str = "auto"
    num_samples: int = 64
    guide_epoch: int = 2
    eval_every: int | None = None
    eval_num: int = 500
    features: str | None = None
    tensorboard: bool = False
    seed: int = 0
    verbose: int = 1

    def network_options(self):
        """The U-Net fields, by `build_unet` argument (None: the resumed run's or the default)."""
        return {name: getattr(self, name) for name in ("patch_size", "channels", "blocks_per_level", "attention",
                                                       "dropout")}


DEFAULTS = TrainingConfig()
"""The main job's recipe, whose values the command line shows as its defaults."""

TUNING_DEFAULTS = TrainingConfig(output_dir="runs/consistency", data=None, init_weights="pretrained",
                                 consistency=True, consistency_stages=6, teacher_guidance=2.0, epochs=6,
                                 learning_rate=5e-4, ema_decay=0.9993)
"""The run of `keras-sgm tune-consistency`: from the shipped model, on the data it was trained on
(`data=None`), distilling its ODE guided at 2 (its own default guidance), with ECT's EMA and its
staged schedule (the step halves once per epoch). The learning rate is 5x ECT's: on a CPU's budget
of steps, 1e-4 barely moves the model (docs/benchmarks.md)."""
