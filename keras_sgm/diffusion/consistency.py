"""Easy consistency tuning (ECT, Geng et al. 2024): a trained denoiser tuned into a consistency model.

A consistency model `f(x, sigma)` maps every point of a probability-flow
ODE path straight to the path's clean end, `f(x, 0) = x`, so one call from
pure noise is a sample. ECT gets one from a trained EDM denoiser, which is
already `f` at `r = 0`, by shrinking the gap between two points of the same
noise path as tuning goes on; it needs no ODE solver and no teacher network
(its `ECMLoss`, `training/loss.py` of locuslab/ect).

Given a teacher, the same loss distils the teacher's probability-flow ODE
instead (consistency distillation, Song et al. 2023): the point one step
down the path is the teacher's Euler step rather than the same noise draw,
so the teacher's classifier-free guidance is baked into the tuned model, as
in latent consistency models (Luo et al. 2023), and a guided sample costs
one network evaluation per step instead of two.
"""

import math

import keras
from keras import ops

from keras_sgm.diffusion.loss import drop_labels


class ConsistencyTuning:
    """ECT's consistency loss, with its draws of `t`, `r`, `z` and label dropout.

    For each image it draws a noise level `t` (log-normal) and a smaller
    `r` on the same noise path, `x_t = x0 + t z` and `x_r = x0 + r z` with
    one `z`, and pulls `f(x_t, t)` towards `f(x_r, r)`, held fixed:

        loss = (sqrt(||f(x_t, t) - sg[f(x_r, r)]||^2 + c^2) - c) / (t - r),

    with `r = max(0, t (1 - q^-(stage + 1) (1 + k sigmoid(-b t))))` and
    `f(x_r, 0) = x0`. With a small `q` the tuning goes in stages: at stage
    0 most pairs have `r = 0`, the denoising loss the model was trained
    with, and every `stage_steps` optimizer steps the stage rises and `r`
    moves towards `t`, until the pairs are neighbours on the ODE path, which
    is the consistency condition. The defaults are ECT's one-GPU-hour
    recipe for short runs: `q = 256` in a single stage, neighbours from the
    start.

    Args:
        log_sigma_mean: Mean of `ln t`; ECT's -1.1.
        log_sigma_std: Standard deviation of `ln t`; ECT's 2.0.
        stage_steps: Optimizer steps per stage of the `r` schedule; None
            keeps stage 0.
        q: Factor by which each stage shrinks `t - r`; `t - r` starts at
            `t (1 + k sigmoid(-b t)) / q`.
        k: Weight of the sigmoid that widens the gap at small `t`.
        b: Slope of that sigmoid.
        huber_c: The pseudo-Huber constant `c`; None takes iCT's
            `0.00054 sqrt(d)` for samples of `d` values, 0 the plain norm.
        label_dropout: Probability of tuning a labelled image as unlabelled,
            which keeps the unconditional path that guidance needs.
        num_classes: Number of classes of a conditional model, or None.
        teacher: A denoiser `teacher(x, sigma, labels)` whose ODE to distil,
            such as `classifier_free` of the score model at a fixed scale;
            None (ECT) takes the path of the data itself. Not saved with the
            model: a run that resumes gives it again.

    Example:

    >>> tuning = ConsistencyTuning(q=2.0, stage_steps=1000, num_classes=10)
    >>> loss = tuning(model.denoise, model.schedule, images, labels, seed_generator, step=0)
    >>> guided = functools.partial(classifier_free, score_model, scale=2.0)
    >>> distillation = ConsistencyTuning(q=2.0, stage_steps=1000, num_classes=10, teacher=guided)
    """

    def __init__(self, log_sigma_mean=-1.1, log_sigma_std=2.0, stage_steps=None, q=256.0, k=8.0, b=1.0,
                 huber_c=None, label_dropout=0.1, num_classes=None, teacher=None):
        if stage_steps is not None and not int(stage_steps) >= 1:
            raise ValueError(f"stage_steps must be a positive number of optimizer steps; got {stage_steps}.")
        if not float(q) > 1.0:
            raise ValueError(f"q must exceed 1 (each stage shrinks the gap t - r by q); got {q}.")
        if not float(log_sigma_std) > 0.0:
            raise ValueError(f"log_sigma_std must be positive; got {log_sigma_std}.")
        if huber_c is not None and not float(huber_c) >= 0.0:
            raise ValueError(f"huber_c must be None (iCT's default), 0 or positive; got {huber_c}.")
        self.log_sigma_mean = float(log_sigma_mean)
        self.log_sigma_std = float(log_sigma_std)
        self.stage_steps = None if stage_steps is None else int(stage_steps)
        self.q, self.k, self.b = float(q), float(k), float(b)
        self.huber_c = None if huber_c is None else float(huber_c)
        self.label_dropout = float(label_dropout)
        self.num_classes = num_classes
        self.teacher = teacher

    def smaller_sigmas(self, t, step):
        """ECT's `r(t)` at optimizer step `step`: the partner level of each `t` on its noise path."""
        stage = 0.0 if self.stage_steps is None else ops.floor(ops.cast(step, "float32") / self.stage_steps)
        decay = ops.power(self.q, -(stage + 1.0))
        return ops.maximum(t * (1.0 - decay * (1.0 + self.k * ops.sigmoid(-self.b * t))), 0.0)

    def __call__(self, denoise, schedule, images, labels, seed, step):
        """The loss of a batch at optimizer step `step`, drawn from `seed`.

        Args:
            denoise: `denoise(noisy_images, sigma, labels)`, the model's `f`
                with gradients (the network being tuned).
            schedule: The model's `NoiseSchedule`; `t` stays within its levels.
            images: Clean images (or latents) `x0`.
            labels: `(batch,)` int labels, or None.
            seed: A `keras.random.SeedGenerator`.
            step: The optimizer's step count.

        Returns:
            The scalar mean loss of the batch.
        """
        images = ops.convert_to_tensor(images)  # NumPy images too: torch adds no array to a tensor
        batch = ops.shape(images)[0]
        sigma_range = schedule.marginal_std(ops.convert_to_tensor([1e-5, 1.0]))
        t = ops.exp(self.log_sigma_mean + self.log_sigma_std * keras.random.normal((batch,), seed=seed))
        t = ops.clip(t, sigma_range[0], sigma_range[1])
        r = self.smaller_sigmas(t, step)
        noise = keras.random.normal(ops.shape(images), seed=seed)
        labels = drop_labels(labels, self.num_classes, self.label_dropout, seed)

        noisy = images + _per_image(t, images) * noise
        prediction = denoise(noisy, t, labels)
        lower = self.lower_point(noisy, images, noise, t, r, labels)
        # The target is the network itself one step down the path, without gradient (and without
        # dropout, as a teacher's would be); at r = 0 it is that point itself, f(x, 0) = x.
        target = ops.stop_gradient(denoise(lower, r, labels, training=False))
        target = ops.where(_per_image(r, images) > 0.0, target, lower)
        squared = ops.sum(ops.square(prediction - target), axis=tuple(range(1, len(images.shape))))
        c = self.huber_c if self.huber_c is not None else 0.00054 * math.sqrt(math.prod(images.shape[1:]))
        # The gap floors at a millionth of t, so that a stage far past float32's precision divides by no zero.
        return ops.mean((ops.sqrt(squared + c**2) - c) / ops.maximum(t - r, 1e-6 * t))

    def lower_point(self, noisy, images, noise, t, r, labels):
        """The point at level `r` of the path through `noisy` at level `t`: the same noise draw on
        the data's path (ECT), or the teacher's Euler step `x + (r - t) (x - D(x, t)) / t`."""
        if self.teacher is None:
            return images + _per_image(r, images) * noise
        denoised = ops.stop_gradient(self.teacher(noisy, t, labels))
        return noisy + _per_image((r - t) / t, noisy) * (noisy - denoised)

    def get_config(self):
        return {"log_sigma_mean": self.log_sigma_mean, "log_sigma_std": self.log_sigma_std,
                "stage_steps": self.stage_steps, "q": self.q, "k": self.k, "b": self.b, "huber_c": self.huber_c}


def _per_image(value, images):
    """`(batch,)` values shaped to scale each image of `images`."""
    return ops.reshape(value, (-1,) + (1,) * (len(images.shape) - 1))
