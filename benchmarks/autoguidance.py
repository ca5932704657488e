"""The autoguidance sweep: unconditional quality against the guide's scale, churn and interval.

    KERAS_BACKEND=tensorflow python benchmarks/autoguidance.py --num 2000 \
        --rows 1.5:10:all 2:10:0.1,2 2:0:0.1,2 2.5:10:0.1,2

Each row samples the shipped MNIST model's unconditional path with EDM Heun
(18 steps: 35 evaluations of the model and as many of the guide), autoguided
by `--guide` at the row's scale, with EDM's churn, and only between the row's
two noise levels (`all`: at every level); then it scores the samples as
`keras-sgm evaluate` does: FID on the shipped classifier's features,
classifier score and class shares. Every row draws from the same seed.
"""

import argparse
import time

from keras_sgm.evaluation import metrics
from keras_sgm.evaluation.evaluate import evaluate_model, load_reference_images
from keras_sgm.models.presets import DEFAULT_PRESET, PRESETS
from keras_sgm.models.saving import load_model


def parse_row(text):
    """`SCALE:CHURN:LOW,HIGH|all` as `(scale, churn, interval or None)`."""
    scale, churn, interval = text.split(":")
    levels = None if interval == "all" else tuple(float(level) for level in interval.split(","))
    return float(scale), float(churn), levels


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_PRESET, help="the score model: a preset or a .keras file")
    parser.add_argument("--guide", default=PRESETS[DEFAULT_PRESET].guide, help="the guide: a preset or a file")
    parser.add_argument("--data", default="mnist", help="the reference: a TFDS name or an .npz")
    parser.add_argument("--num", type=int, default=2000)
    parser.add_argument("--rows", nargs="+", type=parse_row, default=[parse_row("1.5:10:all")],
                        help="SCALE:CHURN:LOW,HIGH|all")
    args = parser.parse_args()

    model, guide = load_model(args.model), load_model(args.guide)
    test_images, _ = load_reference_images(args.data)
    reference = metrics.classify(test_images)
    print(f"{args.num} unconditional samples each, heun 18, guide {args.guide}")
    print("| scale | churn | interval | FID | classifier score | class shares | seconds |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for scale, churn, interval in args.rows:
        start = time.perf_counter()
        report, _ = evaluate_model(model, test_images, num=args.num, sampler="heun", steps=18, reference=reference,
                                   guidance=scale, guide=guide, guide_interval=interval, churn=churn)
        shares = [100 * share for share in report["class_histogram"]]
        where = "all" if interval is None else "{:g} to {:g}".format(*interval)
        print(f"| {scale:g} | {churn:g} | {where} | {report['fid']:.2f} | {report['classifier_score']:.2f} | "
              f"{min(shares):.1f} to {max(shares):.1f} % | {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
