"""The callbacks of a training run: NaN stop, atomic checkpoint, epoch timer, sample grid,
latent calibration, and `training_callbacks`, which assembles them with the quality measurement
(`keras_sgm.evaluation.SampleQuality`) and TensorBoard."""

import csv
import io
import math
import pathlib
import time

import keras
from keras import ops

from keras_sgm.data.images import make_grid, save_grid
from keras_sgm.recipes.checkpoints import save_atomically
from keras_sgm.sampling.sample import sample

DEFAULT_EVAL_EVERY = 2
"""Epochs between quality measurements of a run whose data has a known feature network."""


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


class HistoryCSV(keras.callbacks.Callback):
    """Appends each epoch's logs to a CSV file: one row per epoch, one column per figure.

    Unlike `keras.callbacks.CSVLogger`, a resumed run that logs figures the
    file has no column for yet (a quality measurement switched on, say)
    widens the file's columns, rather than appending rows that no longer
    line up with its header. The file is replaced whole, through a
    temporary file, so that a kill never leaves half a row.

    Args:
        path: The CSV file; its rows, if any, are kept.
    """

    def __init__(self, path):
        super().__init__()
        self.path = pathlib.Path(path)

    def on_epoch_end(self, epoch, logs=None):
        rows = []
        if self.path.exists():
            with open(self.path, newline="") as file:
                rows = list(csv.DictReader(file))
        rows.append({"epoch": epoch, **{name: float(value) for name, value in (logs or {}).items()}})
        columns = list(dict.fromkeys(name for row in rows for name in row))
        text = io.StringIO()
        writer = csv.DictWriter(text, columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(text.getvalue())
        partial.replace(self.path)


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
        tensorboard_dir: Also write the grid there, as TensorBoard's image
            `samples` at the epoch's step; None: not.
    """

    def __init__(self, path, num=64, seed=0, tensorboard_dir=None):
        super().__init__()
        self.path, self.num, self.seed = pathlib.Path(path), num, seed
        self.tensorboard_dir = tensorboard_dir
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        images = sample(self.model, self.num, seed=self.seed)[0]
        save_grid(images, self.path)
        if self.tensorboard_dir is not None:
            # tf.summary writes TensorBoard's files on every backend: TensorFlow feeds the data anyway.
            from keras_sgm.data.datasets import tensorflow_for_data

            tf = tensorflow_for_data()
            if self._writer is None:
                self._writer = tf.summary.create_file_writer(str(pathlib.Path(self.tensorboard_dir) / "samples"))
            with self._writer.as_default():
                tf.summary.image("samples", make_grid(images)[None], step=epoch + 1)
            self._writer.flush()


class CalibrateLatents(keras.callbacks.Callback):
    """Rescales an `Autoencoder`'s latents to unit variance after every epoch, so that
    every checkpoint holds a calibrated autoencoder."""

    def __init__(self, images):
        super().__init__()
        self.images = images

    def on_epoch_end(self, epoch, logs=None):
        self.model.calibrate(self.images)


def training_callbacks(output_dir, images_per_epoch, verbose=1, sample_grid=True, seed=0, num_samples=64,
                       quality=None, tensorboard=False):
    """The callbacks of a checkpointed run: NaN stop, atomic checkpoint, a sample grid after every
    epoch, the quality measurement, CSV history, TensorBoard and the epoch timer.

    Args:
        output_dir: Where `model.keras`, `history.csv`, `progress.png` and
            `tensorboard/` go.
        images_per_epoch: For the timer's throughput.
        verbose: Print the epoch times.
        sample_grid: Write `progress.png` after every epoch.
        seed: Seed of the grid's samples.
        num_samples: Images in the grid.
        quality: A `keras_sgm.evaluation.SampleQuality`, whose figures the
            history and TensorBoard record; None: none.
        tensorboard: Write the logs and the grid to `output_dir/tensorboard`.

    Returns:
        A list of callbacks; the `EpochTimer` is the last.
    """
    output_dir = pathlib.Path(output_dir)
    checkpoint = output_dir / "model.keras"
    board = output_dir / "tensorboard" if tensorboard else None
    callbacks = [StopOnNonFiniteLoss(checkpoint), AtomicCheckpoint(checkpoint)]
    if sample_grid:
        callbacks.append(SampleGrid(output_dir / "progress.png", num=num_samples, seed=seed, tensorboard_dir=board))
    if quality is not None:
        callbacks.append(quality)  # before the loggers, which record what it adds to the logs
    callbacks.append(HistoryCSV(output_dir / "history.csv"))
    if board is not None:
        callbacks.append(keras.callbacks.TensorBoard(str(board), write_graph=False, profile_batch=0))
    return [*callbacks, EpochTimer(images_per_epoch, verbose=bool(verbose))]


def sample_quality(data, every=None, num=500, features=None, seed=0, verbose=True):
    """The `SampleQuality` of a run on `data`, or None when it measures nothing.

    Args:
        data: The run's `ImageData`; its test split (else its training
            images) is the reference.
        every: Epochs between measurements; 0: none; None: `DEFAULT_EVAL_EVERY`
            where a feature network of the data is known, else none.
        num: Samples per measurement.
        features: The feature network (a name or file, see `load_classifier`);
            None: the shipped classifier of the data, if one ships.
        seed: Seed of the samples.
        verbose: Print one line per measurement.

    Raises:
        ValueError: Measurements were asked for, and no feature network of the
            data's image shape is known.
    """
    from keras_sgm.evaluation.classifier import load_classifier, shipped_features_for
    from keras_sgm.evaluation.during_training import SampleQuality

    asked = every is not None
    if every == 0:
        return None
    features = features or shipped_features_for(data.name)
    network = load_classifier(features, data.image_shape) if features else None
    if network is None or tuple(network.input.shape[1:]) != tuple(data.image_shape):
        if not asked:
            return None
        shape = "x".join(map(str, data.image_shape))
        raise ValueError(f"--eval-every needs a feature network of {shape} images: give --features FILE (from "
                         f"keras-sgm train-classifier on this data), or --eval-every 0.")
    split = "test" if "test" in data.sizes else "train"
    reference = data.arrays(split)[0][:10_000]
    return SampleQuality(reference, network, every or DEFAULT_EVAL_EVERY, num, seed=seed, verbose=verbose)
