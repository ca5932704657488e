"""The command-line options, declared once for `keras-sgm` and `examples/mnist.py`.

Importing this module imports no backend: `--help` answers at once.
"""

import math
import os

import click

from keras_sgm.backend.distribution import DISTRIBUTE_CHOICES
from keras_sgm.data.folders import BAD_IMAGES
from keras_sgm.data.sources import COLORS, CROPS, kind_of_source, parse_image_size
from keras_sgm.evaluation.names import FEATURE_NETWORKS
from keras_sgm.models.presets import DEFAULT_PRESET, PRESETS
from keras_sgm.recipes.config import DEFAULTS
from keras_sgm.sampling.names import SAMPLER_FUNCTIONS, SAMPLER_SUMMARIES

MAX_SEED = 2**31 - 1


class FiniteFloat(click.FloatRange):
    """A float in a range that also refuses NaN and infinity (which compare as in range)."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


class FiniteFloatOrNone(FiniteFloat):
    """A `FiniteFloat`, or `none` for None."""

    def convert(self, value, param, ctx):
        if value is None or str(value).strip().lower() == "none":
            return None
        return super().convert(value, param, ctx)


class NoiseInterval(click.ParamType):
    """Two noise levels `LOW,HIGH` with `0 <= LOW < HIGH`, or `all` (every level)."""

    name = "LOW,HIGH|all"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple) or value == "all":
            return value
        from keras_sgm.diffusion.guidance import check_interval  # imports Keras: not for --help

        try:
            return check_interval(str(value).split(","))
        except ValueError:
            self.fail(f"{value!r} is not two noise levels LOW,HIGH with 0 <= LOW < HIGH (such as 0.1,2), "
                      f"nor 'all'.", param, ctx)


class Channels(click.ParamType):
    """Channels per U-Net level, comma-separated positive integers, e.g. `32,64,128,256`."""

    name = "C1,C2,..."

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            channels = tuple(int(part) for part in str(value).split(","))
        except ValueError:
            channels = ()
        if not channels or min(channels) < 1 or max(channels) > 4096:
            self.fail(f"{value!r} is not a comma-separated list of channel counts (1 to 4096), "
                      f"such as 32,64,128,256.", param, ctx)
        return channels


def _stack(*decorators):
    """One decorator applying `decorators` in the order they are listed (as if stacked)."""

    def apply(function):
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


checkpoint_option = _stack(
    click.option("--checkpoint", type=click.Path(dir_okay=False), default=None,
                 help="A .keras file saved by keras-sgm (default: the shipped model of --preset)."),
    click.option("--preset", type=click.Choice(sorted(PRESETS)), default=None,
                 help=f"A shipped model, instead of --checkpoint [default: {DEFAULT_PRESET}]."),
)
seed_option = click.option("--seed", type=click.IntRange(min=0, max=MAX_SEED), default=0, show_default=True)
progress_option = click.option("--progress/--no-progress", default=True, show_default=True)


def guidance_option(help="Classifier-free guidance with --label: 0 unconditional, 1 conditional, >1 sharper "
                         "[default: the model's own, 2 for the shipped one]."):
    return click.option("--guidance", type=FiniteFloat(min=0, max=100), default=None, help=help)


def guide_option():
    return _stack(
        click.option(
            "--guide", default=None, metavar="FILE|PRESET|none",
            help="Autoguidance: a weaker model of the same data (a .keras file or a shipped preset) that guides "
                 "the samples, with or without a label; --guidance is then its scale. none: plain "
                 "classifier-free guidance, or none. [default: the model's own guide network (kept early in "
                 "its training, or the shipped guide) for unconditional samples, else none]"),
        click.option(
            "--guide-interval", type=NoiseInterval(), default=None,
            help="With --guide, the noise levels where it guides; outside them the model runs alone. all: "
                 "every level. [default: the model's own for its guide network, else all]"),
    )


def num_option(default, minimum=1, maximum=100_000, help=None):
    return click.option("--num", type=click.IntRange(min=minimum, max=maximum), default=default,
                        show_default=default is not None, help=help)


def steps_option(default=None, help="Sampler steps (default: heun 18, euler 500, pc 500, ode adaptive)."):
    return click.option("--steps", type=click.IntRange(min=1, max=100_000), default=default,
                        show_default=default is not None, help=help)


def npz_option(what):
    return click.option("--npz", type=click.Path(), default=None, help=f"Also write {what} to this .npz.")


sampler_options = _stack(
    click.option("--sampler", type=click.Choice(sorted(SAMPLER_FUNCTIONS)), default=None,
                 help="; ".join(f"{name}: {summary}" for name, summary in SAMPLER_SUMMARIES.items())
                      + " [default: heun, consistency for a consistency model]."),
    steps_option(help="Sampler steps (default: heun 18, euler 500, pc 500, ode adaptive, consistency 1)."),
    click.option("--churn", type=FiniteFloat(min=0, max=1000), default=0.0, show_default=True,
                 help="heun only: EDM's S_churn, fresh noise at every step (0: deterministic; try 10)."),
)

class DataSource(click.ParamType):
    """A TensorFlow Datasets name, a folder of images, or an existing `.npz` file."""

    name = "NAME|DIR|FILE.npz"

    def get_metavar(self, param, ctx=None):
        return self.name  # as written: click would upper-case it

    def convert(self, value, param, ctx):
        try:
            kind_of_source(value)
        except ValueError as error:
            self.fail(str(error), param, ctx)
        return str(value)


class FeatureNetwork(click.ParamType):
    """A feature network of the metrics: a shipped name, `inception`, or a classifier's `.keras` file."""

    name = "|".join((*FEATURE_NETWORKS, "FILE.keras"))

    def get_metavar(self, param, ctx=None):
        return self.name

    def convert(self, value, param, ctx):
        text = str(value)
        if text in FEATURE_NETWORKS or (text.endswith(".keras") and os.path.isfile(text)):
            return text
        self.fail(f"{value!r} is not a feature network: give {', '.join(FEATURE_NETWORKS)}, or the .keras file of "
                  f"`keras-sgm train-classifier`.", param, ctx)


class ImageSize(click.ParamType):
    """`H` or `HxW` in pixels, e.g. `32` or `64x48`."""

    name = "H[xW]"

    def get_metavar(self, param, ctx=None):
        return self.name

    def convert(self, value, param, ctx):
        try:
            return parse_image_size(value)
        except ValueError as error:
            self.fail(str(error), param, ctx)


def data_options(default="mnist", help_default=""):
    """`--data` and `--data-dir`: which images."""
    return _stack(
        click.option("--data", type=DataSource(), default=default, show_default=default is not None,
                     help="A TensorFlow Datasets name (mnist, fashion_mnist, cifar10...), a folder of images "
                          "(PNG, JPEG, BMP, GIF; one subfolder per class gives labels, train/ and test/ give "
                          "splits) or an .npz file (x_train, y_train, x_test, y_test, class_names)" + help_default
                          + "."),
        click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                     help="TFDS data directory (default: $TFDS_DATA_DIR)."),
    )


image_options = _stack(
    click.option("--image-size", type=ImageSize(), default=None,
                 help="Resize the images to H or HxW pixels [default: their own size, which must be one]."),
    click.option("--color", type=click.Choice(COLORS), default=None,
                 help="Convert the images to grayscale or RGB [default: the data's own]."),
    click.option("--crop", type=click.Choice(CROPS), default=DEFAULTS.crop, show_default=True,
                 help="For another aspect ratio with --image-size: crop the centre, pad with black, or "
                      "stretch (none)."),
    click.option("--bad-images", type=click.Choice(BAD_IMAGES), default=DEFAULTS.bad_images, show_default=True,
                 help="Files of a data folder that do not decode: refuse them (an error naming them, before "
                      "training) or skip them (counted in the data line)."),
)
"""`--image-size`, `--color`, `--crop` and `--bad-images`: the images a run trains on."""


def features_option(default):
    """`--features`: the feature network of the quality metrics; `default` says what None means."""
    return click.option("--features", type=FeatureNetwork(), default=None,
                        help="The feature network of the metrics: mnist or fashion_mnist (shipped), inception "
                             "(Inception-V3, ImageNet weights, for natural colour images), or a .keras file from "
                             f"`keras-sgm train-classifier` [default: {default}].")


train_options = _stack(
    click.option("--epochs", type=click.IntRange(min=1, max=100_000), default=DEFAULTS.epochs,
                 show_default=True,
                 help="Epochs in the whole run."),
    click.option("--batch-size", type=click.IntRange(min=1, max=60_000), default=DEFAULTS.batch_size,
                 show_default=True),
    click.option("--output-dir", type=click.Path(file_okay=False), default=DEFAULTS.output_dir, show_default=True,
                 help="Checkpoint (resumed from), history and samples."),
    click.option("--learning-rate", type=FiniteFloat(min=0, min_open=True), default=DEFAULTS.learning_rate,
                 show_default=True,
                 help="Peak learning rate of the score model (warm-up, then cosine decay to 0)."),
    click.option("--ema-decay", type=FiniteFloat(min=0, max=1, max_open=True), default=DEFAULTS.ema_decay,
                 show_default=True, help="Decay of the EMA of the weights, which samples (0: no EMA)."),
    data_options(),
    image_options,
    click.option("--labels/--no-labels", default=DEFAULTS.labels, show_default=True,
                 help="Train on the data's class labels (class-conditional); --no-labels, or data without "
                      "labels, trains an unconditional model."),
    click.option("--flip/--no-flip", default=DEFAULTS.flip, show_default=True,
                 help="Random horizontal flips of the training images (not for digits or text)."),
    click.option("--steps-per-epoch", type=click.IntRange(min=1, max=10_000_000), default=None,
                 help="Cap, for quick runs."),
    seed_option,
    click.option("--init-weights", default=None,
                 help="Start from a saved model's weights ('pretrained': the shipped one), fresh optimizer."),
    click.option("--mixed-precision/--float32", default=DEFAULTS.mixed_precision, show_default=True,
                 help="bfloat16 arithmetic with float32 weights (GPUs); a run may resume either way."),
    click.option("--label-dropout", type=FiniteFloat(min=0, max=1, max_open=True), default=DEFAULTS.label_dropout,
                 show_default=True, help="Share of images trained without their label (the unconditional path)."),
    click.option("--patch-size", type=click.IntRange(min=1, max=28), default=None,
                 help="Fold PxP pixel patches into channels: 2 trains faster at a higher loss "
                      "(default: that of the resumed run or --init-weights, else 1)."),
    click.option("--channels", type=Channels(), default=None,
                 help="Channels per U-Net level, finest first (default: that of the resumed run or "
                      "--init-weights, else 64,128 latent, 32,64,128,256 pixel)."),
    click.option("--blocks-per-level", type=click.IntRange(min=0, max=16), default=None,
                 help="Residual blocks per U-Net level; 0 is one convolution per level (default: that "
                      "of the resumed run or --init-weights, else 2 latent, 0 pixel)."),
    click.option("--attention/--no-attention", default=None,
                 help="Self-attention at the coarsest level; needs residual blocks (default: that of "
                      "the resumed run or --init-weights, else on latent, off pixel)."),
    click.option("--dropout", type=FiniteFloat(min=0, max=1, max_open=True), default=None,
                 help="Dropout rate inside the residual blocks (default: that of the resumed run or "
                      "--init-weights, else 0)."),
    click.option("--latent/--pixel", default=None,
                 help="Latent diffusion: train an autoencoder first (f = 4, 28x28 to a 7x7x4 grid, up to 32 "
                      "pixels a side, f = 8 above), or keep that of a latent --init-weights, then the score model "
                      "on its latents; --pixel: on the pixels (default: as the resumed run or --init-weights, "
                      "else latent)."),
    click.option("--autoencoder", type=click.Path(dir_okay=False), default=None,
                 help="With --latent, a trained autoencoder (.keras) to use instead of training one."),
    click.option("--autoencoder-epochs", type=click.IntRange(min=1, max=10_000), default=DEFAULTS.autoencoder_epochs,
                 show_default=True, help="Epochs of the autoencoder's training (--latent)."),
    click.option("--distribute", type=click.Choice(DISTRIBUTE_CHOICES), default=DEFAULTS.distribute,
                 show_default=True,
                 help="Data parallelism. auto: JAX splits the batch over its devices (on a CPU, over "
                      "replicas that fill the cores); on: every local device (JAX DataParallel, TensorFlow "
                      "MirroredStrategy); off: one device. KERAS_DISTRIBUTION_* join several hosts "
                      "(JAX; docs/scaling.md)."),
    click.option("--num-samples", type=click.IntRange(min=1, max=10_000), default=DEFAULTS.num_samples,
                 show_default=True, help="Images in the grids sampled after every epoch and at the end; the "
                      "by-class grid has up to 10 (at most this many) per class."),
    click.option("--guide-epoch", type=click.IntRange(min=0, max=100_000), default=DEFAULTS.guide_epoch,
                 show_default=True,
                 help="Keep the model as it was after this epoch as its own guide, which autoguides its "
                      "unconditional samples (Karras et al. 2024); 0: none."),
    click.option("--eval-every", type=click.IntRange(min=0, max=100_000), default=DEFAULTS.eval_every,
                 help="Measure FID, KID and the recognised share of --eval-num samples every N epochs, into "
                      "history.csv; 0: never [default: every 2 epochs where a feature network of the data is "
                      "known]."),
    click.option("--eval-num", type=click.IntRange(min=2, max=50_000), default=DEFAULTS.eval_num, show_default=True,
                 help="Samples per quality measurement, more than the feature network has features (FID of a few "
                      "hundred reads high: compare runs at one count)."),
    features_option("the data's shipped classifier"),
    click.option("--tensorboard/--no-tensorboard", default=DEFAULTS.tensorboard, show_default=True,
                 help="Also log the losses, the quality figures and the grid to OUTPUT_DIR/tensorboard."),
    click.option("--verbose", type=click.IntRange(0, 2), default=DEFAULTS.verbose, show_default=True,
                 help="2: one line per epoch."),
)
"""The options of `keras-sgm train`: the fields of `TrainingConfig`, with its defaults."""


class Label(click.ParamType):
    """A class, by name (`Sneaker`, any case) or index (`7`); `all` for one row per class, `any` for
    a random class each, or `none` for unconditional samples. The class is looked up in the model
    once it is loaded (`keras_sgm.cli.labels.class_index`)."""

    name = "NAME|INDEX|all|any|none"

    def convert(self, value, param, ctx):
        text = str(value).strip()
        if text.lower() in ("all", "any", "none"):
            return text.lower()
        if not text or not any(character.isalnum() for character in text):
            self.fail(f"{value!r} is not a class name or index, 'all', 'any' or 'none'.", param, ctx)
        return text


def label_option(help):
    """`--label`: a class by name or index, or all, any or none."""
    return click.option("--label", "label", type=Label(), default=None, help=help)
