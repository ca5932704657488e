"""The recipe: train a score model with checkpoints and resuming, then sample."""

import contextlib
import functools
import pathlib
import tempfile
import time

import keras
import numpy as np

from keras_sgm.backend.compile import training_jit_compile
from keras_sgm.backend.distribution import data_parallel
from keras_sgm.data.images import save_grid
from keras_sgm.data.validation import image_batch
from keras_sgm.diffusion.consistency import ConsistencyTuning
from keras_sgm.diffusion.guidance import classifier_free
from keras_sgm.models.autoencoder import Autoencoder
from keras_sgm.models.saving import load_model
from keras_sgm.models.unet import build_unet
from keras_sgm.recipes.architecture import architecture, is_latent_run, score_model
from keras_sgm.recipes.autoencoder_stage import prepare_autoencoder
from keras_sgm.recipes.callbacks import NonFiniteLossError, sample_quality, training_callbacks
from keras_sgm.recipes.checkpoints import check_continues, continued_run, resume_or_start, save_atomically
from keras_sgm.recipes.config import DEFAULTS
from keras_sgm.recipes.data import run_data, training_data
from keras_sgm.recipes.guide import GUIDE_FILE, KeepGuide, attach_guide, carry_guide
from keras_sgm.recipes.optimizer import default_optimizer
from keras_sgm.sampling.sample import sample


def train(config=DEFAULTS):
    """Trains a score model of `config.data` by the recipe `config`, then samples.

    The model is class-conditional when the data has labels. It writes an
    unconditional grid of `config.num_samples` images and, with labels, a
    grid with one row per class (classifier-free guidance) of up to 10 (at
    most `num_samples`) each, both with the fast sampler;
    `examples/mnist.py` shows the same steps one by one.

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
    # The data's shuffle follows the global seed; set first, it is the same on every host
    # (joining them would otherwise draw one).
    keras.utils.set_random_seed(config.seed)
    # Before anything touches a device: on JAX it may split the CPU and join other hosts.
    parallel = data_parallel(config.distribute, config.batch_size)
    with parallel.scope(), contextlib.ExitStack() as cleanup:
        write_dir = pathlib.Path(config.output_dir)
        if not parallel.is_chief:
            # Process 0 alone writes to output_dir. The others run the very same steps, saves
            # included (a save may wait on the other processes), into a folder thrown away after.
            write_dir = pathlib.Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="keras-sgm-")))
        return _train(config, parallel, write_dir)


def _train(config, parallel, write_dir):
    output_dir = pathlib.Path(config.output_dir)
    checkpoint = output_dir / "model.keras"
    batch_size, epochs, seed = config.batch_size, config.epochs, config.seed
    verbose = config.verbose if parallel.is_chief else 0
    data = run_data(config)  # bad data fails first, with nothing printed or written
    # So does a model to continue that is unreadable or of other data: before the autoencoder stage.
    continued = continued_run(checkpoint, config.init_weights)
    check_continues(continued, data, checkpoint if checkpoint.exists() else config.init_weights)
    quality = sample_quality(data, config.eval_every, config.eval_num, config.features, seed, bool(verbose))
    if verbose and parallel.strategy is not None:
        print(f"training on {parallel.describe()}")
    if config.verbose and parallel.num_processes > 1:
        # Every process says it: JAX may end one whose peer died before Python can say more.
        # It notices a vanished process at its next collective, or by its heartbeat (100 s).
        print("if a process dies, the others stop within minutes; the same command on every host then resumes "
              "from the last checkpoint")
    if verbose:
        print(f"data: {data.describe()}")
    fit_data, steps = training_data(data, batch_size, config.steps_per_epoch, seed, config.flip)

    network_given = config.network_options()
    autoencoder = config.autoencoder
    if is_latent_run(continued, config.latent) or autoencoder is not None:
        # Bad network options fail now, not after minutes of autoencoder training.
        build_unet(**architecture(data.image_shape, continued, Autoencoder(data.image_shape), **network_given))
        autoencoder = prepare_autoencoder(output_dir, fit_data, steps, config.autoencoder_epochs, data.image_shape,
                                          autoencoder=autoencoder, seed=seed, verbose=verbose, continued=continued,
                                          write_dir=write_dir)

    if autoencoder is not None:
        fit_data, steps = _latent_training_data(data, autoencoder, config, verbose)

    keras.utils.set_random_seed(seed)
    network_options = architecture(data.image_shape, continued, autoencoder, **network_given)
    tuning = _consistency_tuning(config, epochs * steps)
    guidance = {"default_guidance": 1.0} if tuning is not None and tuning.teacher is not None else {}
    model = score_model(network_options, data, autoencoder, config.mixed_precision,
                        label_dropout=config.label_dropout, ema_decay=config.ema_decay, seed=seed,
                        consistency=tuning, **guidance)
    jit_compile = config.jit_compile
    if jit_compile == "auto":
        jit_compile = training_jit_compile(epochs * steps, network_options["patch_size"])
    model.compile(optimizer=default_optimizer(config.learning_rate, epochs * steps), jit_compile=jit_compile)
    if checkpoint.exists():
        carry_guide(model, checkpoint)
    initial_epoch = resume_or_start(model, checkpoint, config.init_weights, steps, verbose)
    # The batches follow one seeded stream: a resumed run goes on where the interrupted one
    # stopped in it, so that it trains as if never stopped.
    fit_data["x"] = fit_data["x"].skip(initial_epoch * steps)

    # Only now that the data and the starting weights are known to be good.
    write_dir.mkdir(parents=True, exist_ok=True)
    callbacks = training_callbacks(write_dir, steps * batch_size, verbose, seed=seed, num_samples=config.num_samples,
                                   quality=quality, tensorboard=config.tensorboard)
    if tuning is None and 0 < config.guide_epoch < epochs:
        callbacks.insert(-1, KeepGuide(write_dir / GUIDE_FILE, config.guide_epoch))
    if initial_epoch < epochs:
        with peers_lost_message(parallel, checkpoint):
            model.fit(**fit_data, epochs=epochs, initial_epoch=initial_epoch, callbacks=callbacks,
                      verbose=verbose)
    if attach_guide(model, write_dir / GUIDE_FILE):
        save_atomically(model, write_dir / checkpoint.name)

    timer = callbacks[-1]
    grid, class_grid, sample_seconds = _sample_grids(model, config, write_dir, verbose)
    if verbose:
        print(f"checkpoint: {checkpoint}\nsamples:    {grid}" + (f"\nby class:   {class_grid}" if class_grid else ""))
        if timer.seconds:
            print(f"mean epoch time: {np.mean(timer.seconds):.1f} s over {len(timer.seconds)} epochs")
    return {"model": model, "checkpoint": checkpoint, "samples": grid, "samples_by_class": class_grid,
            "epoch_seconds": timer.seconds, "sample_seconds": sample_seconds}


def _sample_grids(model, config, write_dir, verbose):
    """The finished run's grids: `samples.png` (unconditional) and, for a conditional model,
    `samples_by_class.png`; returns their paths (None for no class grid) and the first one's seconds."""
    images, nfe, seconds = sample(model, config.num_samples, seed=config.seed, progress=verbose == 1)
    grid = save_grid(images, write_dir / "samples.png")
    if verbose:
        print(f"sampled {config.num_samples} images in {seconds:.1f} s ({nfe} network evaluations each)")
    if not model.num_classes:
        return grid, None, seconds
    per_class = min(10, config.num_samples)
    by_class, _, _ = sample(model, per_class * model.num_classes,
                            labels=np.repeat(np.arange(model.num_classes), per_class), seed=config.seed)
    return grid, save_grid(by_class, write_dir / "samples_by_class.png", columns=per_class), seconds


def _latent_training_data(data, autoencoder, config, verbose):
    """The run's batches as the frozen autoencoder's latents, encoded once (see `training_data`)."""
    start = time.perf_counter()
    fit_data, steps = training_data(data, config.batch_size, config.steps_per_epoch, config.seed, config.flip,
                                    autoencoder=autoencoder)
    if verbose and isinstance(image_batch(fit_data["x"].element_spec), dict):
        print(f"latents:    the {data.sizes['train']:,} training images encoded once, in "
              f"{time.perf_counter() - start:.1f} s")
    return fit_data, steps


def _consistency_tuning(config, total_steps):
    """The `ConsistencyTuning` of a `config.consistency` run, or None."""
    if not config.consistency:
        return None
    teacher = None
    if config.teacher_guidance is not None:
        # The score model being tuned, as it was: its guided ODE is what the tuning distils.
        teacher = functools.partial(classifier_free, load_model(config.init_weights), scale=config.teacher_guidance)
    if not config.consistency_stages:
        return ConsistencyTuning(teacher=teacher)
    return ConsistencyTuning(q=2.0, stage_steps=max(1, -(-total_steps // config.consistency_stages)),
                             teacher=teacher)


class PeerLostError(RuntimeError):
    """A process of a distributed run failed or vanished, so the job stopped."""


@contextlib.contextmanager
def peers_lost_message(parallel, checkpoint):
    """Turns the failure of a distributed step into one message that says what was kept and how to resume."""
    try:
        yield
    except (KeyboardInterrupt, NonFiniteLossError):
        raise
    except Exception as error:
        if parallel.num_processes == 1:
            raise
        kept = f"the last checkpoint {checkpoint} is kept" if checkpoint.exists() else "nothing had been saved yet"
        raise PeerLostError(
            f"process {parallel.process_id} of {parallel.num_processes} stopped: a step across the processes "
            f"failed ({type(error).__name__}: {' '.join(str(error).split())[:200]}); {kept}. Run the same "
            f"command again on every host to resume."
        ) from error

