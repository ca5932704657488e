"""The recipe of a feature network for the metrics: a classifier of a labelled dataset."""

import keras

from keras_sgm.data.datasets import batch_images, tensorflow_for_data
from keras_sgm.evaluation.classifier import build_classifier


def train_classifier(data, epochs=8, batch_size=128, learning_rate=2e-3, seed=0, flip=False, verbose=2):
    """Trains `build_classifier` on a labelled dataset's training split, then measures it on its test split.

    Adam with a cosine decay, dropout, and random shifts of up to 8 % of the
    sides (random flips too, with `flip`), the recipe of the shipped
    classifiers.

    Args:
        data: A labelled `ImageData` (see `open_data`).
        epochs: Epochs of training.
        batch_size: Images per batch.
        learning_rate: Adam's initial learning rate.
        seed: Seed of the weights, the order and the shifts.
        flip: Also mirror a random half of the images (not for digits).
        verbose: `fit`'s verbosity.

    Returns:
        `(classifier, test_accuracy)`: the model, without its optimizer, and
        its accuracy on the test split (None without one).

    Example:

    >>> classifier, accuracy = train_classifier(open_data("fashion_mnist"))
    >>> classifier.save("fashion_classifier.keras")  # keras-sgm evaluate --features fashion_classifier.keras
    """
    if data.num_classes is None:
        raise ValueError(f"{data.name} has no labels; a feature network is trained as a classifier of labelled "
                         f"images (class subfolders, y_train, or a TFDS class label).")
    tf = tensorflow_for_data()
    keras.utils.set_random_seed(seed)
    steps = data.sizes["train"] // batch_size
    if steps < 1:
        raise ValueError(f"batch_size={batch_size} is larger than the {data.sizes['train']} training images.")
    classifier = build_classifier(data.image_shape, data.num_classes, name=f"{data.name}_classifier")
    classifier.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(learning_rate,
                                                                                              epochs * steps)),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    shift = keras.layers.RandomTranslation(0.08, 0.08, seed=seed)  # runs in tf.data on every backend

    def augmented(images, labels):
        return shift(tf.cast(images, "float32") / 255.0, training=True), labels

    batches = batch_images(data.examples("train"), batch_size, seed=seed, repeat=True, flip=flip)
    classifier.fit(batches.map(augmented), epochs=epochs, steps_per_epoch=steps, verbose=verbose)
    accuracy = None
    if "test" in data.sizes:
        test_images, test_labels = data.arrays("test")
        _, accuracy = classifier.evaluate(test_images / 255.0, test_labels, batch_size=1000, verbose=0)
    inference = build_classifier(data.image_shape, data.num_classes, name=classifier.name)
    inference.set_weights(classifier.get_weights())
    return inference, accuracy
