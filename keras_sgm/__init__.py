"""keras-sgm: score-based generative models for Keras 3 (TensorFlow, JAX, PyTorch).

Importing the package imports no backend and changes nothing global: each
name below is imported on first use (PEP 562). `load_model` loads any
`.keras` file keras-sgm saved; `keras.saving.load_model` does too once
`keras_sgm.load_model` has been imported, which registers every class.
"""

from keras_sgm._lazy import lazy_exports

__version__ = "0.2.0"

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
    "load_model": "keras_sgm.models.saving",
    "load_pretrained": "keras_sgm.models.presets",
}

__all__ = [*_EXPORTS, "__version__"]

__getattr__ = lazy_exports(globals(), _EXPORTS)
