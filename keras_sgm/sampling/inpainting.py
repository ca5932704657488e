"""Inpainting: sample the unknown pixels of an image given the known ones."""

import numpy as np
from keras import ops

from keras_sgm.backend.compile import input_gradient
from keras_sgm.data import validation
from keras_sgm.models.presets import DEFAULT_RECONSTRUCTION_GUIDANCE
from keras_sgm.sampling.masks import half_mask  # noqa: F401 - inpainting's masks, importable from here
from keras_sgm.sampling.generate import generate, progress_bar
from keras_sgm.sampling.samplers import reverse_sde_step, time_grid


def reconstruction_guided(D, decode, known, mask, weight):
    """`D(x, sigma)` pulled towards agreeing with known pixels (reconstruction guidance).

    The denoised estimate `D(x)`, decoded to pixels, should reproduce the
    known pixels; the score `(D - x) / sigma^2` gains the gradient of that
    mismatch, `- weight / (2 sigma^2) grad_x |mask (known - decode(D(x)))|^2`
    (Ho et al. 2022, "Video Diffusion Models", section 3.1). It steers the
    generated pixels, which replacement alone leaves blind to the known ones
    until the noise is low; in a latent space, where pixels cannot be
    replaced, it is what ties the sample to the known pixels, through the
    decoder.

    Args:
        D: A denoiser `D(x, sigma)`.
        decode: The model's decoder (the identity in pixel space).
        known: The known pixels (zero elsewhere).
        mask: 1 where a pixel is known.
        weight: The guidance weight; 0 is the model's own denoiser.

    Returns:
        The guided denoiser, `D(x, sigma)`.
    """

    def guided(x, sigma):
        def mismatch(y):
            denoised = D(y, sigma)
            return ops.sum(mask * ops.square(known - decode(denoised))), denoised

        pull, denoised = input_gradient(mismatch, x, has_aux=True)
        # The score gains -weight / (2 sigma^2) pull, so D = x + sigma^2 s gains -weight / 2 pull.
        return denoised - 0.5 * weight * pull

    return guided


def inpaint(model, images, mask, *, steps=500, resample=1,
            reconstruction_guidance=DEFAULT_RECONSTRUCTION_GUIDANCE, keep_known=True, eps=1e-3,
            seed=None, progress=False):
    """Fills in the unknown pixels of `images` consistently with the known ones.

    Euler-Maruyama on the reverse SDE, and after every step the known pixels
    are replaced by the known image noised to the current level, `x0 + sigma(t) z`
    (Song et al. 2021, appendix I): the unknown pixels are then sampled from
    the model given noisy versions of the known ones. The result keeps the
    known pixels exactly. A latent model, whose samples are not pixels,
    skips the replacement and relies on reconstruction guidance through its
    decoder.

    Replacement alone lets the generated half ignore the known half at high
    noise levels. Two remedies, which combine:
    - reconstruction guidance (see `reconstruction_guided`) adds the gradient
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
        keep_known: Paste the known pixels over the result. With False the
            result is the sampler's own output everywhere (for a latent
            model, what its decoder made of the known part), not clipped.
        eps: Final time.
        seed: Seed of the prior draw and the noise.
        progress: Show a progress bar.

    Returns:
        `(images, nfe)` as for `euler_maruyama`.

    Example:

    >>> completed, nfe = inpaint(model, test_digits[:16], half_mask((28, 28, 1), "top"), seed=0)
    """
    if getattr(model, "is_consistency_model", False):
        raise ValueError("inpainting integrates a score, and a consistency model has none: inpaint with the "
                         "score model it was tuned from.")
    images, mask = validation.known_pixels(images, mask, model.image_shape)
    steps = validation.positive_int(steps, "steps")
    resample = validation.positive_int(resample, "resample")
    weight = validation.finite_non_negative(reconstruction_guidance, "reconstruction_guidance")
    replace = tuple(model.sample_shape) == tuple(model.image_shape)
    reconstruct = weight > 0
    if not (replace or weight):
        raise ValueError("a latent model inpaints through reconstruction guidance alone: "
                         "give reconstruction_guidance > 0.")
    schedule = model.schedule

    def inpainting(D, x, loop, normal, times, known, mask, weight):
        if reconstruct:
            D = reconstruction_guided(D, model.decode, known, mask, weight)

        def keep_known(x, value):
            return mask * value + (1.0 - mask) * x

        def step(i, x, normal):
            std, std_next = schedule.marginal_std(times[i]), schedule.marginal_std(times[i + 1])
            for back in range(resample):
                if back:
                    # RePaint: noise the result back to t and denoise it again.
                    x = x + ops.sqrt(ops.square(std) - ops.square(std_next)) * normal()
                x, mean = reverse_sde_step(D, schedule, x, times[i], times[i + 1], normal)
                if replace:
                    # The known pixels become the known image noised to the next level.
                    x = keep_known(x, known + std_next * normal())
            return ops.where(i < steps - 1, x, mean)

        if replace:
            # The known pixels start as a draw of the prior's noise level around them.
            x = keep_known(x, known + normal() * schedule.prior_std())
        return loop(step, x, steps)

    completed = generate(model, len(images), inpainting, seed=seed, progress=progress_bar(progress, steps),
                         times=time_grid(steps, eps), known=images * mask, mask=mask, weight=weight)
    if keep_known:
        completed = mask * images + (1.0 - mask) * np.clip(completed, 0.0, 1.0)
    return completed, steps * resample
