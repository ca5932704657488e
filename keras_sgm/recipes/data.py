"""The training data of a run, as `model.fit` keyword arguments."""

from keras_sgm.data.datasets import batch_images, tensorflow_for_data
from keras_sgm.data.sources import open_data


def _leave_cores_to_the_model(dataset):
    """On JAX and PyTorch, one tf.data thread: it keeps up with the step (uint8 batches from a
    cache) and leaves the other cores to the model (`docs/benchmarks.md`)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        return dataset
    options = tensorflow_for_data().data.Options()
    options.threading.private_threadpool_size = 1
    return dataset.with_options(options)


def run_data(config):
    """The `ImageData` a `TrainingConfig` names (its `data`, `data_dir`, `image_size`, `color`,
    `crop` and `labels`)."""
    return open_data(config.data, config.data_dir, config.image_size, config.color, config.crop, config.labels)


def training_data(data, batch_size, steps_per_epoch=None, seed=0, flip=False):
    """Training batches as `model.fit` keyword arguments: one uint8 `tf.data` pipeline for every
    source, which feeds `fit` on every backend and which Keras shards over the processes of a
    distributed run.

    Args:
        data: An `ImageData` (see `open_data`), or the name of a source
            (`"mnist"`, a folder, an `.npz`) opened with its defaults.
        batch_size: Images per batch.
        steps_per_epoch: Cap on the steps per epoch (for quick runs).
        seed: Shuffle (and flip) seed.
        flip: Mirror a random half of the images left to right (not for
            digits or text).

    Returns:
        `(fit_kwargs, steps_per_epoch)`.

    Example:

    >>> fit_data, steps = training_data(open_data("fashion_mnist"), batch_size=128)
    >>> model.fit(**fit_data, epochs=10)
    """
    if isinstance(data, str):
        data = open_data(data)
    batches = data.sizes["train"] // batch_size
    steps = min(batches, steps_per_epoch or batches)
    if steps < 1:
        raise ValueError(f"batch_size={batch_size} is larger than the {data.sizes['train']} training images; "
                         f"use a smaller batch.")
    # With steps_per_epoch, Keras keeps one iterator across epochs: it must not run dry.
    train = batch_images(data.examples("train"), batch_size, seed=seed, repeat=True, flip=flip)
    return {"x": _leave_cores_to_the_model(train), "steps_per_epoch": steps, "shuffle": False}, steps
