"""Samplers: from pure noise to images by integrating the reverse-time dynamics.

Each sampler is a small function over `keras.ops` that takes a model, a
batch size and a seed and returns `(images, nfe)`: a NumPy array of images in
[0, 1] and the number of network evaluations (NFE) per image. A sampler only
needs `model.schedule`, `model.image_shape` and `model.score(x, t)`, so it
also runs on an exact analytic score (the tests use one).

The fixed-grid samplers run their loop compiled, as `keras.ops.fori_loop`
inside one `jax.jit` / `tf.function` (eager PyTorch without autograd), in a
few chunks so that a progress bar can follow. The compiled program is kept
per model and sampler setting, and the seed, the labels and the grid are
its inputs, so that only the first call of a kind pays for compilation. The ODE samplers integrate the probability-flow ODE in the
noise level, `dx/dsigma = -sigma * score(x, sigma)`, which is the form EDM
(Karras et al. 2022) showed to be the easiest to integrate.
"""

import math
import random
import time
import weakref

import keras
import numpy as np
from keras import ops

from keras_sgm.backend import compile_stateful, input_gradient
from keras_sgm.model import GuidedScore


def _scalar(value):
    return ops.convert_to_tensor(value, "float32")


def _per_image(value, batch_size):
    return ops.full((batch_size,), value)


def pf_ode_velocity(model, x, std):
    """`dx/dsigma = -sigma * score(x, sigma)` of the probability-flow ODE at noise level `std`."""
    times = model.schedule.time_from_std(_per_image(std, ops.shape(x)[0]))
    return -std * model.score(x, times)


def _euler_maruyama_update(model, normal, x, t, t_next):
    """One reverse-SDE step from `t` to `t_next`: the noisy next state and its mean."""
    dt = t - t_next
    g = model.schedule.diffusion_coeff(t)
    mean = x + g**2 * model.score(x, _per_image(t, ops.shape(x)[0])) * dt
    return mean + g * ops.sqrt(dt) * normal(), mean


# Per model (weakly held, so that a deleted model frees them): one noise
# generator, reseeded by every call, and the compiled programs by setting.
_NOISE = weakref.WeakKeyDictionary()
_PROGRAMS = weakref.WeakKeyDictionary()


def _owner(model):
    """The object whose variables a sampler reads: a `GuidedScore`'s model, or `model`."""
    return model.model if isinstance(model, GuidedScore) else model


def _kept_for(table, owner, make):
    """`table[owner]`, made by `make()` on first use; an owner that cannot be
    weakly referenced gets a new one every time."""
    try:
        kept = table.get(owner)
    except TypeError:
        return make()
    if kept is None:
        kept = table[owner] = make()
    return kept


class Driver:
    """Shared plumbing: the seeded prior draw, compiled steps and the progress bar."""

    def __init__(self, model, batch_size, seed, progress):
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive integer; got {batch_size}.")
        self.model = model
        self.shape = (int(batch_size), *model.image_shape)
        owner = _owner(model)
        self.noise = _kept_for(_NOISE, owner, lambda: keras.random.SeedGenerator(0))
        # The same draws as a fresh `SeedGenerator(seed)`.
        seed = random.randint(1, int(1e9)) if seed is None else int(seed)
        self.noise.state.assign(ops.convert_to_tensor([seed, 0], self.noise.state.dtype))
        self.variables = [*getattr(owner, "weights", []), self.noise.state]
        self.progress = progress

    def normal(self):
        return keras.random.normal(self.shape, seed=self.noise)

    def prior(self):
        return self.normal() * self.model.schedule.prior_std()

    def compile(self, step):
        return compile_stateful(step, self.variables)

    def _guided(self):
        return isinstance(self.model, GuidedScore) and self.model.labels is not None

    def labels(self):
        """The labels of a guided model, one per image, as a program input (or None)."""
        return self.model.model.labels_for(self.model.labels, self.shape[0]) if self._guided() else None

    def with_labels(self, labels):
        """The model, seeing `labels` (a traced input) if it is a guided one."""
        return self.model.with_labels(labels) if self._guided() else self.model

    def compiled(self, setting, program):
        """`self.compile(program)`, kept for later calls with the same setting.

        The key holds the model's structure (guided or not, with which guidance)
        and the batch shape besides `setting`; what else `program` reads must
        be one of its arguments.
        """
        key = (setting, self.shape, self._guided() and self.model.guidance)
        programs = _kept_for(_PROGRAMS, _owner(self.model), dict)
        if key not in programs:
            programs[key] = self.compile(program)
        return programs[key]

    def start_progress(self, total):
        """Shows a progress bar of `total` steps, if asked for; `advance` moves it."""
        self._bar = keras.utils.Progbar(total, unit_name="step") if self.progress else None
        self._done = 0

    def advance(self, steps=1):
        self._done += steps
        if self._bar is not None:
            self._bar.update(self._done)

    @staticmethod
    def finish(images):
        return np.clip(ops.convert_to_numpy(images), 0.0, 1.0)


def _run_grid(driver, setting, make_step, x, grid, inputs=(), progress_updates=20):
    """Applies `x, out = step(x, grid[i], grid[i + 1])` along `grid`; returns the last `out`.

    `step = make_step(model, normal, *inputs)` is built inside the compiled
    program, from the model (seeing the traced labels when guided), a draw of
    standard normal noise and the traced `inputs`; `setting` must name
    everything else the step depends on (its Python constants). The loop runs
    as `keras.ops.fori_loop`, in about `progress_updates` chunks so that the
    progress bar moves, and every chunk and every later call with the same
    setting reuses the same compiled program.
    """
    grid = ops.convert_to_tensor(np.asarray(grid, dtype="float32"))
    steps = int(ops.shape(grid)[0]) - 1
    state = driver.noise.state

    def run_chunk(x, out, start, stop, grid, labels, *inputs):
        step = make_step(driver.with_labels(labels), driver.normal, *inputs)

        def body(i, carry):
            x, _, seed_state = carry
            # The RNG state rides in the loop carry: a variable assigned inside
            # a traced loop body must not leak out of it (JAX).
            state.assign(seed_state)
            x, out = step(x, ops.take(grid, i), ops.take(grid, i + 1))
            return x, out, state.value

        x, out, seed_state = ops.fori_loop(start, stop, body, (x, out, state.value))
        state.assign(seed_state)
        return x, out

    compiled = driver.compiled(setting, run_chunk)
    labels = driver.labels()
    chunk = max(1, math.ceil(steps / progress_updates))
    out = x
    for start in range(0, steps, chunk):
        stop = min(start + chunk, steps)
        bounds = ops.convert_to_tensor(start, "int32"), ops.convert_to_tensor(stop, "int32")
        x, out = compiled(x, out, *bounds, grid, labels, *inputs)
        driver.advance(stop - start)
    return out


def euler_maruyama(model, batch_size, *, steps=500, eps=1e-3, seed=None, progress=False):
    """Euler-Maruyama on the reverse-time SDE, the reference sampler.

    `x <- x + g(t)^2 s(x, t) dt + g(t) sqrt(dt) z` from `t = 1` to `t = eps`;
    the last step returns its mean, without noise.

    Args:
        model: A `ScoreModel` (or any object with `schedule`, `image_shape`
            and `score(x, t)`).
        batch_size: Number of images.
        steps: Number of steps, one network evaluation each.
        eps: Final time.
        seed: Seed of the prior draw and the noise.
        progress: Show a progress bar.

    Returns:
        `(images, nfe)`: images in [0, 1] of shape `(batch_size, *image_shape)`,
        and the number of network evaluations.

    Example:

    >>> images, nfe = euler_maruyama(model, 16, steps=500, seed=0)
    """
    driver = Driver(model, batch_size, seed, progress)

    def make_step(model, normal):
        return lambda x, t, t_next: _euler_maruyama_update(model, normal, x, t, t_next)

    grid = np.linspace(1.0, eps, steps + 1)
    driver.start_progress(steps)
    return driver.finish(_run_grid(driver, "euler", make_step, driver.prior(), grid)), steps


def predictor_corrector(
    model, batch_size, *, steps=500, snr=0.16, eps=1e-3, seed=None, progress=False
):
    """Predictor-corrector: one Langevin corrector step, then an Euler-Maruyama step.

    The Langevin step size is `2 (snr ||z|| / ||s||)^2` per image, as in
    Song et al. (2021).

    Args:
        model: A `ScoreModel`.
        batch_size: Number of images.
        steps: Number of predictor steps; each costs two network evaluations.
        snr: Signal-to-noise ratio of the corrector.
        eps: Final time.
        seed: Seed of the prior draw and the noise.
        progress: Show a progress bar.

    Returns:
        `(images, nfe)` as for `euler_maruyama`.
    """
    driver = Driver(model, batch_size, seed, progress)
    pixels = math.prod(model.image_shape)

    def make_step(model, normal):
        def step(x, t, t_next):
            grad = model.score(x, _per_image(t, batch_size))
            grad_norm = ops.sqrt(ops.sum(ops.square(grad), axis=(1, 2, 3), keepdims=True))
            step_size = 2.0 * ops.square(snr * math.sqrt(pixels) / grad_norm)
            x = x + step_size * grad + ops.sqrt(2.0 * step_size) * normal()
            return _euler_maruyama_update(model, normal, x, t, t_next)

        return step

    grid = np.linspace(1.0, eps, steps + 1)
    driver.start_progress(steps)
    x = _run_grid(driver, ("pc", float(snr)), make_step, driver.prior(), grid)
    return driver.finish(x), 2 * steps


def _heun_step(model, normal=None):
    def step(x, std, std_next):
        slope = pf_ode_velocity(model, x, std)
        x_euler = x + (std_next - std) * slope
        slope_next = pf_ode_velocity(model, x_euler, std_next)
        x = x + (std_next - std) * 0.5 * (slope + slope_next)
        return x, x

    return step


def _euler_to_zero_step(model, normal=None):
    def step(x, std, std_next):
        x = x + (std_next - std) * pf_ode_velocity(model, x, std)
        return x, x

    return step


def _churned_heun_step(gamma, sigma_max):
    """EDM's stochastic step: raise the noise from `std` to `std (1 + gamma)` with
    fresh noise, then a Heun step.

    The raise is skipped at the prior's own level, where the network has seen
    no higher noise.
    """

    def make_step(model, normal):
        heun = _heun_step(model)

        def step(x, std, std_next):
            std_hat = std * (1.0 + ops.where(std < 0.999 * sigma_max, gamma, 0.0))
            x = x + ops.sqrt(std_hat**2 - std**2) * normal()
            return heun(x, std_hat, std_next)

        return step

    return make_step


def edm_heun(
    model,
    batch_size,
    *,
    steps=18,
    sigma_min=0.01,
    rho=7.0,
    churn=0.0,
    seed=None,
    progress=False,
):
    """The fast sampler: EDM's Heun solver on a rho-schedule.

    Noise levels `sigma_i = (smax^(1/rho) + i/(N-1) (smin^(1/rho) - smax^(1/rho)))^rho`
    crowd the steps near the data; a Heun step joins consecutive levels and a
    final Euler step goes to `sigma = 0`, which returns the denoised mean.
    18 steps cost 35 network evaluations. With `churn > 0` it is EDM's
    stochastic sampler: before each step the noise is raised by a factor
    `1 + gamma`, `gamma = min(churn / N, sqrt(2) - 1)`, with fresh noise, which
    lets the sampler correct the model's errors as the SDE samplers do, at the
    same NFE.

    Args:
        model: A `ScoreModel`.
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
    if int(steps) < 1:
        raise ValueError(f"steps must be a positive integer; got {steps}.")
    if not float(churn) >= 0.0:
        raise ValueError(f"churn must be non-negative; got {churn}.")
    driver = Driver(model, batch_size, seed, progress)
    sigma_max = model.schedule.prior_std()
    ramp = np.linspace(0.0, 1.0, steps) if steps > 1 else np.zeros(1)
    sigmas = (sigma_max ** (1 / rho) + ramp * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    setting, make_step = "heun", _heun_step
    if churn > 0.0:
        gamma = min(churn / steps, math.sqrt(2.0) - 1.0)
        setting, make_step = ("heun", gamma, sigma_max), _churned_heun_step(gamma, sigma_max)
    driver.start_progress(steps)
    x = _run_grid(driver, setting, make_step, driver.prior(), sigmas)
    x = _run_grid(driver, "euler_to_zero", _euler_to_zero_step, x, [sigmas[-1], 0.0])
    return driver.finish(x), 2 * steps - 1


# Dormand-Prince 5(4) tableau: nodes, stage weights, 5th-order weights, and
# the difference between the 5th- and 4th-order weights (the error estimate).
_DP_NODES = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0)
_DP_STAGES = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
)
_DP_WEIGHTS = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84)
_DP_ERROR = (71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)


def _dormand_prince_step(slope, rtol, atol):
    """One Dormand-Prince 5(4) step of `dx/ds = slope(x, s)` and its scaled error norm."""

    def step(x, slope_start, s, h):
        stages = [slope_start]
        for node, row in zip(_DP_NODES[1:], _DP_STAGES[1:]):
            x_stage = x + h * sum(w * k for w, k in zip(row, stages))
            stages.append(slope(x_stage, s + node * h))
        x_next = x + h * sum(w * k for w, k in zip(_DP_WEIGHTS, stages))
        stages.append(slope(x_next, s + h))
        error = h * sum(w * k for w, k in zip(_DP_ERROR, stages))
        scale = atol + rtol * ops.maximum(ops.abs(x), ops.abs(x_next))
        return x_next, stages[-1], ops.sqrt(ops.mean(ops.square(error / scale)))

    return step


def solve_adaptive(driver, slope, x, start, end, rtol, atol):
    """Integrates `dx/ds = slope(x, s)` from `s = start` to `s = end` with error control.

    Dormand-Prince 5(4) with the first-same-as-last stage reused (6 network
    evaluations per attempted step) and the usual step-size controller, as
    scipy's RK45. Steps are compiled; acceptance is decided in Python.

    Returns:
        `(x(end), nfe)`.
    """
    step = driver.compile(_dormand_prince_step(slope, rtol, atol))
    k = driver.compile(slope)(x, _scalar(start))
    nfe, s, h = 1, start, (end - start) / 100.0
    driver.start_progress(100)
    percent_done = 0
    while (end - s) * np.sign(end - start) > 1e-6 * abs(end):
        h = min(h, end - s) if end > start else max(h, end - s)
        x_next, k_next, error = step(x, k, _scalar(s), _scalar(h))
        nfe += 6
        error = float(ops.convert_to_numpy(error))
        if error <= 1.0:
            x, k, s = x_next, k_next, s + h
            done = round(100 * (s - start) / (end - start))
            driver.advance(done - percent_done)
            percent_done = done
        # Safety factor 0.9, growth kept between 0.2x and 10x.
        h *= min(10.0, max(0.2, 0.9 * (error + 1e-12) ** -0.2))
    return x, nfe


def probability_flow_ode(
    model,
    batch_size,
    *,
    solver="adaptive",
    steps=100,
    eps=1e-3,
    rtol=1e-5,
    atol=1e-5,
    seed=None,
    progress=False,
):
    """The deterministic probability-flow ODE, from `t = 1` to `t = eps`.

    Args:
        model: A `ScoreModel`.
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
    schedule = model.schedule
    driver = Driver(model, batch_size, seed, progress)
    std_end = float(ops.convert_to_numpy(schedule.marginal_std(eps)))
    x = driver.prior()
    if solver == "heun":
        grid = ops.convert_to_numpy(schedule.marginal_std(np.linspace(1.0, eps, steps + 1)))
        driver.start_progress(steps)
        return driver.finish(_run_grid(driver, "heun", _heun_step, x, grid)), 2 * steps
    if solver != "adaptive":
        raise ValueError(f"solver must be 'adaptive' or 'heun'; got {solver!r}.")

    def slope(x, std):
        return pf_ode_velocity(model, x, std)

    x, nfe = solve_adaptive(driver, slope, x, schedule.prior_std(), std_end, rtol, atol)
    return driver.finish(x), nfe


HALVES = ("top", "bottom", "left", "right")


def half_mask(image_shape, keep):
    """A mask that marks one half of an image as known.

    Args:
        image_shape: `(height, width, channels)`.
        keep: Which half is known: `"top"`, `"bottom"`, `"left"` or `"right"`.

    Returns:
        A float32 array of `image_shape`, 1 on the known half and 0 elsewhere.
    """
    if keep not in HALVES:
        raise ValueError(f"keep must be one of {HALVES}; got {keep!r}.")
    height, width, _ = image_shape
    rows = {"top": slice(0, height // 2), "bottom": slice(height // 2, None)}.get(keep, slice(None))
    columns = {"left": slice(0, width // 2), "right": slice(width // 2, None)}.get(keep, slice(None))
    mask = np.zeros(image_shape, dtype="float32")
    mask[rows, columns] = 1.0
    return mask


class ReconstructionGuided:
    """A score pulled towards agreeing with known pixels (reconstruction guidance).

    The model's denoised estimate `D(x) = x + sigma^2 s(x)` should reproduce
    the known pixels; the score gains the gradient of that mismatch,
    `s(x) - weight / (2 sigma^2) * grad_x |mask * (known - D(x))|^2`
    (Ho et al. 2022, "Video Diffusion Models", section 3.1). It steers the
    generated pixels, which replacement alone leaves blind to the known ones
    until the noise is low.

    Args:
        model: A `ScoreModel` or `GuidedScore`.
        known: The known pixels (zero elsewhere).
        mask: 1 where a pixel is known.
        weight: The guidance weight; 0 is the model's own score.

    Example:

    >>> guided = ReconstructionGuided(model, known, mask, weight=25.0)
    >>> score = guided.score(noisy_images, times)  # what `inpaint` steps with
    """

    def __init__(self, model, known, mask, weight):
        self.model, self.known, self.mask, self.weight = model, known, mask, weight

    @property
    def schedule(self):
        return self.model.schedule

    def score(self, x, times):
        variance = ops.reshape(ops.square(self.schedule.marginal_std(times)), (-1, 1, 1, 1))

        def mismatch(y):
            score = self.model.score(y, times)
            return ops.sum(self.mask * ops.square(self.known - (y + variance * score))), score

        pull, score = input_gradient(mismatch, x, has_aux=True)
        return score - self.weight / (2.0 * variance) * pull


DEFAULT_RECONSTRUCTION_GUIDANCE = 25.0
"""Reconstruction guidance weight of `inpaint`. With version 2 of the shipped
model and 100 steps, completions of test digits from their top half kept the
true label 64 % of the time with replacement alone, 74 % at 1, 82 % at 4, 88 %
at 10, 92 % at 25 and 92 % at 60 (200 digits); at 60 grey blotches appear in
the background, so 25 is the default. The shipped version 6: 63 % alone, 92 %
at 25 (1,000 digits)."""


def inpaint(model, images, mask, *, steps=500, resample=1,
            reconstruction_guidance=DEFAULT_RECONSTRUCTION_GUIDANCE, eps=1e-3, seed=None,
            progress=False):
    """Fills in the unknown pixels of `images` consistently with the known ones.

    Euler-Maruyama on the reverse SDE, and after every step the known pixels
    are replaced by the known image noised to the current level, `x0 + sigma(t) z`
    (Song et al. 2021, appendix I): the unknown pixels are then sampled from
    the model given noisy versions of the known ones. The last step returns
    the known pixels exactly.

    Replacement alone lets the generated half ignore the known half at high
    noise levels. Two remedies, which combine:
    - reconstruction guidance (see `ReconstructionGuided`) adds the gradient
      of the mismatch between the model's denoised estimate and the known
      pixels to the score: a backward pass through the network per
      evaluation, about twice the time of replacement alone;
    - with `resample > 1` each step is repeated: the result is noised back
      to the step's start, `x + sqrt(sigma(t)^2 - sigma(t')^2) z`, and
      denoised again (RePaint, Lugmayr et al. 2022).

    Args:
        model: A `ScoreModel`, or `model.guided(labels, guidance)` to fill in
            a given digit.
        images: `(batch, *image_shape)` images in [0, 1]; only the known
            pixels are read.
        mask: 1 where a pixel is known, 0 where it is to be generated; of the
            images' shape or broadcastable to it, such as `(h, w, 1)`.
        steps: Number of steps.
        resample: Passes per step; the NFE is `steps * resample`.
        reconstruction_guidance: Weight of the pull towards the known pixels;
            0 for replacement alone.
        eps: Final time.
        seed: Seed of the prior draw and the noise.
        progress: Show a progress bar.

    Returns:
        `(images, nfe)` as for `euler_maruyama`.

    Example:

    >>> completed, nfe = inpaint(model, test_digits[:16], half_mask((28, 28, 1), "top"), seed=0)
    """
    images = np.asarray(images, dtype="float32")
    if images.shape[1:] != tuple(model.image_shape):
        raise ValueError(
            f"images must have shape (batch, {', '.join(map(str, model.image_shape))}) "
            f"for this model; got {images.shape}."
        )
    try:
        mask = np.broadcast_to(np.asarray(mask, dtype="float32"), images.shape)
    except ValueError:
        raise ValueError(
            f"mask of shape {np.shape(mask)} does not fit images of shape {images.shape}."
        ) from None
    resample = int(resample)
    if resample < 1:
        raise ValueError(f"resample must be a positive integer; got {resample}.")
    weight = float(reconstruction_guidance)
    if not (math.isfinite(weight) and weight >= 0):
        raise ValueError(f"reconstruction_guidance must be a finite number >= 0; got {weight}.")
    driver = Driver(model, len(images), seed, progress)
    known = ops.convert_to_tensor(images * mask)
    mask = ops.convert_to_tensor(mask)

    def keep_known(x, value, mask):
        return mask * value + (1.0 - mask) * x

    def make_step(model, normal, known, mask):
        if weight:
            model = ReconstructionGuided(model, known, mask, weight)

        def step(x, t, t_next):
            std, std_next = model.schedule.marginal_std(t), model.schedule.marginal_std(t_next)
            for back in range(resample):
                if back:
                    x = x + ops.sqrt(ops.square(std) - ops.square(std_next)) * normal()
                x, mean = _euler_maruyama_update(model, normal, x, t, t_next)
                x = keep_known(x, known + std_next * normal(), mask)
            return x, keep_known(mean, known, mask)

        return step

    grid = np.linspace(1.0, eps, steps + 1)
    driver.start_progress(steps)
    x = keep_known(driver.prior(), known + model.schedule.prior_std() * driver.normal(), mask)
    x = _run_grid(driver, ("inpaint", resample, weight), make_step, x, grid, inputs=(known, mask))
    return driver.finish(x), steps * resample


SAMPLERS = {
    "euler": euler_maruyama,
    "pc": predictor_corrector,
    "ode": probability_flow_ode,
    "heun": edm_heun,
}
"""Sampler functions by the name the command line uses."""


DEFAULT_GUIDANCE = 4.0
"""Guidance scale used when a digit is asked for: `s(x) + 4 (s(x | y) - s(x))`, the
smallest of 1, 2, 4, 6 and 8 at which version 2 of the shipped model drew 300 guided
samples all recognised as the requested digit (smaller scales keep more variety); the
shipped version 6 draws 99.92 % of 10,000 so."""


def sample(
    model,
    num,
    sampler="heun",
    steps=None,
    seed=0,
    batch_size=1000,
    labels=None,
    guidance=DEFAULT_GUIDANCE,
    progress=False,
    **options,
):
    """`num` images from the sampler named `sampler`, drawn `batch_size` at a time.

    Args:
        model: A `ScoreModel`.
        num: Number of images.
        sampler: A name in `SAMPLERS`.
        steps: The sampler's `steps`, its default when None. For `"ode"`,
            giving steps selects the fixed-step Heun solver.
        seed: Seed of the first batch; batch `i` uses `seed + i * batch_size`.
        batch_size: Images drawn at once.
        labels: For a conditional model, one label for all images or one per
            image; None samples unconditionally.
        guidance: Classifier-free guidance scale when `labels` are given.
        progress: Show progress bars.
        **options: Further keyword arguments of the sampler, such as
            `churn` for `"heun"`.

    Returns:
        `(images, nfe, seconds)`.

    Example:

    >>> images, nfe, seconds = sample(model, 100, labels=np.repeat(np.arange(10), 10))
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {sorted(SAMPLERS)}.")
    if steps is not None:
        options["steps"] = steps
    if steps is not None and sampler == "ode":
        options["solver"] = "heun"
    if labels is not None:
        labels = np.broadcast_to(np.asarray(labels, dtype="int32"), (num,))
    start = time.perf_counter()
    batches, nfe = [], 0
    for first in range(0, num, batch_size):
        size = min(batch_size, num - first)
        guided = model
        if labels is not None:
            guided = model.guided(labels[first : first + size], guidance)
        images, nfe = SAMPLERS[sampler](
            guided, size, seed=seed + first, progress=progress, **options
        )
        batches.append(images)
    return np.concatenate(batches), nfe, time.perf_counter() - start
