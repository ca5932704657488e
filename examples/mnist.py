"""Score-based generative modelling of MNIST digits, on any Keras backend.

    KERAS_BACKEND=jax python examples/mnist.py [--epochs 14] [--output-dir runs/mnist]

Latent diffusion ("Stable Diffusion" for MNIST): an autoencoder compresses
each digit to a 7x7x4 latent grid; a residual U-Net learns the score of noisy
latents, `grad log p(z_t | digit)`, by denoising score matching; a sampler
turns pure noise into a latent by following it, and the decoder turns that
into a digit. `--pixel` learns on the pixels instead. The options are those of `keras-sgm train` (`--help` lists them), which runs
this same recipe. Offline, point TensorFlow Datasets at a prepared copy of
MNIST first: `export TFDS_DATA_DIR=../shared/tfds`. Interrupt the run at any
time and start the same command again: it resumes after the last finished
epoch.
"""

import pathlib

import click
import keras
import numpy as np

import keras_sgm
from keras_sgm.backend.compile import training_jit_compile
from keras_sgm.cli.options import train_options
from keras_sgm.data.images import save_grid
from keras_sgm.recipes import training
from keras_sgm.sampling.sample import sample


@click.command(help=__doc__)
@train_options
def main(epochs, batch_size, output_dir, learning_rate, ema_decay, data, data_dir, steps_per_epoch, seed,
         init_weights, mixed_precision, label_dropout, patch_size, channels, blocks_per_level, attention,
         dropout, latent, autoencoder, autoencoder_epochs, verbose):
    output_dir = pathlib.Path(output_dir)
    checkpoint = output_dir / "model.keras"

    # The data: MNIST training digits as batches of uint8 images and their labels.
    fit_data, steps = training.mnist_training_data(batch_size, data, data_dir, steps_per_epoch, seed)

    # Latent diffusion ("Stable Diffusion" for MNIST): an autoencoder, trained first,
    # compresses the digits to a 7x7x4 grid, where the score model then learns.
    # A resumed run, or one started from saved weights, keeps that model's space and network.
    continued = training.continued_run(checkpoint, init_weights)
    if training.is_latent_run(continued, latent) or autoencoder:
        autoencoder = training.prepare_autoencoder(output_dir, fit_data, steps, autoencoder_epochs,
                                                   autoencoder=autoencoder, seed=seed, verbose=verbose,
                                                   continued=continued)

    # The model: a class-conditional U-Net inside a ScoreModel (a LatentScoreModel with an
    # autoencoder), which owns the sigma(t)-weighted score-matching loss, the train step
    # and an EMA of the weights.
    keras.utils.set_random_seed(seed)
    network_options = training.architecture(continued, autoencoder, patch_size=patch_size, channels=channels,
                                            blocks_per_level=blocks_per_level, attention=attention,
                                            dropout=dropout)
    network = keras_sgm.build_unet(num_classes=10, dtype="mixed_bfloat16" if mixed_precision else None,
                                   **network_options)
    if autoencoder is None:
        model = keras_sgm.ScoreModel(network, label_dropout=label_dropout, ema_decay=ema_decay, seed=seed)
    else:
        model = keras_sgm.LatentScoreModel(autoencoder, network, label_dropout=label_dropout,
                                           ema_decay=ema_decay, seed=seed)
    model.compile(optimizer=training.default_optimizer(learning_rate, epochs * steps),
                  jit_compile=training_jit_compile(epochs * steps, network_options["patch_size"]))

    # Resume an interrupted run from its checkpoint, or start from saved weights.
    initial_epoch = training.resume_or_start(model, checkpoint, init_weights, steps, verbose)

    # Train. The callbacks stop at a NaN loss, save the model atomically after
    # every epoch, log the loss, draw a grid of samples and time the epochs.
    output_dir.mkdir(parents=True, exist_ok=True)
    callbacks = training.training_callbacks(output_dir, steps * batch_size, verbose, seed=seed)
    if initial_epoch < epochs:
        model.fit(**fit_data, epochs=epochs, initial_epoch=initial_epoch, callbacks=callbacks,
                  verbose=verbose)

    # Sample: from pure noise to digits with EDM's Heun sampler (35 network
    # evaluations), unconditionally, then one row per digit with guidance.
    images, nfe, seconds = sample(model, 64, seed=seed)
    print(f"sampled 64 digits in {seconds:.1f} s ({nfe} network evaluations each)")
    print(f"samples:    {save_grid(images, output_dir / 'samples.png')}")
    by_digit, _, _ = sample(model, 100, labels=np.repeat(np.arange(10), 10), seed=seed)
    print(f"by digit:   {save_grid(by_digit, output_dir / 'samples_by_digit.png', columns=10)}")


if __name__ == "__main__":
    main()
