"""The training data of a run, as `model.fit` keyword arguments."""

import keras
import numpy as np

from keras_sgm.data.datasets import batch_images, tensorflow_for_data
from keras_sgm.data.sources import CACHE_LIMIT_BYTES, open_data
from keras_sgm.models.latent import LATENTS


def _leave_cores_to_the_model(dataset):
    """On JAX and PyTorch, one tf.data thread: it keeps up with the step (uint8 batches from a
    cache) and leaves the other cores to the model (`docs/benchmarks.md`)."""
    if keras.backend.backend() == "tensorflow":
        return dataset
    options = tensorflow_for_data().data.Options()
    options.threading.private_threadpool_size = 1
    return dataset.with_options(options)


def run_data(config):
    """The `ImageData` a `TrainingConfig` names (its `data`, `data_dir`, `image_size`, `color`,
    `crop`, `labels` and `bad_images`)."""
    return open_data(config.data, config.data_dir, config.image_size, config.color, config.crop, config.labels,
                     config.bad_images)


def training_data(data, batch_size, steps_per_epoch=None, seed=0, flip=False, autoencoder=None):
    """Training batches as `model.fit` keyword arguments: one uint8 `tf.data` pipeline for every
    source, which feeds `fit` on every backend and which Keras shards over the processes of a
    distributed run.

    With an `autoencoder`, the batches hold the images' latents instead, for a
    `LatentScoreModel` of that autoencoder: it is frozen, so the latents are the same at every
    epoch, and encoding the images once spares every training step the encoder's forward pass
    (Stable Diffusion trainers cache latents the same way). The batches are those of the
    images, in the same order. Latents too large to keep in memory are left to the step.

    Args:
        data: An `ImageData` (see `open_data`), or the name of a source
            (`"mnist"`, a folder, an `.npz`) opened with its defaults.
        batch_size: Images per batch.
        steps_per_epoch: Cap on the steps per epoch (for quick runs).
        seed: Shuffle (and flip) seed.
        flip: Mirror a random half of the images left to right (not for
            digits or text).
        autoencoder: A trained, calibrated `Autoencoder` whose latents the
            batches hold, as `({"latents": z}, labels)`.

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
    examples = data.examples("train")
    latent_bytes = data.sizes["train"] * 4 * int(np.prod(autoencoder.latent_shape)) if autoencoder else 0
    if autoencoder is not None and (1 + flip) * latent_bytes < CACHE_LIMIT_BYTES:
        examples = encoded_examples(examples, autoencoder, flip)
    train = batch_images(examples, batch_size, seed=seed, repeat=True, flip=flip)
    return {"x": _leave_cores_to_the_model(train), "steps_per_epoch": steps, "shuffle": False}, steps


def encoded_examples(examples, autoencoder, flip=False, batch_size=512):
    """The latents of unbatched `(image, label)` examples (or images alone), in their order,
    as a `tf.data.Dataset` of `({"latents": z}, label)` kept in memory.

    With `flip`, each example also holds `"mirrored_latents"`, those of its mirror image,
    which `batch_images(..., flip=True)` picks for a random half of the draws: an encoder
    is not mirror-symmetric, so the mirror's latents are encoded too.
    """
    latents, mirrored, labels = [], [], []
    for batch in examples.batch(batch_size).as_numpy_iterator():
        images = batch[0] if isinstance(batch, tuple) else batch
        latents.append(autoencoder.encode_in_batches(images, batch_size))
        if flip:
            mirrored.append(autoencoder.encode_in_batches(images[:, :, ::-1], batch_size))
        if isinstance(batch, tuple):
            labels.append(batch[1])
    features = {LATENTS: np.concatenate(latents)}
    if flip:
        features["mirrored_" + LATENTS] = np.concatenate(mirrored)
    tf = tensorflow_for_data()
    elements = (features, np.concatenate(labels)) if labels else features
    return tf.data.Dataset.from_tensor_slices(elements)
