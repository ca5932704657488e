"""Compiled sampler programs: the prior, the loop of steps and the decoder as one cached program.

Private plumbing of `samplers.py` and `inpainting.py`, after keras-hub's
`generate_step`. A sampler is written as two kinds of module-level function
of `keras.ops`:

- a step, `step(model, normal, x, s, s_next, **settings) -> (x_next, out)`,
  where `model.denoise(x, sigma)` is the denoiser with this call's
  conditioning and `normal()` draws standard normal noise of the batch's shape;
- a program, `program(trace, **inputs) -> images`, which reads as the
  paper's algorithm: `x = trace.prior()`, then `trace.loop(step, x, grid)`
  once or more, then `trace.decode(x)`.

`SamplingRun.generate` traces the program once per model, batch shape and
set of Python constants, and keeps the compiled program in the model's
`sampling_programs`. Everything else (seed, labels, guidance scale, the
grid, the settings) is an input, so a later call with other values reuses it.
"""

import random

import keras
import numpy as np
from keras import ops

from keras_sgm.backend.compile import compile_stateful
from keras_sgm.backend.distribution import shard_batch
from keras_sgm.data import validation


class ConditionedScore:
    """A `ScoreFunction` with one call's conditioning bound: what a step sees.

    Args:
        score_function: A `ScoreFunction`.
        conditioning: Its conditioning tensors for this batch.
    """

    def __init__(self, score_function, conditioning):
        self.score_function = score_function
        self.conditioning = conditioning
        self.schedule = score_function.schedule

    def denoise(self, x, sigma):
        return self.score_function.denoise(x, sigma, **self.conditioning)

    def decode(self, x):
        return self.score_function.decode(x)


class SamplerTrace:
    """What a sampler program sees while it is traced (and the adaptive solvers eagerly): the
    model, the noise and the loop.

    Args:
        model: The `ConditionedScore` of the call.
        shape: The batch's shape in the sampler's space.
        noise: The `keras.random.SeedGenerator` of the sampler noise.
    """

    def __init__(self, model, shape, noise):
        self.model, self.shape, self.noise = model, shape, noise

    def normal(self):
        """Standard normal noise of the batch's shape."""
        return keras.random.normal(self.shape, seed=self.noise)

    def prior(self):
        """A draw from the prior `N(0, sigma_max^2 I)`."""
        return self.normal() * self.model.schedule.prior_std()

    def loop(self, step, x, grid, **settings):
        """`x, out = step(model, normal, x, grid[i], grid[i + 1], **settings)` along `grid`.

        Args:
            step: A step function (see the module docstring).
            x: The starting batch.
            grid: The times or noise levels, in the order the loop visits
                them, as a tensor.
            **settings: Passed on to every step.

        Returns:
            The last step's `out`.
        """
        state = self.noise.state

        def body(i, carry):
            x, _, seed_state = carry
            # The RNG state rides in the loop carry: a variable assigned inside
            # a traced loop body must not leak out of it (JAX).
            state.assign(seed_state)
            x, out = step(self.model, self.normal, x, ops.take(grid, i), ops.take(grid, i + 1), **settings)
            return x, out, state.value

        # Every replica of a data-parallel run steps its share of the batch, not all of it.
        x = shard_batch(x)
        # The grid's length is symbolic where TensorFlow generalised the program over step counts.
        _, out, seed_state = ops.fori_loop(0, ops.shape(grid)[0] - 1, body, (x, x, state.value))
        state.assign(seed_state)
        return out

    def decode(self, x):
        """The samples as images."""
        return self.model.decode(x)


class SamplingRun:
    """One sampler call: seeded noise, the model's conditioning and its compiled programs.

    The sampler noise comes from the model's own generator, reseeded here,
    so that a seed gives the same samples as a fresh `SeedGenerator(seed)`
    whatever ran before.

    Args:
        score_function: A `ScoreFunction`.
        batch_size: Samples drawn at once.
        seed: Seed of the prior draw and of every later draw; None for a
            random one.
        progress: Show a progress bar.
        total_steps: Steps the progress bar counts.
    """

    def __init__(self, score_function, batch_size, seed=None, progress=False, total_steps=None):
        self.score_function = score_function
        self.shape = (validation.positive_int(batch_size, "batch_size"), *score_function.sample_shape)
        self.cache = score_function.sampling_programs
        self.noise = self.cache.noise
        seed = random.randint(1, int(1e9)) if seed is None else int(seed)
        self.noise.state.assign(ops.convert_to_tensor([seed, 0], self.noise.state.dtype))
        self.conditioning = score_function.conditioning(self.shape[0])
        self.variables = [*score_function.state_variables, self.noise.state]
        self._eager = SamplerTrace(ConditionedScore(score_function, self.conditioning), self.shape, self.noise)
        self.total_steps = total_steps
        self._bar = keras.utils.Progbar(total_steps, unit_name="step") if progress else None
        self._done = 0

    def generate(self, program, constants=None, **inputs):
        """Runs `program(trace, **inputs, **constants)` compiled, and returns its images.

        Args:
            program: A module-level program function (see the module
                docstring); a closure is refused, since what it captured
                would outlive the call in the cached program.
            constants: Python values the trace depends on (a loop count, an
                on/off switch), passed to `program` and part of the cache key.
            **inputs: Float inputs (scalars or arrays, such as the grid),
                passed to `program` as tensors.

        Returns:
            The images as a NumPy array, as the decoder made them (not clipped).
        """
        if program.__closure__:
            raise TypeError(f"{program.__name__} is a closure; a sampler program must be a module-level function.")
        constants = dict(constants or {})
        key = (program, self.shape, tuple(sorted(constants.items())))
        if key not in self.cache.programs:
            self.cache.programs[key] = self.compile(self._traced(program, constants))
        inputs = {name: ops.convert_to_tensor(np.asarray(value, "float32")) for name, value in inputs.items()}
        images = self.cache.programs[key](self.conditioning, inputs)
        self.advance(self.total_steps or 0)
        return ops.convert_to_numpy(images)

    def _traced(self, program, constants):
        """The function `generate` compiles; it reads no value of this call but its arguments."""
        score_function, shape, noise = self.score_function, self.shape, self.noise

        def run(conditioning, inputs):
            trace = SamplerTrace(ConditionedScore(score_function, conditioning), shape, noise)
            return program(trace, **inputs, **constants)

        return run

    # What the adaptive solvers, whose step count is not known in advance, use instead of
    # `generate`: the same draws and conditioning as a program's, run eagerly.

    def normal(self):
        """Standard normal noise of the batch's shape."""
        return self._eager.normal()

    def prior(self):
        """A draw from the prior `N(0, sigma_max^2 I)`."""
        return self._eager.prior()

    def conditioned(self):
        """The score with this call's conditioning."""
        return self._eager.model

    def compile(self, fn):
        """`fn(*tensors)` compiled with the model's variables and the noise, not cached."""
        return compile_stateful(fn, self.variables)

    def advance(self, steps):
        """Moves the progress bar by `steps`."""
        self._done += steps
        if self._bar is not None:
            self._bar.update(self._done)

    def images(self, x):
        """The samples `x` decoded to images, as a NumPy array (a cached program)."""
        key = ("decode", tuple(ops.shape(x)))
        if key not in self.cache.programs:
            self.cache.programs[key] = compile_stateful(self.score_function.decode,
                                                        self.score_function.state_variables)
        return ops.convert_to_numpy(self.cache.programs[key](x))
