"""Trains the MNIST classifier whose weights ship in keras_sgm/weights (seeded, reproducible).

    KERAS_BACKEND=tensorflow python scripts/train_classifier.py --data ../shared/data/mnist.npz

Prints the test accuracy and writes keras_sgm/weights/mnist_classifier.weights.h5.
"""

import argparse

import keras
import numpy as np

from keras_sgm.evaluation.classifier import WEIGHTS, build_classifier


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="mnist.npz (x_train, y_train, x_test, y_test)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(WEIGHTS))
    args = parser.parse_args()

    keras.utils.set_random_seed(args.seed)
    with np.load(args.data) as data:
        x_train, y_train = data["x_train"][..., None] / 255.0, data["y_train"]
        x_test, y_test = data["x_test"][..., None] / 255.0, data["y_test"]
    classifier = build_classifier()
    steps = args.epochs * (len(x_train) // 128)
    classifier.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(2e-3, steps)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    # Small random shifts regularise the classifier beyond what dropout does.
    augment = keras.Sequential([keras.layers.RandomTranslation(0.08, 0.08, seed=args.seed)])
    dataset = _augmented(x_train.astype("float32"), y_train, augment, args.seed)
    classifier.fit(dataset, epochs=args.epochs, verbose=2)
    _, accuracy = classifier.evaluate(x_test.astype("float32"), y_test, batch_size=1000, verbose=0)
    print(f"test accuracy: {accuracy:.4f}")
    # Ship the weights alone: a compiled model would also save the optimizer's state.
    inference = build_classifier()
    inference.set_weights(classifier.get_weights())
    inference.save_weights(args.out)
    print(f"weights: {args.out}")


def _augmented(images, labels, augment, seed):
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).shuffle(60_000, seed=seed)
    dataset = dataset.batch(128).map(lambda x, y: (augment(x, training=True), y))
    return dataset.prefetch(tf.data.AUTOTUNE)


if __name__ == "__main__":
    main()
