"""Preconditioning: how the network's raw output becomes the denoised image (EDM's `EDMPrecond`)."""

from keras import ops

PARAMETERIZATIONS = ("edm", "noise")


class Preconditioning:
    """Wraps a network `F` into the denoiser `D(x, sigma)` of noisy images.

    With `"edm"` (Karras et al. 2022) the network sees `c_in x` and predicts
    the denoised image `D = c_skip x + c_out F`, so that its input and output
    stay of order one at every noise level and an error in `F` moves a sample
    by `c_out F <= sigma_data` rather than by `sigma F`; then
    `s = (D - x) / sigma^2`. With `"noise"` (the score-SDE tutorial)
    `s = F / sigma`, i.e. `F` predicts `-z`.

    Args:
        parameterization: `"edm"` or `"noise"`.
        sigma_data: The data's scale in EDM's preconditioning.

    Example:

    >>> precond = Preconditioning("edm", sigma_data=0.5)
    >>> denoised = precond.denoise(network, noisy_images, sigma, schedule.time_from_std(sigma))
    """

    def __init__(self, parameterization="edm", sigma_data=0.5):
        if parameterization not in PARAMETERIZATIONS:
            raise ValueError(
                f"parameterization must be one of {PARAMETERIZATIONS}; got {parameterization!r}."
            )
        if not float(sigma_data) > 0.0:
            raise ValueError(f"sigma_data must be positive; got {sigma_data}.")
        self.parameterization = parameterization
        self.sigma_data = float(sigma_data)

    def scalings(self, std):
        """`(c_in, c_out, 1 - c_skip)` at noise level `std`, without cancellation."""
        if self.parameterization == "noise":
            return ops.ones_like(std), std, ops.zeros_like(std)
        variance = ops.square(std) + self.sigma_data**2
        return (
            ops.rsqrt(variance),
            std * self.sigma_data * ops.rsqrt(variance),
            ops.square(std) / variance,
        )

    def denoise(self, network, x, sigma, noise_input, labels=None, training=False):
        """The denoised images `D(x, sigma) = c_skip x + c_out F(c_in x, c_noise)`.

        Args:
            network: The U-Net, called on `[c_in x, noise_input]` (and `labels`).
            x: Noisy images `(batch, *shape)`.
            sigma: `(batch,)` noise levels.
            noise_input: `(batch,)` the network's noise-level input `c_noise`
                (the schedule's time of `sigma`, on which the U-Net was trained).
            labels: `(batch,)` labels for a conditional network, or None.
            training: Runs the network in training mode (its dropout on).

        Returns:
            A float32 tensor of the images' shape.
        """
        sigma = ops.reshape(sigma, (-1, 1, 1, 1))
        c_in, c_out, c_drop = self.scalings(sigma)
        inputs = [c_in * x, noise_input] + ([] if labels is None else [labels])
        output = ops.cast(network(inputs, training=training), "float32")  # a mixed-precision network's too
        # c_skip x written as x - c_drop x: c_skip = 1 - c_drop cancels at large sigma.
        return x + (c_out * output - c_drop * x)
