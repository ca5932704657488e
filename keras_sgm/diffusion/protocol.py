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
        sampling_programs: A `keras_sgm.backend.compile.ProgramCache` that
            keeps the compiled programs and the sampler noise; it lives as
            long as the model, as keras-hub keeps its generate function. A
            view of a model (`Guided`) shares the model's and names what it
            adds to the trace in `program_key`.
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

