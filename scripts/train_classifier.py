"""Trains a classifier whose weights ship in keras_sgm/weights (seeded, reproducible).

    KERAS_BACKEND=tensorflow TFDS_DATA_DIR=../shared/tfds python scripts/train_classifier.py --data mnist
    KERAS_BACKEND=tensorflow TFDS_DATA_DIR=../shared/tfds python scripts/train_classifier.py --data fashion_mnist

Prints the test accuracy and writes keras_sgm/weights/<data>_classifier.weights.h5.
"""

import argparse

from keras_sgm.data.sources import open_data
from keras_sgm.evaluation.classifier import SHIPPED
from keras_sgm.recipes.classifier import train_classifier


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=sorted(SHIPPED), required=True, help="the TFDS dataset")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    classifier, accuracy = train_classifier(open_data(args.data), epochs=args.epochs, seed=args.seed)
    print(f"test accuracy: {accuracy:.4f}")
    # Ship the weights alone: a whole model file would also carry its config.
    classifier.save_weights(SHIPPED[args.data])
    print(f"weights: {SHIPPED[args.data]}")


if __name__ == "__main__":
    main()
