"""
Title: Latent diffusion of MNIST digits with denoising score matching
Description: An autoencoder, a noise-conditioned U-Net trained by denoising score
matching on its latents, and guided sampling, on TensorFlow, JAX or PyTorch.

    KERAS_BACKEND=jax python examples/mnist.py [--epochs 14] [--output-dir runs/mnist] [--data fashion_mnist]

Offline, point TensorFlow Datasets at a prepared copy of MNIST first:
`export TFDS_DATA_DIR=../shared/tfds`. Interrupt the run at any time and start
the same command again: it resumes after the last finished epoch.

## Introduction

A score-based generative model learns the score `grad_x log p_sigma(x)` of the
data blurred by Gaussian noise of every level `sigma`, from barely visible to so
strong that only noise is left. Sampling starts from that pure noise and follows
the score down the noise levels, removing a little of the predicted noise at each
step, until an image is left.

The score is learned by denoising: noise a training image, `x = x0 + sigma z`, and
ask a network `D(x, sigma)` for the clean image. The best such denoiser gives the
score as `(D(x, sigma) - x) / sigma^2` (Tweedie's formula), so the loss

    E || (D(x0 + sigma z, sigma) - x0) / sigma ||^2  =  E || s(x, sigma) sigma + z ||^2

is the sigma-weighted denoising score-matching loss. This page writes that loss
and the sampler out; keras-sgm gives the network, the train step of each backend
(so that a plain `model.fit` trains the model), and the callbacks.

Like Stable Diffusion, this example learns in a latent space: an autoencoder first
compresses each 28x28 digit to a 7x7x4 grid, and the score model learns there,
where it is 16 times cheaper to evaluate. The digit's class label plays the part
of the text prompt, and classifier-free guidance makes samples follow it.

`keras-sgm train` runs this same recipe, with every option of `TrainingConfig`.
"""

import argparse
import dataclasses
import pathlib

import keras
import numpy as np
from keras import ops

import keras_sgm
from keras_sgm.backend.compile import training_jit_compile
from keras_sgm.backend.distribution import DISTRIBUTE_CHOICES, data_parallel
from keras_sgm.data.images import save_grid
from keras_sgm.data.sources import COLORS, CROPS, kind_of_source, open_data, parse_image_size
from keras_sgm.models.latent import LATENT_AUTOENCODER, LATENT_UNET
from keras_sgm.recipes.autoencoder_stage import calibration_images
from keras_sgm.recipes.callbacks import (
    AtomicCheckpoint,
    CalibrateLatents,
    EpochTimer,
    HistoryCSV,
    SampleGrid,
    StopOnNonFiniteLoss,
    sample_quality,
)
from keras_sgm.recipes.checkpoints import resume_from, save_atomically
from keras_sgm.recipes.config import DEFAULTS
from keras_sgm.recipes.data import training_data
from keras_sgm.recipes.guide import GUIDE_FILE, KeepGuide, attach_guide, carry_guide
from keras_sgm.recipes.optimizer import default_optimizer

"""
## Hyperparameters

The recipe's defaults live in one place, `TrainingConfig`, which `keras-sgm train`
reads too; a few of them can be changed here from the command line.
"""


def positive_int(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)


def checked(parse):
    def convert(text):
        try:
            parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return text

    return convert


parser = argparse.ArgumentParser(description="Latent diffusion of MNIST digits, or of any images.")
parser.add_argument("--epochs", type=positive_int, default=DEFAULTS.epochs, help="epochs of the score model")
parser.add_argument("--batch-size", type=positive_int, default=DEFAULTS.batch_size)
parser.add_argument("--steps-per-epoch", type=positive_int, default=None, help="cap, for quick runs")
parser.add_argument("--data", type=checked(kind_of_source), default=DEFAULTS.data,
                    help="a TFDS name (mnist, fashion_mnist...), a folder of images (a subfolder per class) or an .npz")
parser.add_argument("--data-dir", default=None, help="the TFDS data directory (default: $TFDS_DATA_DIR)")
parser.add_argument("--image-size", type=checked(parse_image_size), default=None, help="resize to H or HxW")
parser.add_argument("--color", choices=COLORS, default=None, help="default: the data's own")
parser.add_argument("--crop", choices=CROPS, default=DEFAULTS.crop, help="for another aspect ratio")
parser.add_argument("--no-labels", dest="labels", action="store_false", help="train an unconditional model")
parser.add_argument("--flip", action="store_true", help="random horizontal flips (not for digits)")
parser.add_argument("--output-dir", default=DEFAULTS.output_dir)
parser.add_argument("--distribute", choices=DISTRIBUTE_CHOICES, default=DEFAULTS.distribute,
                    help="data parallelism over the local devices (auto: JAX splits the CPU into replicas)")
parser.add_argument("--num-samples", type=positive_int, default=DEFAULTS.num_samples,
                    help="images in the grids (the by-class grid: up to 10 per class)")
config = dataclasses.replace(DEFAULTS, **vars(parser.parse_args()), verbose=2)
output_dir = pathlib.Path(config.output_dir)
output_dir.mkdir(parents=True, exist_ok=True)
keras.utils.set_random_seed(config.seed)

"""
## Every core, every device

Data parallelism splits each batch over the devices: every replica computes the
loss of its share, with its own noise, and the gradients are averaged. On JAX it
is `keras.distribution.DataParallel`, which also pays on a CPU: XLA leaves cores
idle on the small maps of a latent U-Net, so the CPU is split into a few host
devices that run side by side. On TensorFlow it is `MirroredStrategy`
(`--distribute on`). It must be chosen before anything touches a device, and the
models are built, trained and sampled inside its scope.
"""

parallel = data_parallel(config.distribute, config.batch_size)
print(f"training on {parallel.describe()}")

"""
## The data

`open_data` reads MNIST from TensorFlow Datasets, or any TFDS dataset, folder of images
or `.npz` that `--data` names, in one shape and colour, with the class names when it
has labels. `training_data` turns it into batches of uint8 images and their labels, a
`tf.data` pipeline that feeds `fit` on every backend. The model scales the pixels to
[0, 1] itself.
"""

data = open_data(config.data, config.data_dir, config.image_size, config.color, config.crop, config.labels)
print(data.describe())
fit_data, steps = training_data(data, config.batch_size, config.steps_per_epoch, config.seed, config.flip)

"""
## The autoencoder

A small convolutional autoencoder with a KL-regularised latent, trained to
reconstruct the digits: the absolute error of the pixels and of their Fourier
transforms, which keep the detail that a squared error would average away.
After every epoch `CalibrateLatents` rescales its latents to unit variance, the
scale the noise levels below are chosen for (Stable Diffusion's scale factor).
`AtomicCheckpoint` saves it after every epoch through a temporary file, so a kill
never leaves half a file, and `resume_from` picks a run up where it stopped.
"""


def train_autoencoder():
    path = output_dir / "autoencoder.keras"
    autoencoder = keras_sgm.Autoencoder(data.image_shape, latent_channels=4, seed=config.seed, **LATENT_AUTOENCODER)
    autoencoder.compile(optimizer=default_optimizer(1e-3, config.autoencoder_epochs * steps))
    autoencoder.fit(**fit_data, epochs=config.autoencoder_epochs, verbose=config.verbose,
                    initial_epoch=resume_from(autoencoder, path, steps),
                    callbacks=[StopOnNonFiniteLoss(path), CalibrateLatents(calibration_images(fit_data)),
                               AtomicCheckpoint(path)])
    return autoencoder


"""
## The loss

Each training step draws a noise level per latent grid from EDM's log-normal
distribution, `ln sigma ~ N(-0.6, 1.6^2)`, which puts the training where the loss
can still be lowered, and noises the grid: `x = x0 + sigma z`. It replaces 10 % of
the labels by a "no label" token, which trains the unconditional score that
guidance needs. The residual `(D(x, sigma) - x0) / sigma` is `s(x, sigma) sigma + z`:
its squared norm is the loss above. The model calls this function from its train
step, with its denoiser and its seed generator.
"""


def score_matching_loss(denoise, schedule, x0, labels, seed):
    batch = ops.shape(x0)[0]
    sigma_range = schedule.marginal_std(ops.convert_to_tensor([1e-5, 1.0]))
    sigma = ops.clip(ops.exp(-0.6 + 1.6 * keras.random.normal((batch,), seed=seed)), sigma_range[0], sigma_range[1])
    z = keras.random.normal(ops.shape(x0), seed=seed)
    if labels is not None:
        dropped = keras.random.uniform((batch,), seed=seed) < config.label_dropout
        labels = ops.where(dropped, data.num_classes, ops.cast(labels, "int32"))
    std = ops.reshape(sigma, (-1, 1, 1, 1))
    residual = (denoise(x0 + std * z, sigma, labels) - x0) / std
    return ops.mean(ops.sum(ops.square(residual), axis=(1, 2, 3)))


"""
## The score model

The denoiser is a U-Net: its encoder halves the 7x7 grid and widens the channels,
its decoder grows it back, and `Concatenate` skips join each decoder stage to the
encoder stage of the same size. It is told the noise level through Fourier
features of `log sigma`, and the class through a learned embedding, added to every
residual block. EDM's preconditioning scales its input and output so that they
stay of order one at every noise level.

`LatentScoreModel` trains it with the loss above on the autoencoder's latents. The
frozen autoencoder gives each image the same latents at every epoch, so the images
are encoded once, before training, as Stable Diffusion's trainers cache them. It
keeps an exponential moving average (EMA) of the weights, which samples better
than the weights themselves.

`fit` runs with the package's callbacks: a NaN loss stops the run at once and keeps
the last good checkpoint, the model (weights, EMA, optimizer and noise generator)
is saved atomically after every epoch, and a grid of samples shows the progress.
Every other epoch `SampleQuality` draws 500 samples from the EMA weights and scores
them on the features of the dataset's shipped classifier: FID and KID against the
test images, and the share recognised as the class asked for. The loss and those
figures go to `history.csv`. The checkpoint of an interrupted run is loaded first.

`KeepGuide` saves the EMA network as it was after the second epoch. Once training
ends it becomes the model's guide network: a weaker version of the same model,
which autoguides its unconditional samples (Karras et al. 2024),
`D = D_guide(x) + w (D(x) - D_guide(x))`. The difference points from the early
network's mistakes towards the data, and it needs no labels.
"""


def train_score_model(autoencoder):
    latent_data, steps = training_data(data, config.batch_size, config.steps_per_epoch, config.seed, config.flip,
                                       autoencoder=autoencoder)
    keras.utils.set_random_seed(config.seed)  # the same weights however long the autoencoder trained
    network = keras_sgm.build_unet(autoencoder.latent_shape, num_classes=data.num_classes, **LATENT_UNET)
    model = keras_sgm.LatentScoreModel(autoencoder, network, label_dropout=config.label_dropout,
                                       ema_decay=config.ema_decay, seed=config.seed, class_names=data.class_names,
                                       dataset=data.name, objective=score_matching_loss)
    total_steps = config.epochs * steps
    model.compile(optimizer=default_optimizer(config.learning_rate, total_steps),
                  jit_compile=training_jit_compile(total_steps))
    checkpoint = output_dir / "model.keras"
    if checkpoint.exists():
        carry_guide(model, checkpoint)  # the guide network of a finished run, so that its weights load
    epochs_done = resume_from(model, checkpoint, steps)
    if epochs_done:
        print(f"resuming from {checkpoint} after epoch {epochs_done}")
    quality = sample_quality(data, seed=config.seed)  # None where no classifier of the data ships
    model.fit(**latent_data, epochs=config.epochs, initial_epoch=epochs_done, verbose=config.verbose,
              callbacks=[StopOnNonFiniteLoss(checkpoint), AtomicCheckpoint(checkpoint),
                         SampleGrid(output_dir / "progress.png", num=config.num_samples),
                         *([quality] if quality else []), HistoryCSV(output_dir / "history.csv"),
                         KeepGuide(output_dir / GUIDE_FILE, config.guide_epoch), EpochTimer(steps * config.batch_size)])
    if attach_guide(model, output_dir / GUIDE_FILE):
        save_atomically(model, checkpoint)
    return model


"""
## Sampling

EDM's Heun sampler (Karras et al. 2022, Algorithm 2) integrates the probability-flow
ODE `dx/dsigma = (x - D(x, sigma)) / sigma` from the prior's noise level down to 0.
Its 18 levels crowd near the data, where the digits take their shape; each step is
an Euler step corrected by the slope at its end, and the last, to sigma = 0, lands
on the denoised grid: 35 network evaluations. The decoder then turns the latent
grids into digits. `keras_sgm.sampling.edm_heun` is this loop, compiled.

`model.guided(labels, w)` is the denoiser the sampler sees. With labels it is
classifier-free guidance: the network is asked with and without the label, and
`D = D(x) + w (D(x | y) - D(x))` extrapolates away from the unconditional answer
(`w = 2` gives clearer digits of the class asked for). Without labels it is
autoguidance by the guide network kept above.
"""


def heun_sampler(model, num, steps=18, sigma_min=0.01, rho=7.0, seed=0):
    sigma_max = model.schedule.prior_std()
    ramp = np.linspace(0.0, 1.0, steps)
    sigmas = ((sigma_max ** (1 / rho) + ramp * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho).tolist()
    conditioning = model.conditioning(num)

    def D(x, sigma):
        return model.denoise(x, ops.full((num,), sigma), **conditioning)

    x = keras.random.normal((num, *model.sample_shape), seed=keras.random.SeedGenerator(seed)) * sigma_max
    for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:]):
        slope = (x - D(x, sigma)) / sigma
        x_euler = x + (sigma_next - sigma) * slope
        slope_next = (x_euler - D(x_euler, sigma_next)) / sigma_next
        x = x + (sigma_next - sigma) * 0.5 * (slope + slope_next)
    return ops.convert_to_numpy(model.decode(D(x, sigmas[-1])))


"""
## The run

The models are built, trained and sampled inside the scope of the data
parallelism chosen above.
"""

with parallel.scope():
    model = train_score_model(train_autoencoder())
    images = heun_sampler(model.guided(), config.num_samples, seed=config.seed)
    print(f"samples:    {save_grid(np.clip(images, 0, 1), output_dir / 'samples.png')} (35 network evaluations)")
    if data.num_classes:
        per_class = min(10, config.num_samples)
        classes = np.repeat(np.arange(data.num_classes), per_class)
        images = heun_sampler(model.guided(labels=classes, guidance=2.0), len(classes), seed=config.seed)
        print(f"by class:   {save_grid(np.clip(images, 0, 1), output_dir / 'samples_by_class.png', columns=per_class)}")
