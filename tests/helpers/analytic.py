"""Exact scores of simple data distributions perturbed by a noise schedule."""

from keras import ops

from keras_sgm import VESchedule
from keras_sgm.backend.compile import ProgramCache


class GaussianDataScore:
    """Data `N(mean, std^2)` per pixel (std = 0: a single point), noised by `schedule`.

    At noise level `sigma` the data is `N(mean, std^2 + sigma^2)`, whose score is
    `-(x - mean) / (std^2 + sigma^2)`; its denoiser is `x + sigma^2` times that.
    It is a `ScoreFunction`, without variables or conditioning.
    """

    state_variables = ()

    def __init__(self, mean, std, image_shape=(4, 4, 1), schedule=None):
        self.mean, self.std = mean, std
        self.sample_shape = self.image_shape = image_shape
        self.schedule = schedule or VESchedule()
        self.sampling_programs = ProgramCache()

    def conditioning(self, batch_size):
        return {}

    def guided(self, labels=None, guidance=None, **guide):
        """Itself: the data has no classes and nothing guides it."""
        return self

    def denoise(self, x, sigma):
        variance = ops.square(ops.reshape(sigma, (-1, 1, 1, 1)))
        # A tensor mean: torch cannot mix NumPy arrays with tensors that need a gradient.
        mean = ops.convert_to_tensor(self.mean, "float32")
        # D = x + sigma^2 s, with the score s = -(x - mean) / (std^2 + sigma^2).
        return x - variance * (x - mean) / (self.std**2 + variance)

    def encode(self, images):
        return ops.convert_to_tensor(images, "float32")

    def decode(self, x):
        return x


class GaussianDataConsistency(GaussianDataScore):
    """The exact consistency function of `GaussianDataScore`'s data: where the probability-flow ODE
    from `x` at level `sigma` ends, `mean + (x - mean) std / sqrt(std^2 + sigma^2)`."""

    is_consistency_model = True

    def denoise(self, x, sigma):
        variance = ops.square(ops.reshape(sigma, (-1, 1, 1, 1)))
        mean = ops.convert_to_tensor(self.mean, "float32")
        return mean + (x - mean) * self.std / ops.sqrt(self.std**2 + variance)
