"""Classifier-free guidance: a conditional model seen by the samplers with its labels fixed."""

import numpy as np
from keras import ops


class GuidedScore:
    """A conditional model's score for fixed labels and guidance: a `ScoreFunction`.

    The score is `s(x) + guidance (s(x | labels) - s(x))` (Ho & Salimans
    2022). The labels and a guidance scale other than 0 and 1 reach the
    samplers as conditioning tensors, so one compiled program serves every
    label and scale; a scale of 0 is the model's unconditional score, 1 its
    plain conditional one, each without the second network evaluation.

    Args:
        model: A conditional model with `labels_for`, `check_labels` and the
            `ScoreFunction` interface, such as a `ScoreModel`.
        labels: One label or one per image, or None for unconditional.
        guidance: The classifier-free guidance scale.

    Example:

    >>> images, nfe = edm_heun(GuidedScore(model, labels=[3, 7], guidance=2.0), 2)
    """

    def __init__(self, model, labels=None, guidance=1.0):
        if labels is not None:
            model.labels_for(labels, 1)  # rejects labels for an unconditional model
            labels = np.asarray(labels)
            model.check_labels(labels, "`labels`")
        self.model = model
        self.labels = labels
        self.guidance = float(guidance)

    @property
    def schedule(self):
        return self.model.schedule

    @property
    def sample_shape(self):
        return self.model.sample_shape

    @property
    def image_shape(self):
        return self.model.image_shape

    @property
    def state_variables(self):
        return self.model.state_variables

    @property
    def sampling_programs(self):
        return self.model.sampling_programs

    def conditioning(self, batch_size):
        if self.labels is None or self.guidance == 0.0:
            return self.model.conditioning(batch_size)
        conditioning = {"labels": self.model.labels_for(self.labels, batch_size)}
        if self.guidance != 1.0:
            conditioning["guidance"] = ops.convert_to_tensor(self.guidance, "float32")
        return conditioning

    def score(self, x, times, **conditioning):
        return self.model.score(x, times, **conditioning)

    def decode(self, x):
        return self.model.decode(x)
