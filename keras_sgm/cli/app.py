"""The `keras-sgm` program: the click group, its one-line errors, the lazy backend import, the fast exit.

It imports a backend only when a command runs (`BackendCommand`), so that
`keras-sgm --help` and `keras-sgm COMMAND --help` answer at once. `main` is
the click group (for `click.testing` and Python callers); `run` is the
installed program.
"""

import os
import pathlib
import sys

import click

import keras_sgm
from keras_sgm.cli.backend import import_backend


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
        import_backend(self.reads_data)
        _cache_jax_compilations()
        return super().invoke(ctx)


def _cache_jax_compilations():
    """On JAX, keeps compiled programs on disk, so that the next command reuses them.

    XLA compiles the sampler's program anew in every process; with the
    cache, the next `keras-sgm sample` skips that (`docs/benchmarks.md`).
    The folder is
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

    Tearing TensorFlow, JAX or PyTorch down object by object takes a
    noticeable share of a short command (`docs/benchmarks.md`). Once a command has returned, its files are
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
