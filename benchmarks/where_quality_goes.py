"""Where the quality goes, per dataset: the floor, the autoencoder's reconstructions, the samples.

    KERAS_BACKEND=jax python benchmarks/where_quality_goes.py --model mnist --data ../shared/data/mnist.npz
    KERAS_BACKEND=jax python benchmarks/where_quality_goes.py --model runs/fashion/model.keras \
        --data ../shared/data/fashion_mnist.npz --num 10000 --json runs/fashion/quality.json

For a latent model (a preset or a `.keras` file) and its data, prints one markdown row per
figure, all on the features of the data's classifier (`--features`, else the shipped one) against
the test images: the floor (as many training images as `--num`), the test images encoded and
decoded by the model's autoencoder (which the score model cannot beat), its guided samples (a
class each in turn, at the model's own guidance, with the share recognised as the class asked
for) and its unconditional samples (autoguided by its own guide network where it has one, else
unguided). Each figure is also given as a multiple of the floor. Samples: EDM Heun, 18 steps.
"""

import argparse
import json

import keras
import numpy as np

from keras_sgm.data.sources import open_data
from keras_sgm.evaluation import metrics
from keras_sgm.evaluation.classifier import shipped_features_for
from keras_sgm.evaluation.evaluate import evaluate_model, reconstruction_report
from keras_sgm.models.saving import load_model


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a preset or a .keras file of a latent model")
    parser.add_argument("--data", required=True, help="its data: a TFDS name or an .npz, as for `keras-sgm train`")
    parser.add_argument("--features", help="feature network; default: the data's shipped classifier")
    parser.add_argument("--num", type=int, default=10_000, help="samples (and training images for the floor)")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()

    model = load_model(args.model)
    data = open_data(args.data)
    features = args.features or shipped_features_for(model.dataset or data.name) or shipped_features_for(data.name)
    test_images, test_labels = data.arrays("test")
    train_images, _ = data.arrays("train")
    reference = metrics.classify(test_images, features=features)
    chosen = np.random.default_rng(0).choice(len(train_images), min(args.num, len(train_images)), replace=False)
    floor = metrics.frechet_distance(metrics.classify(train_images[chosen], features=features)[0], reference[0])
    rows = {"floor": {"fid": floor}}
    if hasattr(model, "autoencoder"):
        report = reconstruction_report(model.autoencoder, test_images, test_labels, reference, features=features)
        rows["reconstructions"] = {"fid": report["fid"], "recognised": report["accuracy"], "psnr": report["psnr"]}
    labels = np.arange(args.num) % model.num_classes if model.num_classes else None
    if labels is not None:
        report, _ = evaluate_model(model, test_images, num=args.num, steps=18, reference=reference, labels=labels,
                                   features=features)
        rows["guided samples"] = {"fid": report["fid"], "kid": report["kid"], "recognised": report["label_accuracy"],
                                  "guidance": report["guidance"]}
    report, _ = evaluate_model(model, test_images, num=args.num, steps=18, reference=reference, features=features)
    rows["unconditional samples"] = {"fid": report["fid"], "kid": report["kid"],
                                     "autoguidance": report.get("autoguidance")}
    print(f"{args.model} on {data.name}, {args.num} images, features {features}, {keras.backend.backend()}")
    print("| what | FID | x floor | recognised |")
    print("| --- | --- | --- | --- |")
    for what, row in rows.items():
        recognised = f"{100 * row['recognised']:.2f} %" if "recognised" in row else "-"
        print(f"| {what} | {row['fid']:.3f} | {row['fid'] / floor:.1f} | {recognised} |")
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"model": args.model, "data": data.name, "num": args.num, "features": str(features),
                       "backend": keras.backend.backend(), "rows": rows}, file, indent=1)


if __name__ == "__main__":
    main()
