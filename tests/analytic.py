"""Exact scores of simple data distributions perturbed by a noise schedule."""

from keras import ops

from keras_sgm import VESchedule
from keras_sgm.score_function import ProgramCache


class GaussianDataScore:
    """Data `N(mean, std^2)` per pixel (std = 0: a single point), noised by `schedule`.

    At time `t` the data is `N(mean, std^2 + sigma(t)^2)`, whose score is
    `-(x - mean) / (std^2 + sigma(t)^2)`. It is a `ScoreFunction`, without
    variables or conditioning.
    """

    state_variables = ()

    def __init__(self, mean, std, image_shape=(4, 4, 1), schedule=None):
        self.mean, self.std = mean, std
        self.sample_shape = self.image_shape = image_shape
        self.schedule = schedule or VESchedule()
        self.sampling_programs = ProgramCache()

    def conditioning(self, batch_size):
        return {}

    def score(self, x, times):
        sigma = ops.reshape(self.schedule.marginal_std(times), (-1, 1, 1, 1))
        # A tensor mean: torch cannot mix NumPy arrays with tensors that need a gradient.
        mean = ops.convert_to_tensor(self.mean, "float32")
        return -(x - mean) / (self.std**2 + sigma**2)

    def decode(self, x):
        return x
