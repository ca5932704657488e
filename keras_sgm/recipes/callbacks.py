"""The callbacks of a training run: NaN stop, atomic checkpoint, epoch timer, sample grid,
latent calibration, and `training_callbacks`, which assembles them."""

import math
import pathlib
import time

import keras
from keras import ops

from keras_sgm.data.images import save_grid
from keras_sgm.recipes.checkpoints import save_atomically
from keras_sgm.sampling.sample import sample


class AtomicCheckpoint(keras.callbacks.Callback):
    """Saves the model after every epoch to a temporary file, then renames it.

    A kill or an error during the save leaves the previous checkpoint whole,
    which `keras.callbacks.ModelCheckpoint` (writing in place) does not.
    """

    def __init__(self, path):
        super().__init__()
        self.path = pathlib.Path(path)

    def on_epoch_end(self, epoch, logs=None):
        save_atomically(self.model, self.path)


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training at the first NaN or infinite loss, before anything is saved.

    It raises from the batch that went bad, so the epoch-end checkpoint
    never writes the broken weights and the last good one stays.
    """

    def __init__(self, checkpoint):
        super().__init__()
        self.checkpoint = checkpoint
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if math.isfinite(loss):
            return
        step = int(ops.convert_to_numpy(self.model.optimizer.iterations))
        kept = (
            f"the last good checkpoint {self.checkpoint} is kept"
            if pathlib.Path(self.checkpoint).exists()
            else "no checkpoint had been written yet"
        )
        raise NonFiniteLossError(
            f"the loss became {loss} at step {step} (epoch {self._epoch + 1}, batch {batch + 1}); "
            f"training stopped and {kept}. Likely causes: a learning rate too high "
            f"(try a third of it) or data with extreme or non-finite values."
        )


class EpochTimer(keras.callbacks.Callback):
    """Records each epoch's wall time and prints it with the throughput."""

    def __init__(self, images_per_epoch, verbose=True):
        super().__init__()
        self.images_per_epoch = images_per_epoch
        self.verbose = verbose
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        self.seconds.append(seconds)
        if self.verbose:
            print(
                f"epoch {epoch + 1}: {seconds:.1f} s, "
                f"{self.images_per_epoch / seconds:.0f} images/s, loss {logs['loss']:.2f}"
            )


class SampleGrid(keras.callbacks.Callback):
    """Writes a grid of samples (EDM Heun, 35 NFE) after every epoch, to watch training.

    Args:
        path: The PNG file, rewritten every epoch.
        num: Images in the grid.
        seed: Seed of the samples: the same noise every epoch.
    """

    def __init__(self, path, num=64, seed=0):
        super().__init__()
        self.path, self.num, self.seed = pathlib.Path(path), num, seed

    def on_epoch_end(self, epoch, logs=None):
        save_grid(sample(self.model, self.num, seed=self.seed)[0], self.path)


class CalibrateLatents(keras.callbacks.Callback):
    """Rescales an `Autoencoder`'s latents to unit variance after every epoch, so that
    every checkpoint holds a calibrated autoencoder."""

    def __init__(self, images):
        super().__init__()
        self.images = images

    def on_epoch_end(self, epoch, logs=None):
        self.model.calibrate(self.images)


def training_callbacks(output_dir, images_per_epoch, verbose=1, sample_grid=True, seed=0, num_samples=64):
    """The callbacks of a checkpointed run: NaN stop, atomic checkpoint, CSV history, epoch timer,
    and a sample grid after every epoch.

    Args:
        output_dir: Where `model.keras`, `history.csv` and `progress.png` go.
        images_per_epoch: For the timer's throughput.
        verbose: Print the epoch times.
        sample_grid: Write `progress.png` after every epoch.
        seed: Seed of the grid's samples.
        num_samples: Images in the grid.

    Returns:
        A list of callbacks; the `EpochTimer` is the last.
    """
    output_dir = pathlib.Path(output_dir)
    checkpoint = output_dir / "model.keras"
    callbacks = [
        StopOnNonFiniteLoss(checkpoint),
        AtomicCheckpoint(checkpoint),
        keras.callbacks.CSVLogger(str(output_dir / "history.csv"), append=True),
    ]
    if sample_grid:
        callbacks.append(SampleGrid(output_dir / "progress.png", num=num_samples, seed=seed))
    return [*callbacks, EpochTimer(images_per_epoch, verbose=bool(verbose))]
