"""Samplers: from pure noise to images by integrating the reverse-time dynamics.

Each sampler is its paper's algorithm: a function that takes a
`ScoreFunction` (a `ScoreModel`, `model.guided(...)`, a latent model or an
exact analytic score), a batch size and a seed, and returns `(images, nfe)`:
a NumPy array of images in [0, 1] and the number of network evaluations
(NFE) per image. The images are the decoder's output, not clipped: a good
model keeps them in [0, 1], and `sample()` clips them for files and metrics.

The update of one step is a small module-level function of `keras.ops`, and
the sampler's algorithm a program of a few lines: the prior, the loop of
steps along the sampler's grid, the decoder. `SamplingRun.generate`
(`keras_sgm.sampling.programs`) compiles each program once per model.

The ODE samplers integrate the probability-flow ODE in the noise level,
`dx/dsigma = (x - D(x, sigma)) / sigma`, the form EDM (Karras et al. 2022)
showed to be the easiest to integrate; the SDE samplers step in time and
ask for the score at that time's noise level.
"""

import math

import numpy as np
from keras import ops

from keras_sgm.data import validation
from keras_sgm.sampling.ode_solver import solve_adaptive
from keras_sgm.sampling.programs import SamplingRun

# Grids.


def time_grid(steps, eps):
    """`steps + 1` times uniform from 1 down to `eps`: the score-SDE samplers' grid."""
    return np.linspace(1.0, eps, steps + 1)


def karras_sigmas(steps, sigma_min, sigma_max, rho=7.0):
    """EDM's `steps` noise levels from `sigma_max` down to `sigma_min`.

    `sigma_i = (smax^(1/rho) + i/(N-1) (smin^(1/rho) - smax^(1/rho)))^rho`
    crowds the steps near the data, where the images take their shape.
    """
    ramp = np.linspace(0.0, 1.0, steps) if steps > 1 else np.zeros(1)
    return (sigma_max ** (1 / rho) + ramp * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho


def consistency_sigmas(steps, sigma_max, sigma_min=0.1, rho=7.0):
    """The `steps` levels a multistep consistency sampler jumps from: `sigma_max`, then the first
    inner levels of EDM's rho-schedule of `steps + 1` levels down to `sigma_min`.

    The last level is never jumped from, so `sigma_min` only places the inner ones: 0.1 rather
    than EDM's 0.002 keeps a second step above sigma = 1, where the image's shapes are still
    open to correction, instead of at 0.47, where the fresh noise only retouches strokes
    (the sweep in docs/benchmarks.md, "Few-step sampling")."""
    return karras_sigmas(steps + 1, sigma_min, sigma_max, rho)[:steps]


def sigmas_of_times(schedule, times):
    """The noise levels `sigma(t)` of a grid of times, as a NumPy array."""
    return ops.convert_to_numpy(schedule.marginal_std(np.asarray(times, "float32")))


# Updates shared by several samplers.


def _per_image(value, x):
    return ops.full((ops.shape(x)[0],), value)


def pf_ode_velocity(model, x, sigma):
    """`dx/dsigma = (x - D(x, sigma)) / sigma` of the probability-flow ODE at noise level `sigma`."""
    return (x - model.denoise(x, _per_image(sigma, x))) / sigma


def score_at(model, x, sigma):
    """The score `(D(x, sigma) - x) / sigma^2`, for the samplers that step in time."""
    return (model.denoise(x, _per_image(sigma, x)) - x) / ops.square(sigma)


def reverse_sde_step(model, normal, x, t, t_next):
    """One Euler-Maruyama step of the reverse SDE from `t` to `t_next`: `(x_next, mean)`.

    `x <- x + g(t)^2 s(x, t) dt + g(t) sqrt(dt) z`; the mean, without the
    noise, is what the sampler returns after its last step.
    """
    dt = t - t_next
    g = model.schedule.diffusion_coeff(t)
    mean = x + g**2 * score_at(model, x, model.schedule.marginal_std(t)) * dt
    return mean + g * ops.sqrt(dt) * normal(), mean


def _langevin_then_reverse_sde_step(model, normal, x, t, t_next, snr):
    # Corrector: one Langevin step at t, sized so that the noise is `snr` times
    # the score's pull (Song et al. 2021, Algorithm 5).
    score = score_at(model, x, model.schedule.marginal_std(t))
    score_norm = ops.sqrt(ops.sum(ops.square(score), axis=(1, 2, 3), keepdims=True))
    noise_norm = math.sqrt(math.prod(ops.shape(x)[1:]))
    step_size = 2.0 * ops.square(snr * noise_norm / score_norm)
    x = x + step_size * score + ops.sqrt(2.0 * step_size) * normal()
    # Predictor: the reverse SDE's Euler-Maruyama step.
    return reverse_sde_step(model, normal, x, t, t_next)


def _edm_step(model, normal, x, sigma, sigma_next, gamma, sigma_max):
    # EDM Algorithm 2, lines 4-6: raise the noise to sigma_hat = (1 + gamma) sigma
    # with fresh noise, except at the prior's level, above which the network saw nothing.
    gamma = ops.where(sigma < 0.999 * sigma_max, gamma, 0.0)
    sigma_hat = sigma * (1.0 + gamma)
    # sqrt(sigma_hat^2 - sigma^2), written without the cancellation that leaves
    # a fused multiply-add a few ulp from 0 at gamma = 0.
    x = x + sigma * ops.sqrt(gamma * (2.0 + gamma)) * normal()
    # Line 7-8: an Euler step of the probability-flow ODE to sigma_next.
    slope = pf_ode_velocity(model, x, sigma_hat)
    x_euler = x + (sigma_next - sigma_hat) * slope
    # Lines 9-11: Heun's correction with the slope at the end of the step.
    slope_next = pf_ode_velocity(model, x_euler, sigma_next)
    x = x + (sigma_next - sigma_hat) * 0.5 * (slope + slope_next)
    return x, x


def _euler_step(model, normal, x, sigma, sigma_next):
    # EDM's last step, to sigma = 0, is Euler's: it lands on the denoised image.
    x = x + (sigma_next - sigma) * pf_ode_velocity(model, x, sigma)
    return x, x


def _consistency_step(model, normal, x, sigma, sigma_next):
    # Song et al. 2023, Algorithm 1: jump to the clean end of the path, then noise it afresh to the
    # next level; the last level is 0, which keeps the jump.
    denoised = model.denoise(x, _per_image(sigma, x))
    return denoised + sigma_next * normal(), denoised


# The programs: each sampler's algorithm from the prior to the images.


def _reverse_sde(trace, times):
    return trace.decode(trace.loop(reverse_sde_step, trace.prior(), times))


def _predictor_corrector(trace, times, snr):
    return trace.decode(trace.loop(_langevin_then_reverse_sde_step, trace.prior(), times, snr=snr))


def _heun(trace, sigmas, gamma):
    # Heun steps along the levels of the rho-schedule, then Euler's last step to sigma = 0.
    x = trace.loop(_edm_step, trace.prior(), sigmas[:-1], gamma=gamma, sigma_max=sigmas[0])
    return trace.decode(trace.loop(_euler_step, x, sigmas[-2:]))


def _heun_in_time(trace, sigmas):
    return trace.decode(trace.loop(_edm_step, trace.prior(), sigmas, gamma=0.0, sigma_max=sigmas[0]))


def _multistep_consistency(trace, sigmas):
    return trace.decode(trace.loop(_consistency_step, trace.prior(), sigmas))


# The samplers.


def euler_maruyama(model, batch_size, *, steps=500, eps=1e-3, seed=None, progress=False):
    """Euler-Maruyama on the reverse-time SDE, the reference sampler.

    `x <- x + g(t)^2 s(x, t) dt + g(t) sqrt(dt) z` from `t = 1` to `t = eps`;
    the last step returns its mean, without noise.

    Args:
        model: A `ScoreFunction`, such as a `ScoreModel`.
        batch_size: Number of images.
        steps: Number of steps, one network evaluation each.
        eps: Final time.
        seed: Seed of the prior draw and the noise.
        progress: Show a progress bar.

    Returns:
        `(images, nfe)`: images of shape `(batch_size, *image_shape)`, in
        [0, 1] as far as the model learned it, and the number of network
        evaluations.

    Example:

    >>> images, nfe = euler_maruyama(model, 16, steps=500, seed=0)
    """
    run = SamplingRun(model, batch_size, seed, progress, total_steps=steps)
    return run.generate(_reverse_sde, times=time_grid(steps, eps)), steps


def predictor_corrector(model, batch_size, *, steps=500, snr=0.16, eps=1e-3, seed=None, progress=False):
    """Predictor-corrector: one Langevin corrector step, then an Euler-Maruyama step.

    The Langevin step size is `2 (snr ||z|| / ||s||)^2` per image, as in
    Song et al. (2021).

    Args:
        model: A `ScoreFunction`.
        batch_size: Number of images.
        steps: Number of predictor steps; each costs two network evaluations.
        snr: Signal-to-noise ratio of the corrector.
        eps: Final time.
        seed: Seed of the prior draw and the noise.
        progress: Show a progress bar.

    Returns:
        `(images, nfe)` as for `euler_maruyama`.
    """
    run = SamplingRun(model, batch_size, seed, progress, total_steps=steps)
    return run.generate(_predictor_corrector, times=time_grid(steps, eps), snr=snr), 2 * steps


def edm_heun(model, batch_size, *, steps=18, sigma_min=0.01, rho=7.0, churn=0.0, seed=None,
             progress=False):
    """The fast sampler: EDM's Heun solver on its rho-schedule (Karras et al. 2022, Algorithm 2).

    A Heun step joins consecutive levels of `karras_sigmas` and a final Euler
    step goes to `sigma = 0`, which returns the denoised mean: 18 steps cost
    35 network evaluations. With `churn > 0` it is EDM's stochastic sampler:
    before each step the noise is raised by a factor `1 + gamma`,
    `gamma = min(churn / N, sqrt(2) - 1)`, with fresh noise, which lets the
    sampler correct the model's errors as the SDE samplers do, at the same NFE.

    Args:
        model: A `ScoreFunction`.
        batch_size: Number of images.
        steps: Number of noise levels `N` (NFE = 2N - 1).
        sigma_min: Smallest non-zero noise level.
        rho: Curvature of the schedule; 7 as in EDM.
        churn: EDM's `S_churn`; 0 is the deterministic probability-flow ODE.
        seed: Seed of the prior draw (and of the churn noise).
        progress: Show a progress bar.

    Returns:
        `(images, nfe)` as for `euler_maruyama`.
    """
    steps = validation.positive_int(steps, "steps")
    churn = validation.finite_non_negative(churn, "churn")
    run = SamplingRun(model, batch_size, seed, progress, total_steps=steps)
    sigmas = np.append(karras_sigmas(steps, sigma_min, model.schedule.prior_std(), rho), 0.0)
    gamma = min(churn / steps, math.sqrt(2.0) - 1.0)
    return run.generate(_heun, sigmas=sigmas, gamma=gamma), 2 * steps - 1


def probability_flow_ode(model, batch_size, *, solver="adaptive", steps=100, eps=1e-3, rtol=1e-5,
                         atol=1e-5, seed=None, progress=False):
    """The deterministic probability-flow ODE, from `t = 1` to `t = eps`.

    Args:
        model: A `ScoreFunction`.
        batch_size: Number of images.
        solver: `"adaptive"` (Dormand-Prince 5(4) with error control, as
            scipy's RK45) or `"heun"` (fixed steps uniform in `t`).
        steps: Number of Heun steps (2 NFE each); unused by `"adaptive"`.
        eps: Final time.
        rtol: Relative tolerance of the adaptive solver.
        atol: Absolute tolerance of the adaptive solver.
        seed: Seed of the prior draw, the only randomness.
        progress: Show a progress bar.

    Returns:
        `(images, nfe)` as for `euler_maruyama`.
    """
    if solver not in ("adaptive", "heun"):
        raise ValueError(f"solver must be 'adaptive' or 'heun'; got {solver!r}.")
    run = SamplingRun(model, batch_size, seed, progress, total_steps=steps if solver == "heun" else 100)
    if solver == "heun":
        sigmas = sigmas_of_times(model.schedule, time_grid(steps, eps))
        return run.generate(_heun_in_time, sigmas=sigmas), 2 * steps
    sigma_end = float(sigmas_of_times(model.schedule, eps))
    conditioned = run.conditioned()
    x, nfe = solve_adaptive(lambda x, sigma: pf_ode_velocity(conditioned, x, sigma), run.prior(),
                            model.schedule.prior_std(), sigma_end, rtol, atol, run.compile, run.advance)
    return run.images(x), nfe


def multistep_consistency(model, batch_size, *, steps=1, sigmas=None, seed=None, progress=False):
    """Multistep consistency sampling (Song et al. 2023, Algorithm 1): one network evaluation per step.

    A consistency model maps any noisy sample straight to its clean image,
    so one call on the prior is a sample; each further step noises that
    image back to a lower level and maps it again, which refines it.

    Args:
        model: A consistency model (`ScoreModel.is_consistency_model`, made
            by `keras_sgm.recipes.consistency.tune_consistency`) or its
            guided view.
        batch_size: Number of images.
        steps: Number of steps, one network evaluation each.
        sigmas: The `steps` levels to jump from, the first the prior's;
            default `consistency_sigmas(steps, sigma_max)`.
        seed: Seed of the prior draw and the fresh noise of each step.
        progress: Show a progress bar.

    Returns:
        `(images, nfe)` as for `euler_maruyama`.

    Example:

    >>> images, nfe = multistep_consistency(tuned.guided(labels=7), 16, steps=2)
    """
    if not getattr(model, "is_consistency_model", False):
        raise ValueError("the consistency sampler needs a consistency model, and this is a score model; tune "
                         "one with `keras-sgm tune-consistency`, or choose another sampler such as heun.")
    steps = validation.positive_int(steps, "steps")
    sigma_max = model.schedule.prior_std()
    if sigmas is None:
        sigmas = consistency_sigmas(steps, sigma_max)
    sigmas = np.asarray(sigmas, "float64")
    if sigmas.shape != (steps,) or not np.isclose(sigmas[0], sigma_max) or np.any(np.diff(sigmas) >= 0) \
            or sigmas[-1] <= 0:
        raise ValueError(f"sigmas must be {steps} decreasing positive levels from the prior's {sigma_max:.4g}; "
                         f"got {sigmas.tolist()}.")
    run = SamplingRun(model, batch_size, seed, progress, total_steps=steps)
    return run.generate(_multistep_consistency, sigmas=np.append(sigmas, 0.0)), steps
