"""The `keras-sgm` command line: `app` (the program), `commands`, `options` and `io` (its files)."""

from keras_sgm.cli import commands as _registers_the_commands  # noqa: F401
from keras_sgm.cli.app import main, run

__all__ = ["main", "run"]
