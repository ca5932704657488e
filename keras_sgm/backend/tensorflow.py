"""TensorFlow without its start-up chatter on stderr.

TensorFlow's C++ runtime writes a dozen lines to stderr when it is imported
and when it first looks for devices (oneDNN notes, CPU features, and a
`failed call to cuInit` error on every machine without a GPU), before its
own log level applies. keras-sgm imports it through here: with stderr
pointed at /dev/null for those two moments, and, when another backend
computes and TensorFlow only feeds data, with the GPUs hidden from it.
"""

import contextlib
import os
import sys


@contextlib.contextmanager
def _stderr_silenced():
    """Points file descriptor 2 at /dev/null, which is where C++ code writes."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (a notebook, a test runner's capture)
        yield
        return
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow(for_data_only):
    """`import tensorflow`, quietly, with its devices initialised.

    Args:
        for_data_only: Hide the GPUs from TensorFlow (another backend uses them).

    Returns:
        The `tensorflow` module.
    """
    first_time = "tensorflow" not in sys.modules
    with _stderr_silenced() if first_time else contextlib.nullcontext():
        import tensorflow as tf

        if first_time:
            if for_data_only:
                try:
                    tf.config.set_visible_devices([], "GPU")
                except RuntimeError:  # devices already initialised: nothing to do
                    pass
            tf.config.list_logical_devices()
    return tf


def _configured_backend():
    """The backend Keras will choose: $KERAS_BACKEND, else keras.json's, else TensorFlow."""
    import json
    import pathlib

    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = pathlib.Path(os.environ.get("KERAS_HOME") or pathlib.Path.home() / ".keras")
    try:
        return json.loads((home / "keras.json").read_text()).get("backend", "tensorflow")
    except (OSError, ValueError):
        return "tensorflow"


def prepare_keras_import(every_backend=False):
    """Before Keras is first imported: import TensorFlow quietly on the TensorFlow backend.

    Args:
        every_backend: On the other backends too, where TensorFlow feeds data
            and Keras imports it to save and load models (the command line
            does both); it then sees no GPU.
    """
    if "keras" not in sys.modules and (every_backend or _configured_backend() == "tensorflow"):
        import_tensorflow_if_installed()


def import_tensorflow_if_installed():
    """Imports TensorFlow quietly where it is installed, before Keras imports it loudly.

    Keras imports it, on any backend, to serialise a layer's config (as when
    a training checkpoint's network is copied for its EMA).
    """
    import importlib.util

    if importlib.util.find_spec("tensorflow") is not None:
        import_tensorflow(for_data_only=_configured_backend() != "tensorflow")
