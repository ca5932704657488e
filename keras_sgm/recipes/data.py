"""The training data of a run, as `model.fit` keyword arguments."""

import numpy as np

from keras_sgm.data.datasets import load_mnist, load_npz_images, npz_source


def mnist_training_data(batch_size, data="mnist", data_dir=None, steps_per_epoch=None, seed=0):
    """MNIST training batches as `model.fit` keyword arguments.

    Args:
        batch_size: Images per batch.
        data: `"mnist"` (TFDS), or an `.npz` with `x_train` (and
            `y_train`), fed as arrays without TensorFlow.
        data_dir: The TFDS data directory (see `load_mnist`).
        steps_per_epoch: Cap on the steps per epoch (for quick runs).
        seed: Shuffle seed.

    Returns:
        `(fit_kwargs, steps_per_epoch)`.
    """
    npz = npz_source(data)
    if npz is not None:
        images, labels = load_npz_images(npz)
        batches = len(images) // batch_size
    else:
        train = load_mnist("train", batch_size, data_dir=data_dir, seed=seed)
        batches = int(train.cardinality())
    steps = min(batches, steps_per_epoch or batches)
    if steps < 1:
        raise ValueError(f"batch_size={batch_size} is larger than the training set; use a smaller batch.")
    if npz is None:
        # With steps_per_epoch, Keras keeps one iterator across epochs: it must not run dry.
        return {"x": train.repeat(), "steps_per_epoch": steps, "shuffle": False}, steps
    # Whole batches keep one compiled shape.
    fit_data = {"x": images[: steps * batch_size], "batch_size": batch_size, "shuffle": True}
    if np.all(labels >= 0):
        fit_data["y"] = labels[: steps * batch_size]
    return fit_data, steps
