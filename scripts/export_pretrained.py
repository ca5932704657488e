"""Turns a training checkpoint into a model that ships in the package.

    python scripts/export_pretrained.py runs/mnist-v7/model.keras [--preset fashion_mnist]

Keeps the EMA weights only (see `keras_sgm.models.presets.inference_copy`) and
writes the preset's file in `keras_sgm/weights/` (`PRESETS[name].path`), or `--out`.
"""

import argparse

from keras_sgm.models.presets import DEFAULT_PRESET, PRESETS, inference_copy
from keras_sgm.models.saving import load_model


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="a .keras file written by training")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=DEFAULT_PRESET)
    parser.add_argument("--out", default=None, help="default: the preset's file in the package")
    args = parser.parse_args()
    args.out = args.out or str(PRESETS[args.preset].path)
    model = inference_copy(load_model(args.checkpoint))
    model.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
