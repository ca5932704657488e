"""Training img/s of the default latent model, as `keras-sgm train` sets it up: its data
pipeline and its data parallelism, on any backend.

    TFDS_DATA_DIR=../shared/tfds KERAS_BACKEND=jax python benchmarks/cpu_parallelism.py [--distribute auto]
    KERAS_BACKEND=jax python benchmarks/cpu_parallelism.py --devices 2   # the CPU split into 2 host devices

The batches are the latents of the images, encoded once before training as `train` does;
`--encode-in-step` feeds the images and encodes them in every step instead. `--distribute`
is `train`'s option (`keras_sgm.backend.data_parallel`): `auto` splits a CPU into host
devices on JAX, `off` keeps one. `--devices N` asks JAX for N host devices instead of the
automatic split. `--tf-data-threads 0` gives tf.data its default thread pool instead of the
one thread that `train` gives it on JAX and PyTorch. Each figure is the median of timed `fit`
calls of `--steps` steps after a warm-up that absorbs the compilation. The machine's speed
drifts: compare settings run alternately, in the same minutes.
"""

import argparse
import os
import statistics
import time

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--distribute", choices=("auto", "on", "off"), default="auto")
parser.add_argument("--devices", type=int, default=None, help="JAX host devices instead of the automatic split")
parser.add_argument("--data", default="mnist", help="mnist (TFDS) or an .npz, as for `keras-sgm train`")
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--steps", type=int, default=30, help="training steps per timed fit")
parser.add_argument("--repeats", type=int, default=3)
parser.add_argument("--tf-data-threads", type=int, default=None,
                    help="tf.data's private thread pool (0: tf.data's default); default: as `train` sets it")
parser.add_argument("--encode-in-step", action="store_true",
                    help="encode the images in every step instead of once before training")
args = parser.parse_args()
if args.devices:
    os.environ["JAX_NUM_CPU_DEVICES"] = str(args.devices)  # read when JAX first touches the CPU

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_sgm  # noqa: E402
from keras_sgm.backend.distribution import data_parallel  # noqa: E402
from keras_sgm.models.latent import LATENT_UNET  # noqa: E402
from keras_sgm.recipes.data import training_data  # noqa: E402
from keras_sgm.recipes.optimizer import default_optimizer  # noqa: E402

keras.utils.set_random_seed(0)
parallel = data_parallel(args.distribute, args.batch_size)
with parallel.scope():
    autoencoder = keras_sgm.Autoencoder(seed=0)
    fit_data, _ = training_data(args.data, args.batch_size, steps_per_epoch=args.steps,
                                autoencoder=None if args.encode_in_step else autoencoder)
    if args.tf_data_threads is not None:
        options = tf.data.Options()
        options.threading.private_threadpool_size = args.tf_data_threads
        fit_data["x"] = fit_data["x"].with_options(options)
    network = keras_sgm.build_unet(autoencoder.latent_shape, num_classes=10, **LATENT_UNET)
    model = keras_sgm.LatentScoreModel(autoencoder, network, seed=0)
    model.compile(optimizer=default_optimizer(2e-3, 10_000))

    def timed_fit():
        start = time.perf_counter()
        model.fit(**fit_data, epochs=1, verbose=0)
        return time.perf_counter() - start

    timed_fit()  # warm-up: compilation
    seconds = [timed_fit() for _ in range(args.repeats)]
rates = ", ".join(f"{args.steps * args.batch_size / s:.0f}" for s in seconds)
print(f"| {keras.backend.backend()} | {parallel.describe()} | {args.batch_size} | "
      f"{args.steps * args.batch_size / statistics.median(seconds):.0f} ({rates}) |")
