"""Makes a colour dataset from real digits: each class tinted its own hue, with random jitter.

    python scripts/make_tinted_dataset.py --data ../shared/data/mnist.npz --out runs/tinted_mnist.npz

No colour dataset can be downloaded on an offline machine. This one keeps the
shapes of real digits (or clothes) and paints class `k` at hue `k / classes`
(plus a random hue shift of `--hue-jitter` and a random brightness), on
black, padded to 32x32 RGB. A model of it must get both the shape and the
colour of the class it is asked for; `benchmarks/colour.py` measures both.
"""

import argparse
import colorsys

import numpy as np


def class_hues(num_classes):
    """The hue of each class, in [0, 1): evenly around the colour wheel."""
    return np.arange(num_classes) / num_classes


def tint(images, labels, num_classes, hue_jitter=0.02, seed=0, size=32):
    """Grayscale uint8 `(n, h, w)` images as RGB uint8 `(n, size, size, 3)`, each class its hue.

    Args:
        images: Grayscale digits or clothes, uint8.
        labels: Their classes.
        num_classes: Number of classes (the hues are spread over them).
        hue_jitter: Standard deviation of the random shift of each image's hue.
        seed: Seed of the jitter.
        size: The padded side (black borders).
    """
    rng = np.random.default_rng(seed)
    hues = (class_hues(num_classes)[labels] + rng.normal(0, hue_jitter, len(labels))) % 1.0
    brightness = rng.uniform(0.75, 1.0, len(labels))
    colours = np.array([colorsys.hsv_to_rgb(h, 1.0, v) for h, v in zip(hues, brightness)], "float32")
    height, width = images.shape[1:3]
    top, left = (size - height) // 2, (size - width) // 2
    tinted = np.zeros((len(images), size, size, 3), "uint8")
    luminance = images.reshape(len(images), height, width, 1).astype("float32")
    tinted[:, top : top + height, left : left + width] = np.round(luminance * colours[:, None, None, :])
    return tinted


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="an .npz of grayscale images: x_train, y_train, x_test, y_test")
    parser.add_argument("--out", required=True)
    parser.add_argument("--hue-jitter", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with np.load(args.data) as data:
        splits = {split: (data[f"x_{split}"], data[f"y_{split}"].astype("int64")) for split in ("train", "test")}
        names = [str(n) for n in data["class_names"]] if "class_names" in data else None
    num_classes = int(splits["train"][1].max()) + 1
    names = names or [str(k) for k in range(num_classes)]
    arrays = {"class_names": np.array(names)}
    for index, (split, (images, labels)) in enumerate(splits.items()):
        arrays[f"x_{split}"] = tint(images, labels, num_classes, args.hue_jitter, args.seed + index)
        arrays[f"y_{split}"] = labels
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out}: {len(arrays['x_train'])} + {len(arrays['x_test'])} RGB 32x32 images, hues "
          f"{', '.join(f'{h:.2f}' for h in class_hues(num_classes))}")


if __name__ == "__main__":
    main()
