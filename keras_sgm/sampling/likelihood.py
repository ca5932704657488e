"""Negative log-likelihood in bits/dim through the probability-flow ODE.

The ODE `dx/dsigma = v(x, sigma) = -sigma s(x, sigma)` transports the data
to the prior, and the instantaneous change of variables gives

    log p_0(x_0) = log p_prior(x_1) + integral of div_x v(x, sigma) dsigma,

with the divergence estimated by Skilling-Hutchinson, `div v ~ e . d(v . e)/dx`,
for one Rademacher (+-1) probe `e` per image held fixed along the path; its
only error comes from the off-diagonal of the Jacobian. Discrete pixels are
dequantised uniformly, `x = (pixel + u) / 256`, so that the result bounds the
discrete likelihood: `bits/dim = -log p_0(x) / (D ln 2) + 8`.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_sgm.backend.compile import input_gradient
from keras_sgm.sampling.ode_solver import solve_adaptive
from keras_sgm.backend.compile import compile_stateful
from keras_sgm.sampling.generate import conditioned_denoiser, progress_bar, reseeded_noise
from keras_sgm.sampling.samplers import pf_ode_velocity, sigmas_of_times


def bits_per_dim(model, pixels, *, eps=1e-5, rtol=1e-5, atol=1e-5, seed=0, dequantize=True,
                 progress=False):
    """Bits/dim of a batch of images under the model's probability-flow ODE.

    Args:
        model: A `ScoreFunction` of pixels, such as a `ScoreModel` (its
            unconditional score) or `model.guided(labels)`.
        pixels: uint8 images `(n, *image_shape)` (dequantised), or floats in
            [0, 1] with `dequantize=False` (a continuous density).
        eps: Time at which the data starts its journey to the prior.
        rtol: Relative tolerance of the ODE solver.
        atol: Absolute tolerance of the ODE solver.
        seed: Seed of the dequantisation noise and the Hutchinson probes.
        dequantize: Add uniform noise to uint8 pixels and count the 8 bits of
            the rescaling; with False, `pixels` are taken as continuous data.
        progress: Show a progress bar.

    Returns:
        `(bits, nfe)`: a NumPy array of bits/dim per image, and the number
        of network evaluations (each with its gradient).
    """
    if tuple(model.sample_shape) != tuple(model.image_shape):
        raise ValueError(
            f"bits/dim needs a model of pixels; this one samples {model.sample_shape} latents and "
            f"decodes them, and the likelihood of its images would also need the decoder's "
            f"density, which a deterministic decoder does not have. Evaluate FID instead."
        )
    pixels = np.asarray(pixels)
    batch = len(pixels)
    dims = math.prod(model.sample_shape)
    noise = reseeded_noise(model, seed)
    if dequantize:
        uniform = keras.random.uniform(pixels.shape, seed=noise)
        x = (ops.cast(pixels, "float32") + uniform) / 256.0
    else:
        x = ops.cast(pixels, "float32")
    probe = ops.sign(keras.random.normal((batch, *model.sample_shape), seed=noise))
    schedule = model.schedule
    D = conditioned_denoiser(model, batch)

    def slope(state, std):
        images = ops.reshape(state[:, :dims], (batch, *model.sample_shape))

        def probed(y):
            velocity = pf_ode_velocity(D, y, std)
            return ops.sum(velocity * probe), velocity

        grad, v = input_gradient(probed, images, has_aux=True)
        divergence = ops.sum(ops.reshape(grad * probe, (batch, dims)), axis=1, keepdims=True)
        return ops.concatenate([ops.reshape(v, (batch, dims)), divergence], axis=1)

    state = ops.concatenate([ops.reshape(x, (batch, dims)), ops.zeros((batch, 1))], axis=1)
    start = float(sigmas_of_times(schedule, eps))
    prior_std = schedule.prior_std()
    bar = progress_bar(progress, 100)
    state, nfe = solve_adaptive(slope, state, start, prior_std, rtol, atol,
                                lambda fn: compile_stateful(fn, model.state_variables), None if bar is None else bar.add)
    state = ops.convert_to_numpy(state).astype("float64")
    latent, delta_log_p = state[:, :dims], state[:, dims]
    log_prior = -0.5 * dims * math.log(2 * math.pi * prior_std**2) - np.sum(latent**2, axis=1) / (
        2 * prior_std**2
    )
    log_p = log_prior + delta_log_p
    bits = -log_p / (dims * math.log(2.0))
    return (bits + 8.0 if dequantize else bits), nfe
