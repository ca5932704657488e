"""Run as `KERAS_BACKEND=... python tests/helpers/model_outputs.py MODEL INPUTS OUTPUT`.

Loads a saved score model and writes what it computes on fixed inputs (its
denoiser, conditioned on labels 0 and 1, and its decoder) to OUTPUT, so that
a test on another backend can compare them with its own.
"""

import sys

import keras
import numpy as np

from keras_sgm.models.saving import load_model


def model_outputs(checkpoint, inputs):
    """`{"denoised", "images"}` of the model in `checkpoint` on the `x` and `sigma` of the npz `inputs`."""
    model, inputs = load_model(checkpoint), np.load(inputs)
    x, sigma = inputs["x"].astype("float32"), inputs["sigma"].astype("float32")
    labels = np.arange(len(x)) % model.num_classes if model.num_classes else None
    return {"denoised": keras.ops.convert_to_numpy(model.denoise(x, sigma, labels=labels)),
            "images": keras.ops.convert_to_numpy(model.decode(x))}


if __name__ == "__main__":
    np.savez(sys.argv[3], **model_outputs(sys.argv[1], sys.argv[2]))
