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
from keras_sgm.recipes.data import mnist_training_data
from keras_sgm.recipes.optimizer import default_optimizer
from keras_sgm.sampling.sample import sample


def train_mnist(
    output_dir="runs/mnist",
    epochs=14,
    batch_size=128,
    learning_rate=2e-3,
    ema_decay=0.9995,
    data_dir=None,
    data=None,
    steps_per_epoch=None,
    num_samples=64,
    seed=0,
    init_weights=None,
    mixed_precision=False,
    label_dropout=0.1,
    patch_size=None,
    channels=None,
    blocks_per_level=None,
    attention=None,
    dropout=None,
    latent=None,
    autoencoder=None,
    autoencoder_epochs=2,
    jit_compile="auto",
    verbose=1,
):
    """Trains the default class-conditional score model on MNIST, then samples.

    It writes an unconditional grid of `num_samples` digits and a grid with
    one row per digit (classifier-free guidance), both with the fast sampler.

    It is the recipe of `examples/mnist.py`, step by step. The model, with
    its optimizer and RNG state, is saved atomically to
    `output_dir/model.keras` after every epoch, and the same call resumes
    from it where an interrupted (even killed) run stopped; calling it again
    after it finished only samples again (or trains on, if `epochs` grew).
    A non-finite loss stops training with `NonFiniteLossError` and keeps the
    last good checkpoint.

    Args:
        output_dir: Where the checkpoint, the loss history and the samples go.
        epochs: Number of epochs in the whole run.
        batch_size: Images per training batch.
        learning_rate: Peak learning rate of Adam (warm-up, then cosine decay).
        ema_decay: Decay of the EMA of the weights, which samples.
        data_dir: TFDS data directory holding MNIST (see `load_mnist`).
        data: Instead of TFDS, an `.npz` file with `x_train` (and `y_train`).
        steps_per_epoch: Cap on the steps per epoch (for quick runs).
        num_samples: Digits in the sample grid.
        seed: Seed of the weights, the training noise and the samples.
        init_weights: Start from the weights of this saved `ScoreModel`
            (or `"pretrained"`, the shipped one) instead of random ones,
            with a fresh optimizer; ignored when resuming a checkpoint.
        mixed_precision: Compute in bfloat16 with float32 weights (the
            `"mixed_bfloat16"` policy): faster on GPUs; the loss and the
            samplers stay float32. The weights are float32 either way, so
            a run can resume with or without it; a saved model loads with
            the policy it was saved with.
        label_dropout: Share of images trained without their label, which
            is all the training the unconditional (no-label) path gets;
            guidance needs that path too.
        patch_size: The network's `patch_size` (see `build_unet`; 2 trains
            faster, at a higher loss). None takes that of the checkpoint
            being resumed or of `init_weights`, else 1.
        channels: The network's channels per level (see `build_unet`).
            None takes those of the checkpoint being resumed or of
            `init_weights`, else the default.
        blocks_per_level: Residual blocks per U-Net level (see
            `build_unet`; 0 is the tutorial's one convolution per level).
            None, like each of the two below, takes the resumed run's or
            `init_weights`'s, else the default.
        attention: Self-attention at the coarsest level.
        dropout: Dropout rate inside the residual blocks.
        latent: Latent diffusion: train (or take) an autoencoder first,
            then a `LatentScoreModel` on its latents; False trains a
            pixel-space `ScoreModel`. None is as the run being resumed or
            `init_weights`, else True (see `is_latent_run`).
        autoencoder: With `latent`, a trained `Autoencoder` file to use
            instead of training one.
        autoencoder_epochs: Epochs of the autoencoder's training.
        jit_compile: `model.compile`'s `jit_compile`. `"auto"` takes the
            fastest for a run of `epochs` epochs on this backend (see
            `keras_sgm.backend.training_jit_compile`): XLA on JAX (and
            on TensorFlow with a GPU); on PyTorch, `torch.compile` for
            runs of 1,000 steps or more of the `patch_size=1` network,
            else eager.
        verbose: 0 silent, 1 progress bars and summaries, 2 one line per epoch.

    Returns:
        A dict with the model, the paths written and the epoch times.
    """
    output_dir = pathlib.Path(output_dir)
    checkpoint = output_dir / "model.keras"
    fit_data, steps = mnist_training_data(batch_size, data, data_dir, steps_per_epoch, seed)

    network_given = dict(patch_size=patch_size, channels=channels, blocks_per_level=blocks_per_level,
                         attention=attention, dropout=dropout)
    continued = continued_run(checkpoint, init_weights)
    if is_latent_run(continued, latent) or autoencoder is not None:
        # Bad network options fail now, not after minutes of autoencoder training.
        build_unet(**architecture(continued, Autoencoder(MNIST_SHAPE), **network_given))
        autoencoder = prepare_autoencoder(output_dir, fit_data, steps, autoencoder_epochs, autoencoder=autoencoder,
                                          seed=seed, verbose=verbose, continued=continued)

    keras.utils.set_random_seed(seed)
    network_options = architecture(continued, autoencoder, **network_given)
    model = score_model(network_options, autoencoder, mixed_precision, label_dropout=label_dropout,
                        ema_decay=ema_decay, seed=seed)
    if jit_compile == "auto":
        jit_compile = training_jit_compile(epochs * steps, network_options["patch_size"])
    model.compile(optimizer=default_optimizer(learning_rate, epochs * steps), jit_compile=jit_compile)
    initial_epoch = resume_or_start(model, checkpoint, init_weights, steps, verbose)

    # Only now that the data and the starting weights are known to be good.
    output_dir.mkdir(parents=True, exist_ok=True)
    callbacks = training_callbacks(output_dir, steps * batch_size, verbose, seed=seed)
    if initial_epoch < epochs:
        model.fit(**fit_data, epochs=epochs, initial_epoch=initial_epoch, callbacks=callbacks,
                  verbose=verbose)

    images, nfe, sample_seconds = sample(model, num_samples, seed=seed, progress=verbose == 1)
    grid = save_grid(images, output_dir / "samples.png")
    by_digit, _, _ = sample(model, 100, labels=np.repeat(np.arange(10), 10), seed=seed)
    digit_grid = save_grid(by_digit, output_dir / "samples_by_digit.png", columns=10)
    timer = callbacks[-1]
    if verbose:
        if timer.seconds:
            print(f"mean epoch time: {np.mean(timer.seconds):.1f} s over {len(timer.seconds)} epochs")
        print(f"sampled {num_samples} digits in {sample_seconds:.1f} s ({nfe} network evaluations each)")
        print(f"checkpoint: {checkpoint}\nsamples:    {grid}\nby digit:   {digit_grid}")
    return {
        "model": model,
        "checkpoint": checkpoint,
        "samples": grid,
        "samples_by_digit": digit_grid,
        "epoch_seconds": timer.seconds,
        "sample_seconds": sample_seconds,
    }
