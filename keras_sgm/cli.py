"""The `keras-sgm` command line.

It imports a backend only when a command runs (`BackendCommand`), so that
`keras-sgm --help` and `keras-sgm COMMAND --help` answer at once. `main` is
the click group (for `click.testing` and Python callers); `run` is the
installed program.
"""

import os
import pathlib
import platform
import sys

import click

import keras_sgm
from keras_sgm.cli_options import (
    FiniteFloat,
    checkpoint_option,
    data_options,
    guidance_option,
    npz_option,
    num_option,
    progress_option,
    sampler_options,
    seed_option,
    steps_option,
    train_options,
)
from keras_sgm.masks import HALVES, half_mask
from keras_sgm.pretrained import DEFAULT_RECONSTRUCTION_GUIDANCE


class OneLineErrors(click.Group):
    """A group whose usage errors are one line, `Error: ...`, with exit code 2.

    Click prints the usage and a hint above its own errors; a user who
    mistyped an option needs the one line that names it.
    """

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as error:
            click.echo(f"Error: {' '.join(error.format_message().split())}", err=True)
            sys.exit(error.exit_code)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)


class BackendCommand(click.Command):
    """A command that imports Keras and its backend once its options are parsed (not for --help).

    Args:
        reads_data: The command reads MNIST through TensorFlow Datasets, so
            TensorFlow is imported first, quietly, on every backend. Commands
            that do not leave it out on JAX and PyTorch: it costs seconds.
    """

    def __init__(self, *args, reads_data=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.reads_data = reads_data

    def invoke(self, ctx):
        keras_sgm.import_backend(quiet_tensorflow=self.reads_data)
        _cache_jax_compilations()
        return super().invoke(ctx)


def _cache_jax_compilations():
    """On JAX, keeps compiled programs on disk, so that the next command reuses them.

    XLA compiles the sampler's loop and the decoder anew in every process;
    with the cache, `keras-sgm sample --num 64` took 4.6 to 4.9 s on a 2-core
    CPU against 7.4 s for the first run. The folder is
    `$JAX_COMPILATION_CACHE_DIR` where that is set, else `keras-sgm/jax` in
    the user's cache folder.
    """
    import keras

    if keras.backend.backend() != "jax" or os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return
    import jax

    cache_home = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    jax.config.update("jax_compilation_cache_dir", str(cache_home / "keras-sgm" / "jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(keras_sgm.__version__, prog_name="keras-sgm")
def main():
    """Score-based generative models for Keras 3.

    The backend is chosen by the KERAS_BACKEND environment variable
    (tensorflow, jax or torch), as for any Keras program.
    """


main.command_class = BackendCommand


def run():
    """The installed `keras-sgm` program: `main`, then an exit that skips the interpreter's teardown.

    Tearing TensorFlow, JAX or PyTorch down object by object took 0.7 to
    1.4 s after every command on a 2-core CPU, a sixth of
    `keras-sgm sample --num 64`. Once a command has returned, its files are
    closed and nothing is left to clean up, so the process flushes its
    streams and logs and leaves at once with the command's exit code. An
    uncaught exception still ends the usual way, with its traceback.
    """
    import logging

    try:
        main()
        code = 0
    except SystemExit as exit_request:
        code = exit_request.code
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


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


@main.command(reads_data=True)
@train_options
def train(**options):
    """Train the default model on MNIST, then sample a grid of digits.

    Checkpoints every epoch; run the same command again to resume.
    """
    from keras_sgm.data import DatasetUnavailableError
    from keras_sgm.training import NonFiniteLossError, train_mnist

    output_dir = pathlib.Path(options["output_dir"])
    existing = next((p for p in [output_dir, *output_dir.parents] if p.exists()), pathlib.Path("."))
    if not existing.is_dir() or not _can_create_files_in(existing):
        _fail(f"cannot write to {output_dir}: {existing} is not a writable folder.")
    try:
        train_mnist(**options)
    except (DatasetUnavailableError, ValueError) as error:
        _fail(" ".join(str(error).split()))
    except NonFiniteLossError as error:
        raise click.ClickException(str(error)) from None  # exit code 1: the run failed, not the input


def _load_model(checkpoint):
    """The model of `--checkpoint`, or the shipped pretrained model when it is None."""
    from keras_sgm._tensorflow import import_tensorflow_if_installed
    from keras_sgm.checkpoints import CheckpointError, load_model

    if checkpoint is not None:
        # A training checkpoint's EMA copy makes Keras import TensorFlow; the shipped model has none.
        import_tensorflow_if_installed()
    try:
        return load_model(checkpoint)
    except CheckpointError as error:
        _fail(str(error))


class Digit(click.ParamType):
    """A digit 0-9, `all` for one row per digit, `any` for a random digit each, or `none` for
    unconditional samples."""

    name = "0-9|all|any|none"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value in ("all", "any", "none"):
            return value
        if str(value).strip().isdigit() and 0 <= int(value) <= 9:
            return int(value)
        self.fail(f"{value!r} is not a digit 0-9, 'all', 'any' or 'none'.", param, ctx)


def _digit_labels(model, digit, num, option="--digit", seed=0):
    """Labels for `--digit` (None or `none`, one digit, `all` or `any`), after checking the model
    takes them."""
    if digit in (None, "none"):
        return None
    if model.num_classes is None:
        _fail(f"{option} needs a class-conditional model; this checkpoint is unconditional.")
    import numpy as np

    if digit == "all":
        return np.repeat(np.arange(model.num_classes), num)
    if digit == "any":
        return np.random.default_rng(seed).integers(0, model.num_classes, num)
    if digit >= model.num_classes:
        _fail(f"--digit {digit} is not a class of this model (0..{model.num_classes - 1}).")
    return np.full(num, digit)


def _churn_option(sampler, churn):
    if churn and sampler != "heun":
        _fail(f"--churn applies to the heun sampler only, not {sampler}.")
    return {"churn": churn} if churn else {}


@main.command()
@checkpoint_option
@num_option(None, help="Number of digits [default: 64; with --digit all, 10 per row].")
@click.option("--digit", type=Digit(), default=None,
              help="Sample this digit (class-conditional models); 'all' writes one row per digit, "
                   "'any' draws each digit at random, 'none' samples the unconditional path. "
                   "[default: any for a class-conditional model (guided digits score far better), "
                   "else none]")
@guidance_option()
@sampler_options
@seed_option
@click.option("--batch-size", type=click.IntRange(min=1, max=100_000), default=256, show_default=True,
              help="Digits generated at once.")
@click.option("--out", type=click.Path(), default="samples.png", show_default=True, help="PNG grid.")
@npz_option("the raw images")
@progress_option
def sample(checkpoint, num, digit, guidance, sampler, steps, churn, seed, batch_size, out, npz, progress):
    """Sample digits and write them as a PNG grid.

    With no --checkpoint it uses the pretrained MNIST model, so
    `keras-sgm sample --digit all` works right after installing.
    """
    from keras_sgm.images import save_grid
    from keras_sgm.sampling import sample as draw

    options = _churn_option(sampler, churn)
    out = _writable_file(out, ".png")
    npz = _writable_file(npz, ".npz") if npz else None
    model = _load_model(checkpoint)
    if digit is None:
        # The shipped model's guided digits score FID 14.2, its unconditional ones 76.4 (README).
        digit = "none" if model.num_classes is None else "any"
    num = num or (10 if digit == "all" else 64)
    labels = _digit_labels(model, digit, num, seed=seed)
    total = num if labels is None else len(labels)
    images, nfe, seconds = draw(model, total, sampler, steps, seed, batch_size, labels=labels,
                                guidance=guidance, progress=progress, **options)
    save_grid(images, out, columns=num if digit == "all" else None)
    if npz:
        _save_npz(npz, images=images, **({} if labels is None else {"labels": labels}))
    what = ("unconditional digits" if digit == "none" else
            f"digits ({'one row per digit' if digit == 'all' else digit}, guidance {guidance:g})")
    click.echo(f"{total} {what} with {sampler} ({nfe} NFE) in {seconds:.1f} s -> {out}"
               + (f", {npz}" if npz else ""))


def _save_npz(path, **arrays):
    """Writes an .npz through a temporary file, so that a kill never leaves half of one."""
    import numpy as np

    partial = path.with_name(f".{path.name}.partial")
    with open(partial, "wb") as file:
        np.savez_compressed(file, **arrays)
    os.replace(partial, path)


def _read_png(path, shape, what):
    """A grayscale PNG as floats in [0, 1] of `shape` (h, w, 1), or a one-line error."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from keras_sgm.images import unit_floats

    try:
        with Image.open(path) as picture:
            picture.load()
    except (OSError, UnidentifiedImageError, ValueError) as error:
        _fail(f"cannot read the {what} {path}: {' '.join(str(error).split())[:200]}")
    height, width, channels = shape
    if channels != 1:
        _fail(f"inpainting from PNG files needs a grayscale model; this one has {channels} channels.")
    if picture.mode not in ("L", "1"):
        _fail(f"the {what} {path} has mode {picture.mode}; it must be 8-bit grayscale (mode L). "
              f"Convert it, e.g. with PIL: Image.open(path).convert('L').save(path).")
    if picture.size != (width, height):
        _fail(f"the {what} {path} is {picture.size[0]}x{picture.size[1]} pixels; "
              f"the model needs {width}x{height}.")
    return unit_floats(np.asarray(picture.convert("L"))[..., None])


@main.command()
@click.option("--image", type=click.Path(dir_okay=False), required=True,
              help="The digit to complete: a grayscale PNG of the model's size (28x28 for MNIST).")
@click.option("--keep", type=click.Choice(HALVES), default=None,
              help="Which half of the image is known; the rest is generated.")
@click.option("--mask", "mask_path", type=click.Path(dir_okay=False), default=None,
              help="Instead of --keep, a PNG of the same size: white where pixels are known.")
@checkpoint_option
@num_option(8, maximum=10_000, help="Completions to draw.")
@click.option("--digit", type=click.IntRange(0, 9), default=None,
              help="Complete it as this digit (class-conditional models).")
@guidance_option()
@steps_option(500, help="Euler-Maruyama steps.")
@click.option("--resample", type=click.IntRange(min=1, max=100), default=1, show_default=True,
              help="RePaint passes per step (NFE = steps x resample): completions agree better "
                   "with the known pixels.")
@click.option("--reconstruction-guidance", type=FiniteFloat(min=0, max=10_000),
              default=DEFAULT_RECONSTRUCTION_GUIDANCE, show_default=True,
              help="Pull of the generated pixels towards agreeing with the known ones (a backward "
                   "pass per step, about twice the time); 0: replacement alone.")
@seed_option
@click.option("--out", type=click.Path(), default="inpainted.png", show_default=True,
              help="PNG: the masked input (unknown pixels grey), then the completions.")
@npz_option("the completions")
@progress_option
def inpaint(image, keep, mask_path, checkpoint, num, digit, guidance, steps, resample,
            reconstruction_guidance, seed, out, npz, progress):
    """Fill in the unknown part of a digit, keeping its known pixels.

    Give the known region with --keep (a half) or --mask (a PNG).
    """
    import numpy as np

    from keras_sgm.images import grey_unknown, save_grid
    from keras_sgm.inpainting import inpaint as complete

    if (keep is None) == (mask_path is None):
        _fail("give exactly one of --keep (top, bottom, left, right) or --mask PNG.")
    out = _writable_file(out, ".png")
    npz = _writable_file(npz, ".npz") if npz else None
    model = _load_model(checkpoint)
    known = _read_png(image, model.image_shape, "image")
    if mask_path is not None:
        mask = (_read_png(mask_path, model.image_shape, "mask") > 0.5).astype("float32")
    else:
        mask = half_mask(model.image_shape, keep)
    if not mask.any():
        _fail("the mask marks no pixel as known (known pixels are white); nothing to complete from.")
    labels = _digit_labels(model, digit, num)
    scorer = model if labels is None else model.guided(labels, guidance)
    images, nfe = complete(scorer, np.repeat(known[None], num, axis=0), mask, steps=steps,
                           resample=resample, reconstruction_guidance=reconstruction_guidance,
                           seed=seed, progress=progress)
    save_grid(np.concatenate([grey_unknown(known, mask)[None], images]), out, columns=num + 1)
    if npz:
        _save_npz(npz, images=images, mask=mask)
    click.echo(f"{num} completions ({nfe} NFE each) -> {out}" + (f", {npz}" if npz else ""))


@main.command(reads_data=True)
@checkpoint_option
@num_option(10_000, minimum=200, maximum=1_000_000,
            help="Number of samples scored (the FID needs more than its 128 feature dimensions).")
@sampler_options
@click.option("--conditional/--unconditional", default=False, show_default=True,
              help="Sample every digit equally often with guidance, and report how many are recognised "
                   "as the requested digit (class-conditional models).")
@guidance_option(help="Guidance scale with --conditional.")
@seed_option
@click.option("--batch-size", type=click.IntRange(min=1, max=100_000), default=1000, show_default=True)
@click.option("--bpd/--no-bpd", default=False, show_default=True,
              help="Also the negative log-likelihood of test digits in bits/dim.")
@click.option("--bpd-num", type=click.IntRange(min=2, max=10_000), default=500, show_default=True,
              help="Test digits used for bits/dim.")
@click.option("--bpd-tolerance", type=FiniteFloat(min=0, min_open=True), default=1e-5, show_default=True,
              help="rtol = atol of the likelihood ODE solver.")
@click.option("--calibrate/--no-calibrate", default=False, show_default=True,
              help="Also the FID floor (train vs test digits) and ceiling (noise vs test).")
@data_options
@click.option("--json", "json_path", type=click.Path(), default="evaluation.json", show_default=True,
              help="Where the figures are written.")
@progress_option
def evaluate(checkpoint, num, sampler, steps, churn, conditional, guidance, seed, batch_size, bpd, bpd_num,
             bpd_tolerance, calibrate, data, data_dir, json_path, progress):
    """Sample digits and score them: FID, KID, classifier score, coverage (and bits/dim)."""
    import json

    from keras_sgm import metrics
    from keras_sgm.data import DatasetUnavailableError
    from keras_sgm.evaluation import calibration, evaluate_model, load_reference_digits

    options = _churn_option(sampler, churn)
    json_path = _writable_file(json_path, ".json")
    model = _load_model(checkpoint)
    if model.image_shape != (28, 28, 1):
        _fail(f"{checkpoint} generates {model.image_shape} images; the metrics are for 28x28x1 MNIST.")
    labels = None
    if conditional:
        labels = _digit_labels(model, "all", -(-num // 10), "--conditional")[:num]
    try:
        test_images, train_images = load_reference_digits(data, data_dir)
    except (DatasetUnavailableError, ValueError) as error:
        _fail(str(error))
    reference = metrics.classify(test_images)
    report, _ = evaluate_model(model, test_images, train_images, num=num, sampler=sampler,
                               steps=steps, seed=seed, batch_size=batch_size,
                               bpd_images=bpd_num if bpd else 0, bpd_tolerance=bpd_tolerance,
                               reference=reference, labels=labels, guidance=guidance, progress=progress,
                               **options)
    if calibrate:
        report.update(calibration(test_images, train_images, reference=reference))
    json_path.write_text(json.dumps(report, indent=1))
    click.echo(format_report(report))
    click.echo(f"figures written to {json_path}")


def format_report(report):
    """A markdown table of an evaluation report."""
    rows = [
        ("sampler", f"{report['sampler']} ({report['nfe']} NFE"
                    + (f", churn {report['churn']:g})" if report.get("churn") else ")")),
        ("samples", f"{report['num']} in {report['seconds']:.1f} s"),
        ("FID (classifier features)", f"{report['fid']:.3f}"),
        ("KID", f"{report['kid']:.5f} +- {report['kid_std']:.5f}"),
        ("classifier score (max 10)", f"{report['classifier_score']:.3f}"),
        *([("recognised as the requested digit", f"{report['label_accuracy']:.4f} (guidance {report['guidance']:g})")]
          if "label_accuracy" in report else []),
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
