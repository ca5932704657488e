"""Colour, end to end: does a model of tinted digits draw each class in its shape and its colour?

    KERAS_BACKEND=jax python benchmarks/colour.py --checkpoint runs/tinted/model.keras \
        --data runs/tinted_mnist.npz --figure docs/colour_by_class.png

The data is `scripts/make_tinted_dataset.py`'s: class k painted at hue k / 10.
For samples guided to each class it prints, next to the same figures for real
test images:
- the share recognised as the requested digit from their luminance alone (the
  brightest channel, cropped back to 28x28, on the shipped MNIST classifier);
- the hue error: the circular distance, in degrees, between an image's mean
  hue (over its bright pixels) and its class's hue, and the share within 18
  degrees (half the spacing between two classes' hues).
"""

import argparse
import json

import numpy as np

from keras_sgm.data.images import save_grid, unit_floats
from keras_sgm.evaluation import metrics
from keras_sgm.models.saving import load_model
from keras_sgm.sampling.sample import sample


def luminance_digits(images):
    """RGB 32x32 tinted digits as grayscale 28x28 ones: the brightest channel, the padding cropped."""
    return unit_floats(images).max(axis=-1, keepdims=True)[:, 2:30, 2:30]


def mean_hues(images, threshold=0.3):
    """Each image's circular mean hue in [0, 1), over the pixels whose brightest channel exceeds `threshold`."""
    rgb = unit_floats(images)
    high, low = rgb.max(axis=-1), rgb.min(axis=-1)
    span = np.maximum(high - low, 1e-6)
    r, g, b = np.moveaxis(rgb, -1, 0)
    hue = np.where(high == r, (g - b) / span % 6, np.where(high == g, (b - r) / span + 2, (r - g) / span + 4)) / 6
    angle = 2 * np.pi * hue
    weight = (high > threshold).astype("float32")
    x = (np.cos(angle) * weight).sum(axis=(1, 2))
    y = (np.sin(angle) * weight).sum(axis=(1, 2))
    return (np.arctan2(y, x) / (2 * np.pi)) % 1.0


def colour_report(images, labels, num_classes=10):
    """The luminance share recognised, and the hue error (mean, and share within 18 degrees)."""
    recognised = metrics.classify(luminance_digits(images))[1].argmax(axis=1) == labels
    distance = np.abs(mean_hues(images) - labels / num_classes)
    degrees = 360 * np.minimum(distance, 1 - distance)
    return {"recognised_on_luminance": float(recognised.mean()), "hue_error_degrees": float(degrees.mean()),
            "hue_within_18_degrees": float(np.mean(degrees <= 18))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data", required=True, help="the tinted .npz (its test split is the reference)")
    parser.add_argument("--num", type=int, default=1000, help="samples, spread evenly over the classes")
    parser.add_argument("--figure", default=None, help="a PNG: one row of 10 samples per class")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    model = load_model(args.checkpoint)
    labels = np.arange(args.num) % model.num_classes
    images, nfe, seconds = sample(model, args.num, labels=labels, seed=0)
    with np.load(args.data) as data:
        real = colour_report(data["x_test"][: args.num], data["y_test"][: args.num].astype("int64"))
    report = {"num": args.num, "nfe": nfe, "seconds": round(seconds, 1), "guided": colour_report(images, labels),
              "real_test_images": real}
    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json, "w") as file:
            json.dump(report, file, indent=1)
    if args.figure:
        rows = np.repeat(np.arange(model.num_classes), 10)
        by_class, _, _ = sample(model, len(rows), labels=rows, seed=1)
        save_grid(by_class, args.figure, columns=10)
        print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()
