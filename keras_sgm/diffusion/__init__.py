"""The maths of score-based diffusion, independent of any network: noise schedules,
EDM's preconditioning, the denoising score-matching and consistency losses,
classifier-free guidance and autoguidance, and the `ScoreFunction` protocol that
the samplers see."""

from keras_sgm._lazy import lazy_exports

__getattr__ = lazy_exports(globals(), {
    "NoiseSchedule": "keras_sgm.diffusion.schedules",
    "VESchedule": "keras_sgm.diffusion.schedules",
    "Preconditioning": "keras_sgm.diffusion.preconditioning",
    "DenoisingScoreMatching": "keras_sgm.diffusion.loss",
    "ConsistencyTuning": "keras_sgm.diffusion.consistency",
    "Guided": "keras_sgm.diffusion.guidance",
    "guided_view": "keras_sgm.diffusion.guidance",
    "ScoreFunction": "keras_sgm.diffusion.protocol",
})
