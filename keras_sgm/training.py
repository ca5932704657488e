"""The main job: train a score model on MNIST with checkpoints and resuming, then sample."""

import math
import os
import pathlib
import time

import keras
import numpy as np
from keras import ops

from keras_sgm.autoencoder import Autoencoder
from keras_sgm.backend import training_jit_compile
from keras_sgm.checkpoints import load_model
from keras_sgm.data import load_mnist, load_npz_images
from keras_sgm.images import save_grid
from keras_sgm.latent import LATENT_UNET, LatentScoreModel
from keras_sgm.model import ScoreModel
from keras_sgm.sampling import sample
from keras_sgm.unet import DEFAULT_CHANNELS, build_unet, unet_arguments

MNIST_SHAPE = (28, 28, 1)


def default_optimizer(learning_rate, total_steps, warmup_steps=500):
    """Adam with a linear warm-up and a cosine decay to zero over `total_steps`."""
    warmup_steps = min(warmup_steps, max(1, total_steps // 10))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        warmup_target=learning_rate,
        warmup_steps=warmup_steps,
        decay_steps=max(1, total_steps - warmup_steps),
    )
    return keras.optimizers.Adam(schedule)


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


def save_atomically(model, path):
    """`model.save(path)` through a temporary file, so that `path` is never half written."""
    path = pathlib.Path(path)
    partial = path.with_name(f".{path.stem}.partial.keras")
    model.save(partial)
    os.replace(partial, path)


def resume_from(model, checkpoint, steps_per_epoch):
    """Loads a training checkpoint into a compiled `model`, if there is one.

    The weights, the EMA, the optimizer's moments and step count and the
    noise RNG all come back, so training goes on as if never stopped.

    Returns:
        The number of epochs the checkpoint had finished (0 without one).
    """
    checkpoint = pathlib.Path(checkpoint)
    if not checkpoint.exists():
        return 0
    model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(checkpoint)
    except Exception as error:  # noqa: BLE001 - any failure means the same to the user
        raise ValueError(
            f"cannot resume from {checkpoint}: {type(error).__name__}: {str(error)[:200]}. "
            f"It is corrupted or holds another model (another patch size?); move it away or "
            f"choose another output directory."
        ) from error
    return int(ops.convert_to_numpy(model.optimizer.iterations)) // steps_per_epoch


def continued_run(checkpoint, init_weights=None):
    """The saved model a run continues, loaded once: its own checkpoint when that exists, else
    `init_weights` (a `.keras` file or `"pretrained"`).

    The run takes its space (`is_latent_run`), its network (`architecture`)
    and its autoencoder (`prepare_autoencoder`) from it.

    Returns:
        The loaded model, or None for a new run or an unreadable file (which
        `resume_from` and `start_from` then report, as they load it to train).
    """
    checkpoint = pathlib.Path(checkpoint)
    source = checkpoint if checkpoint.exists() else init_weights
    if source is None:
        return None
    try:
        return load_model(source)
    except Exception:  # noqa: BLE001 - the loaders that follow report it
        return None


def start_from(model, weights):
    """Copies the network weights of a saved `ScoreModel` into `model`.

    The source's inference weights (its EMA, when it has one) become both
    the network and the EMA of `model`; the optimizer starts fresh. This
    fine-tunes a trained model, the shipped one included.

    Args:
        model: The `ScoreModel` to initialise.
        weights: Path of a `.keras` file saved from a `ScoreModel`, or
            `"pretrained"` for the shipped model.
    """
    try:
        values = load_model(weights).inference_network.get_weights()
        model.network.set_weights(values)
    except Exception as error:  # noqa: BLE001 - any failure means the same to the user
        raise ValueError(
            f"cannot start from {weights}: {type(error).__name__}: {str(error)[:200]}. "
            f"It must be a .keras file saved from a ScoreModel of the same architecture "
            f"(28x28x1 digits, 10 classes, the same patch size), or 'pretrained'."
        ) from error
    if model.ema_network is not None:
        model.ema_network.set_weights(values)


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
        num: Digits in the grid.
        seed: Seed of the samples: the same noise every epoch.
    """

    def __init__(self, path, num=64, seed=0):
        super().__init__()
        self.path, self.num, self.seed = pathlib.Path(path), num, seed

    def on_epoch_end(self, epoch, logs=None):
        save_grid(sample(self.model, self.num, seed=self.seed)[0], self.path)


def mnist_training_data(batch_size, data=None, data_dir=None, steps_per_epoch=None, seed=0):
    """MNIST training batches as `model.fit` keyword arguments.

    Args:
        batch_size: Images per batch.
        data: An `.npz` with `x_train` (and `y_train`), fed as arrays
            without TensorFlow; None reads TFDS.
        data_dir: The TFDS data directory (see `load_mnist`).
        steps_per_epoch: Cap on the steps per epoch (for quick runs).
        seed: Shuffle seed.

    Returns:
        `(fit_kwargs, steps_per_epoch)`.
    """
    if data is not None:
        images, labels = load_npz_images(data)
        batches = len(images) // batch_size
    else:
        train = load_mnist("train", batch_size, data_dir=data_dir, seed=seed)
        batches = int(train.cardinality())
    steps = min(batches, steps_per_epoch or batches)
    if steps < 1:
        raise ValueError(f"batch_size={batch_size} is larger than the training set; use a smaller batch.")
    if data is None:
        # With steps_per_epoch, Keras keeps one iterator across epochs: it must not run dry.
        return {"x": train.repeat(), "steps_per_epoch": steps, "shuffle": False}, steps
    # Whole batches keep one compiled shape.
    fit_data = {"x": images[: steps * batch_size], "batch_size": batch_size, "shuffle": True}
    if np.all(labels >= 0):
        fit_data["y"] = labels[: steps * batch_size]
    return fit_data, steps


PIXEL_UNET = {"patch_size": 1, "channels": DEFAULT_CHANNELS, "blocks_per_level": 0, "attention": False,
              "dropout": 0.0}
"""`build_unet` arguments of a new pixel-space run: the tutorial's one convolution per level."""


def architecture(continued=None, autoencoder=None, **given):
    """The `build_unet` arguments of a run.

    Each of `patch_size`, `channels`, `blocks_per_level`, `attention` and
    `dropout` is as given when not None, else that of the `continued` model
    (see `continued_run`), else the default: `PIXEL_UNET`, or
    `keras_sgm.latent.LATENT_UNET` with an `autoencoder`.
    """
    saved = unet_arguments(continued.network) if continued is not None else {}
    defaults = PIXEL_UNET if autoencoder is None else {**PIXEL_UNET, **LATENT_UNET}
    unknown = set(given) - set(defaults)
    if unknown:
        raise TypeError(f"architecture() got unknown build_unet arguments {sorted(unknown)}.")
    options = {key: next(v for v in (given.get(key), saved.get(key), default) if v is not None)
               for key, default in defaults.items()}
    options["channels"] = tuple(options["channels"])
    return {"image_shape": MNIST_SHAPE if autoencoder is None else autoencoder.latent_shape, **options}


def score_model(network_options, autoencoder=None, mixed_precision=False, **options):
    """A class-conditional `ScoreModel` of MNIST digits, or a `LatentScoreModel` with an `autoencoder`.

    Args:
        network_options: `build_unet` arguments (see `architecture`).
        autoencoder: A calibrated `Autoencoder` for latent diffusion, or None.
        mixed_precision: The `mixed_bfloat16` policy for the U-Net.
        **options: Further `ScoreModel` arguments (`label_dropout`, `ema_decay`, `seed`).
    """
    network = build_unet(num_classes=10, dtype="mixed_bfloat16" if mixed_precision else None,
                         **network_options)
    if autoencoder is None:
        return ScoreModel(network, **options)
    return LatentScoreModel(autoencoder, network, **options)


def is_latent_run(continued=None, latent=None):
    """Whether a run trains a `LatentScoreModel`: `latent` when not None, else
    whether the `continued` model (see `continued_run`) is one, else True."""
    if latent is not None:
        return latent
    return continued is None or isinstance(continued, LatentScoreModel)


def prepare_autoencoder(output_dir, fit_data, steps, epochs, learning_rate=1e-3, autoencoder=None,
                        latent_channels=4, seed=0, verbose=1, continued=None):
    """The autoencoder of a latent run: loaded from `autoencoder`, else that of
    the `continued` model, else trained in `output_dir`.

    Training saves `output_dir/autoencoder.keras` atomically after every epoch
    and resumes from it, as the score model's stage does; the finished
    autoencoder is calibrated (its latents scaled to unit variance) on the
    training images and saved once more.

    Args:
        output_dir: Where `autoencoder.keras` and `autoencoder_history.csv` go.
        fit_data: `model.fit` keyword arguments (see `mnist_training_data`).
        steps: Steps per epoch.
        epochs: Epochs of the autoencoder.
        learning_rate: Peak learning rate.
        autoencoder: A `.keras` file of a trained `Autoencoder` to use instead.
        latent_channels: Channels of the latent grid of a new autoencoder.
        seed: Seed of the weights and of the latent draws.
        verbose: 0 silent, 1 progress bars, 2 one line per epoch.
        continued: The model the run continues (see `continued_run`): a
            `LatentScoreModel`'s score network only knows its own
            autoencoder's latents, so that one is kept.

    Returns:
        A calibrated `Autoencoder`.
    """
    if autoencoder is not None:
        model = load_model(autoencoder, kind=Autoencoder)
        if model.image_shape != MNIST_SHAPE:
            raise ValueError(f"the autoencoder {autoencoder} encodes {model.image_shape} images; "
                             f"MNIST digits are {MNIST_SHAPE}.")
        return model
    if isinstance(continued, LatentScoreModel):
        return continued.autoencoder
    output_dir = pathlib.Path(output_dir)
    checkpoint = output_dir / "autoencoder.keras"
    keras.utils.set_random_seed(seed)
    model = Autoencoder(MNIST_SHAPE, latent_channels=latent_channels, seed=seed)
    model.compile(optimizer=default_optimizer(learning_rate, epochs * steps))
    initial_epoch = resume_from(model, checkpoint, steps)
    if initial_epoch < epochs:
        output_dir.mkdir(parents=True, exist_ok=True)
        callbacks = [StopOnNonFiniteLoss(checkpoint), CalibrateLatents(calibration_images(fit_data)),
                     AtomicCheckpoint(checkpoint),
                     keras.callbacks.CSVLogger(str(output_dir / "autoencoder_history.csv"), append=True)]
        model.fit(**fit_data, epochs=epochs, initial_epoch=initial_epoch, callbacks=callbacks,
                  verbose=verbose)
    return model


class CalibrateLatents(keras.callbacks.Callback):
    """Rescales an `Autoencoder`'s latents to unit variance after every epoch, so that
    every checkpoint holds a calibrated autoencoder."""

    def __init__(self, images):
        super().__init__()
        self.images = images

    def on_epoch_end(self, epoch, logs=None):
        self.model.calibrate(self.images)


def calibration_images(fit_data, count=5000):
    """Up to `count` training images from `fit` keyword arguments (arrays or a dataset)."""
    if isinstance(fit_data["x"], np.ndarray):
        return fit_data["x"][:count]
    batches, total = [], 0
    for images, _ in fit_data["x"]:
        batches.append(np.asarray(images))
        total += len(batches[-1])
        if total >= count:
            break
    return np.concatenate(batches)[:count]


def resume_or_start(model, checkpoint, init_weights, steps_per_epoch, verbose=1):
    """`resume_from(checkpoint)`, or else `start_from(init_weights)` when given.

    Returns:
        The epochs the checkpoint had finished (0 for a new run).
    """
    initial_epoch = resume_from(model, checkpoint, steps_per_epoch)
    if initial_epoch:
        if verbose:
            print(f"resuming from {checkpoint} after epoch {initial_epoch}")
    elif init_weights is not None:
        start_from(model, init_weights)
        if verbose:
            print(f"starting from the weights of {init_weights}")
    return initial_epoch


def training_callbacks(output_dir, images_per_epoch, verbose=1, sample_grid=True, seed=0):
    """The callbacks of a checkpointed run: NaN stop, atomic checkpoint, CSV history, epoch timer,
    and a sample grid after every epoch.

    Args:
        output_dir: Where `model.keras`, `history.csv` and `progress.png` go.
        images_per_epoch: For the timer's throughput.
        verbose: Print the epoch times.
        sample_grid: Write `progress.png` after every epoch.
        seed: Seed of the grid's samples.

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
        callbacks.append(SampleGrid(output_dir / "progress.png", seed=seed))
    return [*callbacks, EpochTimer(images_per_epoch, verbose=bool(verbose))]


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
