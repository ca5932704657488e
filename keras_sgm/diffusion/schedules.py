"""Noise schedules: how much Gaussian noise corrupts the data at time t.

A schedule is the forward SDE of score-based modelling. The model and the
samplers only talk to it through four methods (`marginal_std`,
`diffusion_coeff`, `time_from_std`, `prior_std`), so another parameterisation
can be added as a new subclass without touching either.
"""

import math

import keras
from keras import ops


class NoiseSchedule:
    """Interface of a variance-exploding noise schedule.

    The forward process is `dx = g(t) dw` for `t` in `[0, 1]`, so a clean
    image `x0` becomes `x0 + marginal_std(t) * z` with `z ~ N(0, I)`.
    """

    def marginal_std(self, t):
        """Standard deviation `sigma(t)` of the noise added up to time `t`."""
        raise NotImplementedError

    def diffusion_coeff(self, t):
        """Diffusion coefficient `g(t)`, with `g(t)^2 = d sigma(t)^2 / dt`."""
        raise NotImplementedError

    def time_from_std(self, std):
        """Inverse of `marginal_std`: the time at which the noise is `std`."""
        raise NotImplementedError

    def prior_std(self):
        """Standard deviation of the prior `N(0, sigma(1)^2 I)` (a float)."""
        raise NotImplementedError

    def get_config(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_sgm")
class VESchedule(NoiseSchedule):
    """The variance-exploding SDE `dx = sigma^t dw` of the reference recipe.

    Its marginal standard deviation is
    `sigma(t) = sqrt((sigma^(2t) - 1) / (2 ln sigma))` and its diffusion
    coefficient is `g(t) = sigma^t`.

    Args:
        sigma: The base `sigma > 1` of the SDE. Larger values reach a wider
            prior at `t = 1`. Defaults to 25, as in the reference recipe.

    Example:

    >>> schedule = VESchedule(sigma=25.0)
    >>> round(schedule.prior_std(), 3)
    9.845
    """

    def __init__(self, sigma=25.0):
        sigma = float(sigma)
        if not math.isfinite(sigma) or sigma <= 1.0:
            raise ValueError(
                f"VESchedule needs sigma > 1 (the noise must grow with t); "
                f"got sigma={sigma}. Use a value such as the default 25."
            )
        self.sigma = sigma
        self._log_sigma = math.log(sigma)

    def marginal_std(self, t):
        t = ops.convert_to_tensor(t, "float32")
        variance = (ops.exp(2.0 * self._log_sigma * t) - 1.0) / (
            2.0 * self._log_sigma
        )
        return ops.sqrt(variance)

    def diffusion_coeff(self, t):
        t = ops.convert_to_tensor(t, "float32")
        return ops.exp(self._log_sigma * t)

    def time_from_std(self, std):
        std = ops.convert_to_tensor(std, "float32")
        return ops.log1p(2.0 * self._log_sigma * ops.square(std)) / (
            2.0 * self._log_sigma
        )

    def prior_std(self):
        return math.sqrt((self.sigma**2 - 1.0) / (2.0 * self._log_sigma))

    def get_config(self):
        return {"sigma": self.sigma}

    def __repr__(self):
        return f"VESchedule(sigma={self.sigma})"
