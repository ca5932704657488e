"""Draws the README's inpainting figure: test digits completed from their top half.

    KERAS_BACKEND=tensorflow python scripts/inpainting_figure.py --data ../shared/data/mnist.npz

One row per digit: the known top half (the rest grey), a completion by
replacement alone, three completions with reconstruction guidance, and the
true digit. Writes docs/inpainting.png.
"""

import argparse

import numpy as np

from keras_sgm import load_pretrained
from keras_sgm.data.datasets import load_npz_images
from keras_sgm.data.images import grey_unknown, save_grid, unit_floats
from keras_sgm.sampling.inpainting import inpaint
from keras_sgm.sampling.masks import half_mask


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="mnist.npz (x_test, y_test)")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--out", default="docs/inpainting.png")
    args = parser.parse_args()

    images, labels = load_npz_images(args.data, "test")
    # The first test digit of each class.
    digits = unit_floats(images[[int(np.argmax(labels == d)) for d in range(10)]])
    mask = half_mask((28, 28, 1), "top")
    model = load_pretrained()
    replaced, _ = inpaint(model, digits, mask, steps=args.steps, reconstruction_guidance=0.0, seed=0)
    guided = [inpaint(model, digits, mask, steps=args.steps, seed=seed)[0] for seed in range(3)]
    rows = np.stack([grey_unknown(digits, mask), replaced, *guided, digits], axis=1)
    save_grid(rows.reshape(-1, 28, 28, 1), args.out, columns=rows.shape[1])
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
