"""keras-sgm: score-based generative models for Keras 3 (TensorFlow, JAX, PyTorch)."""

import importlib
import os
import sys

# TensorFlow (used for tf.data on every backend) logs C++ start-up chatter
# to stderr on import; keep it quiet unless the user asked for it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

_EXPORTS = {
    "Autoencoder": "keras_sgm.autoencoder",
    "GaussianFourierFeatures": "keras_sgm.layers",
    "LatentScoreModel": "keras_sgm.latent",
    "NoiseSchedule": "keras_sgm.schedules",
    "ScoreModel": "keras_sgm.model",
    "VESchedule": "keras_sgm.schedules",
    "build_unet": "keras_sgm.unet",
    "load_pretrained": "keras_sgm.pretrained",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def import_backend(quiet_tensorflow=False):
    """Imports Keras and every class keras-sgm registers, so that `keras.saving.load_model` finds them.

    `import keras_sgm` does it, except in the `keras-sgm` command, which
    calls it only when a command runs, so that `--help` answers at once.

    Args:
        quiet_tensorflow: Import TensorFlow first, without its start-up
            messages, whatever the backend (see `keras_sgm._tensorflow`).
    """
    from keras_sgm._tensorflow import prepare_keras_import

    prepare_keras_import(every_backend=quiet_tensorflow)
    for name in _EXPORTS:
        __getattr__(name)


if os.path.basename(sys.argv[0] if sys.argv else "") != "keras-sgm":
    import_backend()
