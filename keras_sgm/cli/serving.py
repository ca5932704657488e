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
