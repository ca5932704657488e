"""Sample quality of each sampler at several NFE budgets, as a markdown table.

    KERAS_BACKEND=jax python benchmarks/quality.py --checkpoint model.keras --data mnist.npz --num 10000

Scores every (sampler, steps) pair with the shipped classifier's FID, KID and
classifier score against the MNIST test digits, and prints the FID floor and
ceiling for scale. Pass --json to keep the figures.
"""

import argparse
import json

from keras_sgm.evaluation import metrics
from keras_sgm.evaluation.evaluate import (
    calibration,
    evaluate_model,
    load_reference_images,
)
from keras_sgm.models.saving import load_model

BUDGETS = [("heun", 5), ("heun", 10), ("heun", 18), ("heun", 35), ("ode", None),
           ("euler", 100), ("euler", 500), ("pc", 250), ("pc", 500)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="a .keras file; the pretrained model when unset")
    parser.add_argument("--data", help="mnist.npz; TFDS when unset")
    parser.add_argument("--num", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--bpd", type=int, default=0, help="test digits for bits/dim (0: skip)")
    parser.add_argument("--only", nargs="*", help="sampler:steps pairs, e.g. heun:18 ode:")
    parser.add_argument("--json")
    args = parser.parse_args()

    model = load_model(args.checkpoint)
    test_images, train_images = load_reference_images(args.data)
    budgets = BUDGETS
    if args.only:
        budgets = [(name, int(steps) if steps else None) for name, steps in (p.split(":") for p in args.only)]
    reference = metrics.classify(test_images)
    results = {"calibration": calibration(test_images, train_images, reference=reference), "runs": []}
    print("| sampler | steps | NFE | FID | KID | classifier score | coverage | seconds |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for index, (sampler, steps) in enumerate(budgets):
        report, _ = evaluate_model(
            model, test_images, train_images, num=args.num, sampler=sampler, steps=steps,
            batch_size=args.batch_size, bpd_images=args.bpd if index == 0 else 0, reference=reference,
        )
        results["runs"].append(report)
        print(f"| {sampler} | {steps or 'adaptive'} | {report['nfe']} | {report['fid']:.3f} | "
              f"{report['kid']:.4f} | {report['classifier_score']:.3f} | {report['coverage']} | "
              f"{report['seconds']:.1f} |", flush=True)
    calib = results["calibration"]
    print(f"\nFID floor (10k train digits vs test) {calib['fid_floor']:.3f}; "
          f"ceiling (uniform noise vs test) {calib['fid_ceiling']:.1f}; "
          f"test-set classifier score {calib['classifier_score_test']:.3f}")
    if "bpd" in results["runs"][0]:
        run = results["runs"][0]
        print(f"bits/dim on {run['bpd_images']} test digits: {run['bpd']:.4f} +- {run['bpd_stderr']:.4f}")
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=1)


if __name__ == "__main__":
    main()
