"""The main job: train a score model on MNIST with checkpoints and resuming, then sample."""

import math
import os
import pathlib
import time

import keras
import numpy as np
from keras import ops

from keras_sgm.backend import training_jit_compile
from keras_sgm.checkpoints import load_model
from keras_sgm.data import load_mnist, load_npz_images
from keras_sgm.images import save_grid
from keras_sgm.model import ScoreModel
from keras_sgm.sampling import sample
from keras_sgm.unet import build_unet, patch_size_of


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
        partial = self.path.with_name(f".{self.path.stem}.partial.keras")
        self.model.save(partial)
        os.replace(partial, self.path)


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


def saved_patch_size(path):
    """The `patch_size` of the network saved at `path` (`"pretrained"` too).

    Returns:
        The network's patch size (1 when it has no `SpaceToDepth` layer), or
        None when `path` holds no readable `ScoreModel`; `resume_from` and
        `start_from` then say what is wrong with it.
    """
    try:
        return patch_size_of(load_model(path).network)
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


def train_mnist(
    output_dir="runs/mnist",
    epochs=16,
    batch_size=128,
    learning_rate=1e-3,
    data_dir=None,
    data=None,
    steps_per_epoch=None,
    num_samples=64,
    seed=0,
    init_weights=None,
    mixed_precision=False,
    label_dropout=0.1,
    patch_size=None,
    jit_compile="auto",
    verbose=1,
):
    """Trains the default class-conditional score model on MNIST, then samples.

    It writes an unconditional grid of `num_samples` digits and a grid with
    one row per digit (classifier-free guidance), both with the fast sampler.

    The model, with its optimizer and RNG state, is saved atomically to
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
    if data is not None:
        images, labels = load_npz_images(data)
        batches = len(images) // batch_size
    else:
        train = load_mnist("train", batch_size, data_dir=data_dir, seed=seed)
        batches = int(train.cardinality())
    steps = min(batches, steps_per_epoch or batches)
    if steps < 1:
        raise ValueError(
            f"batch_size={batch_size} is larger than the training set; use a smaller batch."
        )
    if data is not None:
        # Arrays feed fit without TensorFlow; whole batches keep one compiled shape.
        fit_data = {"x": images[: steps * batch_size], "batch_size": batch_size, "shuffle": True}
        if np.all(labels >= 0):
            fit_data["y"] = labels[: steps * batch_size]
    else:
        # With steps_per_epoch, Keras keeps one iterator across epochs: it must not run dry.
        fit_data = {"x": train.repeat(), "steps_per_epoch": steps, "shuffle": False}

    checkpoint = output_dir / "model.keras"
    if patch_size is None:
        continued = checkpoint if checkpoint.exists() else init_weights
        patch_size = (saved_patch_size(continued) if continued is not None else None) or 1

    keras.utils.set_random_seed(seed)
    network = build_unet(
        num_classes=10, patch_size=patch_size, dtype="mixed_bfloat16" if mixed_precision else None
    )
    model = ScoreModel(network, label_dropout=label_dropout, seed=seed)
    if jit_compile == "auto":
        jit_compile = training_jit_compile(epochs * steps, patch_size)
    model.compile(
        optimizer=default_optimizer(learning_rate, epochs * steps), jit_compile=jit_compile
    )
    initial_epoch = resume_from(model, checkpoint, steps)
    if initial_epoch == 0 and init_weights is not None:
        start_from(model, init_weights)
    # Only now that the data and the starting weights are known to be good.
    output_dir.mkdir(parents=True, exist_ok=True)
    if verbose and initial_epoch:
        print(f"resuming from {checkpoint} after epoch {initial_epoch}")
    elif verbose and init_weights is not None:
        print(f"starting from the weights of {init_weights}")
    timer = EpochTimer(steps * batch_size, verbose=bool(verbose))
    callbacks = [
        StopOnNonFiniteLoss(checkpoint),
        AtomicCheckpoint(checkpoint),
        keras.callbacks.CSVLogger(str(output_dir / "history.csv"), append=True),
        timer,
    ]
    if initial_epoch < epochs:
        model.fit(
            **fit_data,
            epochs=epochs,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            verbose=verbose,
        )

    images, nfe, sample_seconds = sample(model, num_samples, seed=seed, progress=verbose == 1)
    grid = save_grid(images, output_dir / "samples.png")
    np.savez_compressed(output_dir / "samples.npz", images=images)
    by_digit, _, _ = sample(model, 100, labels=np.repeat(np.arange(10), 10), seed=seed)
    digit_grid = save_grid(by_digit, output_dir / "samples_by_digit.png", columns=10)
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
