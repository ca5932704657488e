"""The recipe: train a score model with checkpoints and resuming, then sample."""

import pathlib

import keras
import numpy as np

from keras_sgm.backend.compile import training_jit_compile
from keras_sgm.data.images import save_grid
from keras_sgm.models.autoencoder import Autoencoder
from keras_sgm.models.unet import build_unet
from keras_sgm.recipes.architecture import (
    MNIST_SHAPE,
    architecture,
    is_latent_run,
    score_model,
)
from keras_sgm.recipes.autoencoder_stage import prepare_autoencoder
from keras_sgm.recipes.callbacks import training_callbacks
from keras_sgm.recipes.checkpoints import continued_run, resume_or_start
from keras_sgm.recipes.config import DEFAULTS, TrainingConfig
from keras_sgm.recipes.data import mnist_training_data
from keras_sgm.recipes.optimizer import default_optimizer
from keras_sgm.sampling.sample import sample


def train(config=DEFAULTS):
    """Trains a class-conditional score model of MNIST by the recipe `config`, then samples.

    It writes an unconditional grid of `config.num_samples` digits and a
    grid with one row per digit (classifier-free guidance), both with the
    fast sampler; `examples/mnist.py` shows the same steps one by one.

    The model, with its optimizer and RNG state, is saved atomically to
    `output_dir/model.keras` after every epoch, and the same call resumes
    from it where an interrupted (even killed) run stopped; calling it again
    after it finished only samples again (or trains on, if `epochs` grew).
    A non-finite loss stops training with `NonFiniteLossError` and keeps the
    last good checkpoint.

    Args:
        config: A `TrainingConfig`; its defaults are the main job's.

    Returns:
        A dict with the model, the paths written and the epoch times.

    Example:

    >>> result = train(TrainingConfig(epochs=1, steps_per_epoch=10, output_dir="runs/quick"))
    >>> result["checkpoint"]
    PosixPath('runs/quick/model.keras')
    """
    output_dir = pathlib.Path(config.output_dir)
    checkpoint = output_dir / "model.keras"
    batch_size, epochs, seed, verbose = config.batch_size, config.epochs, config.seed, config.verbose
    fit_data, steps = mnist_training_data(batch_size, config.data, config.data_dir, config.steps_per_epoch, seed)

    network_given = config.network_options()
    continued = continued_run(checkpoint, config.init_weights)
    autoencoder = config.autoencoder
    if is_latent_run(continued, config.latent) or autoencoder is not None:
        # Bad network options fail now, not after minutes of autoencoder training.
        build_unet(**architecture(continued, Autoencoder(MNIST_SHAPE), **network_given))
        autoencoder = prepare_autoencoder(output_dir, fit_data, steps, config.autoencoder_epochs,
                                          autoencoder=autoencoder, seed=seed, verbose=verbose, continued=continued)

    keras.utils.set_random_seed(seed)
    network_options = architecture(continued, autoencoder, **network_given)
    model = score_model(network_options, autoencoder, config.mixed_precision, label_dropout=config.label_dropout,
                        ema_decay=config.ema_decay, seed=seed)
    jit_compile = config.jit_compile
    if jit_compile == "auto":
        jit_compile = training_jit_compile(epochs * steps, network_options["patch_size"])
    model.compile(optimizer=default_optimizer(config.learning_rate, epochs * steps), jit_compile=jit_compile)
    initial_epoch = resume_or_start(model, checkpoint, config.init_weights, steps, verbose)

    # Only now that the data and the starting weights are known to be good.
    output_dir.mkdir(parents=True, exist_ok=True)
    callbacks = training_callbacks(output_dir, steps * batch_size, verbose, seed=seed)
    if initial_epoch < epochs:
        model.fit(**fit_data, epochs=epochs, initial_epoch=initial_epoch, callbacks=callbacks,
                  verbose=verbose)

    images, nfe, sample_seconds = sample(model, config.num_samples, seed=seed, progress=verbose == 1)
    grid = save_grid(images, output_dir / "samples.png")
    by_digit, _, _ = sample(model, 100, labels=np.repeat(np.arange(10), 10), seed=seed)
    digit_grid = save_grid(by_digit, output_dir / "samples_by_digit.png", columns=10)
    timer = callbacks[-1]
    if verbose:
        if timer.seconds:
            print(f"mean epoch time: {np.mean(timer.seconds):.1f} s over {len(timer.seconds)} epochs")
        print(f"sampled {config.num_samples} digits in {sample_seconds:.1f} s ({nfe} network evaluations each)")
        print(f"checkpoint: {checkpoint}\nsamples:    {grid}\nby digit:   {digit_grid}")
    return {
        "model": model,
        "checkpoint": checkpoint,
        "samples": grid,
        "samples_by_digit": digit_grid,
        "epoch_seconds": timer.seconds,
        "sample_seconds": sample_seconds,
    }


def train_mnist(**options):
    """keras-sgm 0.1's form of `train`: `train(TrainingConfig(**options))`, where `data=None` is MNIST."""
    if options.get("data") is None:
        options.pop("data", None)
    return train(TrainingConfig(**options))
