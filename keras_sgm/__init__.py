"""keras-sgm: score-based generative models for Keras 3 (TensorFlow, JAX, PyTorch)."""

import os
import sys

from keras_sgm import _compat
from keras_sgm._lazy import lazy_exports

# TensorFlow (used for tf.data on every backend) logs C++ start-up chatter
# to stderr on import; keep it quiet unless the user asked for it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

_EXPORTS = {
    "Autoencoder": "keras_sgm.models.autoencoder",
    "GaussianFourierFeatures": "keras_sgm.models.layers",
    "LatentScoreModel": "keras_sgm.models.latent",
    "NoiseSchedule": "keras_sgm.diffusion.schedules",
    "SampleQuality": "keras_sgm.evaluation.during_training",
    "ScoreModel": "keras_sgm.models.score_model",
    "VESchedule": "keras_sgm.diffusion.schedules",
    "build_unet": "keras_sgm.models.unet",
    "UNet": "keras_sgm.models.unet",
    "load_pretrained": "keras_sgm.models.presets",
}

__all__ = [*_EXPORTS, "__version__"]


__getattr__ = lazy_exports(globals(), _EXPORTS)
_compat.install()


def import_backend(quiet_tensorflow=False):
    """Imports Keras and every class keras-sgm registers, so that `keras.saving.load_model` finds them.

    `import keras_sgm` does it, except in the `keras-sgm` command, which
    calls it only when a command runs, so that `--help` answers at once.

    Args:
        quiet_tensorflow: Import TensorFlow first, without its start-up
            messages, whatever the backend (see `keras_sgm.backend.tensorflow`).
    """
    from keras_sgm.backend.tensorflow import prepare_keras_import

    prepare_keras_import(every_backend=quiet_tensorflow)
    for name in _EXPORTS:
        __getattr__(name)


if os.path.basename(sys.argv[0] if sys.argv else "") != "keras-sgm":
    import_backend()
