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
    import numpy as np

    from keras_sgm.images import save_grid
    from keras_sgm.samplers import sample as draw

    out = _writable_file(out, ".png")
    npz = _writable_file(npz, ".npz") if npz else None
    model = _load_checkpoint(checkpoint)
    images, nfe, seconds = draw(model, num, sampler, steps, seed, batch_size, progress)
    save_grid(images, out)
    if npz:
        np.savez_compressed(npz, images=images)
    click.echo(f"{num} digits with {sampler} ({nfe} NFE) in {seconds:.1f} s -> {out}"
               + (f", {npz}" if npz else ""))


@main.command()
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False), required=True,
              help="A .keras file saved by keras-sgm.")
@click.option("--num", type=click.IntRange(min=200), default=10_000, show_default=True,
              help="Number of samples scored (the FID needs more than its 128 feature dimensions).")
@click.option("--sampler", type=click.Choice(sorted(SAMPLER_NAMES)), default="heun", show_default=True)
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Sampler steps (its default if unset).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--bpd/--no-bpd", default=False, show_default=True,
              help="Also the negative log-likelihood of test digits in bits/dim.")
@click.option("--bpd-num", type=click.IntRange(min=2), default=500, show_default=True,
              help="Test digits used for bits/dim.")
@click.option("--bpd-tolerance", type=click.FloatRange(min=0, min_open=True), default=1e-5, show_default=True,
              help="rtol = atol of the likelihood ODE solver.")
@click.option("--calibrate/--no-calibrate", default=False, show_default=True,
              help="Also the FID floor (train vs test digits) and ceiling (noise vs test).")
@click.option("--data", type=click.Path(exists=True, dir_okay=False), default=None,
              help="mnist.npz (x_train, x_test) instead of TFDS.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="TFDS data directory (default: $TFDS_DATA_DIR).")
@click.option("--json", "json_path", type=click.Path(), default="evaluation.json", show_default=True,
              help="Where the figures are written.")
@click.option("--progress/--no-progress", default=True, show_default=True)
def evaluate(checkpoint, num, sampler, steps, seed, batch_size, bpd, bpd_num, bpd_tolerance, calibrate, data,
             data_dir, json_path, progress):
    """Sample digits and score them: FID, KID, classifier score, coverage (and bits/dim)."""
    import json

    from keras_sgm import metrics
    from keras_sgm.data import DatasetUnavailableError
    from keras_sgm.evaluation import calibration, evaluate_model, load_reference_digits

    json_path = _writable_file(json_path, ".json")
    model = _load_checkpoint(checkpoint)
    if model.image_shape != (28, 28, 1):
        _fail(f"{checkpoint} generates {model.image_shape} images; the metrics are for 28x28x1 MNIST.")
    try:
        test_images, train_images = load_reference_digits(data, data_dir)
    except (DatasetUnavailableError, ValueError) as error:
        _fail(str(error))
    reference = metrics.classify(test_images)
    report, _ = evaluate_model(model, test_images, train_images, num=num, sampler=sampler,
                               steps=steps, seed=seed, batch_size=batch_size,
                               bpd_images=bpd_num if bpd else 0, bpd_tolerance=bpd_tolerance,
                               reference=reference, progress=progress)
    if calibrate:
        report.update(calibration(test_images, train_images, reference=reference))
    json_path.write_text(json.dumps(report, indent=1))
    click.echo(format_report(report))
    click.echo(f"figures written to {json_path}")


def format_report(report):
    """A markdown table of an evaluation report."""
    rows = [
        ("sampler", f"{report['sampler']} ({report['nfe']} NFE)"),
        ("samples", f"{report['num']} in {report['seconds']:.1f} s"),
        ("FID (classifier features)", f"{report['fid']:.3f}"),
        ("KID", f"{report['kid']:.5f} +- {report['kid_std']:.5f}"),
        ("classifier score (max 10)", f"{report['classifier_score']:.3f}"),
        ("digits covered (of 10)", str(report["coverage"])),
        ("class shares", " ".join(f"{p:.3f}" for p in report["class_histogram"])),
    ]
    if "nn_distance" in report:
        rows.append(("nearest training digit (median L2)",
                     f"{report['nn_distance']:.3f} (real test digits: {report.get('nn_distance_real', float('nan')):.3f})"))
    if "bpd" in report:
        rows.append(("bits/dim", f"{report['bpd']:.4f} +- {report['bpd_stderr']:.4f} ({report['bpd_images']} test digits)"))
    if "fid_floor" in report:
        rows.append(("FID floor / ceiling", f"{report['fid_floor']:.3f} / {report['fid_ceiling']:.1f}"))
        rows.append(("classifier score of the test set", f"{report['classifier_score_test']:.3f}"))
    return "\n".join(["| metric | value |", "| --- | --- |", *(f"| {k} | {v} |" for k, v in rows)])
