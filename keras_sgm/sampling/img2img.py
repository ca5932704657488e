"""Image-to-image (SDEdit, Meng et al. 2022): noise an image part of the way up, then sample back down.

The noise level picks what is kept. At a low level only strokes and
texture are redrawn; at a high one only the rough layout survives, and the
model (with a label, guided towards that class) draws the rest. For a latent
model the image is encoded first and the sampler's output decoded.
"""

import math

import numpy as np

from keras_sgm.data import validation
from keras_sgm.sampling.names import IMG2IMG_SAMPLERS
from keras_sgm.sampling.samplers import (
    consistency_sigmas,
    edm_heun,
    euler_maruyama,
    multistep_consistency,
    predictor_corrector,
    probability_flow_ode,
)

FULL_STEPS = {"heun": 18, "euler": 500, "pc": 500, "ode": 100}
"""Each sampler's steps from the prior; image-to-image takes `strength` times as many."""


def img2img(model, images, strength, *, sampler=None, steps=None, churn=0.0, seed=None, progress=False):
    """`images` redrawn by the model from the noise level that `strength` picks.

    Each image (its latents, for a latent model) is noised to
    `sigma(t = strength)` of the model's schedule, then sampled back to 0.
    `strength = 1` starts from the prior's level, so the output keeps
    nothing of the input; small strengths keep it nearly unchanged.

    Args:
        model: A model with `encode` and the `ScoreFunction` interface: a
            `ScoreModel` (pixel or latent), or `model.guided(labels,
            guidance)` to redraw towards classes.
        images: `(batch, *image_shape)` images, uint8 0..255 or floats in [0, 1].
        strength: In (0, 1]: how far up the noise levels the images go.
        sampler: A name of `IMG2IMG_SAMPLERS` (`"ode"` with Heun's fixed
            steps); None: `"consistency"` for a consistency model, else
            `"heun"`.
        steps: The sampler's steps (default: `strength` times its
            `FULL_STEPS`, at least 2) or the consistency model's jumps
            (default 1).
        churn: EDM's `S_churn` for Heun.
        seed: Seed of the noise.
        progress: Show a progress bar.

    Returns:
        `(images, nfe)`: the redrawn images, as the decoder made them (not
        clipped), and the network evaluations per image.

    Example:

    >>> redrawn, nfe = img2img(model.guided(labels=[3] * 8, guidance=2.0), sketches, strength=0.6)
    """
    strength = float(strength)
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength is the share of the noise levels to go up, in (0, 1]; got {strength}.")
    images = np.asarray(images)
    if images.ndim != 4 or tuple(images.shape[1:]) != tuple(model.image_shape):
        raise ValueError(f"img2img needs images of shape (batch, {', '.join(map(str, model.image_shape))}); "
                         f"got {images.shape}. Resize or convert them to the model's size and colour.")
    consistency = getattr(model, "is_consistency_model", False)
    sampler = sampler or ("consistency" if consistency else "heun")
    if sampler not in IMG2IMG_SAMPLERS:
        raise ValueError(f"img2img runs the {' or '.join(IMG2IMG_SAMPLERS)} sampler; got {sampler!r}.")
    start = model.encode(images)
    level = float(np.asarray(model.schedule.marginal_std(np.float32(strength))))
    if sampler == "consistency":
        steps = validation.positive_int(1 if steps is None else steps, "steps")
        return multistep_consistency(model, len(images), steps=steps, sigmas=consistency_sigmas(steps, level),
                                     seed=seed, progress=progress, start=start)
    steps = validation.positive_int(max(2, math.ceil(FULL_STEPS[sampler] * strength)) if steps is None else steps,
                                    "steps")
    if churn and sampler != "heun":
        raise ValueError(f"churn applies to the heun sampler only, not {sampler}.")
    common = {"steps": steps, "seed": seed, "progress": progress, "start": start}
    if sampler == "heun":
        return edm_heun(model, len(images), churn=churn, sigma_max=level, **common)
    if sampler == "ode":
        return probability_flow_ode(model, len(images), solver="heun", t_start=strength, **common)
    return {"euler": euler_maruyama, "pc": predictor_corrector}[sampler](model, len(images), t_start=strength,
                                                                         **common)
