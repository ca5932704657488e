"""The `keras-sgm` command line."""

import os
import platform

import click

import keras_sgm


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
