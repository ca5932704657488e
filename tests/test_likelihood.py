import math

import numpy as np
import pytest

from keras_sgm.sampling.likelihood import bits_per_dim
from tests.conftest import small_model, to_numpy
from tests.helpers.analytic import GaussianDataScore


def exact_bits_per_dim(model, x, eps=1e-5):
    """Closed form: with the exact score the ODE is affine, x_1 - m = a (x_0 - m)."""
    schedule, dims = model.schedule, x[0].size
    start = float(to_numpy(schedule.marginal_std(eps)))
    end = schedule.prior_std()
    scale = math.sqrt((model.std**2 + end**2) / (model.std**2 + start**2))
    latent = (model.mean + (x - model.mean) * scale).reshape(len(x), -1)
    log_p = (
        -0.5 * dims * math.log(2 * math.pi * end**2)
        - np.sum(latent**2, axis=1) / (2 * end**2)
        + dims * math.log(scale)
    )
    return -log_p / (dims * math.log(2.0))


def test_bits_per_dim_matches_the_closed_form_of_gaussian_data():
    model = GaussianDataScore(0.5, 0.1)
    x = (0.5 + 0.1 * np.random.RandomState(0).randn(32, 4, 4, 1)).astype("float32")
    bits, nfe = bits_per_dim(model, x, dequantize=False, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(bits, exact_bits_per_dim(model, x), atol=1e-4)
    assert nfe > 1


def test_dequantisation_adds_the_eight_bits_of_the_rescaling():
    model = GaussianDataScore(0.5, 0.1)
    pixels = np.clip(np.round(255 * (0.5 + 0.1 * np.random.RandomState(1).randn(64, 4, 4, 1))), 0, 255)
    bits, _ = bits_per_dim(model, pixels.astype("uint8"), seed=0)
    # The dequantised points have the density of the continuous model, up to the
    # 1/256-wide uniform noise: their bits/dim sit 8 above the continuous ones.
    continuous, _ = bits_per_dim(model, (pixels + 0.5) / 256.0, dequantize=False)
    assert np.mean(bits) == pytest.approx(np.mean(continuous) + 8.0, abs=0.05)


def test_bits_per_dim_runs_on_the_network(digits):
    bits, nfe = bits_per_dim(small_model(), digits[0][:2], rtol=0.05, atol=0.05)
    assert bits.shape == (2,) and np.all(np.isfinite(bits)) and nfe > 1
