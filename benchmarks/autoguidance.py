"""The autoguidance sweep: unconditional quality against the guide, its scale, churn and interval.

    KERAS_BACKEND=tensorflow python benchmarks/autoguidance.py --num 2000 \
        --rows 1.5:10:all 2:10:0.1,2 2:0:0.1,2 2.5:10:0.1,2
    KERAS_BACKEND=jax python benchmarks/autoguidance.py --model runs/mnist/model.keras \
        --guides none runs/mnist/model_e1.keras runs/mnist/model_e2.keras --rows 2:0:all

Each row samples a model's unconditional path (the shipped MNIST model by
default) with EDM Heun (18 steps: 35 evaluations of the model and as many of
the guide), autoguided by each of `--guides` (models of the same latents,
such as early checkpoints of the same run; `own`: the model's own guide network, which
`keras-sgm train` keeps after `--guide-epoch`; `none`: unguided) at the row's
scale, with EDM's churn, and only between the row's two noise levels (`all`:
at every level); then it scores the samples as `keras-sgm evaluate` does:
FID on the data's classifier's features, classifier score and class shares.
Every row draws from the same seed.
"""

import argparse
import time

import keras

from keras_sgm.diffusion.guidance import NO_GUIDE
from keras_sgm.evaluation import metrics
from keras_sgm.evaluation.classifier import shipped_features_for
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
    parser.add_argument("--guides", nargs="+", default=[PRESETS[DEFAULT_PRESET].guide],
                        help="the guides: presets, files, own (the model's guide network) or none")
    parser.add_argument("--data", default="mnist", help="the reference: a TFDS name or an .npz")
    parser.add_argument("--features", default=None, help="the feature network; default: the data's shipped one")
    parser.add_argument("--num", type=int, default=2000)
    parser.add_argument("--rows", nargs="+", type=parse_row, default=[parse_row("1.5:10:all")],
                        help="SCALE:CHURN:LOW,HIGH|all")
    args = parser.parse_args()

    model = load_model(args.model)
    test_images, _ = load_reference_images(args.data, image_shape=model.image_shape)
    features = args.features or shipped_features_for(model.dataset or "mnist")
    reference = metrics.classify(test_images, features=features)
    print(f"{args.num} unconditional samples each of {args.model}, heun 18, {keras.backend.backend()}")
    print("| guide | scale | churn | interval | FID | classifier score | class shares | seconds |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in args.guides:
        guide = None if name == "own" else NO_GUIDE if name == NO_GUIDE else load_model(name)
        for scale, churn, interval in args.rows if name != NO_GUIDE else [(1.0, 0.0, None)]:
            start = time.perf_counter()
            report, _ = evaluate_model(model, test_images, num=args.num, sampler="heun", steps=18,
                                       reference=reference, guidance=scale, guide=guide, guide_interval=interval,
                                       features=features, **({"churn": churn} if churn else {}))
            shares = [100 * share for share in report["class_histogram"]]
            where = "all" if interval is None else "{:g} to {:g}".format(*interval)
            print(f"| {name} | {scale:g} | {churn:g} | {where} | {report['fid']:.2f} | "
                  f"{report['classifier_score']:.2f} | {min(shares):.1f} to {max(shares):.1f} % | "
                  f"{time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
