"""The samplers by name, without importing a backend: what `sample()` and the command line offer."""

SAMPLER_FUNCTIONS = {
    "heun": "edm_heun",
    "euler": "euler_maruyama",
    "pc": "predictor_corrector",
    "ode": "probability_flow_ode",
    "consistency": "multistep_consistency",
}
"""The function of `keras_sgm.sampling.samplers` behind each name."""

SAMPLER_SUMMARIES = {
    "heun": "fast EDM Heun (35 NFE)",
    "euler": "Euler-Maruyama",
    "pc": "predictor-corrector",
    "ode": "probability-flow ODE (adaptive, or Heun with --steps)",
    "consistency": "a consistency model's 1 to 4 steps (keras-sgm tune-consistency)",
}
"""One line on each sampler, for the command line's help."""

IMG2IMG_SAMPLERS = ("heun", "euler", "pc", "ode", "consistency")
"""The samplers that image-to-image starts from a noised image: the fixed-step ones (the ODE with Heun's solver)."""
