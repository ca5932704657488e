"""Digits from an exported consistency model, with onnxruntime alone: no Keras, no keras-sgm.

    keras-sgm export --preset mnist_consistency --format onnx --out exported
    python examples/serve_onnx.py exported 7 digits.png
"""

import sys

import numpy as np
import onnxruntime
from PIL import Image

folder, label, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
generator = onnxruntime.InferenceSession(f"{folder}/generator.onnx")
noise_input, labels_input = generator.get_inputs()  # noise: (batch, steps, *latent shape)
steps, *latent_shape = noise_input.shape[1:]
noise = np.random.default_rng(0).standard_normal((16, steps, *latent_shape), dtype=np.float32)
images = generator.run(None, {noise_input.name: noise, labels_input.name: np.full(16, label, np.int32)})[0]
grid = images.reshape(4, 4, *images.shape[1:3]).transpose(0, 2, 1, 3).reshape(4 * images.shape[1], -1)
Image.fromarray((grid * 255).round().astype(np.uint8)).save(out)
print(f"wrote {out}: 16 images of class {label}")
