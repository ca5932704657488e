"""Loading a saved model without drawing initial weights that the file overwrites."""

import contextlib

import keras
import numpy as np


@contextlib.contextmanager
def initializers_skipped():
    """Inside, new variables start as zeros instead of drawing from their initializers.

    For loading a saved model, which overwrites every variable it builds. On
    JAX every initializer draw of a new shape is an XLA compilation of its
    own, which made loading the shipped model many times slower
    (`docs/benchmarks.md`). Variables whose initializer is not a Keras `Initializer`
    (a seed generator's state) are created as usual. Not thread-safe: it
    swaps a method of `keras.Variable` while it runs.
    """
    variable_class = keras.Variable
    draw = variable_class._initialize_with_initializer

    def zeros_instead(variable, initializer):
        if not isinstance(initializer, keras.initializers.Initializer):
            return draw(variable, initializer)
        variable._initialize(variable._convert_to_tensor(np.zeros(variable.shape, variable.dtype)))

    variable_class._initialize_with_initializer = zeros_instead
    try:
        yield
    finally:
        variable_class._initialize_with_initializer = draw
