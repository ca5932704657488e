"""Train a score-based model on MNIST and sample a grid of digits.

    KERAS_BACKEND=jax python examples/mnist.py --epochs 16 --output-dir runs/mnist

Offline, point TensorFlow Datasets at a prepared copy of MNIST first:
`export TFDS_DATA_DIR=../shared/tfds`. Interrupt it at any time and run the
same command again: it resumes from the last finished epoch. `--patch-size 2`
trains a network 2 to 3 times faster per epoch, at a higher loss after the same
epochs (see the README's speed section).
"""

import argparse

from keras_sgm.training import train_mnist


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=positive_int, default=16, help="epochs in the whole run")
    parser.add_argument("--batch-size", type=positive_int, default=128)
    parser.add_argument("--output-dir", default="runs/mnist", help="checkpoint (resumed from), history and samples")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--data-dir", default=None, help="TFDS data directory (default: $TFDS_DATA_DIR)")
    parser.add_argument("--data", default=None, help="an .npz with x_train instead of TFDS")
    parser.add_argument("--steps-per-epoch", type=positive_int, default=None, help="cap, for quick runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init-weights", default=None,
                        help="start from a saved ScoreModel's weights ('pretrained': the shipped one)")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="bfloat16 arithmetic with float32 weights (GPUs)")
    parser.add_argument("--label-dropout", type=float, default=0.1,
                        help="share of images trained without their label (the unconditional path)")
    parser.add_argument("--patch-size", type=positive_int, default=None,
                        help="fold PxP pixel patches into channels: 2 trains 2-3x faster at a higher "
                        "loss (default: that of the resumed run or --init-weights, else 1)")
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="2: one line per epoch")
    args = parser.parse_args()
    train_mnist(
        output_dir=args.output_dir,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        data_dir=args.data_dir,
        data=args.data,
        steps_per_epoch=args.steps_per_epoch,
        seed=args.seed,
        init_weights=args.init_weights,
        mixed_precision=args.mixed_precision,
        label_dropout=args.label_dropout,
        patch_size=args.patch_size,
        verbose=args.verbose,
    )


if __name__ == "__main__":
    main()
