"""The training data of a run, as `model.fit` keyword arguments."""

import numpy as np

from keras_sgm.data.datasets import (
    batch_images,
    load_npz_images,
    mnist_builder,
    npz_source,
    tensorflow_for_data,
)


def _leave_cores_to_the_model(dataset):
    """On JAX and PyTorch, one tf.data thread: it keeps up with the step (uint8 batches from a
    cache) and leaves the other cores to the model (`docs/benchmarks.md`)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        return dataset
    options = tensorflow_for_data().data.Options()
    options.threading.private_threadpool_size = 1
    return dataset.with_options(options)


def mnist_training_data(batch_size, data="mnist", data_dir=None, steps_per_epoch=None, seed=0):
    """MNIST training batches as `model.fit` keyword arguments: one uint8 `tf.data` pipeline for
    every source, which feeds `fit` on every backend and which Keras shards over the processes
    of a distributed run.

    Args:
        batch_size: Images per batch.
        data: `"mnist"` (TFDS), or an `.npz` with `x_train` (and
            `y_train`).
        data_dir: The TFDS data directory (see `mnist_builder`).
        steps_per_epoch: Cap on the steps per epoch (for quick runs).
        seed: Shuffle seed.

    Returns:
        `(fit_kwargs, steps_per_epoch)`.
    """
    npz = npz_source(data)
    if npz is not None:
        images, labels = load_npz_images(npz)
        examples = tensorflow_for_data().data.Dataset.from_tensor_slices((images, labels) if np.all(labels >= 0) else images)
    else:
        examples = mnist_builder(data_dir).as_dataset(split="train", as_supervised=True).cache()
    batches = int(examples.cardinality()) // batch_size
    steps = min(batches, steps_per_epoch or batches)
    if steps < 1:
        raise ValueError(f"batch_size={batch_size} is larger than the training set; use a smaller batch.")
    # With steps_per_epoch, Keras keeps one iterator across epochs: it must not run dry.
    train = batch_images(examples, batch_size, seed=seed, repeat=True)
    return {"x": _leave_cores_to_the_model(train), "steps_per_epoch": steps, "shuffle": False}, steps
