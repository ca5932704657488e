"""Export: a model's denoiser, its decoder and a consistency model's whole generator, as files that run
without Keras (ONNX for onnxruntime, or a TensorFlow SavedModel).

What `export` writes, each a small `keras.Model` over the trained model, exported by Keras's own
`Model.export`:

- `denoiser`: `D(x, sigma, labels)`, EDM's denoiser (`ScoreModel.denoise`), unguided;
  for a conditional model, label `num_classes` is "no label", so that classifier-free guidance
  is `D(x, sigma, none) + w (D(x, sigma, y) - D(x, sigma, none))`;
- `decoder` (latent models): latents to images, `LatentScoreModel.decode`;
- `generator` (consistency models): `images = G(noise, labels)`, the whole few-step sampler
  unrolled, with `noise` of shape `(batch, steps, *sample_shape)` standard normal: the first
  slice is the prior's draw, each later one a step's fresh noise. Images come clipped to [0, 1].

Which backend can write which format is Keras's: JAX writes both, TensorFlow a SavedModel only
(tf2onnx has no ONNX operator for `log1p`), PyTorch ONNX only (its SavedModel path fails on a batch
of any size). `export` says so in one line.
"""

import pathlib
import warnings

import keras
import numpy as np
from keras import ops

from keras_sgm.diffusion.guidance import extrapolate
from keras_sgm.sampling.samplers import consistency_jumps, consistency_sigmas

EXPORT_FORMATS = {"onnx": "onnx", "saved_model": "tf_saved_model"}
"""The formats `export` writes, as the command line names them, and as `Model.export` does."""

_BACKENDS_OF_FORMAT = {"onnx": ("jax", "torch"), "saved_model": ("jax", "tensorflow")}
_WHY_NOT = {
    ("onnx", "tensorflow"): "tf2onnx has no ONNX operator for the noise schedule's log1p",
    ("saved_model", "torch"): "Keras's SavedModel export on PyTorch fails on a batch of any size: torch.export "
                               "finds 'a mismatch between the structure of inputs and dynamic_shapes'",
}


class Denoiser(keras.Model):
    """`D(x, sigma, labels)` of a score model, as one exportable model: `model.denoise`, unguided.

    Args:
        model: A `ScoreModel` or `LatentScoreModel`.

    Example:

    >>> denoised = Denoiser(model)([x, sigma, labels])  # labels only for a conditional model
    """

    def __init__(self, model, **kwargs):
        super().__init__(**kwargs)
        self.model = model

    def call(self, inputs):
        x, sigma, *labels = inputs
        return self.model.denoise(x, sigma, *labels)

    def input_signature(self):
        signature = [_spec(self.model.sample_shape), keras.InputSpec(shape=(None,), dtype="float32")]
        return [signature + _label_spec(self.model)]


class Decoder(keras.Model):
    """A latent model's decoder, latents to images, as one exportable model."""

    def __init__(self, model, **kwargs):
        super().__init__(**kwargs)
        self.model = model

    def call(self, latents):
        return self.model.decode(latents)

    def input_signature(self):
        return [_spec(self.model.sample_shape)]


class Generator(keras.Model):
    """A consistency model's `steps`-step sampler unrolled: `images = G([noise, labels])`.

    The same algorithm as `multistep_consistency` (`consistency_jumps`), with its noise an input:
    `noise[:, 0]` is the prior's draw and `noise[:, i]` the fresh noise of step `i`. Conditional
    models are guided at their `default_guidance`, as `sample()` guides them.

    Args:
        model: A consistency model (`ScoreModel.is_consistency_model`).
        steps: The sampler's steps, 1 to 4.
    """

    def __init__(self, model, steps=1, **kwargs):
        super().__init__(**kwargs)
        if not getattr(model, "is_consistency_model", False):
            raise ValueError("only a consistency model has a few-step generator to export; tune one with "
                             "`keras-sgm tune-consistency`, or export its denoiser alone.")
        if steps not in range(1, 5):
            raise ValueError(f"a consistency generator takes 1 to 4 steps; got {steps!r}.")
        self.model, self.steps = model, steps
        self.sigmas = [float(sigma) for sigma in consistency_sigmas(steps, model.schedule.prior_std())] + [0.0]

    def call(self, inputs):
        noise, *labels = inputs
        labels = labels[0] if labels else None
        draws = iter(noise[:, i] for i in range(1, self.steps))

        def D(x, sigma):
            sigma = ops.ones_like(x[:, 0, 0, 0]) * sigma
            denoised = self.model.denoise(x, sigma, labels)
            if labels is None or self.model.default_guidance == 1.0:
                return denoised
            # classifier_free's doubled batch, as two calls: exporters cannot split a batch of any size.
            unlabelled = self.model.denoise(x, sigma, ops.full_like(labels, self.model.num_classes))
            return extrapolate(denoised, unlabelled, self.model.default_guidance)

        def unrolled(step, x, count):
            for i in range(count):
                x = step(i, x, lambda: next(draws))
            return x

        x = noise[:, 0] * self.sigmas[0]
        x = consistency_jumps(self.steps)(D, x, unrolled, lambda: next(draws), self.sigmas)
        return ops.clip(self.model.decode(x), 0.0, 1.0)

    def input_signature(self):
        return [[_spec((self.steps, *self.model.sample_shape))] + _label_spec(self.model)]


def _spec(shape):
    return keras.InputSpec(shape=(None, *shape), dtype="float32")


def _label_spec(model):
    return [] if model.num_classes is None else [keras.InputSpec(shape=(None,), dtype="int32")]


def exportable_parts(model, steps=1):
    """The parts of `model` that `export` writes, by file stem: the denoiser, the decoder of a latent
    model, and the `steps`-step generator of a consistency model."""
    parts = {"denoiser": Denoiser(model)}
    if hasattr(model, "autoencoder"):
        parts["decoder"] = Decoder(model)
    if getattr(model, "is_consistency_model", False):
        parts["generator"] = Generator(model, steps)
    return parts


def check_format(format):
    """Raises a one-line `ValueError` unless this backend's Keras can write `format`."""
    if format not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {format!r}; choose one of {sorted(EXPORT_FORMATS)}.")
    backend = keras.backend.backend()
    if backend not in _BACKENDS_OF_FORMAT[format]:
        able = " or ".join(_BACKENDS_OF_FORMAT[format])
        raise ValueError(f"Keras on {backend} cannot export {format} here ({_WHY_NOT[format, backend]}); "
                         f"run with KERAS_BACKEND={able}.")


def export(model, out_dir, format="onnx", steps=1):
    """Writes `model`'s parts (`exportable_parts`) into `out_dir` as `format` files.

    Args:
        model: A `ScoreModel` or `LatentScoreModel`, consistency models included.
        out_dir: The folder to write into (made if missing).
        format: `"onnx"` (a `.onnx` file per part) or `"saved_model"` (a folder per part, its
            `serve` endpoint taking the inputs as one list).
        steps: For a consistency model, the steps of its exported generator.

    Returns:
        `{part: path}` of what it wrote.

    Example:

    >>> export(load_model("mnist_consistency"), "exported", format="onnx", steps=2)
    {'denoiser': PosixPath('exported/denoiser.onnx'), 'decoder': ..., 'generator': ...}
    """
    check_format(format)
    parts = exportable_parts(model, steps)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, part in parts.items():
        path = out_dir / (f"{name}.onnx" if format == "onnx" else name)
        signature = part.input_signature()
        part(_example_inputs(signature[0]))  # builds the part, so that Keras can trace it
        with warnings.catch_warnings():
            # PyTorch's tracer warns of every Python branch it folds; the shapes here are fixed but the batch.
            warnings.simplefilter("ignore")
            part.export(str(path), format=EXPORT_FORMATS[format], input_signature=signature, verbose=False)
        written[name] = path
    return written


def _example_inputs(signature):
    if isinstance(signature, keras.InputSpec):
        return np.zeros((1, *signature.shape[1:]), signature.dtype)
    return [_example_inputs(spec) for spec in signature]
