import math

import keras
import numpy as np
import pytest

from keras_sgm import VESchedule
from tests.conftest import to_numpy


def test_marginal_std_matches_the_closed_form():
    schedule = VESchedule(25.0)
    t = np.linspace(1e-5, 1.0, 50).astype("float32")
    expected = np.sqrt((25.0 ** (2 * t) - 1) / (2 * math.log(25.0)))
    np.testing.assert_allclose(to_numpy(schedule.marginal_std(t)), expected, rtol=1e-5)
    assert schedule.prior_std() == pytest.approx(expected[-1], rel=1e-5)


def test_diffusion_coeff_is_the_derivative_of_the_variance():
    schedule = VESchedule(25.0)
    t = np.linspace(0.05, 0.95, 19)
    h = 1e-4
    variance = lambda s: to_numpy(schedule.marginal_std(s)).astype("float64") ** 2
    derivative = (variance(t + h) - variance(t - h)) / (2 * h)
    g = to_numpy(schedule.diffusion_coeff(t))
    np.testing.assert_allclose(g**2, derivative, rtol=2e-2)


def test_time_from_std_inverts_marginal_std():
    schedule = VESchedule(7.0)
    t = np.linspace(0.01, 1.0, 20).astype("float32")
    np.testing.assert_allclose(
        to_numpy(schedule.time_from_std(schedule.marginal_std(t))), t, rtol=1e-4, atol=1e-5
    )


def test_schedule_round_trips_through_keras_serialization():
    schedule = VESchedule(12.5)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(restored, VESchedule) and restored.sigma == 12.5


@pytest.mark.parametrize("sigma", [0.0, -3.0, 1.0, float("nan")])
def test_non_positive_or_flat_sigma_is_rejected(sigma):
    with pytest.raises(ValueError, match="sigma > 1"):
        VESchedule(sigma)
