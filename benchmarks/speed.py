"""Training and sampling throughput of a model on the active backend: the pixel-space network, or
with `--latent` the default model (latent diffusion), or a `time_to_quality.py` candidate.

    KERAS_BACKEND=jax python benchmarks/speed.py [--steps 20] [--repeats 5] [--mixed-precision] [--patch-size 1] [--latent] [--jit-compile auto] [--json out.json]
    KERAS_BACKEND=jax python benchmarks/speed.py --candidate latent-resnet

`--candidate` takes the network of a `time_to_quality.py` candidate.

Training: img/s of `model.fit` at batch 128 on random digits, compiled as
in a full run of the main job (on PyTorch: `torch.compile`, for patch size 1). Sampling:
img*NFE/s of the EDM Heun sampler at batch 64 (images times network
evaluations per second). Each figure is the median of several timed
repeats after a warm-up that absorbs compilation.
"""

import argparse
import json
import statistics
import time

import keras
import numpy as np
from time_to_quality import CANDIDATES

import keras_sgm
from keras_sgm.backend.compile import TORCH_COMPILE_MIN_STEPS, training_jit_compile
from keras_sgm.models.latent import LATENT_UNET
from keras_sgm.models.unet import DEFAULT_CHANNELS
from keras_sgm.recipes.config import DEFAULTS
from keras_sgm.sampling.samplers import edm_heun


def median_seconds(fn, repeats):
    fn()  # warm-up: compilation and caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def training_step_seconds(model, batch_size, steps, repeats):
    """Median seconds of one `fit` step of a compiled score model on random digits."""
    images = np.random.RandomState(0).randint(0, 256, (steps * batch_size, 28, 28, 1), "uint8")
    seconds = median_seconds(
        lambda: model.fit(images, batch_size=batch_size, epochs=1, shuffle=False, verbose=0), repeats
    )
    return seconds / steps


def benchmark_model(candidate=None, latent=False, patch_size=1, dtype=None):
    """An untrained score model: a `time_to_quality.py` candidate's network, else the default one."""
    network_options = {"patch_size": patch_size}
    if candidate:
        latent = CANDIDATES[candidate]["latent"]
        network_options = {"patch_size": 1, **CANDIDATES[candidate]["network"]}
    network_options = {**(LATENT_UNET if latent else {"channels": DEFAULT_CHANNELS}), **network_options}
    if latent:
        autoencoder = keras_sgm.Autoencoder(seed=0)
        network = keras_sgm.build_unet(autoencoder.latent_shape, dtype=dtype, **network_options)
        return keras_sgm.LatentScoreModel(autoencoder, network, seed=0)
    return keras_sgm.ScoreModel(keras_sgm.build_unet(dtype=dtype, **network_options), seed=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="training steps per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, help="the recipe's by default")
    parser.add_argument("--sample-batch", type=int, default=64)
    parser.add_argument("--sample-steps", type=int, default=18)
    parser.add_argument("--mixed-precision", action="store_true", help="the mixed_bfloat16 policy")
    parser.add_argument("--patch-size", type=int, default=1, help="the network's patch size (2: the faster network)")
    parser.add_argument(
        "--jit-compile", choices=["auto", "true", "false"], default="auto",
        help="model.compile's jit_compile; auto: as a full run of the main job "
        "(XLA on JAX and on TensorFlow with a GPU, torch.compile on PyTorch)",
    )
    parser.add_argument("--latent", action="store_true",
                        help="the default model (autoencoder and latent U-Net) instead of the pixel one")
    parser.add_argument("--candidate", choices=sorted(CANDIDATES),
                        help="the network of this time_to_quality.py candidate (overrides --latent, --patch-size)")
    parser.add_argument("--sample-only", action="store_true", help="measure sampling only")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    if args.candidate:
        args.latent = CANDIDATES[args.candidate]["latent"]
        args.patch_size = CANDIDATES[args.candidate]["network"].get("patch_size", 1)
    model = benchmark_model(args.candidate, args.latent, args.patch_size,
                            "mixed_bfloat16" if args.mixed_precision else None)
    jit_compile = {
        "auto": training_jit_compile(TORCH_COMPILE_MIN_STEPS, args.patch_size),
        "true": True,
        "false": False,
    }[args.jit_compile]
    model.compile(optimizer=keras.optimizers.Adam(1e-4), jit_compile=jit_compile)
    step_seconds = None if args.sample_only else training_step_seconds(model, args.batch_size, args.steps,
                                                                         args.repeats)
    nfe = 2 * args.sample_steps - 1
    sample_seconds = median_seconds(
        lambda: edm_heun(model, args.sample_batch, steps=args.sample_steps, seed=0), args.repeats
    )
    result = {
        "backend": keras.backend.backend() + (" bfloat16" if args.mixed_precision else "")
        + (f", {args.candidate}" if args.candidate else ", latent" if args.latent else "")
        + ("" if args.patch_size == 1 else f", patch {args.patch_size}")
        + ("" if args.batch_size == 128 else f", batch {args.batch_size}")
        + ("" if args.sample_batch == 64 else f", sampling batch {args.sample_batch}")
        + ("" if args.jit_compile == "auto" else f", jit_compile {args.jit_compile}"),
        "parameters": model.network.count_params(),
        "train_images_per_s": step_seconds and args.batch_size / step_seconds,
        "sample_image_nfe_per_s": args.sample_batch * nfe / sample_seconds,
        "seconds_per_64_samples_35_nfe": sample_seconds * 64 / args.sample_batch,
    }
    print(
        f"| {result['backend']} | {result['train_images_per_s'] or 0:.0f} | "
        f"{result['sample_image_nfe_per_s']:.0f} | {64 / result['seconds_per_64_samples_35_nfe']:.1f} |"
    )
    if args.json:
        with open(args.json, "w") as file:
            json.dump(result, file, indent=1)


if __name__ == "__main__":
    main()
