"""Autoguidance: a model guided by a weaker version of itself."""

import dataclasses

import keras
import numpy as np
import pytest

from keras_sgm.diffusion.guidance import DEFAULT_AUTOGUIDANCE, Guided
from keras_sgm.models.presets import AUTOGUIDANCE_INTERVAL
from keras_sgm.sampling.samplers import edm_heun
from tests.conftest import FIXTURE, small_model, to_numpy
from tests.helpers.analytic import GaussianDataScore


def test_autoguidance_of_gaussian_data_narrows_it_as_its_ode_says():
    # Data N(0, s^2) guided by a model of N(0, g^2): D_w is linear in x, and the probability-flow ODE
    # from sigma_max >> s, g ends at std s^w g^(1 - w): sharper than the data for g > s, w > 1.
    model, guide = GaussianDataScore(0.0, 1.0), GaussianDataScore(0.0, 1.5)
    for scale in (1.0, 2.0, 3.0):  # one compiled program: the scale is an input
        images, nfe = edm_heun(Guided(model, scale=scale, guide=guide), 4000, steps=64, seed=0)
        expected = 1.0**scale * 1.5 ** (1.0 - scale)
        assert nfe == 127 and abs(images.std() / expected - 1.0) < 0.02 and abs(images.mean()) < 0.02, scale


def test_a_guidance_interval_guides_between_its_levels_only():
    model, guide = GaussianDataScore(0.0, 1.0), GaussianDataScore(0.0, 1.5)

    def spread(interval):
        images, _ = edm_heun(Guided(model, scale=3.0, guide=guide, interval=interval), 2000, steps=32, seed=0)
        return images.std()

    everywhere, nowhere, middle = spread(None), spread((1e3, 1e4)), spread((0.5, 2.0))
    np.testing.assert_allclose(spread((0.0, 1e3)), everywhere, rtol=1e-6)  # it spans every level
    assert abs(nowhere - 1.0) < 0.03  # no level inside: the model alone, data of std 1
    assert everywhere < middle < nowhere  # guided at some levels: sharper than the data, less than throughout
    with pytest.raises(ValueError, match="two noise levels 0 <= low < high"):
        Guided(model, scale=3.0, guide=guide, interval=(2.0, 1.0))


@pytest.fixture(scope="module")
def model_and_copy():
    model = small_model(seed=3, num_classes=10)
    copy = small_model(seed=4, num_classes=10)
    copy.set_weights(model.get_weights())
    return model, copy


@pytest.mark.parametrize("labels", [None, [0, 3, 9]])
def test_a_guide_equal_to_the_model_gives_the_models_own_samples(model_and_copy, labels):
    model, copy = model_and_copy
    own, _ = edm_heun(model.guided(labels, guidance=1.0), 3, steps=4, seed=5)
    guided, nfe = edm_heun(model.guided(labels, guidance=3.0, guide=copy), 3, steps=4, seed=5)
    assert nfe == 7  # autoguidance's passes of the guide are not the model's
    np.testing.assert_allclose(guided, own, atol=1e-5)
    # A weaker (here: another) guide moves them.
    other, _ = edm_heun(model.guided(labels, guidance=3.0, guide=small_model(seed=6, num_classes=10)), 3,
                        steps=4, seed=5)
    assert np.abs(other - own).max() > 1e-2


def test_a_guide_of_another_shape_or_other_classes_is_refused(model_and_copy):
    model, _ = model_and_copy
    with pytest.raises(ValueError, match=r"guide's sample_shape is \(32, 32, 1\) but the model's is \(28, 28, 1\)"):
        model.guided(guide=small_model(image_shape=(32, 32, 1)))
    with pytest.raises(ValueError, match="the guide knows 4 classes but the model 10"):
        model.guided(guide=small_model(num_classes=4))


def test_sample_autoguides_with_a_guide_file_and_refuses_one_of_another_shape(model_and_copy, tmp_path):
    from click.testing import CliRunner

    from keras_sgm.cli import main

    model, copy = model_and_copy
    model.save(tmp_path / "model.keras")
    copy.save(tmp_path / "guide.keras")
    small_model(image_shape=(32, 32, 1), num_classes=10).save(tmp_path / "wide.keras")

    def sample(guide, out):
        return CliRunner().invoke(main, ["sample", "--checkpoint", str(tmp_path / "model.keras"), "--guide", guide,
                                         "--label", "none", "--num", "2", "--steps", "2", "--out", str(out)])

    result = sample(str(tmp_path / "guide.keras"), tmp_path / "guided.png")
    assert result.exit_code == 0, result.output
    assert "unconditional digits (autoguidance 2)" in result.output and (tmp_path / "guided.png").exists()
    result = CliRunner().invoke(main, ["sample", "--checkpoint", str(tmp_path / "model.keras"), "--guide-interval",
                                       "0.1,2", "--label", "none", "--out", str(tmp_path / "alone.png")])
    assert result.exit_code == 2 and "applies to autoguidance: give a guide too" in result.output
    result = sample(str(tmp_path / "wide.keras"), tmp_path / "wide.png")
    assert result.exit_code == 2 and not (tmp_path / "wide.png").exists()
    assert result.output.strip().splitlines()[-1] == (
        "Error: the guide's sample_shape is (32, 32, 1) but the model's is (28, 28, 1); a guide must be a weaker "
        "model of the same data.")


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="the recipe's logic, run where it is cheapest; test_pretrained samples with a model's own "
                           "guide network on every backend")
def test_a_run_keeps_an_early_state_of_itself_that_autoguides_its_unconditional_samples(tmp_path):

    from keras_sgm.models.saving import load_model
    from keras_sgm.recipes.config import TrainingConfig
    from keras_sgm.recipes.training import train
    from keras_sgm.sampling.sample import sample

    config = TrainingConfig(output_dir=str(tmp_path), data=str(FIXTURE), latent=False, channels=(8, 16),
                            blocks_per_level=1, epochs=3, guide_epoch=1, batch_size=16, steps_per_epoch=2,
                            num_samples=4, eval_every=0, verbose=0)
    train(config)
    model = load_model(tmp_path / "model.keras")
    kept = keras.saving.load_model(tmp_path / "guide.keras")
    guide = [to_numpy(w) for w in model.guide_network.weights]
    assert all(np.array_equal(a, to_numpy(b)) for a, b in zip(guide, kept.weights))
    assert not all(np.array_equal(a, to_numpy(b)) for a, b in zip(guide, model.inference_network.weights))
    view = model.guided()
    assert view.guide is model and view.guide_network is model.guide_network and view.scale == DEFAULT_AUTOGUIDANCE
    assert view.interval == AUTOGUIDANCE_INTERVAL  # where the run's own guide guides, as the shipped one
    autoguided, unguided = (sample(model, 4, steps=3, guide=guide_arg)[0] for guide_arg in (None, "none"))
    assert np.abs(autoguided - unguided).max() > 1e-3
    assert model.guided(labels=[1, 2, 3, 4]).kind == "classifier-free"
    # Training on later keeps the same guide.
    train(dataclasses.replace(config, epochs=4))
    resumed = load_model(tmp_path / "model.keras")
    assert (tmp_path / "history.csv").read_text().count("\n") == 5  # the header and 4 epochs
    assert all(np.array_equal(a, to_numpy(b)) for a, b in zip(guide, resumed.guide_network.weights))


def test_a_guide_network_kept_between_fits_is_saved_with_the_model(tmp_path, digits):
    import keras

    model = small_model()
    model.fit(digits[0][:32], batch_size=16, epochs=1, verbose=0)
    model.keep_guide()
    model.fit(digits[0][:32], batch_size=16, epochs=1, verbose=0)  # the model moves on, its guide stays
    guide = [to_numpy(w) for w in model.guide_network.weights]
    assert all(w.trainable is False for w in model.guide_network.weights)
    model.autoguidance, model.autoguidance_interval = 1.5, (0.1, 2.0)
    model.save(tmp_path / "guided.keras")
    loaded = keras.saving.load_model(tmp_path / "guided.keras")
    assert all(np.array_equal(a, to_numpy(b)) for a, b in zip(guide, loaded.guide_network.weights))
    assert (loaded.autoguidance, loaded.autoguidance_interval) == (1.5, (0.1, 2.0))
    here, there = (edm_heun(m.guided(), 2, steps=3, seed=0)[0] for m in (model, loaded))
    np.testing.assert_allclose(here, there, atol=1e-5)
    unguided = edm_heun(loaded.guided(guide="none"), 2, steps=3, seed=0)[0]
    assert np.abs(unguided - there).max() > 1e-4
