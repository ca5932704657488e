"""What an autoencoder keeps of the test images, which bounds what latent diffusion can reach.

    KERAS_BACKEND=jax python benchmarks/autoencoder.py runs/mnist/autoencoder.keras \
        --data ../shared/data/mnist.npz [--picture docs/latent_reconstructions.png]
    KERAS_BACKEND=jax python benchmarks/autoencoder.py --train plain residual_l1_fft \
        --data ../shared/data/fashion_mnist.npz --epochs 2 --output-dir runs/autoencoders/fashion

Prints, for each autoencoder, the reconstruction MSE and PSNR of the test images,
the dataset's classifier's accuracy on the reconstructions, and the FID of the
reconstructions against the test images, beside the floor (real training images
against the test images, as many). `--train` first trains the named candidates
of `CANDIDATES` with the recipe's data parallelism and reports their training
minutes, the FID gained per CPU-minute, and the train img/s of the default latent
score network on each candidate's latent grid. A `.keras` file of a latent model
is read for its autoencoder. `--json` appends each row to a file.
"""

import argparse
import json
import pathlib
import statistics
import time

import keras
import numpy as np

from keras_sgm.backend.distribution import data_parallel
from keras_sgm.data.images import save_grid
from keras_sgm.data.sources import open_data
from keras_sgm.evaluation import metrics
from keras_sgm.evaluation.classifier import shipped_features_for
from keras_sgm.evaluation.evaluate import reconstruction_report
from keras_sgm.models.latent import LATENT_UNET, LatentScoreModel
from keras_sgm.models.saving import load_model
from keras_sgm.models.unet import build_unet
from keras_sgm.recipes.autoencoder_stage import prepare_autoencoder
from keras_sgm.recipes.data import training_data
from keras_sgm.recipes.optimizer import default_optimizer

CANDIDATES = {
    "plain": {},
    "plain_l1_fft": {"pixel_loss": "l1", "frequency_weight": 1.0},
    "residual": {"residual": True},
    "residual_l1_fft": {"residual": True, "pixel_loss": "l1", "frequency_weight": 1.0},
    "residual_l1_fft_8": {"residual": True, "pixel_loss": "l1", "frequency_weight": 1.0, "latent_channels": 8},
    "wide_residual_l1_fft_8": {"residual": True, "channels": (32, 64, 128), "pixel_loss": "l1",
                               "frequency_weight": 1.0, "latent_channels": 8},
    "plain_l1_fft_8": {"pixel_loss": "l1", "frequency_weight": 1.0, "latent_channels": 8},
}
"""`Autoencoder` arguments of the candidates; `plain` is keras-sgm 0.1's autoencoder."""


def score_network_rate(autoencoder, fit_data, steps=20, batch_size=128):
    """Train img/s of the default latent score network on this autoencoder's latents."""
    network = build_unet(autoencoder.latent_shape, num_classes=10, **LATENT_UNET)
    model = LatentScoreModel(autoencoder, network, seed=0)
    model.compile(optimizer=default_optimizer(2e-3, 10_000))
    data = {**fit_data, "steps_per_epoch": steps}
    model.fit(**data, epochs=1, verbose=0)  # compilation
    seconds = []
    for _ in range(2):
        start = time.perf_counter()
        model.fit(**data, epochs=1, verbose=0)
        seconds.append(time.perf_counter() - start)
    return steps * batch_size / statistics.median(seconds)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="*", help="Autoencoder or LatentScoreModel .keras files")
    parser.add_argument("--data", default="mnist", help="a TFDS name or an .npz, as for `keras-sgm train`")
    parser.add_argument("--features", help="feature network; default: the dataset's shipped classifier")
    parser.add_argument("--train", nargs="+", default=[], choices=sorted(CANDIDATES),
                        help="train these candidates first")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each trained candidate")
    parser.add_argument("--steps-per-epoch", type=int, default=None, help="cap on each epoch's steps (batch 128)")
    parser.add_argument("--output-dir", default="runs/autoencoders", help="where trained autoencoders go")
    parser.add_argument("--picture", help="a PNG: test images (odd rows) above the last one's reconstructions")
    parser.add_argument("--json", help="append each row to this JSON-lines file")
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    parallel = data_parallel("auto", 128)
    data = open_data(args.data)
    features = args.features or shipped_features_for(data.name)
    if features is None:
        parser.error(f"no classifier ships for {data.name}: give --features (keras-sgm train-classifier makes one)")
    test_images, test_labels = data.arrays("test")
    train_images, _ = data.arrays("train")
    reference = metrics.classify(test_images, features=features)
    floor_images = train_images[np.random.default_rng(0).choice(len(train_images), len(test_images), replace=False)]
    floor = metrics.frechet_distance(metrics.classify(floor_images, features=features)[0], reference[0])
    print(f"{data.describe()}; feature network {features}; floor (training against test images): {floor:.3f}")

    trained = {}
    with parallel.scope():
        if args.train:
            fit_data, steps = training_data(data, 128, args.steps_per_epoch, seed=0)
        for name in args.train:
            options = dict(CANDIDATES[name])
            latent_channels = options.pop("latent_channels", 4)
            folder = pathlib.Path(args.output_dir) / name
            start = time.perf_counter()
            autoencoder = prepare_autoencoder(folder, fit_data, steps, args.epochs, data.image_shape,
                                              latent_channels=latent_channels, verbose=2, options=options)
            minutes = (time.perf_counter() - start) / 60
            latent_data, _ = training_data(data, 128, seed=0, autoencoder=autoencoder)
            trained[str(folder / "autoencoder.keras")] = (name, minutes, score_network_rate(autoencoder, latent_data))
        args.checkpoints += list(trained)

        print("| autoencoder | latent | parameters | training minutes | MSE | PSNR (dB) | classifier accuracy | "
              "FID of reconstructions | x floor | score network img/s |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for path in args.checkpoints:
            model = load_model(path, kind=object)
            autoencoder = getattr(model, "autoencoder", model)
            report = reconstruction_report(autoencoder, test_images, test_labels, reference, features=features)
            name, minutes, rate = trained.get(path, (path, None, None))
            row = {"autoencoder": name, "data": data.name, "backend": keras.backend.backend(),
                   "latent": list(autoencoder.latent_shape), "parameters": autoencoder.count_params(),
                   "training_minutes": minutes, "epochs": args.epochs if minutes else None,
                   "mse": report["mse"], "psnr": report["psnr"], "accuracy": report["accuracy"],
                   "fid": report["fid"], "floor": floor, "score_network_img_s": rate}
            print(f"| {name} | {'x'.join(map(str, autoencoder.latent_shape))} | {row['parameters']:,} | "
                  f"{'-' if minutes is None else f'{minutes:.1f}'} | {report['mse']:.5f} | {report['psnr']:.2f} | "
                  f"{100 * report['accuracy']:.2f} % | {report['fid']:.3f} | {report['fid'] / floor:.1f} | "
                  f"{'-' if rate is None else f'{rate:.0f}'} |", flush=True)
            if args.json:
                with open(args.json, "a") as file:
                    file.write(json.dumps(row) + "\n")
    if args.picture:
        originals = test_images[:10] / 255.0
        rows = np.stack([originals, report["reconstructions"][:10]]).reshape(-1, *originals.shape[1:])
        save_grid(rows, args.picture, columns=10)


if __name__ == "__main__":
    main()
