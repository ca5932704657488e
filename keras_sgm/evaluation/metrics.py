"""Sample-quality metrics on the features of a classifier of the data (the shipped MNIST one by default).

All the maths here is NumPy/SciPy on features, so the figures do not depend
on the backend beyond the classifier's float32 round-off.
"""

import numpy as np
from scipy import linalg

from keras_sgm.data.images import unit_floats
from keras_sgm.evaluation.classifier import load_classifier


def classify(images, batch_size=1000, features=None):
    """Penultimate features and class probabilities of images in [0, 1].

    Args:
        images: `(n, *image_shape)` floats in [0, 1] (or uint8 0..255), of the
            feature network's input shape.
        batch_size: Images per classifier call.
        features: The feature network: a name or file for `load_classifier`
            (None: the shipped MNIST classifier), or a model returning
            `(features, logits)`.

    Returns:
        `(features, probabilities)`: float64 arrays `(n, 128)` and `(n, classes)`.
    """
    import keras

    network = features if isinstance(features, keras.Model) else load_classifier(features)
    expected = tuple(network.input.shape[1:])
    images = unit_floats(images)
    if images.ndim != 4 or images.shape[1:] != expected:
        raise ValueError(f"the feature network takes (n, {', '.join(map(str, expected))}) images; got shape "
                         f"{images.shape}. Use a feature network of this data (keras-sgm train-classifier).")
    embeddings, logits = [], []
    for start in range(0, len(images), batch_size):
        f, l = network(images[start : start + batch_size], training=False)
        embeddings.append(keras.ops.convert_to_numpy(f))
        logits.append(keras.ops.convert_to_numpy(l))
    logits = np.concatenate(logits).astype("float64")
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return np.concatenate(embeddings).astype("float64"), probabilities


def frechet_distance(features_a, features_b, eps=1e-6):
    """Frechet distance between Gaussians fitted to two feature sets (FID-style).

    `||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))`. If the matrix
    square root is not finite, `eps * I` is added to both covariances; a
    negligible imaginary part of the root (round-off) is dropped.

    Args:
        features_a: `(n, d)` features.
        features_b: `(m, d)` features.
        eps: Diagonal offset of the fallback.

    Returns:
        A non-negative float.
    """
    mu_a, mu_b = features_a.mean(axis=0), features_b.mean(axis=0)
    cov_a = np.cov(features_a, rowvar=False)
    cov_b = np.cov(features_b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(root).all():
        offset = eps * np.eye(len(cov_a))
        root = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    if np.iscomplexobj(root):
        if np.abs(root.imag).max() > 1e-3 * max(1.0, np.abs(root.real).max()):
            raise ValueError(
                f"the covariance square root has a large imaginary part "
                f"({np.abs(root.imag).max():.3g}); use more samples than feature dimensions."
            )
        root = root.real
    distance = np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2.0 * root)
    return float(max(distance, 0.0))


def kernel_distance(features_a, features_b, subsets=100, subset_size=1000, seed=0):
    """KID: the unbiased MMD^2 with the cubic kernel `(x.y / d + 1)^3`, over random subsets.

    Returns:
        `(mean, std)` over the subsets.
    """
    rng = np.random.default_rng(seed)
    size = min(subset_size, len(features_a), len(features_b))
    dim = features_a.shape[1]
    estimates = []
    for _ in range(subsets):
        a = features_a[rng.choice(len(features_a), size, replace=False)]
        b = features_b[rng.choice(len(features_b), size, replace=False)]
        k_aa = (a @ a.T / dim + 1) ** 3
        k_bb = (b @ b.T / dim + 1) ** 3
        k_ab = (a @ b.T / dim + 1) ** 3
        off_diagonal = (k_aa.sum() - np.trace(k_aa) + k_bb.sum() - np.trace(k_bb)) / (size * (size - 1))
        estimates.append(off_diagonal - 2.0 * k_ab.mean())
    return float(np.mean(estimates)), float(np.std(estimates))


def classifier_score(probabilities):
    """The Inception-Score analogue `exp(E_x KL(p(y|x) || p(y)))`; 10 at best on MNIST."""
    marginal = probabilities.mean(axis=0)
    kl = np.sum(probabilities * (np.log(probabilities + 1e-12) - np.log(marginal + 1e-12)), axis=1)
    return float(np.exp(kl.mean()))


def class_histogram(probabilities):
    """Fraction of the samples the classifier assigns to each class (sums to 1)."""
    counts = np.bincount(probabilities.argmax(axis=1), minlength=probabilities.shape[1])
    return counts / counts.sum()


def mode_coverage(probabilities, threshold=0.5):
    """Classes that get at least `threshold` times their fair share (1/classes) of the samples."""
    histogram = class_histogram(probabilities)
    return int(np.sum(histogram >= threshold / len(histogram)))


def nearest_neighbour_distances(images, reference, batch_size=500):
    """Pixel-space L2 distance from each image to its nearest neighbour in `reference`.

    A memorising model gives distances far below those of real held-out
    digits to the training set.
    """
    flat = unit_floats(images).reshape(len(images), -1)
    ref = unit_floats(reference).reshape(len(reference), -1)
    ref_norms = np.sum(ref**2, axis=1)
    distances = []
    for start in range(0, len(flat), batch_size):
        chunk = flat[start : start + batch_size]
        squared = np.sum(chunk**2, axis=1, keepdims=True) - 2.0 * chunk @ ref.T + ref_norms
        distances.append(np.sqrt(np.maximum(squared.min(axis=1), 0.0)))
    return np.concatenate(distances)


def quality_report(images, reference_features, reference_images=None, training_images=None, labels=None,
                   features=None):
    """Every sample-quality figure for `images` against a reference set (the test images).

    Args:
        images: Generated images `(n, *image_shape)` in [0, 1].
        reference_features: Classifier features of the reference images.
        reference_images: The reference images, for the memorisation baseline.
        training_images: Training images, for the memorisation check.
        labels: The class each image was asked to be, for `label_accuracy`.
        features: The feature network (see `classify`).

    Returns:
        A dict: `fid`, `kid`, `kid_std`, `classifier_score`, `coverage`,
        `class_histogram`, and with training images `nn_distance` (median
        distance of samples to the training set) and `nn_distance_real`
        (the same for the reference digits), and with labels `label_accuracy`.
    """
    embeddings, probabilities = classify(images, features=features)
    kid, kid_std = kernel_distance(embeddings, reference_features)
    report = {
        "fid": frechet_distance(embeddings, reference_features),
        "kid": kid,
        "kid_std": kid_std,
        "classifier_score": classifier_score(probabilities),
        "coverage": mode_coverage(probabilities),
        "class_histogram": class_histogram(probabilities).round(4).tolist(),
    }
    if labels is not None:
        report["label_accuracy"] = float(np.mean(np.argmax(probabilities, axis=1) == np.asarray(labels)))
    if training_images is not None:
        report["nn_distance"] = float(np.median(nearest_neighbour_distances(images, training_images)))
        if reference_images is not None:
            real = nearest_neighbour_distances(reference_images[:1000], training_images)
            report["nn_distance_real"] = float(np.median(real))
    return report
