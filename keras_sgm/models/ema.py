"""The exponential moving average (EMA) of a network's weights, which samples better than the weights."""

import keras
from keras import ops


def average_copy(network):
    """A frozen copy of `network` with its weights: the start of their moving average."""
    average = keras.models.clone_model(network)
    average.set_weights(network.get_weights())
    average.trainable = False
    return average


def update_average(average, network, decay, step):
    """Moves the weights of `average` towards those of `network` after optimizer step `step`.

    The decay ramps up as `min(decay, (1 + n) / (10 + n))` over the first
    steps `n`, so that short runs are not dominated by the random initial
    weights.
    """
    step = ops.cast(step, "float32")
    decay = ops.minimum(decay, (1.0 + step) / (10.0 + step))
    for averaged, weight in zip(average.weights, network.weights):
        averaged.assign(decay * averaged + (1.0 - decay) * weight)
