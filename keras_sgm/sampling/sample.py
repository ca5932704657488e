"""`sample()`: many images from a sampler chosen by name, batch by batch, guided or not."""

import time

import numpy as np

from keras_sgm.sampling import samplers
from keras_sgm.sampling.names import SAMPLER_FUNCTIONS

SAMPLERS = {name: getattr(samplers, function) for name, function in SAMPLER_FUNCTIONS.items()}
"""Sampler functions by the name the command line uses."""


def default_sampler(model):
    """The sampler a model is drawn with when none is named: `"consistency"` for a consistency model,
    else `"heun"`."""
    return "consistency" if getattr(model, "is_consistency_model", False) else "heun"


def sample(model, num, sampler=None, steps=None, seed=0, batch_size=1000, labels=None,
           guidance=None, guide=None, guide_interval=None, progress=False, **options):
    """`num` images from the sampler named `sampler`, drawn `batch_size` at a time.

    Args:
        model: A `ScoreModel` (or another model with `guided` and the
            `ScoreFunction` interface).
        num: Number of images.
        sampler: A name in `SAMPLERS`; None takes `default_sampler(model)`.
        steps: The sampler's `steps`, its default when None (for `"ode"`,
            with `solver="heun"`).
        seed: Seed of the first batch; batch `i` uses `seed + i * batch_size`.
        batch_size: Images drawn at once.
        labels: For a conditional model, one label for all images or one per
            image; None samples unconditionally.
        guidance: Classifier-free guidance scale when `labels` are given; None
            takes the model's `default_guidance`. With a guide, the
            autoguidance scale.
        guide: A weaker model of the same data to autoguide with, with or
            without labels, or `"none"`; None: the model's own default, its
            guide network for unconditional samples (see `ScoreModel.guided`).
        guide_interval: With a guide, the `(low, high)` noise levels where
            it guides; None: the model's own default.
        progress: Show progress bars.
        **options: Further keyword arguments of the sampler, such as
            `churn` for `"heun"`.

    Returns:
        `(images, nfe, seconds)`, the images clipped to [0, 1].

    Example:

    >>> images, nfe, seconds = sample(model, 100, labels=np.repeat(np.arange(10), 10))
    """
    sampler = default_sampler(model) if sampler is None else sampler
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {sorted(SAMPLERS)}.")
    if steps is not None:
        options["steps"] = steps
    if labels is not None:
        labels = np.broadcast_to(np.asarray(labels, dtype="int32"), (num,))
    start = time.perf_counter()
    batches, nfe = [], 0
    for first in range(0, num, batch_size):
        size = min(batch_size, num - first)
        batch_labels = None if labels is None else labels[first : first + size]
        view = model.guided(batch_labels, guidance, guide=guide, guide_interval=guide_interval)
        images, nfe = SAMPLERS[sampler](view, size, seed=seed + first, progress=progress, **options)
        batches.append(np.clip(images, 0.0, 1.0))
    return np.concatenate(batches), nfe, time.perf_counter() - start
