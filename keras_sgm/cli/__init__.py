"""The `keras-sgm` command line: `app` (the program), `commands`, `sampling` and `serving` (its commands), `options`,
`labels`, `io` (its files) and `backend` (its import of Keras)."""

from keras_sgm.cli import commands as _registers_the_training_commands  # noqa: F401
from keras_sgm.cli import sampling as _registers_the_sampling_commands  # noqa: F401
from keras_sgm.cli import serving as _registers_the_serving_commands  # noqa: F401
from keras_sgm.cli.app import main, run

__all__ = ["main", "run"]
