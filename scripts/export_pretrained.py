"""Turns a training checkpoint into the model that ships in the package.

    python scripts/export_pretrained.py runs/mnist-jax/model.keras

Keeps the EMA weights only (see `keras_sgm.pretrained.inference_copy`) and
writes `keras_sgm/weights/mnist_score_model.keras`, or `--out`.
"""

import argparse

from keras_sgm.models.presets import PRETRAINED, inference_copy
from keras_sgm.models.saving import load_model


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="a .keras file written by training")
    parser.add_argument("--out", default=str(PRETRAINED))
    args = parser.parse_args()
    model = inference_copy(load_model(args.checkpoint))
    model.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
