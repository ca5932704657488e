"""The commands of `keras-sgm` that take a model out of the terminal: export and studio."""

import ipaddress
import pathlib

import click

from keras_sgm.cli.app import main
from keras_sgm.cli.io import fail, load_model_or_fail
from keras_sgm.cli.options import checkpoint_option
from keras_sgm.models.presets import PRESETS


class HostAddress(click.ParamType):
    """An IP address to listen on, or `localhost`."""

    name = "ADDRESS"

    def convert(self, value, param, ctx):
        if value == "localhost":
            return value
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            self.fail(f"{value!r} is not an IP address (such as 127.0.0.1, or 0.0.0.0 for every interface).",
                      param, ctx)


@main.command()
@checkpoint_option
@click.option("--format", "format_", type=click.Choice(["onnx", "saved_model"]), default="onnx", show_default=True,
              help="onnx: a .onnx file per part, for onnxruntime (JAX or PyTorch backend); saved_model: a "
                   "TensorFlow SavedModel folder per part (JAX or TensorFlow backend).")
@click.option("--steps", type=click.IntRange(min=1, max=4), default=1, show_default=True,
              help="A consistency model's steps in its exported generator.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True,
              help="The folder to write into (made if missing).")
def export(checkpoint, preset, format_, steps, out_dir):
    """Export a model to run without Keras: its denoiser D(x, sigma, labels), a latent model's decoder,
    and a consistency model's whole few-step generator G(noise, labels) (docs/export.md)."""
    from keras_sgm.serving.export import check_format
    from keras_sgm.serving.export import export as export_model

    try:
        check_format(format_)
    except ValueError as error:
        fail(str(error))
    if pathlib.Path(out_dir).is_file():
        fail(f"{out_dir} is a file; give a folder to write the exported parts into.")
    model = load_model_or_fail(checkpoint, preset)
    if steps != 1 and not model.is_consistency_model:
        fail("--steps sets a consistency model's generator, and this is a score model: export its denoiser "
             "without --steps, or give a consistency model.")
    for part, path in export_model(model, out_dir, format_, steps).items():
        click.echo(f"{part}: {path}")


@main.command()
@click.option("--preset", "presets", multiple=True, type=click.Choice(sorted(PRESETS)),
              help="A shipped model to offer (repeatable) [default: every shipped preset, when no --checkpoint].")
@click.option("--checkpoint", "checkpoints", multiple=True, type=click.Path(exists=True), metavar="FILE|DIR",
              help="A .keras file, or a folder searched for them, to offer (repeatable).")
@click.option("--host", type=HostAddress(), default="127.0.0.1", show_default=True,
              help="The address to listen on: an IP address or localhost; 0.0.0.0 opens the studio to the network.")
@click.option("--port", type=click.IntRange(min=1, max=65535), default=8000, show_default=True)
def studio(presets, checkpoints, host, port):
    """A local web app to generate, redraw and inpaint in the browser, with live denoising, over a
    JSON API (docs/studio.md)."""
    try:
        from keras_sgm.serving.studio import model_sources, serve
    except ImportError as error:
        fail(f"the studio needs its extra ({error.name} is missing): pip install 'keras-sgm[studio]'.")
    for checkpoint in map(pathlib.Path, checkpoints):
        if checkpoint.is_file() and checkpoint.suffix != ".keras":
            fail(f"--checkpoint {checkpoint} is not a .keras file; give one saved by keras-sgm, or a folder of them.")
    sources = model_sources(presets, checkpoints)
    if not sources:
        fail(f"no .keras files in {', '.join(checkpoints)}.")
    serve(sources, host, port)
