import numpy as np
import pytest
from scipy import linalg

from keras_sgm.evaluation import metrics
from keras_sgm.evaluation.evaluate import inpainting_accuracy
from tests.helpers.analytic import GaussianDataScore


def test_frechet_distance_of_a_set_with_itself_is_zero():
    features = np.random.RandomState(0).randn(2000, 16)
    assert metrics.frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_matches_the_closed_form_for_two_gaussians():
    rng = np.random.RandomState(1)
    dim = 4
    mean_a, mean_b = np.zeros(dim), np.full(dim, 0.5)
    root_a, root_b = rng.randn(dim, dim) * 0.5, rng.randn(dim, dim) * 0.5
    cov_a, cov_b = root_a @ root_a.T + np.eye(dim), root_b @ root_b.T + np.eye(dim)
    a = rng.multivariate_normal(mean_a, cov_a, 200_000)
    b = rng.multivariate_normal(mean_b, cov_b, 200_000)
    exact = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b - 2 * linalg.sqrtm(cov_a @ cov_b).real)
    assert metrics.frechet_distance(a, b) == pytest.approx(exact, rel=0.02)


def test_kernel_distance_is_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.RandomState(2)
    same, _ = metrics.kernel_distance(rng.randn(1000, 8), rng.randn(1000, 8), subsets=10, subset_size=500)
    shifted, _ = metrics.kernel_distance(rng.randn(1000, 8), rng.randn(1000, 8) + 1, subsets=10, subset_size=500)
    assert shifted > 1.0 and abs(same) < 0.01 * shifted


def test_classifier_score_spans_one_to_the_number_of_classes():
    uniform = np.full((100, 10), 0.1)
    confident = np.eye(10)[np.arange(100) % 10]
    assert metrics.classifier_score(uniform) == pytest.approx(1.0)
    assert metrics.classifier_score(confident) == pytest.approx(10.0, rel=1e-6)
    one_digit = np.eye(10)[np.zeros(100, int)]
    assert metrics.mode_coverage(one_digit) == 1 and metrics.mode_coverage(confident) == 10


def test_nearest_neighbour_distance_is_zero_for_copies():
    train = np.random.RandomState(3).rand(50, 28, 28, 1)
    assert np.allclose(metrics.nearest_neighbour_distances(train[:5], train), 0.0, atol=1e-3)


def test_the_shipped_classifier_recognises_the_fixture_digits(test_digits):
    images, labels = test_digits
    _, probabilities = metrics.classify(images)
    assert np.mean(probabilities.argmax(axis=1) == labels) >= 0.98


def test_fid_orders_quality(digits, test_digits):
    train, test = digits[0], test_digits[0]
    reference, _ = metrics.classify(test)
    rng = np.random.RandomState(0)
    real = train.astype("float32") / 255.0
    noisy = np.clip(real + 0.5 * rng.randn(*real.shape), 0, 1)
    noise = rng.rand(*real.shape)
    distances = [metrics.frechet_distance(metrics.classify(x)[0], reference) for x in (real, noisy, noise)]
    assert distances[0] < distances[1] < distances[2]


def test_inpainting_accuracy_of_a_model_that_knows_each_digit(test_digits):
    # A point mass at each true digit: any consistent completion restores it exactly.
    images, labels = test_digits[0][:64], test_digits[1][:64]
    oracle = GaussianDataScore(images.astype("float32") / 255.0, 0.0, image_shape=(28, 28, 1))
    report = inpainting_accuracy(oracle, images, labels, keep="top", steps=200, batch_size=64)
    full_digits = float(np.mean(metrics.classify(images)[1].argmax(axis=1) == labels))
    assert report["accuracy"] == pytest.approx(full_digits, abs=1 / 64)
    assert report["accuracy_known_half_only"] < report["accuracy"]


def test_inception_features_take_any_image_shape_and_say_where_the_weights_go_offline(monkeypatch, tmp_path):
    from keras_sgm.evaluation import classifier

    # Random weights at Inception's smallest size: the code path alone.
    network = classifier.inception_network((32, 32, 1), weights=None, size=75)
    features, probabilities = metrics.classify(np.random.default_rng(0).random((2, 32, 32, 1)), features=network)
    assert features.shape == (2, 2048) and probabilities.shape == (2, 1000)
    assert np.allclose(probabilities.sum(axis=1), 1.0)

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(classifier.socket, "create_connection", offline)
    with pytest.raises(FileNotFoundError, match=f"at {tmp_path / 'models' / classifier.INCEPTION_WEIGHTS}"):
        classifier.inception_network((32, 32, 3))
