"""Image-to-image (SDEdit) on spoiled MNIST test digits: how often the result is the digit's own class,
and how much of the input it keeps, against `strength`.

    KERAS_BACKEND=jax python benchmarks/img2img.py --data ../shared/data/mnist.npz [--num 500] \
        [--strengths 0.2 0.4 0.6 0.8 1.0] [--picture docs/img2img.png] [--json runs/img2img.json]
    KERAS_BACKEND=jax python benchmarks/img2img.py --data ../shared/data/mnist.npz --sampler consistency

Two spoilings of the test digits: thickened (a 3x3 maximum) and blurred (a Gaussian of radius
1), and half-erased (the bottom half set to black). Each is redrawn by the shipped model, guided
towards the digit's own label (classifier-free, the model's default scale) and unguided by
labels (the model's unconditional path, autoguided by its guide). Printed per strength: the
share the shipped classifier recognises as the digit's own label, and the root-mean-square
difference to the spoiled input (0: kept as it is) and to the clean digit. `--sampler consistency`
redraws with the shipped consistency model (`mnist_consistency`) in one step, else the shipped
score model with EDM's Heun.
"""

import argparse
import json

import numpy as np
from PIL import Image, ImageFilter

import keras_sgm
from keras_sgm.data.images import save_grid
from keras_sgm.data.sources import open_data
from keras_sgm.evaluation.metrics import classify
from keras_sgm.sampling.img2img import img2img


def thickened_and_blurred(digits):
    return np.stack([np.asarray(Image.fromarray(d).filter(ImageFilter.MaxFilter(3)).filter(
        ImageFilter.GaussianBlur(1))) for d in digits])


def half_erased(digits):
    spoiled = digits.copy()
    spoiled[:, digits.shape[1] // 2:] = 0
    return spoiled


SPOILINGS = {"thickened and blurred": thickened_and_blurred, "half-erased": half_erased}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="mnist", help="a TFDS name or an .npz, as for `keras-sgm train`")
    parser.add_argument("--num", type=int, default=500, help="test digits per spoiling")
    parser.add_argument("--strengths", type=float, nargs="+", default=[0.2, 0.4, 0.6, 0.8, 1.0])
    parser.add_argument("--picture", default=None, help="a PNG: per spoiling, inputs then each strength's result")
    parser.add_argument("--sampler", choices=["heun", "consistency"], default="heun")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    model = keras_sgm.load_pretrained("mnist_consistency" if args.sampler == "consistency" else "mnist")
    data = open_data(args.data)
    digits, labels = data.arrays("test")
    digits, labels = digits[: args.num, ..., 0], labels[: args.num]
    rows, picture = [], []
    print(f"{args.sampler}:")
    print("| spoiling | redrawn | strength | NFE | recognised as its own label | RMS to the input | RMS to the clean digit |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, spoil in SPOILINGS.items():
        spoiled = spoil(digits)[..., None] / 255.0
        clean = digits[..., None] / 255.0
        _, probabilities = classify(spoiled)
        print(f"| {name} | (the input) | 0 | 0 | {100 * np.mean(probabilities.argmax(1) == labels):.1f} % | 0 | "
              f"{np.sqrt(np.mean((spoiled - clean) ** 2)):.3f} |")
        picture.append(spoiled[:8])
        for guided in (True, False):
            view = model.guided(labels) if guided else model.guided()
            for strength in args.strengths:
                images, nfe = img2img(view, spoiled, strength, seed=0)
                images = np.clip(images, 0.0, 1.0)
                _, probabilities = classify(images)
                row = {"spoiling": name, "sampler": args.sampler, "guided": guided, "strength": strength, "nfe": nfe,
                       "recognised": float(np.mean(probabilities.argmax(1) == labels)),
                       "rms_to_input": float(np.sqrt(np.mean((images - spoiled) ** 2))),
                       "rms_to_clean": float(np.sqrt(np.mean((images - clean) ** 2)))}
                rows.append(row)
                print(f"| {name} | {'towards its label' if guided else 'unconditional'} | {strength:g} | {nfe} | "
                      f"{100 * row['recognised']:.1f} % | {row['rms_to_input']:.3f} | {row['rms_to_clean']:.3f} |",
                      flush=True)
                if guided:
                    picture.append(images[:8])
    if args.picture:
        save_grid(np.concatenate(picture), args.picture, columns=8)
    if args.json:
        with open(args.json, "w") as file:
            json.dump(rows, file, indent=1)


if __name__ == "__main__":
    main()
