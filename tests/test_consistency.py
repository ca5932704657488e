"""Consistency tuning (ECT) and the few-step consistency sampler."""

import dataclasses
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from keras_sgm import ScoreModel
from keras_sgm.cli import main
from keras_sgm.diffusion.guidance import classifier_free
from keras_sgm.models.saving import load_model
from keras_sgm.recipes import training
from keras_sgm.recipes.config import TUNING_DEFAULTS
from keras_sgm.recipes.consistency import tune_consistency
from keras_sgm.sampling.sample import sample
from keras_sgm.sampling.samplers import multistep_consistency
from keras_sgm.diffusion.consistency import ConsistencyTuning
from tests.conftest import FIXTURE, NEXT_BACKEND, to_numpy
from tests.helpers.analytic import GaussianDataConsistency, GaussianDataScore
from tests.helpers.model_outputs import model_outputs

STEPS = 32  # the whole fixture, 512 digits, each epoch


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def score_checkpoint(tmp_path_factory):
    """A tiny class-conditional pixel score model of the fixture digits, briefly trained by `keras-sgm train`."""
    out = tmp_path_factory.mktemp("score")
    result = invoke("train", "--pixel", "--data", FIXTURE, "--epochs", 1, "--batch-size", 16, "--steps-per-epoch", 16,
                    "--channels", "8,16", "--num-samples", 1, "--output-dir", out, "--verbose", 0)
    assert result.exit_code == 0, result.output
    return out / "model.keras"


def tuning(output_dir, checkpoint, epochs=2):
    return dataclasses.replace(TUNING_DEFAULTS, init_weights=str(checkpoint), data=str(FIXTURE),
                               output_dir=str(output_dir), epochs=epochs, batch_size=16, steps_per_epoch=STEPS,
                               learning_rate=2e-3, num_samples=2, verbose=0)


@pytest.fixture(scope="module")
def tuned(score_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("tuned")
    tune_consistency(tuning(out, score_checkpoint))
    return out / "model.keras"


def consistency_loss(model, network, images, labels, teacher):
    """The model's consistency loss on fixed digits, towards the tuning's guided teacher, averaged over
    32 fixed draws."""
    import functools

    denoise = functools.partial(model.denoise, network=network)
    model.consistency.teacher = functools.partial(classifier_free, teacher, scale=TUNING_DEFAULTS.teacher_guidance)
    return np.mean([float(to_numpy(model.consistency(denoise, model.schedule, images, labels,
                                                     keras.random.SeedGenerator(seed), step=0)))
                    for seed in range(32)])


def test_tuning_lowers_the_consistency_loss_on_real_digits(score_checkpoint, tuned, digits):
    images, labels = digits[0][:64].astype("float32") / 255.0, digits[1][:64]
    start = load_model(score_checkpoint)
    # The score model seen as the consistency model it starts as: the same network.
    untuned = ScoreModel.from_config({**start.get_config(), "consistency": {}})
    untuned.network.set_weights(start.inference_network.get_weights())
    model = load_model(tuned)
    assert model.is_consistency_model and not start.is_consistency_model
    # The teacher's guidance is built in: one conditional pass draws the guided samples.
    assert model.default_guidance == 1.0 and start.default_guidance == TUNING_DEFAULTS.teacher_guidance
    before = consistency_loss(untuned, untuned.network, images, labels, start)
    after = consistency_loss(model, model.network, images, labels, start)
    assert after < 0.8 * before, (before, after)


def test_distilling_a_teacher_leaves_its_own_consistency_function_no_loss():
    # Gaussian data, whose denoiser and consistency function are known exactly.
    teacher, exact = GaussianDataScore(0.3, 0.5), GaussianDataConsistency(0.3, 0.5)
    images = 0.3 + 0.5 * np.random.default_rng(0).normal(size=(256, 4, 4, 1)).astype("float32")
    distillation = ConsistencyTuning(q=2.0, stage_steps=1, huber_c=0.0,
                                     teacher=lambda x, sigma, labels: teacher.denoise(x, sigma))

    def loss(function, step):
        def denoise(x, sigma, labels, training=True):
            return function.denoise(x, sigma)

        return float(to_numpy(distillation(denoise, teacher.schedule, images, None, keras.random.SeedGenerator(0),
                                           step)))

    # Late in the tuning the pairs are neighbours on the teacher's ODE path, which its consistency
    # function maps to one point; the teacher's denoiser, no consistency function, does not.
    assert loss(exact, step=8) < 0.01 * loss(teacher, step=8)
    # At stage 0 many pairs end at r = 0, where the target is the teacher's own denoised image.
    assert loss(teacher, step=0) < 0.5 * loss(exact, step=0)


def test_the_consistency_function_is_the_identity_at_noise_level_zero(tuned):
    model = load_model(tuned)
    x = np.random.default_rng(0).normal(size=(3, 28, 28, 1)).astype("float32")
    for labels in (None, [0, 4, 9]):
        np.testing.assert_array_equal(to_numpy(model.denoise(x, np.zeros(3, "float32"), labels=labels)), x)
    # Near zero it stays near x: the network's share, c_out(sigma) F, vanishes with sigma.
    close = to_numpy(model.denoise(x, np.full(3, 1e-4, "float32")))
    assert np.abs(close - x).max() < 1e-3


def test_one_step_samples_have_the_data_shape_and_reload_on_another_backend(tuned, tmp_path, backend):
    model = load_model(tuned)
    images, nfe, _ = sample(model, 4, labels=[1, 2, 3, 4])  # a consistency model's default sampler
    assert nfe == 1 and images.shape == (4, 28, 28, 1) and 0 <= images.min() <= images.max() <= 1
    two_steps, nfe = multistep_consistency(model.guided([1, 2, 3, 4]), 4, steps=2, seed=0)
    assert nfe == 2 and two_steps.shape == (4, 28, 28, 1)
    # One step is the consistency function at the prior's level: the same on every backend.
    np.savez(tmp_path / "inputs.npz", x=np.random.default_rng(1).normal(size=(2, 28, 28, 1)) * model.schedule.prior_std(),
             sigma=np.full(2, model.schedule.prior_std()))
    script = pathlib.Path(__file__).parent / "helpers" / "model_outputs.py"
    done = subprocess.run([sys.executable, str(script), str(tuned), str(tmp_path / "inputs.npz"),
                           str(tmp_path / "other.npz")], env={**os.environ, "KERAS_BACKEND": NEXT_BACKEND[backend]},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    here, there = model_outputs(tuned, tmp_path / "inputs.npz"), np.load(tmp_path / "other.npz")
    np.testing.assert_allclose(there["denoised"], here["denoised"], atol=1e-4)


class _KilledAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise KeyboardInterrupt  # after the epoch's checkpoint, which the callbacks before this one wrote


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="the tuning's resume is the recipe's logic; test_reliability's killed run covers "
                           "resuming on each backend")
def test_a_killed_and_resumed_tuning_matches_an_uninterrupted_one(score_checkpoint, tuned, tmp_path, monkeypatch):
    callbacks = training.training_callbacks
    monkeypatch.setattr(training, "training_callbacks",
                        lambda *args, **kwargs: [*callbacks(*args, **kwargs), _KilledAfterFirstEpoch()])
    with pytest.raises(KeyboardInterrupt):
        tune_consistency(tuning(tmp_path, score_checkpoint))
    monkeypatch.setattr(training, "training_callbacks", callbacks)
    assert (tmp_path / "history.csv").read_text().count("\n") == 2  # the header and epoch 1
    tune_consistency(tuning(tmp_path, score_checkpoint))
    resumed, uninterrupted = load_model(tmp_path / "model.keras"), load_model(tuned)
    for a, b in zip(resumed.network.get_weights(), uninterrupted.network.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert (tmp_path / "history.csv").read_text() == (tuned.parent / "history.csv").read_text()


def test_bad_input_to_the_consistency_sampler_and_tuning_is_a_one_line_error(score_checkpoint, tuned, tmp_path):
    common = ["sample", "--num", 2, "--no-progress", "--out", tmp_path / "s.png"]
    cases = {
        "needs a consistency model": [*common, "--checkpoint", score_checkpoint, "--sampler", "consistency"],
        "'--steps'": [*common, "--checkpoint", tuned, "--steps", 0],
        "does not exist": ["tune-consistency", "--checkpoint", tmp_path / "missing.keras", "--output-dir",
                           tmp_path / "run"],
        "this is a consistency model": ["inpaint", "--checkpoint", tuned, "--image", tmp_path / "digit.png",
                                        "--keep", "top", "--out", tmp_path / "s.png"],
        "--guide needs a score model's sampler": [*common, "--checkpoint", tuned, "--guide", tuned],
    }
    for words, args in cases.items():
        result = invoke(*args)
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and words in lines[0], (words, result.output)
    assert not (tmp_path / "s.png").exists() and not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match="decreasing positive levels"):
        multistep_consistency(load_model(tuned), 2, steps=2, sigmas=[1.0, 2.0])
    result = invoke(*common, "--checkpoint", tuned, "--steps", 2, "--label", 3)
    assert result.exit_code == 0 and "with consistency (2 NFE)" in result.output, result.output
