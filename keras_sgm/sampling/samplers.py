"""Samplers: from pure noise to images by integrating the reverse-time dynamics.

Each sampler is its paper's algorithm: a function that takes a
`ScoreFunction` (a `ScoreModel`, `model.guided(...)`, a latent model or an
exact analytic score), a batch size and a seed, and returns `(images, nfe)`:
a NumPy array of images in [0, 1] and the number of network evaluations
(NFE) per image. The images are the decoder's output, not clipped: a good
model keeps them in [0, 1], and `sample()` clips them for files and metrics.

Each fixed-step sampler writes its algorithm as a function of the denoiser
`D(x, sigma)` in `keras.ops`, and `generate` (`keras_sgm.sampling.generate`)
runs it from the prior to the decoder as one compiled, cached program.

The ODE samplers integrate the probability-flow ODE in the noise level,
`dx/dsigma = (x - D(x, sigma)) / sigma`, the form EDM (Karras et al. 2022)
showed to be the easiest to integrate; the SDE samplers step in time and
ask for the score at that time's noise level.
"""

import math

import numpy as np
from keras import ops

from keras_sgm.backend.compile import compile_stateful
from keras_sgm.data import validation
from keras_sgm.sampling.ode_solver import solve_adaptive
from keras_sgm.sampling.generate import conditioned_denoiser, decoded, generate, prior, progress_bar, reseeded_noise

# Grids.


def time_grid(steps, eps, t_start=1.0):
    """`steps + 1` times uniform from `t_start` (1: the prior's) down to `eps`: the score-SDE samplers' grid."""
    return np.linspace(t_start, eps, steps + 1)


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


def pf_ode_velocity(D, x, sigma):
    """`dx/dsigma = (x - D(x, sigma)) / sigma` of the probability-flow ODE at noise level `sigma`."""
    return (x - D(x, sigma)) / sigma


def reverse_sde_step(D, schedule, x, t, t_next, normal):
    """One Euler-Maruyama step of the reverse SDE from `t` to `t_next`: `(x_next, mean)`.

    `x <- x + g(t)^2 s(x, t) dt + g(t) sqrt(dt) z`, with the score
    `s = (D - x) / sigma^2`; the mean, without the noise, is what the
    sampler returns after its last step.
    """
    dt, g, sigma = t - t_next, schedule.diffusion_coeff(t), schedule.marginal_std(t)
    mean = x + g**2 * (D(x, sigma) - x) / ops.square(sigma) * dt
    return mean + g * ops.sqrt(dt) * normal(), mean


# The samplers.


def euler_maruyama(model, batch_size, *, steps=500, eps=1e-3, seed=None, progress=False, start=None, t_start=1.0):
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
        start: Samples to start from instead of the prior (image-to-image, see
            `keras_sgm.sampling.img2img`), noised to the level of `t_start`.
        t_start: With `start`, the time the integration starts from.

    Returns:
        `(images, nfe)`: images of shape `(batch_size, *image_shape)`, in
        [0, 1] as far as the model learned it, and the number of network
        evaluations.

    Example:

    >>> images, nfe = euler_maruyama(model, 16, steps=500, seed=0)
    """
    steps, schedule = validation.positive_int(steps, "steps"), model.schedule

    def reverse_sde(D, x, loop, normal, times):
        x = loop(lambda i, x, normal: reverse_sde_step(D, schedule, x, times[i], times[i + 1], normal)[0],
                 x, steps - 1)
        return reverse_sde_step(D, schedule, x, times[-2], times[-1], lambda: 0.0)[1]

    times = time_grid(steps, eps, t_start)
    images = generate(model, batch_size, reverse_sde, seed=seed, progress=progress_bar(progress, steps),
                      start=start, start_sigma=sigmas_of_times(schedule, times[0]), times=times)
    return images, steps


def predictor_corrector(model, batch_size, *, steps=500, snr=0.16, eps=1e-3, seed=None, progress=False, start=None,
                        t_start=1.0):
    """Predictor-corrector (Song et al. 2021, Algorithm 5): a Langevin corrector step, then an
    Euler-Maruyama step.

    The Langevin step size is `2 (snr ||z|| / ||s||)^2` per image.

    Args:
        model: A `ScoreFunction`.
        batch_size: Number of images.
        steps: Number of predictor steps; each costs two network evaluations.
        snr: Signal-to-noise ratio of the corrector.
        eps: Final time.
        seed: Seed of the prior draw and the noise.
        progress: Show a progress bar.
        start: Samples to start from instead of the prior (image-to-image, see
            `keras_sgm.sampling.img2img`), noised to the level of `t_start`.
        t_start: With `start`, the time the integration starts from.

    Returns:
        `(images, nfe)` as for `euler_maruyama`.
    """
    steps, schedule = validation.positive_int(steps, "steps"), model.schedule

    def langevin_then_reverse_sde(D, x, loop, normal, times, snr):
        def step(i, x, normal):
            # Corrector: a Langevin step at t, its noise `snr` times the score's pull.
            sigma = schedule.marginal_std(times[i])
            score = (D(x, sigma) - x) / ops.square(sigma)
            score_norm = ops.sqrt(ops.sum(ops.square(score), axis=(1, 2, 3), keepdims=True))
            step_size = 2.0 * ops.square(snr * math.sqrt(math.prod(x.shape[1:])) / score_norm)
            x = x + step_size * score + ops.sqrt(2.0 * step_size) * normal()
            # Predictor: the reverse SDE's Euler-Maruyama step; the last one returns its mean.
            x_next, mean = reverse_sde_step(D, schedule, x, times[i], times[i + 1], normal)
            return ops.where(i < steps - 1, x_next, mean)

        return loop(step, x, steps)

    times = time_grid(steps, eps, t_start)
    images = generate(model, batch_size, langevin_then_reverse_sde, seed=seed, progress=progress_bar(progress, steps),
                      start=start, start_sigma=sigmas_of_times(schedule, times[0]), times=times, snr=snr)
    return images, 2 * steps


def edm_heun(model, batch_size, *, steps=18, sigma_min=0.01, rho=7.0, churn=0.0, seed=None,
             progress=False, sigma_max=None, start=None):
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
        sigma_max: The first level; None: the prior's.
        start: `(batch_size, *sample_shape)` samples to start from, noised
            to `sigma_max` with the prior's draw (image-to-image, see
            `keras_sgm.sampling.img2img`); None starts from the prior.

    Returns:
        `(images, nfe)` as for `euler_maruyama`.
    """
    steps = validation.positive_int(steps, "steps")
    churn = validation.finite_non_negative(churn, "churn")
    prior_std = model.schedule.prior_std()

    def heun(D, x, loop, normal, sigmas, gamma):
        def step(i, x, normal):
            sigma, sigma_next = sigmas[i], sigmas[i + 1]
            # Lines 4-6: raise the noise to sigma_hat = (1 + gamma) sigma with fresh noise, except at
            # the prior's level, above which the network saw nothing. sqrt(sigma_hat^2 - sigma^2) is
            # written without the cancellation that leaves a fused multiply-add a few ulp from 0.
            gamma_i = ops.where(sigma < 0.999 * sigmas[0], gamma, 0.0)
            sigma_hat = sigma * (1.0 + gamma_i)
            x = x + sigma * ops.sqrt(gamma_i * (2.0 + gamma_i)) * normal()
            # Lines 7-8: an Euler step to sigma_next; lines 9-11: Heun's correction.
            slope = pf_ode_velocity(D, x, sigma_hat)
            slope_next = pf_ode_velocity(D, x + (sigma_next - sigma_hat) * slope, sigma_next)
            return x + (sigma_next - sigma_hat) * 0.5 * (slope + slope_next)

        x = loop(step, x, steps - 1)
        # The last step, Euler's to sigma = 0, lands on the denoised image.
        return D(x, sigmas[steps - 1])

    sigmas = np.append(karras_sigmas(steps, sigma_min, sigma_max or prior_std, rho), 0.0)
    gamma = min(churn / steps, math.sqrt(2.0) - 1.0)
    images = generate(model, batch_size, heun, seed=seed, progress=progress_bar(progress, steps),
                      start=start, start_sigma=sigmas[0], sigmas=sigmas, gamma=gamma)
    return images, 2 * steps - 1


def probability_flow_ode(model, batch_size, *, solver="adaptive", steps=None, eps=1e-3, rtol=1e-5,
                         atol=1e-5, seed=None, progress=False, start=None, t_start=1.0):
    """The deterministic probability-flow ODE, from `t = 1` to `t = eps`.

    Args:
        model: A `ScoreFunction`.
        batch_size: Number of images.
        solver: `"adaptive"` (Dormand-Prince 5(4) with error control, as
            scipy's RK45) or `"heun"` (fixed steps uniform in `t`).
        steps: Number of Heun steps (2 NFE each; default 100); the
            adaptive solver chooses its own.
        eps: Final time.
        rtol: Relative tolerance of the adaptive solver.
        atol: Absolute tolerance of the adaptive solver.
        seed: Seed of the prior draw, the only randomness.
        progress: Show a progress bar.
        start: Samples to start from instead of the prior (image-to-image, see
            `keras_sgm.sampling.img2img`), noised to the level of `t_start`
            (the Heun solver).
        t_start: With `start`, the time the integration starts from.

    Returns:
        `(images, nfe)` as for `euler_maruyama`.
    """
    if solver not in ("adaptive", "heun"):
        raise ValueError(f"solver must be 'adaptive' or 'heun'; got {solver!r}.")
    if solver == "adaptive" and (steps is not None or start is not None):
        raise ValueError("steps and start apply to the fixed-step solver: pass solver='heun' with them.")
    if solver == "heun":
        steps = validation.positive_int(100 if steps is None else steps, "steps")

        def heun_in_time(D, x, loop, normal, sigmas):
            def step(i, x, normal):
                slope = pf_ode_velocity(D, x, sigmas[i])
                slope_next = pf_ode_velocity(D, x + (sigmas[i + 1] - sigmas[i]) * slope, sigmas[i + 1])
                return x + (sigmas[i + 1] - sigmas[i]) * 0.5 * (slope + slope_next)

            return loop(step, x, steps)

        sigmas = sigmas_of_times(model.schedule, time_grid(steps, eps, t_start))
        images = generate(model, batch_size, heun_in_time, seed=seed, progress=progress_bar(progress, steps),
                          start=start, start_sigma=sigmas[0], sigmas=sigmas)
        return images, 2 * steps
    shape = (validation.positive_int(batch_size, "batch_size"), *model.sample_shape)
    noise = reseeded_noise(model, seed)
    D = conditioned_denoiser(model, shape[0])
    bar = progress_bar(progress, 100)
    x, nfe = solve_adaptive(lambda x, sigma: pf_ode_velocity(D, x, sigma), prior(model, shape, noise),
                            model.schedule.prior_std(), float(sigmas_of_times(model.schedule, eps)), rtol, atol,
                            lambda fn: compile_stateful(fn, model.state_variables),
                            None if bar is None else bar.add)
    return decoded(model, x), nfe


def consistency_jumps(steps):
    """Song et al.'s Algorithm 1 as an algorithm of `generate`: `steps` jumps of a consistency function,
    reading the levels `sigmas` (the `steps` levels it jumps from, then 0).

    `keras_sgm.serving.export` unrolls the same algorithm into its exported generator.
    """

    def jump_and_renoise(D, x, loop, normal, sigmas):
        # Jump to the clean end of the path, then noise it afresh to the next level (0 after the last).
        x = loop(lambda i, x, normal: D(x, sigmas[i]) + sigmas[i + 1] * normal(), x, steps - 1)
        return D(x, sigmas[steps - 1])

    return jump_and_renoise


def multistep_consistency(model, batch_size, *, steps=1, sigmas=None, seed=None, progress=False, start=None):
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
        sigmas: The `steps` levels to jump from, the first the prior's
            (with `start`, any); default `consistency_sigmas(steps, sigma_max)`.
        seed: Seed of the prior draw and the fresh noise of each step.
        progress: Show a progress bar.
        start: Samples to start from, noised to `sigmas[0]` (see `edm_heun`).

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
    if sigmas.shape != (steps,) or (start is None and not np.isclose(sigmas[0], sigma_max)) \
            or sigmas[0] > sigma_max * (1 + 1e-6) or np.any(np.diff(sigmas) >= 0) or sigmas[-1] <= 0:
        raise ValueError(f"sigmas must be {steps} decreasing positive levels from the prior's {sigma_max:.4g}; "
                         f"got {sigmas.tolist()}.")

    images = generate(model, batch_size, consistency_jumps(steps), seed=seed, progress=progress_bar(progress, steps),
                      start=start, start_sigma=sigmas[0], sigmas=np.append(sigmas, 0.0))
    return images, steps
