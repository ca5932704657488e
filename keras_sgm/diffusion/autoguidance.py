"""Autoguidance (Karras et al. 2024, "Guiding a diffusion model with a bad version of itself").

Classifier-free guidance pushes a conditional denoiser away from the
unconditional one, so it needs labels and trades variety for fidelity.
Autoguidance pushes a model away from a weaker version of itself, a smaller
or briefly trained network of the same data, with the same conditioning:

    D_w(x | c) = D_guide(x | c) + w (D(x | c) - D_guide(x | c))

The two err alike where the task is hard, so the difference points from
the guide's mistakes towards the data, and it works without labels: it is
the guidance of the unconditional path. `w = 1` (or a guide equal to the
model) is the model alone.
"""

import numpy as np
from keras import ops

from keras_sgm.diffusion.guidance import ModelView, guide as extrapolate

DEFAULT_AUTOGUIDANCE = 2.0
"""The autoguidance scale where neither the call nor the model gives one."""

NO_GUIDE = "none"
"""The `guide` that turns a model's default autoguidance off (`ScoreModel.guided`, `--guide none`)."""


def resolve_autoguidance(scale):
    """`scale` as a float, `DEFAULT_AUTOGUIDANCE` when it is None."""
    return float(DEFAULT_AUTOGUIDANCE if scale is None else scale)


def check_guide(model, guide):
    """Raises a one-line `ValueError` unless `guide` can guide `model`: the same samples, the same
    decoder and labels the model's own can be given to.

    Args:
        model: A `ScoreModel` (pixel or latent).
        guide: Another model of the same data.
    """
    if guide is model:
        return
    for name in ("sample_shape", "image_shape"):
        if tuple(getattr(guide, name)) != tuple(getattr(model, name)):
            raise ValueError(
                f"the guide's {name} is {tuple(getattr(guide, name))} but the model's is "
                f"{tuple(getattr(model, name))}; a guide must be a weaker model of the same data."
            )
    autoencoders = [getattr(m, "autoencoder", None) for m in (model, guide)]
    if (autoencoders[0] is None) != (autoencoders[1] is None) or (
        autoencoders[0] is not None
        and not all(np.array_equal(a, b) for a, b in zip(*(a.get_weights() for a in autoencoders)))
    ):
        raise ValueError("the guide works on another latent space than the model; train it with the model's "
                         "autoencoder (keras-sgm train --autoencoder).")
    classes, guide_classes = num_classes(model), num_classes(guide)
    if guide_classes is not None and guide_classes != classes:
        raise ValueError(f"the guide knows {guide_classes} classes but the model {classes}; "
                         "give a guide trained on the same labels, or an unconditional one.")


def check_interval(interval):
    """`interval` as a `(low, high)` pair of floats with `0 <= low < high < inf`, or None; else a
    `ValueError`."""
    if interval is None:
        return None
    try:
        low, high = (float(level) for level in interval)
    except (TypeError, ValueError):
        low = high = float("nan")
    if not 0.0 <= low < high < float("inf"):
        raise ValueError(f"a guidance interval is two noise levels 0 <= low < high, such as (0.3, 5.0); "
                         f"got {interval!r}.")
    return low, high


def num_classes(model):
    """The classes a model is conditioned on, None for an unconditional one (or an exact score)."""
    return getattr(model, "num_classes", None)


class AutoGuidedScore(ModelView):
    """A model guided by a weaker version of itself, seen by the samplers: a `ScoreFunction`.

    Args:
        model: A `ScoreModel` (pixel or latent), conditional or not.
        guide: The weaker model (see `check_guide`); an unconditional
            guide can guide a conditional model, given no labels.
        labels: One label or one per image for a conditional model, or None
            for the unconditional path; the guide gets the same ones.
        scale: The autoguidance scale `w`; None is `DEFAULT_AUTOGUIDANCE`.
        interval: `(low, high)` noise levels between which the guidance
            acts; outside them the model runs alone (`w = 1`). None guides
            at every level. Guidance in a limited interval (Kynkäänniemi et
            al. 2024) spares the highest levels, where pushing from the
            guide's layout of the image costs variety, and the lowest, where
            it only sharpens noise.

    Example:

    >>> images, nfe = edm_heun(AutoGuidedScore(model, guide, scale=2.0), 16)
    >>> images, nfe = edm_heun(AutoGuidedScore(model, guide, scale=2.0, interval=(0.3, 5.0)), 16)
    """

    def __init__(self, model, guide, labels=None, scale=None, interval=None):
        check_guide(model, guide)
        super().__init__(model, labels)
        self.guide = guide
        self.scale = resolve_autoguidance(scale)
        self.interval = check_interval(interval)

    @property
    def state_variables(self):
        own = {id(variable) for variable in self.model.state_variables}
        # A guide network saved inside the model is among the model's own variables already.
        return [*self.model.state_variables, *(v for v in self.guide.state_variables if id(v) not in own)]

    @property
    def is_consistency_model(self):
        return False  # a guided consistency model is no consistency function

    @property
    def sampling_programs(self):
        # The programs trace both networks, so they are the pair's, kept with the model (and
        # holding the guide, so that its id names no other model while they live).
        return self.model.sampling_programs.child(("autoguidance", id(self.guide)))

    def conditioning(self, batch_size):
        low, high = self.interval or (0.0, float("inf"))
        conditioning = {"scale": ops.convert_to_tensor(self.scale, "float32"),
                        "interval": ops.convert_to_tensor([low, high], "float32")}
        if num_classes(self.model) is not None:
            conditioning["labels"] = self.model.labels_for(self.labels, batch_size)
        if num_classes(self.guide) is not None:
            conditioning["guide_labels"] = self.guide.labels_for(self.labels, batch_size)
        return conditioning

    def denoise(self, x, sigma, scale, interval, labels=None, guide_labels=None):
        # The plain conditional denoisers (no labels: the unconditional ones), one pass each.
        denoised = self.model.denoise(x, sigma, **({} if labels is None else {"labels": labels}))
        guess = self.guide.denoise(x, sigma, **({} if guide_labels is None else {"labels": guide_labels}))
        inside = ops.logical_and(sigma >= interval[0], sigma <= interval[1])
        scale = ops.reshape(ops.where(inside, scale, 1.0), (-1,) + (1,) * (len(x.shape) - 1))
        return extrapolate(denoised, guess, scale)
