"""Sampling: the samplers (functions of a `ScoreFunction`), `generate` (their one compiled loop),
`sample()` by name, inpainting and the likelihood."""

from keras_sgm._lazy import lazy_exports

__getattr__ = lazy_exports(globals(), {
    "SAMPLERS": "keras_sgm.sampling.sample",
    "generate": "keras_sgm.sampling.generate",
    "sample": "keras_sgm.sampling.sample",
    "edm_heun": "keras_sgm.sampling.samplers",
    "euler_maruyama": "keras_sgm.sampling.samplers",
    "predictor_corrector": "keras_sgm.sampling.samplers",
    "probability_flow_ode": "keras_sgm.sampling.samplers",
    "multistep_consistency": "keras_sgm.sampling.samplers",
    "inpaint": "keras_sgm.sampling.inpainting",
    "img2img": "keras_sgm.sampling.img2img",
    "bits_per_dim": "keras_sgm.sampling.likelihood",
    "half_mask": "keras_sgm.sampling.masks",
})
