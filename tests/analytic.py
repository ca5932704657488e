"""Exact scores of simple data distributions perturbed by a noise schedule."""

from keras import ops

from keras_sgm import VESchedule


class GaussianDataScore:
    """Data `N(mean, std^2)` per pixel (std = 0: a single point), noised by `schedule`.

    At time `t` the data is `N(mean, std^2 + sigma(t)^2)`, whose score is
    `-(x - mean) / (std^2 + sigma(t)^2)`. It has the interface samplers use.
    """

    def __init__(self, mean, std, image_shape=(4, 4, 1), schedule=None):
        self.mean, self.std = mean, std
        self.image_shape = image_shape
        self.schedule = schedule or VESchedule()

    def score(self, x, times):
        sigma = ops.reshape(self.schedule.marginal_std(times), (-1, 1, 1, 1))
        # A tensor mean: torch cannot mix NumPy arrays with tensors that need a gradient.
        mean = ops.convert_to_tensor(self.mean, "float32")
        return -(x - mean) / (self.std**2 + sigma**2)
