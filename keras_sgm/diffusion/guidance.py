"""Classifier-free guidance (Ho & Salimans 2022), in one place: its default, its formula and
the view of a conditional model that the samplers see.

A guided call reaches the network in one of three ways, decided once by
`guidance_conditioning`: no labels (or a scale of 0) is the unconditional
denoiser; a scale of exactly 1 is the plain conditional one; any other
scale, or one that is already a tensor, doubles the batch, runs the
conditional and the unconditional halves together and mixes them with
`guide`. The scale enters the compiled sampler programs as a tensor, so
one program serves every scale.
"""

import numpy as np
from keras import ops

DEFAULT_GUIDANCE = 2.0
"""The guidance scale of a model that does not set its own (`ScoreModel(default_guidance=...)`)."""


def resolve_guidance(model, guidance):
    """`guidance` as a float, the model's `default_guidance` when it is None: the one place a default applies."""
    return float(model.default_guidance if guidance is None else guidance)


def guide(conditional, unconditional, scale):
    """The classifier-free guidance formula, `u + w (c - u)`, of denoised images (or scores)."""
    return unconditional + scale * (conditional - unconditional)


def label_input(labels, batch_size, num_classes):
    """`labels` as a network's int32 `(batch_size,)` input; None is the "no label" token.

    Args:
        labels: None, one int for the whole batch, or one per image.
        batch_size: Number of images.
        num_classes: The network's classes; label `num_classes` is "no
            label". None for an unconditional network.

    Returns:
        A tensor for the network's `labels` input, or None for an
        unconditional network.
    """
    if num_classes is None:
        if labels is not None:
            raise ValueError(
                "this model is unconditional: it takes no labels. Train a model "
                "with `num_classes` to sample given digits."
            )
        return None
    if labels is None:
        return ops.full((batch_size,), num_classes, dtype="int32")
    labels = ops.cast(ops.convert_to_tensor(labels), "int32")
    if len(ops.shape(labels)) == 0:
        return ops.full((batch_size,), labels, dtype="int32")
    return labels


def guidance_conditioning(labels, guidance):
    """The conditioning keywords of a denoiser call with `labels` and a guidance scale.

    Args:
        labels: The label tensor, or None for the unconditional model.
        guidance: A Python number or a scalar tensor.

    Returns:
        `{}` (unconditional), `{"labels": ...}` (plainly conditional: a
        Python scale of 1) or `{"labels": ..., "guidance": scalar tensor}`.
    """
    if labels is None or (isinstance(guidance, (int, float)) and guidance == 0.0):
        return {}
    if isinstance(guidance, (int, float)) and guidance == 1.0:
        return {"labels": labels}
    return {"labels": labels, "guidance": ops.convert_to_tensor(guidance, "float32")}


class ModelView:
    """What the samplers' views of a model with fixed labels share: the labels, checked once, and
    the model's schedule, shapes and decoder.

    Args:
        model: A model with `labels_for`, `check_labels` and the
            `ScoreFunction` interface, such as a `ScoreModel`.
        labels: One label or one per image, or None for unconditional.
    """

    def __init__(self, model, labels=None):
        if labels is not None:
            model.labels_for(labels, 1)  # rejects labels for an unconditional model
            labels = np.asarray(labels)
            model.check_labels(labels, "`labels`")
        self.model = model
        self.labels = labels

    @property
    def schedule(self):
        return self.model.schedule

    @property
    def sample_shape(self):
        return self.model.sample_shape

    @property
    def image_shape(self):
        return self.model.image_shape

    def decode(self, x):
        return self.model.decode(x)


class GuidedScore(ModelView):
    """A conditional model seen by the samplers with its labels and guidance fixed: a `ScoreFunction`.

    Args:
        model: A model with `labels_for`, `check_labels`, `default_guidance`
            and the `ScoreFunction` interface, such as a `ScoreModel`.
        labels: One label or one per image, or None for unconditional.
        guidance: The classifier-free guidance scale; None takes the
            model's `default_guidance`.

    Example:

    >>> images, nfe = edm_heun(GuidedScore(model, labels=[3, 7], guidance=2.0), 2)
    """

    def __init__(self, model, labels=None, guidance=None):
        super().__init__(model, labels)
        self.guidance = resolve_guidance(model, guidance)

    @property
    def state_variables(self):
        return self.model.state_variables

    @property
    def is_consistency_model(self):
        return getattr(self.model, "is_consistency_model", False)

    @property
    def sampling_programs(self):
        return self.model.sampling_programs

    def conditioning(self, batch_size):
        labels = None if self.labels is None else self.model.labels_for(self.labels, batch_size)
        return guidance_conditioning(labels, self.guidance)

    def denoise(self, x, sigma, **conditioning):
        return self.model.denoise(x, sigma, **conditioning)
