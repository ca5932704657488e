"""Evaluate a score model: sample, then measure quality (and optionally bits/dim)."""

import numpy as np

from keras_sgm.data.images import unit_floats
from keras_sgm.evaluation import metrics
from keras_sgm.models.presets import DEFAULT_RECONSTRUCTION_GUIDANCE
from keras_sgm.sampling.inpainting import inpaint
from keras_sgm.sampling.likelihood import bits_per_dim
from keras_sgm.sampling.masks import half_mask
from keras_sgm.sampling.sample import sample


def load_reference_images(data="mnist", data_dir=None, image_shape=None):
    """The test and training images of a dataset, as uint8 arrays of one shape.

    Args:
        data: A TFDS name, a folder or an `.npz` (see `open_data`).
        data_dir: The TFDS data directory.
        image_shape: Resize and convert to this shape (a model's); None
            keeps the data's own.

    Returns:
        `(test_images, train_images)`.

    Raises:
        ValueError: The data has no test split.
    """
    from keras_sgm.data.sources import open_data

    size, color = None, None
    if image_shape is not None:
        size, color = tuple(image_shape[:2]), "grayscale" if image_shape[-1] == 1 else "rgb"
    source = open_data(data, data_dir, image_size=size, color=color, labels=False)
    if "test" not in source.sizes:
        raise ValueError(f"{source.name} has no test split to score against: give the data x_test (an .npz) "
                         f"or a test/ folder beside train/ (a folder).")
    return source.arrays("test")[0], source.arrays("train")[0]


def evaluate_model(model, test_images, train_images=None, num=10_000, sampler="heun", steps=None,
                   seed=0, batch_size=1000, bpd_images=0, bpd_tolerance=1e-5, reference=None,
                   labels=None, guidance=None, guide=None, guide_interval=None, progress=False, features=None,
                   **options):
    """Samples `num` images and scores them against the test images.

    Args:
        model: A trained `ScoreModel`, of the feature network's image shape.
        test_images: Reference images (the test split).
        train_images: Training images, for the memorisation check.
        num: Number of samples.
        sampler: Name of a sampler in `SAMPLERS`.
        steps: Sampler steps (its default when None).
        seed: Seed of the samples.
        batch_size: Samples drawn at once.
        bpd_images: If positive, also the bits/dim of that many test digits.
        bpd_tolerance: `rtol = atol` of the likelihood's ODE solver.
        reference: `metrics.classify(test_images)`, if already computed.
        labels: `(num,)` classes to sample, for a conditional model; None
            samples unconditionally.
        guidance: Classifier-free guidance scale with `labels`; None takes
            the model's `default_guidance`. With a guide, the autoguidance
            scale.
        guide: A weaker model of the same data to autoguide with, or
            `"none"`; None: the model's own default (see `ScoreModel.guided`).
        guide_interval: With a guide, the `(low, high)` noise levels where
            it guides; None: the model's own default.
        progress: Show progress bars.
        features: The feature network (see `metrics.classify`).
        **options: Further keyword arguments of the sampler (`churn`).

    Returns:
        A dict with the metrics of `quality_report`, `sampler`, `nfe`,
        `seconds`; with `labels`, `label_accuracy` (share of samples the
        classifier recognises as their requested class) and `guidance`;
        when autoguided, `autoguidance` (its scale) and `guide_interval`; with
        `bpd_images`, `bpd` and `bpd_stderr`.
    """
    reference_features, _ = reference if reference is not None else metrics.classify(test_images, features=features)
    images, nfe, seconds = sample(model, num, sampler, steps, seed, batch_size, labels=labels,
                                  guidance=guidance, guide=guide, guide_interval=guide_interval, progress=progress,
                                  **options)
    report = {"sampler": sampler, "steps": steps, "num": num, "nfe": nfe, "seconds": round(seconds, 2),
              **options}
    report.update(metrics.quality_report(images, reference_features, test_images, train_images, labels, features))
    view = model.guided(None if labels is None else labels[:1], guidance, guide, guide_interval)
    if view.kind == "autoguidance":
        report["autoguidance"] = view.scale
        report["guide_interval"] = None if view.interval is None else list(view.interval)
    elif labels is not None:
        report["guidance"] = view.scale
    if bpd_images:
        bits = np.concatenate([
            bits_per_dim(model, test_images[first : first + batch_size][: bpd_images - first],
                         seed=seed + first, rtol=bpd_tolerance, atol=bpd_tolerance,
                         progress=progress)[0]
            for first in range(0, bpd_images, batch_size)
        ])
        report["bpd"] = float(bits.mean())
        report["bpd_stderr"] = float(bits.std(ddof=1) / np.sqrt(len(bits))) if len(bits) > 1 else None
        report["bpd_images"] = int(len(bits))
    return report, images


def calibration(test_images, train_images, num=10_000, seed=0, reference=None, features=None):
    """FID floor (up to `num` real training images vs test) and ceiling (as many uniform noise images vs test).

    `reference` is `metrics.classify(test_images)`, if already computed;
    `features` the feature network (see `metrics.classify`).
    """
    reference_features, test_probabilities = (
        reference if reference is not None else metrics.classify(test_images, features=features)
    )
    rng = np.random.default_rng(seed)
    real = train_images[rng.choice(len(train_images), min(num, len(train_images)), replace=False)]
    noise = rng.random(real.shape, dtype=np.float32)  # as many as the real images, for a like comparison
    return {
        "fid_floor": metrics.frechet_distance(metrics.classify(real, features=features)[0], reference_features),
        "fid_ceiling": metrics.frechet_distance(metrics.classify(noise, features=features)[0], reference_features),
        "classifier_score_test": metrics.classifier_score(test_probabilities),
    }


def inpainting_accuracy(model, images, labels, keep="top", steps=500, resample=1,
                        reconstruction_guidance=DEFAULT_RECONSTRUCTION_GUIDANCE, seed=0,
                        batch_size=1000, progress=False):
    """Completes digits from one known half and checks that they keep their identity.

    Args:
        model: A trained `ScoreModel` of 28x28x1 digits (used unconditionally).
        images: Test digits, uint8 or floats in [0, 1].
        labels: Their true labels.
        keep: The known half (see `half_mask`).
        steps: Euler-Maruyama steps of the inpainting sampler.
        resample: Passes per step (see `inpaint`).
        reconstruction_guidance: Weight of the pull towards the known half
            (see `inpaint`).
        seed: Seed of the first batch.
        batch_size: Digits completed at once.
        progress: Show progress bars.

    Returns:
        A dict: `accuracy` (share of completions the classifier gives the true
        label), `accuracy_known_half_only` (the same for the known half alone,
        the rest black, as a baseline), `num`, `keep`, `steps`, `resample`,
        `reconstruction_guidance`.
    """
    images = unit_floats(images)
    mask = half_mask(model.image_shape, keep)
    completed = np.concatenate([
        inpaint(model, images[first : first + batch_size], mask, steps=steps, resample=resample,
                reconstruction_guidance=reconstruction_guidance, seed=seed + first,
                progress=progress)[0]
        for first in range(0, len(images), batch_size)
    ])
    labels = np.asarray(labels)

    def accuracy(batch):
        return float(np.mean(metrics.classify(batch)[1].argmax(axis=1) == labels))

    return {"accuracy": accuracy(completed), "accuracy_known_half_only": accuracy(images * mask),
            "num": len(images), "keep": keep, "steps": steps, "resample": resample,
            "reconstruction_guidance": reconstruction_guidance}


def reconstruction_report(autoencoder, test_images, test_labels, reference=None, batch_size=1000, features=None):
    """How well an autoencoder keeps the test images: what bounds a latent model's quality.

    Args:
        autoencoder: A trained `Autoencoder` of the feature network's images.
        test_images: Test images, uint8 or floats in [0, 1].
        test_labels: Their labels.
        reference: `metrics.classify(test_images)`, if already computed.
        batch_size: Images encoded at once.
        features: The feature network (see `metrics.classify`; None: MNIST's).

    Returns:
        A dict: `mse` (per pixel, images in [0, 1]), `psnr` (dB, from that
        mean), `accuracy` (share of reconstructions the classifier gives the
        true label), `fid` (reconstructions against the test images), and
        `reconstructions` (the images).
    """
    from keras import ops

    images = unit_floats(test_images)
    reconstructions = np.concatenate([
        np.clip(ops.convert_to_numpy(autoencoder(images[start : start + batch_size])), 0.0, 1.0)
        for start in range(0, len(images), batch_size)
    ])
    reference_features, _ = reference if reference is not None else metrics.classify(images, features=features)
    embeddings, probabilities = metrics.classify(reconstructions, features=features)
    mse = float(np.mean((reconstructions - images) ** 2))
    return {
        "mse": mse,
        "psnr": float(10 * np.log10(1.0 / mse)),
        "accuracy": float(np.mean(probabilities.argmax(axis=1) == np.asarray(test_labels))),
        "fid": metrics.frechet_distance(embeddings, reference_features),
        "reconstructions": reconstructions,
    }
