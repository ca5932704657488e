"""Networks and models: the U-Net and its layers, the autoencoder, the pixel and latent
score models, loading saved models, and the shipped presets."""

from keras_sgm._lazy import lazy_exports

__getattr__ = lazy_exports(globals(), {
    "GaussianFourierFeatures": "keras_sgm.models.layers",
    "build_unet": "keras_sgm.models.unet",
    "UNet": "keras_sgm.models.unet",
    "Autoencoder": "keras_sgm.models.autoencoder",
    "ScoreModel": "keras_sgm.models.score_model",
    "LatentScoreModel": "keras_sgm.models.latent",
    "load_model": "keras_sgm.models.saving",
    "load_pretrained": "keras_sgm.models.presets",
})
