"""`python -m keras_sgm.cli`: the `keras-sgm` command without its installed script."""

from keras_sgm.cli import run

run()
