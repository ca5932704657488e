"""How often an inpainted digit keeps its true label, as a markdown table.

    KERAS_BACKEND=jax python benchmarks/inpainting.py --data mnist.npz --num 1000 --steps 100 500 \
        --reconstruction-guidance 0 25

Keeps one half of each test digit, generates the other half (unconditionally)
and asks the shipped classifier for the label. The known half alone, the
rest black, is the baseline the completion should beat.
"""

import argparse
import itertools
import time

from keras_sgm.data.datasets import load_mnist, load_npz_images
from keras_sgm.evaluation.evaluate import inpainting_accuracy
from keras_sgm.models.presets import DEFAULT_RECONSTRUCTION_GUIDANCE
from keras_sgm.models.saving import load_model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="a .keras file; the pretrained model when unset")
    parser.add_argument("--data", help="mnist.npz; TFDS when unset")
    parser.add_argument("--num", type=int, default=1000)
    parser.add_argument("--keep", default="top")
    parser.add_argument("--steps", type=int, nargs="+", default=[500])
    parser.add_argument("--resample", type=int, nargs="+", default=[1], help="RePaint passes per step")
    parser.add_argument("--reconstruction-guidance", type=float, nargs="+",
                        default=[DEFAULT_RECONSTRUCTION_GUIDANCE], help="weights of the pull towards the known half")
    args = parser.parse_args()

    model = load_model(args.checkpoint)
    if args.data:
        images, labels = load_npz_images(args.data, "test")
    else:
        batch = next(iter(load_mnist("test", batch_size=10_000, shuffle=False)))
        images, labels = batch[0].numpy(), batch[1].numpy()
    images, labels = images[: args.num], labels[: args.num]
    print("| known half | steps | resample | reconstruction guidance | NFE | completed digit keeps its label "
          "| known half alone | seconds |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for steps, resample, weight in itertools.product(args.steps, args.resample, args.reconstruction_guidance):
        start = time.perf_counter()
        report = inpainting_accuracy(model, images, labels, keep=args.keep, steps=steps, resample=resample,
                                     reconstruction_guidance=weight)
        print(f"| {args.keep} | {steps} | {resample} | {weight:g} | {steps * resample} | {report['accuracy']:.3f} | "
              f"{report['accuracy_known_half_only']:.3f} | {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
