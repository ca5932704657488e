"""What a sampler needs from a model: the `ScoreFunction` protocol.

Every sampler, `sample()`, inpainting and the likelihood see a model only
through this interface, so a pixel-space `ScoreModel`, a guided view of one
(`ScoreModel.guided`), a latent model and the tests' exact analytic scores
all plug into the same code, and that code never asks which one it has.
"""

from typing import Protocol, runtime_checkable


@runtime_checkable
class ScoreFunction(Protocol):
    """A denoiser `D(x, sigma)` of noisy samples and what sampling needs of it.

    The score is `s(x, sigma) = grad_x log p(x; sigma) = (D(x, sigma) - x) / sigma^2`
    (Karras et al. 2022, eq. 3): the samplers ask for `D` at noise levels,
    as EDM and k-diffusion do, and convert to a time only where an SDE
    sampler's step needs one.

    The samplers compile their loops once per model and reuse them, so what
    a score depends on is split in two: `conditioning(batch_size)` returns
    the tensors that change from call to call (labels, a guidance scale),
    which enter the compiled program as inputs, and `denoise` must read
    nothing else but those, its arguments and `state_variables`.

    Attributes:
        schedule: The `NoiseSchedule` the score was trained on.
        sample_shape: Shape of one sample in the space the sampler
            integrates: the image shape in pixel space, the latent grid's
            shape for a latent model.
        image_shape: Shape of one image that `decode` returns.
        state_variables: The Keras variables `denoise` (and `decode`) read;
            they are carried into the compiled programs.
        sampling_programs: A `keras_sgm.programs.ProgramCache` that keeps
            the compiled programs and the sampler noise; it lives as long as
            the model, as keras-hub keeps its generate function.
    """

    schedule: object
    sample_shape: tuple
    image_shape: tuple
    state_variables: list
    sampling_programs: object

    def conditioning(self, batch_size):
        """The conditioning tensors of `batch_size` samples, by keyword of `denoise`; `{}` for none."""

    def denoise(self, x, sigma, **conditioning):
        """The denoised `x` at `(batch,)` noise levels `sigma`, given `conditioning`."""

    def decode(self, x):
        """Samples in the sampler's space -> images in [0, 1] (the identity in pixel space)."""


class ProgramCache:
    """The compiled sampler programs of one model and the generator of their noise.

    A `ScoreFunction` holds one as `sampling_programs`, as keras-hub keeps
    its generate function on the model; `ScoreModel` clears it when its
    schedule or a network is replaced. The noise generator is reseeded by
    every sampler call, so that a seed gives the same samples whatever ran
    before.

    Example:

    >>> cache = ProgramCache()
    >>> cache.clear()
    """

    def __init__(self):
        self.programs = {}
        self.children = {}
        self._noise = None

    def child(self, key):
        """The cache of a view that traces this model with others (autoguidance), by `key`, made on
        first use and cleared with this one."""
        if key not in self.children:
            self.children[key] = ProgramCache()
        return self.children[key]

    @property
    def noise(self):
        """The `keras.random.SeedGenerator` of the sampler noise, made on first use."""
        if self._noise is None:
            import keras

            self._noise = keras.random.SeedGenerator(0)
        return self._noise

    def clear(self):
        """Drops the compiled programs; the next sampler call compiles again."""
        self.programs.clear()
        self.children.clear()
