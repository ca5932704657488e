"""The command line's import of Keras and its backend, once a command runs, without TensorFlow's start-up chatter.

TensorFlow's C++ runtime writes a dozen lines to stderr when it is imported
and when it first lists its devices (CPU features, and `failed call to
cuInit` on every machine without a GPU), before any log level applies
(`TF_CPP_MIN_LOG_LEVEL` quiets only the later ones). The program owns its
stderr, so it points it at /dev/null for those moments; the library never
does.
"""

import contextlib
import os
import sys


@contextlib.contextmanager
def stderr_silenced():
    """Points file descriptor 2, where C++ code writes, at /dev/null inside."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (a test runner's capture)
        yield
        return
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_backend(reads_data):
    """Imports Keras, its backend and keras-sgm's model classes, quietly.

    Args:
        reads_data: The command feeds data through tf.data, so TensorFlow
            is imported (and its devices listed) here, whatever the backend.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with stderr_silenced():
        import keras

        from keras_sgm.models import latent as _registers_every_model_class  # noqa: F401

        if reads_data or keras.backend.backend() == "tensorflow":
            import_tensorflow()


def import_tensorflow():
    """TensorFlow, imported and its devices listed quietly (for tf.data, or where Keras saves with it)."""
    with stderr_silenced():
        from keras_sgm.data.datasets import tensorflow_for_data

        tensorflow_for_data().config.list_logical_devices()
