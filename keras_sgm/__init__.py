"""keras-sgm: score-based generative models for Keras 3 (TensorFlow, JAX, PyTorch)."""

import os

# TensorFlow (used for tf.data on every backend) logs C++ start-up chatter
# to stderr on import; keep it quiet unless the user asked for it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

from keras_sgm.layers import GaussianFourierFeatures
from keras_sgm.model import ScoreModel
from keras_sgm.pretrained import load_pretrained
from keras_sgm.schedules import NoiseSchedule, VESchedule
from keras_sgm.unet import build_unet

__all__ = [
    "GaussianFourierFeatures",
    "NoiseSchedule",
    "ScoreModel",
    "VESchedule",
    "build_unet",
    "load_pretrained",
    "__version__",
]
