"""Checkpoints of a run: atomic saves, resuming, and starting from another model's weights."""

import os
import pathlib

from keras import ops

from keras_sgm.models.saving import load_model


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
        raise _cannot_resume(checkpoint, error) from error
    return int(ops.convert_to_numpy(model.optimizer.iterations)) // steps_per_epoch


def continued_run(checkpoint, init_weights=None):
    """The saved model a run continues, loaded once: its own checkpoint when that exists, else
    `init_weights` (a `.keras` file or `"pretrained"`).

    The run takes its space (`is_latent_run`), its network (`architecture`)
    and its autoencoder (`prepare_autoencoder`) from it.

    Returns:
        The loaded model, or None for a new run.

    Raises:
        ValueError: The file is unreadable; raised before any training (an
            autoencoder stage included) writes anything.
    """
    checkpoint = pathlib.Path(checkpoint)
    resuming = checkpoint.exists()
    source = checkpoint if resuming else init_weights
    if source is None:
        return None
    try:
        return load_model(source)
    except Exception as error:  # noqa: BLE001 - any failure means the same to the user
        raise (_cannot_resume if resuming else _cannot_start)(source, error) from error


def check_continues(continued, data, source):
    """Raises a `ValueError` unless the saved model a run continues (see `continued_run`) makes
    images of the run's data: its shape, and its classes (or none)."""
    if continued is None:
        return
    wanted = (tuple(data.image_shape), data.num_classes)
    saved = (tuple(continued.image_shape), continued.num_classes)
    if wanted != saved:
        def what(shape, classes):
            return f"{'x'.join(map(str, shape))} images {f'of {classes} classes' if classes else 'without labels'}"

        raise ValueError(f"{source} holds a model of {what(*saved)}, but the data {data.name} gives "
                         f"{what(*wanted)}; choose another --output-dir (or --init-weights), or the data "
                         f"options (--image-size, --color, --no-labels) of that model.")


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
        raise _cannot_start(weights, error) from error
    if model.ema_network is not None:
        model.ema_network.set_weights(values)


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


def _cannot_resume(checkpoint, error):
    return ValueError(
        f"cannot resume from {checkpoint}: {type(error).__name__}: {str(error)[:200]}. "
        f"It is corrupted or holds another model (another patch size?); move it away or "
        f"choose another output directory."
    )


def _cannot_start(weights, error):
    return ValueError(
        f"cannot start from {weights}: {type(error).__name__}: {str(error)[:200]}. "
        f"It must be a .keras file saved from a ScoreModel of the same architecture "
        f"(the same image shape, classes and patch size), or 'pretrained'."
    )
