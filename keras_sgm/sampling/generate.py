"""The one compiled-loop helper under the samplers: prior, loop and decoder in one cached program.

A fixed-step sampler is its paper's algorithm, written as a function

    algorithm(D, x, loop, normal, **inputs) -> samples

- `D(x, sigma)`: the model's denoiser with this call's labels and guidance,
  at one noise level `sigma` for the whole batch;
- `x`: a draw from the prior, `N(0, sigma_max^2 I)` (or, for image-to-image,
  the given samples with that draw scaled to their noise level);
- `loop(step, x, count)`: `x = step(i, x, normal)` for `i` in
  `range(count)`, as one compiled loop; `normal()` draws standard normal
  noise of `x`'s shape;
- `normal()`: the same draw, outside the loop;
- `inputs`: the arrays the algorithm reads (its grid, its settings), as
  tensors.

`generate` compiles `algorithm` with the decoder once per model, guidance
kind, batch shape and set of Python values the algorithm captured, as
keras-hub compiles its `generate_step`, and keeps the program in the model's
`sampling_programs`. Everything else (seed, labels, guidance scale, grid) is
an input, so a later call with other values reuses it.
"""

import random

import keras
import numpy as np
from keras import ops

from keras_sgm.backend.compile import compile_stateful
from keras_sgm.backend.distribution import shard_batch
from keras_sgm.data import validation


def generate(model, batch_size, algorithm, *, seed=None, progress=None, start=None, start_sigma=None, **inputs):
    """`algorithm` run compiled from the prior, its samples decoded: the images as a NumPy array.

    Args:
        model: A `ScoreFunction`, such as `ScoreModel.guided(...)`.
        batch_size: Samples drawn at once.
        algorithm: A function of `(D, x, loop, normal, **inputs)` (see the module
            docstring); what it captures from its enclosing function must be
            Python values, which become part of the cache key.
        seed: Seed of the prior draw and every later draw; None for a random one.
        progress: A `progress_bar`, completed when the program returns, a `StepWatcher`, or None.
        start: Samples to start from instead of the prior (image-to-image):
            `x` is then `start + start_sigma z`, the same draw `z`.
        start_sigma: The noise level of `start`'s draw.
        **inputs: Arrays or numbers the algorithm reads, as float32 tensors.

    Returns:
        The decoder's images, not clipped.
    """
    shape = (validation.positive_int(batch_size, "batch_size"), *model.sample_shape)
    cache = model.sampling_programs
    key = (algorithm.__code__, _captured(algorithm), shape, getattr(model, "program_key", ()))
    reseeded_noise(model, seed)
    if start is not None:
        inputs.update(start=start, start_sigma=start_sigma)
    inputs = {name: ops.convert_to_tensor(np.asarray(value, "float32")) for name, value in inputs.items()}
    if isinstance(progress, StepWatcher):
        return _run_watched(model, shape, algorithm, progress, inputs)
    if key not in cache.programs:
        cache.programs[key] = compile_stateful(_program(model, shape, algorithm, cache.noise),
                                               [*model.state_variables, cache.noise.state])
    images = ops.convert_to_numpy(cache.programs[key](model.conditioning(shape[0]), inputs))
    if progress is not None:
        progress.update(progress.target)
    return images


class StepWatcher:
    """Watches a sampler step by step: give one as a sampler's (or `sample()`'s) `progress`.

    `generate` then runs the sampler's loop in Python over its compiled denoiser, the same
    algorithm and the same draws as the compiled program, and after each step calls
    `on_step(step, steps, noisy, denoised)` with the decoded images (NumPy) of the current sample
    and of the denoiser's latest prediction of the clean one. An exception raised by `on_step`
    stops the sampler (the studio's client has gone, say).

    Example:

    >>> watcher = StepWatcher(lambda step, steps, noisy, denoised: print(f"{step}/{steps}"))
    >>> images, nfe = edm_heun(model.guided(labels=7), 16, progress=watcher)
    """

    def __init__(self, on_step):
        self.on_step = on_step


def _run_watched(model, shape, algorithm, watcher, inputs):
    key = ("denoise", shape, getattr(model, "program_key", ()))
    programs = model.sampling_programs.programs
    if key not in programs:
        programs[key] = compile_stateful(
            lambda x, sigma, conditioning: conditioned_denoiser(model, shape[0], conditioning)(x, sigma),
            model.state_variables)
    conditioning, noise = model.conditioning(shape[0]), model.sampling_programs.noise
    latest = {}

    def D(x, sigma):
        latest["denoised"] = programs[key](x, ops.convert_to_tensor(sigma, "float32"), conditioning)
        return latest["denoised"]

    def normal():
        return keras.random.normal(shape, seed=noise)

    def loop(step, x, count):
        for i in range(count):
            x = step(i, x, normal)
            watcher.on_step(i + 1, count, decoded(model, x), decoded(model, latest["denoised"]))
        return x

    start, start_sigma = inputs.pop("start", None), inputs.pop("start_sigma", None)
    x = prior(model, shape, noise) if start is None else start + normal() * start_sigma
    return decoded(model, algorithm(D, x, loop, normal, **inputs))


def progress_bar(show, steps):
    """A progress bar of `steps` sampler steps where `show`, else None; a `StepWatcher` stays itself."""
    if isinstance(show, StepWatcher):
        return show
    return keras.utils.Progbar(steps, unit_name="step") if show else None


def _captured(algorithm):
    """The Python values `algorithm` captured, which its trace bakes in."""
    values = tuple(cell.cell_contents for cell in algorithm.__closure__ or ())
    try:
        hash(values)
    except TypeError:
        raise TypeError(f"{algorithm.__qualname__} captures an array; pass arrays to generate() as "
                        f"inputs.") from None
    return values


def conditioned_denoiser(model, batch_size, conditioning=None):
    """`D(x, sigma)`: `model.denoise` with its conditioning (by default `model.conditioning(batch_size)`)
    bound, at one noise level `sigma` for the batch."""
    conditioning = model.conditioning(batch_size) if conditioning is None else conditioning
    return lambda x, sigma: model.denoise(x, ops.full((batch_size,), sigma), **conditioning)


def _program(model, shape, algorithm, noise):
    def program(conditioning, inputs):
        inputs = dict(inputs)
        start, start_sigma = inputs.pop("start", None), inputs.pop("start_sigma", None)

        def loop(step, x, count):
            # The noise state rides in the loop carry: a variable assigned inside a traced loop
            # body must not leak out of it (JAX).
            def body(i, carry):
                x, state = carry
                noise.state.assign(state)
                x = step(i, x, normal)
                return x, noise.state.value

            # Every replica of a data-parallel run steps its share of the batch.
            x, state = ops.fori_loop(0, count, body, (shard_batch(x), noise.state.value))
            noise.state.assign(state)
            return x

        def normal():
            return keras.random.normal(shape, seed=noise)

        D = conditioned_denoiser(model, shape[0], conditioning)
        x = prior(model, shape, noise) if start is None else start + normal() * start_sigma
        return model.decode(algorithm(D, x, loop, normal, **inputs))

    return program


def prior(model, shape, noise):
    """A draw of `shape` from the prior `N(0, sigma_max^2 I)`."""
    return keras.random.normal(shape, seed=noise) * model.schedule.prior_std()


def reseeded_noise(model, seed):
    """The `SeedGenerator` of `model`'s sampler noise, restarted at `seed` (None: a random one) as a fresh
    generator would be."""
    noise = model.sampling_programs.noise
    seed = random.randint(1, int(1e9)) if seed is None else int(seed)
    noise.state.assign(ops.convert_to_tensor([seed, 0], noise.state.dtype))
    return noise


def decoded(model, x):
    """The samples `x` decoded to images, as a NumPy array (a cached program)."""
    key = ("decode", tuple(ops.shape(x)))
    if key not in model.sampling_programs.programs:
        model.sampling_programs.programs[key] = compile_stateful(model.decode, model.state_variables)
    return ops.convert_to_numpy(model.sampling_programs.programs[key](x))
