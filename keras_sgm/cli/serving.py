"""The commands of `keras-sgm` that take a model out of the terminal: export and studio."""

import click

from keras_sgm.cli.app import main
from keras_sgm.cli.io import fail, load_model_or_fail
from keras_sgm.cli.options import checkpoint_option


@main.command()
@checkpoint_option
@click.option("--format", "format_", type=click.Choice(["onnx", "saved_model"]), default="onnx", show_default=True,
              help="onnx: a .onnx file per part, for onnxruntime (JAX or PyTorch backend); saved_model: a "
                   "TensorFlow SavedModel folder per part (JAX or TensorFlow backend).")
@click.option("--steps", type=click.IntRange(min=1, max=4), default=1, show_default=True,
              help="A consistency model's steps in its exported generator.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="The folder to write into.")
def export(checkpoint, preset, format_, steps, out):
    """Export a model to run without Keras: its denoiser D(x, sigma, labels), a latent model's decoder,
    and a consistency model's whole few-step generator G(noise, labels) (docs/export.md)."""
    import pathlib

    from keras_sgm.serving.export import check_format
    from keras_sgm.serving.export import export as export_model

    try:
        check_format(format_)
    except ValueError as error:
        fail(str(error))
    if pathlib.Path(out).is_file():
        fail(f"{out} is a file; give a folder to write the exported parts into.")
    model = load_model_or_fail(checkpoint, preset)
    if steps != 1 and not model.is_consistency_model:
        fail("--steps sets a consistency model's generator, and this is a score model: export its denoiser "
             "without --steps, or give a consistency model.")
    for part, path in export_model(model, out, format_, steps).items():
        click.echo(f"{part}: {path}")


@main.command()
@click.option("--preset", "presets", multiple=True, metavar="NAME",
              help="A shipped model to offer (repeatable) [default: every shipped preset, when no --checkpoint].")
@click.option("--checkpoint", "checkpoints", multiple=True, type=click.Path(exists=True), metavar="FILE|DIR",
              help="A .keras file, or a folder searched for them, to offer (repeatable).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on; 0.0.0.0 opens the studio to the network.")
@click.option("--port", type=click.IntRange(min=1, max=65535), default=8000, show_default=True)
def studio(presets, checkpoints, host, port):
    """A local web app to generate, redraw and inpaint in the browser, with live denoising, over a
    JSON API (docs/studio.md)."""
    from keras_sgm.models.presets import PRESETS

    try:
        from keras_sgm.serving.studio import model_sources, serve
    except ImportError as error:
        fail(f"the studio needs its extra ({error.name} is missing): pip install 'keras-sgm[studio]'.")
    unknown = [name for name in presets if name not in PRESETS]
    if unknown:
        fail(f"--preset {unknown[0]!r} is not a shipped model; choose one of {', '.join(sorted(PRESETS))}.")
    sources = model_sources(presets, checkpoints)
    if not sources:
        fail(f"no .keras files in {', '.join(checkpoints)}.")
    serve(sources, host, port)
