"""Few-step sampling: quality against network evaluations, consistency sampler beside EDM Heun.

    KERAS_BACKEND=jax python benchmarks/few_step.py --num 10000 --json runs/few_step.json \
        --figure docs/one_step_vs_heun.png
    KERAS_BACKEND=torch python benchmarks/few_step.py --parts speed

Every row samples every class equally often, guided (at the model's own
guidance unless the row gives one: the consistency model's is built in, one
pass), and scores the samples
with `keras-sgm evaluate`'s figures on the shipped classifier: FID, classifier
score, class shares and the share recognised as the requested digit. NFE
counts network evaluations per image, guidance's unconditional pass
included (a guided step costs two). Then it times each sampler at batch 256
on this backend, after a warm-up batch that compiles it, and prints img/s.
The figure puts one row per digit of 1-step samples beside 35-NFE Heun ones.
"""

import argparse
import json
import time

import numpy as np

from keras_sgm.data.images import save_grid
from keras_sgm.evaluation import metrics
from keras_sgm.evaluation.evaluate import evaluate_model, load_reference_images
from keras_sgm.models.presets import CONSISTENCY_PRESET, DEFAULT_PRESET
from keras_sgm.models.saving import load_model
from keras_sgm.sampling.sample import sample

# (sampler, steps, guidance): None is the model's own guidance (`default_guidance`).
ROWS = [("consistency", 1, None), ("consistency", 2, None), ("consistency", 4, None), ("consistency", 1, 1.5),
        ("heun", 5, None), ("heun", 9, None), ("heun", 18, None)]


SPEED_ROWS = [("consistency", 1, None), ("consistency", 2, None), ("heun", 18, None)]


def parse_row(text):
    """`SAMPLER:STEPS:GUIDANCE|default` as a row."""
    sampler, steps, guidance = text.split(":")
    return sampler, int(steps), None if guidance == "default" else float(guidance)


def network_evaluations(nfe, guidance):
    """NFE per image, counting the unconditional half of a guided batch."""
    return nfe * (1 if guidance in (0.0, 1.0) else 2)


def images_per_second(model, sampler, steps, guidance, batch=256, repeats=2):
    """Guided sampling throughput at `batch`, the compile excluded."""
    labels = np.arange(batch) % 10
    sample(model, batch, sampler, steps, labels=labels, guidance=guidance, batch_size=batch)
    start = time.perf_counter()
    for seed in range(repeats):
        sample(model, batch, sampler, steps, seed=seed + 1, labels=labels, guidance=guidance, batch_size=batch)
    return repeats * batch / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=CONSISTENCY_PRESET, help="the consistency model")
    parser.add_argument("--teacher", default=DEFAULT_PRESET, help="the score model it was tuned from")
    parser.add_argument("--data", default="mnist", help="a TFDS name or mnist.npz")
    parser.add_argument("--num", type=int, default=10_000)
    parser.add_argument("--only", nargs="*", type=parse_row,
                        help="SAMPLER:STEPS:GUIDANCE|default rows, e.g. consistency:1:default heun:9:2")
    parser.add_argument("--parts", nargs="*", choices=["quality", "speed", "figure"],
                        default=["quality", "speed", "figure"], help="what to measure (figure: with --figure)")
    parser.add_argument("--json")
    parser.add_argument("--figure", help="a PNG: one row per digit, 1-step samples left, Heun-35 right")
    args = parser.parse_args()

    models = {"consistency": load_model(args.checkpoint), "heun": load_model(args.teacher)}
    figures = []
    if "quality" in args.parts:
        test_images, train_images = load_reference_images(args.data)
        reference = metrics.classify(test_images)
        labels = np.arange(args.num) % 10
        print("| sampler | steps | guidance | NFE | FID | classifier score | recognised | class shares |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for sampler, steps, guidance in args.only or ROWS:
            guidance = models[sampler].guided(0, guidance).scale
            report, _ = evaluate_model(models[sampler], test_images, train_images, num=args.num, sampler=sampler,
                                       steps=steps, reference=reference, labels=labels, guidance=guidance)
            report["nfe"] = network_evaluations(report["nfe"], guidance)
            figures.append(report)
            shares = report["class_histogram"]
            print(f"| {sampler} | {steps} | {guidance:g} | {report['nfe']} | {report['fid']:.2f} | "
                  f"{report['classifier_score']:.2f} | {100 * report['label_accuracy']:.2f} % | "
                  f"{100 * min(shares):.1f} to {100 * max(shares):.1f} % |")
    speeds = []
    if "speed" in args.parts:
        print("\n| sampler | steps | guidance | img/s at batch 256 |")
        print("| --- | --- | --- | --- |")
        for sampler, steps, guidance in SPEED_ROWS:
            guidance = models[sampler].guided(0, guidance).scale
            speed = images_per_second(models[sampler], sampler, steps, guidance)
            speeds.append({"sampler": sampler, "steps": steps, "guidance": guidance, "images_per_second": speed})
            print(f"| {sampler} | {steps} | {guidance:g} | {speed:.1f} |")
    if args.figure and "figure" in args.parts:
        digits = np.repeat(np.arange(10), 8)
        fast, _, _ = sample(models["consistency"], len(digits), "consistency", 1, labels=digits)
        slow, _, _ = sample(models["heun"], len(digits), "heun", 18, labels=digits)
        gap = np.zeros((10, 1, *fast.shape[1:]), fast.dtype)
        rows = np.concatenate([fast.reshape(10, 8, *fast.shape[1:]), gap, slow.reshape(10, 8, *slow.shape[1:])], 1)
        save_grid(rows.reshape(-1, *fast.shape[1:]), args.figure, columns=17)
        print(f"wrote {args.figure}")
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"quality": figures, "speed": speeds}, file, indent=1)


if __name__ == "__main__":
    main()
