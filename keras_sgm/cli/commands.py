"""The commands of `keras-sgm` that train: train, tune-consistency and train-classifier, and info.

Those that draw from a model (sample, inpaint, evaluate) are in `keras_sgm.cli.sampling`."""

import os
import pathlib
import platform

import click

import keras_sgm
from keras_sgm.cli.app import main
from keras_sgm.cli.io import (
    can_create_files_in,
    fail,
    writable_file,
)
from keras_sgm.cli.options import (
    FiniteFloat,
    FiniteFloatOrNone,
    data_options,
    image_options,
    seed_option,
    train_options,
)
from keras_sgm.recipes.config import DEFAULTS, TUNING_DEFAULTS


@main.command()
def info():
    """Print the package, Keras and backend versions and the visible devices."""
    import keras

    backend = keras.backend.backend()
    click.echo(f"keras-sgm  {keras_sgm.__version__}")
    click.echo(f"python     {platform.python_version()}")
    click.echo(f"keras      {keras.__version__}")
    click.echo(f"backend    {backend} (KERAS_BACKEND={os.environ.get('KERAS_BACKEND', 'unset')})")
    click.echo(f"{backend:<10} {_backend_version(backend)}")
    click.echo(f"training   {_training_parallelism()}")
    click.echo(f"devices    {', '.join(_devices(backend))}")


def _training_parallelism():
    """What `train --distribute auto` does at the default batch, found the way `train` finds it."""
    from keras_sgm.backend.distribution import (
        DistributionError,
        cluster_requested,
        data_parallel,
    )

    if cluster_requested():
        # Joining the other processes would wait for them: `info` only says what `train` will do.
        return "train joins the processes that KERAS_DISTRIBUTION_* (or SLURM) name"
    try:
        parallel = data_parallel("auto", DEFAULTS.batch_size)
    except DistributionError as error:
        return " ".join(str(error).split())
    return f"--distribute auto at batch {DEFAULTS.batch_size}: {parallel.describe()}"


def _backend_version(backend):
    if backend == "jax":
        import jax

        return jax.__version__
    if backend == "torch":
        import torch

        return torch.__version__
    import tensorflow as tf

    return tf.__version__


def _devices(backend):
    if backend == "jax":
        import jax

        return [str(d) for d in jax.devices()]
    if backend == "torch":
        import torch

        gpus = [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
        return ["cpu", *gpus]
    import tensorflow as tf

    return [d.name for d in tf.config.list_logical_devices()]


@main.command(reads_data=True)
@train_options
def train(**options):
    """Train the default model on MNIST (or --data), then sample a grid.

    --data takes a TensorFlow Datasets name, a folder of images or an .npz.
    Checkpoints every epoch; run the same command again to resume.
    """
    from keras_sgm.recipes import training
    from keras_sgm.recipes.config import TrainingConfig

    _run_training(training.train, TrainingConfig(**options))


def _run_training(run, config):
    """`run(config)` for `train` and `tune-consistency`: bad input is a one-line error (exit 2), a run
    that fails (a non-finite loss, a lost process) exit 1."""
    from keras_sgm.data.datasets import DatasetUnavailableError
    from keras_sgm.models.saving import CheckpointError
    from keras_sgm.recipes.callbacks import NonFiniteLossError
    from keras_sgm.recipes.training import PeerLostError

    output_dir = pathlib.Path(config.output_dir)
    existing = next((p for p in [output_dir, *output_dir.parents] if p.exists()), pathlib.Path("."))
    if not existing.is_dir() or not can_create_files_in(existing):
        fail(f"cannot write to {output_dir}: {existing} is not a writable folder.")
    try:
        run(config)
    except (DatasetUnavailableError, CheckpointError, ValueError) as error:
        fail(" ".join(str(error).split()))
    except (NonFiniteLossError, PeerLostError) as error:
        raise click.ClickException(str(error)) from None  # exit code 1: the run failed, not the input


@main.command("tune-consistency", reads_data=True)
@click.option("--checkpoint", default=TUNING_DEFAULTS.init_weights, show_default=True,
              help="The trained score model to tune: a .keras file, or a preset name ('pretrained': the shipped "
                   "MNIST model).")
@click.option("--output-dir", type=click.Path(file_okay=False), default=TUNING_DEFAULTS.output_dir,
              show_default=True, help="Checkpoint (resumed from), history and samples.")
@click.option("--epochs", type=click.IntRange(min=1, max=100_000), default=TUNING_DEFAULTS.epochs,
              show_default=True, help="Epochs in the whole tuning run.")
@click.option("--batch-size", type=click.IntRange(min=1, max=60_000), default=TUNING_DEFAULTS.batch_size,
              show_default=True)
@click.option("--steps-per-epoch", type=click.IntRange(min=1, max=10_000_000), default=None,
              help="Cap, for quick runs.")
@click.option("--learning-rate", type=FiniteFloat(min=0, min_open=True), default=TUNING_DEFAULTS.learning_rate,
              show_default=True, help="Peak learning rate (warm-up, then cosine decay to 0).")
@click.option("--ema-decay", type=FiniteFloat(min=0, max=1, max_open=True), default=TUNING_DEFAULTS.ema_decay,
              show_default=True, help="Decay of the EMA of the weights, which samples (0: no EMA).")
@click.option("--stages", "consistency_stages", type=click.IntRange(min=0, max=30),
              default=TUNING_DEFAULTS.consistency_stages, show_default=True,
              help="ECT's staged schedule: the gap between the paired noise levels halves this many times, "
                   "evenly over the run; 0: ECT's one-hour recipe, a small gap throughout.")
@click.option("--teacher-guidance", type=FiniteFloatOrNone(min=0, max=100), metavar="W|none",
              default=TUNING_DEFAULTS.teacher_guidance, show_default=True,
              help="Distil the score model's ODE guided at this scale, so that guided samples take one network "
                   "evaluation per step; none: ECT, tuning on the data's own noise paths.")
@data_options(None, " [default: the data the model was trained on]")
@image_options
@seed_option
@click.option("--num-samples", type=click.IntRange(min=1, max=10_000), default=TUNING_DEFAULTS.num_samples,
              show_default=True, help="Images in the grids sampled (in one step) after every epoch and at the end.")
@click.option("--verbose", type=click.IntRange(0, 2), default=TUNING_DEFAULTS.verbose, show_default=True,
              help="2: one line per epoch.")
def tune_consistency(checkpoint, **options):
    """Tune a trained score model into a consistency model that samples in 1 to 4 steps.

    Easy consistency tuning (ECT, Geng et al. 2024) from the model's own
    weights, with the score model's guided ODE as the path to follow
    (--teacher-guidance) or the data's own (none). Checkpoints every epoch;
    run the same command again to resume. Sample it with `--sampler
    consistency`.
    """
    import dataclasses

    from keras_sgm.recipes.consistency import tune_consistency as tune

    _run_training(tune, dataclasses.replace(TUNING_DEFAULTS, init_weights=checkpoint, **options))


@main.command("train-classifier", reads_data=True)
@data_options()
@image_options
@click.option("--output", type=click.Path(), default="classifier.keras", show_default=True,
              help="The .keras file of the classifier, for `keras-sgm evaluate --features`.")
@click.option("--epochs", type=click.IntRange(min=1, max=10_000), default=8, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1, max=60_000), default=128, show_default=True)
@click.option("--flip/--no-flip", default=False, show_default=True,
              help="Random horizontal flips as well as shifts (not for digits or text).")
@seed_option
def train_classifier(data, data_dir, image_size, color, crop, bad_images, output, epochs, batch_size, flip, seed):
    """Train a classifier of labelled images whose features score samples of that data.

    `keras-sgm evaluate --features FILE` then measures FID, KID, the
    classifier score and the class shares on it. MNIST and Fashion-MNIST
    have one shipped.
    """
    from keras_sgm.data.datasets import DatasetUnavailableError
    from keras_sgm.data.sources import open_data
    from keras_sgm.recipes.classifier import train_classifier as train

    output = writable_file(output, ".keras")
    try:
        classifier, accuracy = train(open_data(data, data_dir, image_size, color, crop, bad_images=bad_images),
                                     epochs=epochs,
                                     batch_size=batch_size, seed=seed, flip=flip)
    except (DatasetUnavailableError, ValueError) as error:
        fail(" ".join(str(error).split()))
    classifier.save(output)
    tested = f"test accuracy {accuracy:.4f}" if accuracy is not None else "no test split to measure it on"
    click.echo(f"classifier of {'x'.join(map(str, classifier.input.shape[1:]))} images, {tested} -> {output}")
