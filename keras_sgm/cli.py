"""The `keras-sgm` command line."""

import os
import pathlib
import platform

import click

import keras_sgm

# The sampler names, known without importing Keras (so that --help is instant).
SAMPLER_NAMES = ("euler", "pc", "ode", "heun")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(keras_sgm.__version__, prog_name="keras-sgm")
def main():
    """Score-based generative models for Keras 3.

    The backend is chosen by the KERAS_BACKEND environment variable
    (tensorflow, jax or torch), as for any Keras program.
    """


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
    click.echo(f"devices    {', '.join(_devices(backend))}")


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


class InputError(click.ClickException):
    """Bad input: a one-line `Error: ...` and exit code 2, as for a bad option."""

    exit_code = 2


def _fail(message):
    raise InputError(message)


def _writable_file(path, suffix):
    path = pathlib.Path(path)
    if path.is_dir():
        _fail(f"{path} is a directory; give a file name ending in {suffix}.")
    if path.suffix.lower() != suffix:
        _fail(f"{path} must end in {suffix}.")
    folder = path.parent if str(path.parent) else pathlib.Path(".")
    if not folder.is_dir():
        _fail(f"cannot write {path}: the folder {folder} does not exist.")
    if not _can_create_files_in(folder):
        _fail(f"cannot write {path}: the folder {folder} is not writable.")
    return path


def _can_create_files_in(folder):
    """Tries it, since permission bits miss read-only mounts and root's rights."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _load_checkpoint(path):
    import keras

    from keras_sgm.model import ScoreModel

    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as error:  # noqa: BLE001 - every failure is the same to the user
        _fail(f"cannot read the checkpoint {path}: {type(error).__name__}: {str(error)[:200]}")
    if not isinstance(model, ScoreModel):
        _fail(f"{path} holds a {type(model).__name__}, not a keras-sgm ScoreModel.")
    return model


@main.command()
@click.option("--epochs", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--output-dir", type=click.Path(file_okay=False), default="runs/mnist", show_default=True,
              help="Checkpoint, backup and samples.")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="TFDS data directory (default: $TFDS_DATA_DIR).")
@click.option("--data", type=click.Path(exists=True, dir_okay=False), default=None,
              help="An .npz with x_train, instead of TFDS.")
@click.option("--steps-per-epoch", type=click.IntRange(min=1), default=None, help="Cap, for quick runs.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--verbose", type=click.IntRange(0, 2), default=1, show_default=True,
              help="2: one line per epoch.")
def train(**options):
    """Train the default model on MNIST, then sample a grid of digits.

    Checkpoints every epoch; run the same command again to resume.
    """
    from keras_sgm.data import DatasetUnavailableError
    from keras_sgm.training import train_mnist

    output_dir = pathlib.Path(options["output_dir"])
    existing = next((p for p in [output_dir, *output_dir.parents] if p.exists()), pathlib.Path("."))
    if not existing.is_dir() or not _can_create_files_in(existing):
        _fail(f"cannot write to {output_dir}: {existing} is not a writable folder.")
    try:
        train_mnist(**options)
    except DatasetUnavailableError as error:
        _fail(str(error))


@main.command()
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False), required=True,
              help="A .keras file saved by keras-sgm.")
@click.option("--num", type=click.IntRange(min=1), default=64, show_default=True, help="Number of digits.")
@click.option("--sampler", type=click.Choice(sorted(SAMPLER_NAMES)), default="heun", show_default=True,
              help="heun: fast EDM Heun (35 NFE); euler: Euler-Maruyama; pc: predictor-corrector; "
                   "ode: probability-flow ODE (adaptive, or Heun with --steps).")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Sampler steps (default: heun 18, euler 500, pc 500, ode adaptive).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True,
              help="Digits generated at once.")
@click.option("--out", type=click.Path(), default="samples.png", show_default=True, help="PNG grid.")
@click.option("--npz", type=click.Path(), default=None, help="Also write the raw images to this .npz.")
@click.option("--progress/--no-progress", default=True, show_default=True)
def sample(checkpoint, num, sampler, steps, seed, batch_size, out, npz, progress):
    """Sample digits from a trained model and write them as a PNG grid."""
    import time

    import numpy as np

    from keras_sgm.images import save_grid
    from keras_sgm.samplers import SAMPLERS

    out = _writable_file(out, ".png")
    npz = _writable_file(npz, ".npz") if npz else None
    model = _load_checkpoint(checkpoint)
    options = {}
    if steps is not None:
        options["steps"] = steps
        if sampler == "ode":
            options["solver"] = "heun"
    start = time.perf_counter()
    batches = []
    for first in range(0, num, batch_size):
        images, nfe = SAMPLERS[sampler](
            model, min(batch_size, num - first), seed=seed + first, progress=progress, **options
        )
        batches.append(images)
    images = np.concatenate(batches)
    seconds = time.perf_counter() - start
    save_grid(images, out)
    if npz:
        np.savez_compressed(npz, images=images)
    click.echo(f"{num} digits with {sampler} ({nfe} NFE) in {seconds:.1f} s -> {out}"
               + (f", {npz}" if npz else ""))
