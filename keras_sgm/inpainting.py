"""Inpainting: sample the unknown pixels of an image given the known ones."""

import math

import numpy as np
from keras import ops

from keras_sgm._programs import SamplingRun
from keras_sgm.backend import input_gradient
from keras_sgm.masks import half_mask  # noqa: F401 - inpainting's masks, importable from here
from keras_sgm.pretrained import DEFAULT_RECONSTRUCTION_GUIDANCE
from keras_sgm.samplers import reverse_sde_step, time_grid


class ReconstructionGuided:
    """A score pulled towards agreeing with known pixels (reconstruction guidance).

    The model's denoised estimate `D(x) = x + sigma^2 s(x)` should reproduce
    the known pixels; the score gains the gradient of that mismatch,
    `s(x) - weight / (2 sigma^2) * grad_x |mask * (known - D(x))|^2`
    (Ho et al. 2022, "Video Diffusion Models", section 3.1). It steers the
    generated pixels, which replacement alone leaves blind to the known ones
    until the noise is low.

    Args:
        model: Anything with a `schedule` and `score(x, times)`: a
            `ScoreModel`, or the conditioned score a sampler step sees.
        known: The known pixels (zero elsewhere).
        mask: 1 where a pixel is known.
        weight: The guidance weight; 0 is the model's own score.

    Example:

    >>> guided = ReconstructionGuided(model, known, mask, weight=25.0)
    >>> score = guided.score(noisy_images, times)  # what `inpaint` steps with
    """

    def __init__(self, model, known, mask, weight):
        self.model, self.known, self.mask, self.weight = model, known, mask, weight
        self.schedule = model.schedule

    def score(self, x, times):
        variance = ops.reshape(ops.square(self.schedule.marginal_std(times)), (-1, 1, 1, 1))

        def mismatch(y):
            score = self.model.score(y, times)
            return ops.sum(self.mask * ops.square(self.known - (y + variance * score))), score

        pull, score = input_gradient(mismatch, x, has_aux=True)
        return score - self.weight / (2.0 * variance) * pull


def _keep_known(x, value, mask):
    return mask * value + (1.0 - mask) * x


def _inpainting_step(model, normal, x, t, t_next, known, mask, weight, resample, reconstruct):
    if reconstruct:
        model = ReconstructionGuided(model, known, mask, weight)
    std, std_next = model.schedule.marginal_std(t), model.schedule.marginal_std(t_next)
    for back in range(resample):
        if back:
            # RePaint: noise the result back to t and denoise it again.
            x = x + ops.sqrt(ops.square(std) - ops.square(std_next)) * normal()
        x, mean = reverse_sde_step(model, normal, x, t, t_next)
        # The known pixels become the known image noised to t_next.
        x = _keep_known(x, known + std_next * normal(), mask)
    return x, _keep_known(mean, known, mask)


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
        model: A `ScoreFunction` of images, such as a `ScoreModel`, or
            `model.guided(labels, guidance)` to fill in a given digit.
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
    if images.shape[1:] != tuple(model.sample_shape):
        raise ValueError(
            f"images must have shape (batch, {', '.join(map(str, model.sample_shape))}) "
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
    run = SamplingRun(model, len(images), seed, progress, total_steps=steps)
    known, mask = ops.convert_to_tensor(images * mask), ops.convert_to_tensor(mask)
    x = _keep_known(run.prior(), known + model.schedule.prior_std() * run.normal(), mask)
    x = run.loop(_inpainting_step, x, time_grid(steps, eps), known=known, mask=mask, weight=weight,
                 constants={"resample": resample, "reconstruct": weight > 0})
    return run.images(x), steps * resample
