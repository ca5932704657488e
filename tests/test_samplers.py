import math

import numpy as np
import pytest

from keras_sgm import VESchedule
from keras_sgm.sampling.inpainting import inpaint
from keras_sgm.sampling.sample import SAMPLERS, sample
from keras_sgm.sampling.samplers import (
    edm_heun,
    euler_maruyama,
    predictor_corrector,
    probability_flow_ode,
)
from tests.conftest import small_model, to_numpy
from tests.helpers.analytic import GaussianDataConsistency, GaussianDataScore

FAST = {
    "euler": {"steps": 8},
    "pc": {"steps": 4},
    "ode": {"solver": "heun", "steps": 4},
    "heun": {"steps": 4},
    "consistency": {"steps": 2},
}


@pytest.fixture(scope="module")
def tiny_models():
    """An untrained score model and the consistency model of the same network."""
    return {"score": small_model(seed=4), "consistency": small_model(seed=4, consistency={})}


@pytest.fixture(scope="module")
def tiny_model(tiny_models):
    return tiny_models["score"]


def model_for(name, models):
    return models["consistency" if name == "consistency" else "score"]


def exact(name, mean, std):
    """The exact model of Gaussian data that sampler `name` takes: its score, or its consistency function."""
    return (GaussianDataConsistency if name == "consistency" else GaussianDataScore)(mean, std)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_samplers_return_the_raw_output_and_sample_clips_it(tiny_models, name):
    tiny_model = model_for(name, tiny_models)
    raw, nfe = SAMPLERS[name](tiny_model, 3, seed=0, **FAST[name])
    assert raw.shape == (3, 28, 28, 1) and np.all(np.isfinite(raw))
    assert nfe == {"euler": 8, "pc": 8, "ode": 8, "heun": 7, "consistency": 2}[name]
    # Data spread far beyond [0, 1]: the raw samples leave it, and `sample()`, which feeds files and
    # metrics, clips them.
    wide = exact(name, 0.5, 2.0)
    raw, _ = SAMPLERS[name](wide, 3, seed=0, **FAST[name])
    assert raw.min() < 0.0 and raw.max() > 1.0
    clipped, _, _ = sample(wide, 3, sampler=name, seed=0, **FAST[name])
    np.testing.assert_array_equal(clipped, np.clip(raw, 0.0, 1.0))


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_a_fixed_seed_gives_identical_samples(tiny_models, name):
    tiny_model = model_for(name, tiny_models)
    first, _ = SAMPLERS[name](tiny_model, 2, seed=11, **FAST[name])
    second, _ = SAMPLERS[name](tiny_model, 2, seed=11, **FAST[name])
    other, _ = SAMPLERS[name](tiny_model, 2, seed=12, **FAST[name])
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_adaptive_ode_is_deterministic_and_counts_its_evaluations():
    model = GaussianDataScore(0.5, 0.1)
    first, nfe = probability_flow_ode(model, 64, seed=3)
    second, nfe_again = probability_flow_ode(model, 64, seed=3)
    np.testing.assert_array_equal(first, second)
    assert nfe == nfe_again and 6 < nfe < 1000 and (nfe - 1) % 6 == 0


def test_ode_maps_the_prior_deterministically():
    # The ODE's only randomness is the prior draw: x(eps) is an affine function of
    # x(1) for Gaussian data, so it is exact up to the solver's tolerance.
    model = GaussianDataScore(0.5, 0.1)
    schedule = model.schedule
    images, _ = probability_flow_ode(model, 32, seed=5, rtol=1e-6, atol=1e-6)
    import keras

    prior = keras.random.normal((32, 4, 4, 1), seed=keras.random.SeedGenerator(5))
    prior = to_numpy(prior) * schedule.prior_std()
    end_std = math.sqrt(0.1**2 + float(to_numpy(schedule.marginal_std(1e-3))) ** 2)
    start_std = math.sqrt(0.1**2 + schedule.prior_std() ** 2)
    expected = 0.5 + (prior - 0.5) * end_std / start_std
    np.testing.assert_allclose(images, np.clip(expected, 0, 1), atol=2e-3)


def _end_std(sampler, data_std, eps=1e-3):
    """Std the sampler should reach: the ODE stops at eps, EDM Heun and the SDEs denoise."""
    sigma_eps = float(to_numpy(VESchedule().marginal_std(eps)))
    return math.sqrt(data_std**2 + sigma_eps**2) if sampler == "ode" else data_std


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_sampler_recovers_a_gaussian_from_its_exact_score(name):
    images, _ = SAMPLERS[name](exact(name, 0.5, 0.1), 512, seed=0)
    # Raw output, not clipped: the data's [0, 1] is 5 standard deviations either side.
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert abs(images.mean() - 0.5) < 0.01
    assert images.std() == pytest.approx(_end_std(name, 0.1), rel=0.08)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_sampler_concentrates_on_a_single_point(name):
    images, _ = SAMPLERS[name](exact(name, 0.3, 0.0), 256, seed=0)
    assert abs(images.mean() - 0.3) < 0.005
    sigma_eps = float(to_numpy(VESchedule().marginal_std(1e-3)))
    if name in ("heun", "consistency"):
        assert images.std() < 1e-3  # EDM Heun ends at sigma = 0, a consistency model at the data
    elif name == "ode":
        assert images.std() == pytest.approx(sigma_eps, rel=0.1)
    else:
        assert images.std() < sigma_eps


def test_heun_solvers_converge_to_the_adaptive_solution():
    model = GaussianDataScore(0.5, 0.1)
    reference, _ = probability_flow_ode(model, 64, seed=1, rtol=1e-7, atol=1e-7)
    errors = [
        np.abs(probability_flow_ode(model, 64, seed=1, solver="heun", steps=n)[0] - reference).max()
        for n in (10, 40, 160)
    ]
    assert errors[0] > errors[1] > errors[2]


def test_bad_arguments_are_rejected(tiny_model):
    with pytest.raises(ValueError, match="batch_size"):
        euler_maruyama(tiny_model, 0)
    with pytest.raises(ValueError, match="steps"):
        edm_heun(tiny_model, 2, steps=0)
    with pytest.raises(ValueError, match="solver"):
        probability_flow_ode(tiny_model, 2, solver="rk4")


def test_predictor_corrector_progress_bar_runs(tiny_model, capsys):
    predictor_corrector(tiny_model, 1, steps=2, seed=0, progress=True)
    assert "2/2" in capsys.readouterr().out


def test_inpainting_keeps_the_known_pixels(tiny_model, test_digits):
    images = test_digits[0][:3] / 255.0
    mask = np.zeros((28, 28, 1))
    mask[:14] = 1.0
    completed, nfe = inpaint(tiny_model, images, mask, steps=4, seed=0)
    assert nfe == 4 and completed.shape == images.shape
    np.testing.assert_allclose(completed[:, :14], images[:, :14], atol=1e-6)
    assert np.abs(completed[:, 14:] - images[:, 14:]).max() > 0.1


@pytest.mark.parametrize("resample, reconstruction_guidance", [(1, 0.0), (3, 0.0), (1, 25.0)])
def test_inpainting_samples_the_unknown_pixels_from_the_data_distribution(resample, reconstruction_guidance):
    # Independent Gaussian pixels: the known half says nothing about the other
    # half, so neither resampling nor the guidance's pull may bias it.
    model = GaussianDataScore(0.5, 0.1, image_shape=(8, 8, 1))
    known = np.full((256, 8, 8, 1), 0.9, dtype="float32")
    mask = np.zeros((8, 8, 1))
    mask[:, :4] = 1.0
    settings = {"steps": 200, "resample": resample, "reconstruction_guidance": reconstruction_guidance, "seed": 0}
    raw, nfe = inpaint(model, known, mask, keep_known=False, **settings)
    completed, _ = inpaint(model, known, mask, **settings)
    assert nfe == 200 * resample
    # Before the paste the sampler's own output is drawn to the known pixels (0.9), which
    # its last step, from a noise level of 0.08, pulls only a little towards the data's
    # mean; without the replacement they would be drawn around 0.5.
    assert raw[:, :, :4].mean() > 0.7
    np.testing.assert_array_equal(completed, mask * known + (1.0 - mask) * np.clip(raw, 0.0, 1.0))
    generated = raw[:, :, 4:]
    assert abs(generated.mean() - 0.5) < 0.01
    assert generated.std() == pytest.approx(0.1, rel=0.08)


def test_inpainting_rejects_a_mask_or_images_of_the_wrong_shape(tiny_model):
    with pytest.raises(ValueError, match="mask of shape"):
        inpaint(tiny_model, np.zeros((2, 28, 28, 1)), np.ones((14, 28, 1)))
    with pytest.raises(ValueError, match=r"\(batch, 28, 28, 1\)"):
        inpaint(tiny_model, np.zeros((2, 32, 32, 1)), np.ones((32, 32, 1)))
    for weight in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="reconstruction_guidance must be a finite number >= 0"):
            inpaint(tiny_model, np.zeros((2, 28, 28, 1)), np.ones((28, 28, 1)), reconstruction_guidance=weight)


def test_stochastic_edm_heun_recovers_a_gaussian_and_is_seeded():
    model = GaussianDataScore(0.5, 0.1)
    images, nfe = edm_heun(model, 1024, steps=50, churn=5.0, seed=0)
    assert nfe == 99
    assert abs(images.mean() - 0.5) < 0.005
    assert images.std() == pytest.approx(0.1, rel=0.03)
    again, _ = edm_heun(model, 1024, steps=50, churn=5.0, seed=0)
    deterministic, _ = edm_heun(model, 1024, steps=50, seed=0)
    np.testing.assert_array_equal(images, again)
    assert np.abs(images - deterministic).max() > 0.01
    with pytest.raises(ValueError, match="churn"):
        edm_heun(model, 2, churn=-1.0)
