"""Loading a model: a `.keras` checkpoint saved by keras-sgm, or the shipped one.

The command line, training (`--init-weights`), evaluation and the benchmarks
all load through `load_model`, so that a bad file gets the same one-line
explanation everywhere.
"""

import pathlib
import zipfile

PRETRAINED_NAME = "pretrained"


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or holds no keras-sgm model."""


def load_model(path=None, compile=False, kind=None):
    """The model saved at `path`, or the shipped pretrained model.

    Args:
        path: A `.keras` file saved from a keras-sgm model; None or
            `"pretrained"` for the shipped MNIST model, or the name of a
            shipped preset (`"fashion_mnist"`, see `PRESETS`).
        compile: Restore the optimizer too (to train on); False for sampling.
        kind: The class the model must be an instance of; by default any
            `ScoreFunction` (a score model, pixel or latent).

    Returns:
        The model.

    Raises:
        CheckpointError: with a one-line message that names the problem.

    Example:

    >>> model = load_model("runs/mnist/model.keras")
    >>> shipped = load_model()
    """
    import keras

    from keras_sgm.diffusion.protocol import ScoreFunction
    from keras_sgm.models import latent as _registers_every_model_class  # noqa: F401

    kind = kind or ScoreFunction
    from keras_sgm.models.presets import DEFAULT_PRESET, PRESETS, load_pretrained

    if path is None or str(path) == PRETRAINED_NAME or str(path) in PRESETS:
        try:
            return load_pretrained(DEFAULT_PRESET if path is None or str(path) == PRETRAINED_NAME else str(path))
        except FileNotFoundError as error:
            raise CheckpointError(" ".join(str(error).split())) from None
    path = pathlib.Path(path)
    if not path.exists():
        raise CheckpointError(f"the checkpoint {path} does not exist.")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"{path} is not a .keras file (those are zip archives): it is truncated, corrupted "
            f"or of another format. Use an earlier checkpoint or save the model again."
        )
    try:
        model = keras.saving.load_model(path, compile=compile)
    except Exception as error:  # noqa: BLE001 - every failure is the same to the user
        detail = " ".join(f"{type(error).__name__}: {error}".split())[:200]
        raise CheckpointError(
            f"cannot load the checkpoint {path} (is it corrupted, or from another keras-sgm "
            f"version?): {detail}"
        ) from None
    if not isinstance(model, kind):
        what = "a keras-sgm score model" if kind is ScoreFunction else f"an {kind.__name__}"
        raise CheckpointError(f"{path} holds a {type(model).__name__}, not {what}.")
    return model
