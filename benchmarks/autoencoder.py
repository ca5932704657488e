"""What an autoencoder keeps of the test digits, which bounds what latent diffusion can reach.

    KERAS_BACKEND=tensorflow python benchmarks/autoencoder.py runs/time_to_quality/autoencoder/autoencoder.keras \
        --data ../shared/data/mnist.npz [--picture docs/latent_reconstructions.png]
    KERAS_BACKEND=tensorflow python benchmarks/autoencoder.py --train-latent-channels 2 4 8 \
        --data ../shared/data/mnist.npz --output-dir runs/autoencoders

Prints the reconstruction MSE and PSNR of the 10,000 test digits, the shipped
classifier's accuracy on the reconstructions (on the real digits: 99.3 %), and
the FID of the reconstructions against the test digits (real training digits:
the FID floor of `keras-sgm evaluate --calibrate`). A `.keras` file of a latent
model is read for its autoencoder. `--train-latent-channels` first trains
autoencoders of those latent widths (4 epochs, as `keras-sgm train --latent`)
and reports them with the others, with their training minutes.
"""

import argparse
import pathlib
import time

import numpy as np

from keras_sgm.data.datasets import load_npz_images, mnist_builder
from keras_sgm.data.images import save_grid
from keras_sgm.evaluation.evaluate import reconstruction_report
from keras_sgm.models.saving import load_model
from keras_sgm.recipes.autoencoder_stage import prepare_autoencoder
from keras_sgm.recipes.data import training_data


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="*", help="Autoencoder or LatentScoreModel .keras files")
    parser.add_argument("--data", help="mnist.npz; TFDS when unset")
    parser.add_argument("--train-latent-channels", type=int, nargs="+", default=[],
                        help="train autoencoders of these latent channels first")
    parser.add_argument("--output-dir", default="runs/autoencoders", help="where trained autoencoders go")
    parser.add_argument("--picture", help="a PNG: test digits (odd rows) above their reconstructions")
    args = parser.parse_args()

    minutes = {}
    if args.train_latent_channels:
        fit_data, steps = training_data(args.data, 128, seed=0)
    for channels in args.train_latent_channels:
        folder = pathlib.Path(args.output_dir) / f"latent{channels}"
        start = time.perf_counter()
        prepare_autoencoder(folder, fit_data, steps, 4, (28, 28, 1), latent_channels=channels, verbose=2)
        path = str(folder / "autoencoder.keras")
        minutes[path] = (time.perf_counter() - start) / 60
        args.checkpoints.append(path)
    if args.data:
        test_images, test_labels = load_npz_images(args.data, "test")
    else:
        images, labels = mnist_builder().as_dataset(split="test", as_supervised=True, batch_size=-1)
        test_images, test_labels = np.asarray(images), np.asarray(labels)
    print("| autoencoder | latent | training minutes | MSE | PSNR (dB) | classifier accuracy | "
          "FID of reconstructions |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for path in args.checkpoints:
        model = load_model(path, kind=object)
        autoencoder = getattr(model, "autoencoder", model)
        report = reconstruction_report(autoencoder, test_images, test_labels)
        trained = f"{minutes[path]:.1f}" if path in minutes else "-"
        print(f"| {path} | {'x'.join(map(str, autoencoder.latent_shape))} | {trained} | {report['mse']:.5f} | "
              f"{report['psnr']:.2f} | {100 * report['accuracy']:.2f} % | {report['fid']:.2f} |")
    if args.picture:
        digits = test_images[:10] / 255.0
        rows = np.stack([digits, report["reconstructions"][:10]]).reshape(-1, 28, 28, 1)
        save_grid(rows, args.picture, columns=10)


if __name__ == "__main__":
    main()
