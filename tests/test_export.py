"""`keras-sgm export`: the exported denoiser, decoder and consistency generator give the Keras model's
outputs in onnxruntime and TensorFlow, in a process that imports neither Keras nor keras_sgm."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from keras_sgm import Autoencoder, LatentScoreModel, build_unet
from keras_sgm.cli import main
from keras_sgm.sampling.generate import reseeded_noise
from keras_sgm.sampling.samplers import multistep_consistency
from keras_sgm.serving.export import Generator, check_format, export, exportable_parts
from tests.conftest import to_numpy

FORMATS_OF_BACKEND = {"jax": ("onnx", "saved_model"), "tensorflow": ("saved_model",), "torch": ("onnx",)}

# Runs each exported part on the inputs of an .npz, with onnxruntime or TensorFlow alone.
RUNNER = """
import json, sys
sys.modules["keras"] = sys.modules["keras_sgm"] = None  # neither may be imported, by TensorFlow either
import numpy as np
folder, format, inputs_file, outputs_file = sys.argv[1:]
inputs = np.load(inputs_file)
outputs = {}
for part in json.loads(inputs["parts"].item()):
    arrays = [inputs[f"{part}_{i}"] for i in range(int(inputs[f"{part}_count"]))]
    if format == "onnx":
        import onnxruntime
        session = onnxruntime.InferenceSession(f"{folder}/{part}.onnx")
        names = [spec.name for spec in session.get_inputs()]
        outputs[part] = session.run(None, dict(zip(names, arrays)))[0]
    else:
        import tensorflow as tf
        loaded = tf.saved_model.load(f"{folder}/{part}")  # kept: .serve alone loses its variables
        outputs[part] = np.asarray(loaded.serve(arrays if len(arrays) > 1 else arrays[0]))
np.savez(outputs_file, **outputs)
"""


def tiny_consistency_model():
    """A conditional latent consistency model, guided by default, small enough to export in seconds."""
    keras.utils.set_random_seed(0)
    autoencoder = Autoencoder(channels=(8, 16, 16), seed=0)
    network = build_unet(autoencoder.latent_shape, channels=(16, 32), embed_dim=32, num_classes=10)
    return LatentScoreModel(autoencoder, network, seed=0, consistency={}, default_guidance=2.0)


@pytest.fixture(scope="module")
def model():
    return tiny_consistency_model()


def test_generator_is_the_consistency_sampler_with_its_noise_as_an_input(model):
    labels = np.array([3, 7, 9, 0], "int32")
    for steps in (1, 2):
        sampled, _ = multistep_consistency(model.guided(labels=labels), 4, steps=steps, seed=5)
        noise = reseeded_noise(model, 5)  # the sampler's draws, in order: the prior's, then each step's
        draws = [to_numpy(keras.random.normal((4, *model.sample_shape), seed=noise)) for _ in range(steps)]
        generated = to_numpy(Generator(model, steps)([np.stack(draws, axis=1), labels]))
        np.testing.assert_allclose(generated, np.clip(sampled, 0, 1), atol=1e-4)


def test_exported_parts_match_keras_without_keras(model, backend, tmp_path):
    rng = np.random.default_rng(0)
    batch = 3
    parts = exportable_parts(model, steps=2)
    inputs = {
        "denoiser": [rng.normal(size=(batch, *model.sample_shape)).astype("float32") * 2,
                     np.array([0.01, 1.0, 40.0], "float32"), np.array([1, 10, 4], "int32")],
        "decoder": [rng.normal(size=(batch, *model.sample_shape)).astype("float32")],
        "generator": [rng.normal(size=(batch, 2, *model.sample_shape)).astype("float32"), np.array([2, 5, 10], "int32")],
    }
    assert set(parts) == set(inputs)
    expected = {name: to_numpy(part(inputs[name] if len(inputs[name]) > 1 else inputs[name][0]))
                for name, part in parts.items()}
    arrays = {"parts": json.dumps(list(parts))}
    for name, values in inputs.items():
        arrays[f"{name}_count"] = len(values)
        arrays.update({f"{name}_{i}": value for i, value in enumerate(values)})
    np.savez(tmp_path / "inputs.npz", **arrays)
    for format in FORMATS_OF_BACKEND[backend]:
        written = export(model, tmp_path / format, format=format, steps=2)
        assert set(written) == set(parts)
        run = subprocess.run([sys.executable, "-c", RUNNER, str(tmp_path / format), format, str(tmp_path / "inputs.npz"),
                        str(tmp_path / f"{format}.npz")], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr[-2000:]
        outputs = np.load(tmp_path / f"{format}.npz")
        for name in parts:
            assert outputs[name].shape == expected[name].shape
            np.testing.assert_allclose(outputs[name], expected[name], atol=1e-4, err_msg=f"{format} {name}")


def test_a_format_this_backend_cannot_write_is_one_line_naming_the_ones_that_can(backend, tmp_path):
    refused = sorted({"onnx", "saved_model"} - set(FORMATS_OF_BACKEND[backend]))
    for format in refused:
        with pytest.raises(ValueError, match="run with KERAS_BACKEND="):
            check_format(format)
        result = CliRunner().invoke(main, ["export", "--preset", "mnist", "--format", format, "--out",
                                           str(tmp_path / "out")])
        assert result.exit_code == 2 and "KERAS_BACKEND=" in result.output
        assert not (tmp_path / "out").exists()


def test_export_refuses_a_generator_of_a_score_model(backend, tmp_path):
    result = CliRunner().invoke(main, ["export", "--preset", "mnist", "--steps", "2", "--format",
                                       FORMATS_OF_BACKEND[backend][0], "--out", str(tmp_path)])
    assert result.exit_code == 2 and "consistency model" in result.output
    assert list(tmp_path.iterdir()) == []
