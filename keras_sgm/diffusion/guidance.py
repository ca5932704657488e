"""Guidance, in one place: classifier-free guidance, autoguidance, their defaults, and the guided
denoiser that the samplers see.

Both push a denoiser away from a weaker one:

    D_w(x) = D_weak(x) + w (D(x) - D_weak(x))        (`extrapolate`)

- **classifier-free guidance** (Ho & Salimans 2022): the weaker denoiser is
  the model without its label, so it needs labels; both halves run as one
  doubled batch;
- **autoguidance** (Karras et al. 2024): the weaker denoiser is the *guide
  model*, a smaller or briefly trained version of the same model, given the
  same labels or none. It also guides unconditional samples. It may act only
  between two noise levels (Kynkäänniemi et al. 2024): the highest levels
  decide the layout, where pushing costs variety, the lowest only sharpen
  noise.

`guided_view` resolves every default, for Python and the command line alike;
`ScoreModel.guided` calls it. `w = 1` is the model alone.
"""

import numpy as np
from keras import ops

DEFAULT_GUIDANCE = 2.0
"""The classifier-free guidance scale of a model that sets none (`ScoreModel(default_guidance=...)`)."""

DEFAULT_AUTOGUIDANCE = 2.0
"""The autoguidance scale where neither the call nor the model gives one."""

NO_GUIDE = "none"
"""The `guide` that turns a model's default autoguidance off (`--guide none`)."""


def extrapolate(denoised, weaker, scale):
    """The guidance formula, `weaker + scale (denoised - weaker)`, of denoised images (or scores)."""
    return weaker + scale * (denoised - weaker)


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
            raise ValueError("this model is unconditional: it takes no labels. Train a model with "
                             "`num_classes` to sample given classes.")
        return None
    if labels is None:
        return ops.full((batch_size,), num_classes, dtype="int32")
    labels = ops.cast(ops.convert_to_tensor(labels), "int32")
    if len(ops.shape(labels)) == 0:
        return ops.full((batch_size,), labels, dtype="int32")
    return labels


def classifier_free(model, x, sigma, labels, scale):
    """`D(x) + scale (D(x | labels) - D(x))`, the two halves in one doubled batch.

    Also the guided teacher of consistency distillation, which calls it
    with each batch's labels (None: an unconditional model, unguided).
    """
    if labels is None:
        return model.denoise(x, sigma)
    batch_size = ops.shape(x)[0]
    both = model.denoise(ops.concatenate([x, x]), ops.concatenate([sigma, sigma]),
                         labels=ops.concatenate([labels, model.labels_for(None, batch_size)]))
    return extrapolate(both[:batch_size], both[batch_size:], scale)


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


def _classes(model):
    return getattr(model, "num_classes", None)


def check_guide(model, guide):
    """Raises a one-line `ValueError` unless the model `guide` can guide `model`: the same samples,
    the same decoder, and labels the model's own can be given to."""
    for name in ("sample_shape", "image_shape"):
        if tuple(getattr(guide, name)) != tuple(getattr(model, name)):
            raise ValueError(f"the guide's {name} is {tuple(getattr(guide, name))} but the model's is "
                             f"{tuple(getattr(model, name))}; a guide must be a weaker model of the same data.")
    autoencoders = [getattr(m, "autoencoder", None) for m in (model, guide)]
    if (autoencoders[0] is None) != (autoencoders[1] is None) or (
        autoencoders[0] is not None
        and not all(np.array_equal(a, b) for a, b in zip(*(a.get_weights() for a in autoencoders)))
    ):
        raise ValueError("the guide works on another latent space than the model; train it with the model's "
                         "autoencoder (keras-sgm train --autoencoder).")
    if _classes(guide) is not None and _classes(guide) != _classes(model):
        raise ValueError(f"the guide knows {_classes(guide)} classes but the model {_classes(model)}; "
                         "give a guide trained on the same labels, or an unconditional one.")


class Guided:
    """A model with its labels and guidance fixed, as the samplers see it: a `ScoreFunction`.

    Made by `guided_view` (`ScoreModel.guided`), which resolves the
    defaults. The labels and the scale enter the compiled sampler programs
    as tensors (`conditioning`), so one program serves every value.

    Args:
        model: A `ScoreModel` (pixel or latent), or another `ScoreFunction`.
        labels: One label or one per image, or None for unconditional.
        scale: The guidance scale `w`; None is the model alone.
        guide: None for classifier-free guidance; for autoguidance the guide
            model, or `model` itself with `guide_network` below.
        guide_network: The network of `guide` that guides (the model's own
            guide network), or None for the guide's own.
        interval: With a guide, the `(low, high)` noise levels where it
            guides; None: all of them.

    Attributes:
        kind: `"none"`, `"classifier-free"` or `"autoguidance"`.
    """

    def __init__(self, model, labels=None, scale=None, guide=None, guide_network=None, interval=None):
        if labels is not None:
            model.labels_for(labels, 1)  # rejects labels for an unconditional model
            labels = np.asarray(labels)
            model.check_labels(labels, "`labels`")
        self.model, self.labels, self.scale = model, labels, None if scale is None else float(scale)
        self.guide, self.guide_network, self.interval = guide, guide_network, check_interval(interval)
        if guide is not None:
            self.kind = "autoguidance"
        elif labels is None or self.scale is None or self.scale == 1.0:
            self.kind = "none"  # the plain conditional (or unconditional) model
        elif self.scale == 0.0:
            self.kind, self.labels = "none", None  # w = 0 is the unconditional model
        else:
            self.kind = "classifier-free"
        self.schedule, self.sample_shape, self.image_shape = model.schedule, model.sample_shape, model.image_shape
        self.sampling_programs = model.sampling_programs

    @property
    def program_key(self):
        """What the compiled programs of this view trace besides the model: the kind, and the guide."""
        return (self.kind, self.guide if self.guide is not self.model else None, self.guide_network)

    # Views of one model that trace the same programs are equal, whatever their labels and scale:
    # a sampler algorithm that captures its view is cached once for all of them.

    def __eq__(self, other):
        return isinstance(other, Guided) and other.model is self.model and other.program_key == self.program_key

    def __hash__(self):
        return hash((id(self.model), self.program_key))

    @property
    def state_variables(self):
        own = {id(variable) for variable in self.model.state_variables}
        extra = [] if self.guide is None or self.guide is self.model else self.guide.state_variables
        return [*self.model.state_variables, *(v for v in extra if id(v) not in own)]

    @property
    def is_consistency_model(self):
        # A consistency model stays one under its built-in guidance, not when pushed from a guide.
        return self.kind != "autoguidance" and getattr(self.model, "is_consistency_model", False)

    def conditioning(self, batch_size):
        """The tensors `denoise` reads: the labels, the scale and the interval."""
        if self.kind == "none":
            return {} if self.labels is None else {"labels": self.model.labels_for(self.labels, batch_size)}
        conditioning = {"scale": ops.convert_to_tensor(self.scale, "float32")}
        if self.labels is not None or self.kind == "classifier-free":
            conditioning["labels"] = self.model.labels_for(self.labels, batch_size)
        if self.kind == "autoguidance":
            low, high = self.interval or (0.0, float("inf"))
            conditioning["interval"] = ops.convert_to_tensor([low, high], "float32")
            if _classes(self.guide) is not None:
                conditioning["guide_labels"] = self.guide.labels_for(self.labels, batch_size)
        return conditioning

    def denoise(self, x, sigma, labels=None, scale=None, interval=None, guide_labels=None):
        """The guided `D(x, sigma)`, given the tensors of `conditioning`."""
        conditional = {} if labels is None else {"labels": labels}
        if self.kind == "none":
            return self.model.denoise(x, sigma, **conditional)
        if self.kind == "classifier-free":
            return classifier_free(self.model, x, sigma, labels, scale)
        denoised = self.model.denoise(x, sigma, **conditional)
        on_guide = {} if guide_labels is None else {"labels": guide_labels}
        if self.guide_network is not None:
            on_guide["network"] = self.guide_network
        weaker = self.guide.denoise(x, sigma, **on_guide)
        inside = ops.logical_and(sigma >= interval[0], sigma <= interval[1])
        scale = ops.reshape(ops.where(inside, scale, 1.0), (-1,) + (1,) * (len(x.shape) - 1))
        return extrapolate(denoised, weaker, scale)

    def encode(self, images):
        return self.model.encode(images)

    def decode(self, x):
        return self.model.decode(x)


def guided_view(model, labels=None, guidance=None, guide=None, guide_interval=None):
    """`model` guided as asked, every default resolved here: what `ScoreModel.guided` returns.

    - With labels and no guide: classifier-free guidance at `guidance`, else
      the model's `default_guidance`.
    - Without labels, a model with a guide network (and no `guide`) is
      autoguided by it at its `autoguidance` scale and interval.
    - A `guide` model autoguides, with or without labels, at `guidance`,
      else `DEFAULT_AUTOGUIDANCE`; `guide="none"` turns autoguidance off.

    Args:
        model: A `ScoreModel` (pixel or latent).
        labels: One label or one per image, or None for unconditional.
        guidance: The scale of whichever guidance applies; None: its default.
        guide: A weaker model of the same data, `"none"`, or None.
        guide_interval: With autoguidance, the `(low, high)` noise levels
            where the guide guides; None: the model's own interval with its
            own guide, else all of them.

    Returns:
        A `Guided` view.
    """
    if isinstance(guide, str):
        if guide != NO_GUIDE:
            raise ValueError(f"guide is a model or {NO_GUIDE!r}; got {guide!r}.")
        guide = NO_GUIDE
    own_guide_network = getattr(model, "guide_network", None)
    if guide is None and labels is None and own_guide_network is not None \
            and not getattr(model, "is_consistency_model", False):
        scale = guidance if guidance is not None else model.autoguidance
        return Guided(model, None, DEFAULT_AUTOGUIDANCE if scale is None else scale, guide=model,
                      guide_network=own_guide_network,
                      interval=model.autoguidance_interval if guide_interval is None else guide_interval)
    if guide is not None and guide is not NO_GUIDE:
        check_guide(model, guide)
        return Guided(model, labels, DEFAULT_AUTOGUIDANCE if guidance is None else guidance, guide=guide,
                      interval=guide_interval)
    if guide_interval is not None:
        raise ValueError("a guide interval applies to autoguidance: give a guide too (--guide-interval with "
                         "--guide).")
    if labels is None:
        return Guided(model)
    return Guided(model, labels, model.default_guidance if guidance is None else guidance)
