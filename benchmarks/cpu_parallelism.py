"""Training img/s of the default latent model on JAX, on one host device or on several with data parallelism.

    KERAS_BACKEND=jax python benchmarks/cpu_parallelism.py --devices 2 [--batch-size 128] [--steps 20]

XLA:CPU keeps only part of a small machine busy with the latent U-Net's 7x7 and
4x4 maps. `--devices N` splits the CPU into N host devices
(`--xla_force_host_platform_device_count`) and trains with
`keras.distribution.DataParallel`, so that N replicas of the step run at once;
1 is the usual single device. Each figure is the median of timed `fit` calls
after a warm-up that absorbs the compilation. Run the settings alternately, in
the same minutes.
"""

import argparse
import os
import statistics
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--devices", type=int, default=1, help="host devices; above 1, DataParallel over them")
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--steps", type=int, default=20, help="training steps per timed fit")
parser.add_argument("--repeats", type=int, default=3)
args = parser.parse_args()
if os.environ.get("KERAS_BACKEND") != "jax":
    sys.exit("run with KERAS_BACKEND=jax")
# Before JAX is imported: it reads the flag once.
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={args.devices}"

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_sgm  # noqa: E402
from keras_sgm.models.latent import LATENT_UNET  # noqa: E402
from keras_sgm.recipes.optimizer import default_optimizer  # noqa: E402

if args.devices > 1:
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))
keras.utils.set_random_seed(0)
autoencoder = keras_sgm.Autoencoder(seed=0)
network = keras_sgm.build_unet(autoencoder.latent_shape, num_classes=10, **LATENT_UNET)
model = keras_sgm.LatentScoreModel(autoencoder, network, seed=0)
model.compile(optimizer=default_optimizer(2e-3, 10_000))
rng = np.random.default_rng(0)
images = rng.integers(0, 256, (args.steps * args.batch_size, 28, 28, 1), dtype="uint8")
labels = rng.integers(0, 10, len(images))


def timed_fit():
    start = time.perf_counter()
    model.fit(images, labels, batch_size=args.batch_size, epochs=1, shuffle=False, verbose=0)
    return time.perf_counter() - start


timed_fit()  # warm-up: compilation
seconds = statistics.median(timed_fit() for _ in range(args.repeats))
print(f"| {len(jax.devices())} | {args.batch_size} | {len(images) / seconds:.0f} |")
