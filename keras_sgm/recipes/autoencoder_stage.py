"""The first stage of a latent run: the autoencoder, trained (and resumed) or loaded."""

import pathlib

import keras
import numpy as np

from keras_sgm.models.autoencoder import Autoencoder
from keras_sgm.models.latent import LATENT_AUTOENCODER, LatentScoreModel
from keras_sgm.models.saving import load_model
from keras_sgm.recipes.callbacks import (
    AtomicCheckpoint,
    CalibrateLatents,
    HistoryCSV,
    StopOnNonFiniteLoss,
)
from keras_sgm.recipes.checkpoints import resume_from
from keras_sgm.recipes.optimizer import default_optimizer


def prepare_autoencoder(output_dir, fit_data, steps, epochs, image_shape, learning_rate=1e-3, autoencoder=None,
                        latent_channels=4, seed=0, verbose=1, continued=None, write_dir=None, options=None):
    """The autoencoder of a latent run: loaded from `autoencoder`, else that of
    the `continued` model, else trained in `output_dir`.

    Training saves `output_dir/autoencoder.keras` atomically after every epoch
    and resumes from it, as the score model's stage does; the finished
    autoencoder is calibrated (its latents scaled to unit variance) on the
    training images and saved once more.

    Args:
        output_dir: Where `autoencoder.keras` and `autoencoder_history.csv` go.
        fit_data: `model.fit` keyword arguments (see `training_data`).
        steps: Steps per epoch.
        epochs: Epochs of the autoencoder.
        image_shape: The shape of the run's images.
        learning_rate: Peak learning rate.
        autoencoder: A `.keras` file of a trained `Autoencoder` to use instead.
        latent_channels: Channels of the latent grid of a new autoencoder.
        seed: Seed of the weights and of the latent draws.
        verbose: 0 silent, 1 progress bars, 2 one line per epoch.
        continued: The model the run continues (see `continued_run`): a
            `LatentScoreModel`'s score network only knows its own
            autoencoder's latents, so that one is kept.
        write_dir: Where the checkpoint and history are written, if not
            `output_dir` (the other processes of a distributed run write to
            a scratch folder).
        options: `Autoencoder` arguments of a new autoencoder (`channels`,
            `residual`, `pixel_loss`, ...); None: `LATENT_AUTOENCODER`.

    Returns:
        A calibrated `Autoencoder`.
    """
    if autoencoder is not None:
        model = load_model(autoencoder, kind=Autoencoder)
        if model.image_shape != tuple(image_shape):
            raise ValueError(f"the autoencoder {autoencoder} encodes {model.image_shape} images, but the "
                             f"data's are {tuple(image_shape)}; give an autoencoder of this data (or none).")
        return model
    if isinstance(continued, LatentScoreModel):
        return continued.autoencoder
    output_dir = pathlib.Path(output_dir)
    checkpoint = output_dir / "autoencoder.keras"
    keras.utils.set_random_seed(seed)
    options = LATENT_AUTOENCODER if options is None else options
    model = Autoencoder(image_shape, latent_channels=latent_channels, seed=seed, **options)
    model.compile(optimizer=default_optimizer(learning_rate, epochs * steps))
    initial_epoch = resume_from(model, checkpoint, steps)
    if initial_epoch < epochs:
        write_dir = pathlib.Path(write_dir or output_dir)
        write_dir.mkdir(parents=True, exist_ok=True)
        callbacks = [StopOnNonFiniteLoss(checkpoint), CalibrateLatents(calibration_images(fit_data)),
                     AtomicCheckpoint(write_dir / "autoencoder.keras"),
                     HistoryCSV(write_dir / "autoencoder_history.csv")]
        model.fit(**fit_data, epochs=epochs, initial_epoch=initial_epoch, callbacks=callbacks,
                  verbose=verbose)
    return model


def calibration_images(fit_data, count=5000):
    """Up to `count` training images, from one epoch of `fit` keyword arguments (see
    `training_data`): the data repeats without end, and repeats would only cost time."""
    batches = []
    for batch in fit_data["x"].take(fit_data["steps_per_epoch"]):
        batches.append(np.asarray(batch[0] if isinstance(batch, tuple) else batch))
        if sum(map(len, batches)) >= count:
            break
    return np.concatenate(batches)[:count]
