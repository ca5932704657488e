"""A checkpoint saved by keras-sgm 0.1.0 loads with today's code and gives the same outputs.

`tests/helpers/make_legacy_checkpoint.py` wrote the fixture at commit 508dc24, before
the sampler redesign; each backend checks its own sampler outputs, since the
random draws differ between backends.
"""

import keras
import numpy as np
import pytest

from keras_sgm import ScoreModel
from keras_sgm.diffusion.guidance import classifier_free
from tests.conftest import to_numpy
from tests.helpers.make_legacy_checkpoint import (
    CHECKPOINT,
    OUTPUTS,
    SAMPLE_GUIDANCE,
    probe_inputs,
    sampler_outputs,
)


@pytest.fixture(scope="module")
def legacy():
    return keras.saving.load_model(CHECKPOINT)


@pytest.fixture(scope="module")
def expected():
    return np.load(OUTPUTS)


def test_the_legacy_checkpoint_loads_with_its_training_state(legacy, expected):
    assert isinstance(legacy, ScoreModel) and legacy.num_classes == 10
    assert int(to_numpy(legacy.optimizer.iterations)) == int(expected["iterations"])
    images, times, labels = probe_inputs()
    raw = to_numpy(legacy.score(images, times, labels=labels, network=legacy.network))
    np.testing.assert_allclose(raw, expected["raw_scores"], rtol=1e-4, atol=1e-4)
    # The EMA network is not the raw one after 6 steps: both were saved.
    assert np.abs(expected["raw_scores"] - expected["scores"]).max() > 1e-3


def test_the_legacy_checkpoint_gives_the_same_scores(legacy, expected):
    images, times, labels = probe_inputs()
    np.testing.assert_allclose(to_numpy(legacy.score(images, times, labels=labels)), expected["scores"],
                               rtol=1e-4, atol=1e-4)
    images, sigma = keras.ops.convert_to_tensor(images), legacy.schedule.marginal_std(times)
    denoised = classifier_free(legacy, images, sigma, legacy.labels_for(labels, len(images)), SAMPLE_GUIDANCE)
    guided = (denoised - images) / keras.ops.reshape(sigma, (-1, 1, 1, 1)) ** 2
    np.testing.assert_allclose(to_numpy(guided), expected["guided_scores"], rtol=1e-4, atol=1e-4)


def test_the_legacy_checkpoint_gives_the_same_samples_with_every_sampler(legacy, expected):
    # The sampler settings (churn, snr) are float32 program inputs now, where they
    # were float64 Python constants: a rounding of one ulp, which 4 churned steps
    # grow to a few 1e-4 (JAX). The deterministic samplers agree to the bit there.
    # 0.1's samplers clipped their output to [0, 1]; `sample()` does that now.
    backend = keras.backend.backend()
    for name, images in sampler_outputs(legacy).items():
        np.testing.assert_allclose(np.clip(images, 0.0, 1.0), expected[f"{backend}_{name}"], atol=1e-3, err_msg=name)
