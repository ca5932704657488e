"""Latent diffusion: the autoencoder, and a score model on its latents that samples images."""

import csv
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from keras_sgm import Autoencoder, LatentScoreModel, build_unet
from keras_sgm.cli import main
from keras_sgm.data.datasets import batch_images
from keras_sgm.sampling.inpainting import inpaint
from keras_sgm.sampling.likelihood import bits_per_dim
from keras_sgm.sampling.masks import half_mask
from keras_sgm.sampling.sample import SAMPLERS
from keras_sgm.sampling.samplers import edm_heun
from tests.conftest import FIXTURE, NEXT_BACKEND, small_model, to_numpy

TINY_AUTOENCODER = (8, 16, 16)
TINY_LATENT_UNET = (16, 32)
FAST = {"euler": {"steps": 4}, "pc": {"steps": 2}, "ode": {"solver": "heun", "steps": 2},
        "heun": {"steps": 3}, "consistency": {"steps": 2}}


def tiny_autoencoder(seed=0):
    keras.utils.set_random_seed(seed)
    autoencoder = Autoencoder(channels=TINY_AUTOENCODER, seed=seed)
    autoencoder.compile(optimizer=keras.optimizers.Adam(3e-3))
    return autoencoder


def tiny_latent_model(autoencoder, seed=0):
    network = build_unet(autoencoder.latent_shape, channels=TINY_LATENT_UNET, embed_dim=32, num_classes=10)
    model = LatentScoreModel(autoencoder, network, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    return model


@pytest.fixture(scope="module")
def trained(digits):
    """A tiny autoencoder trained on the fixture digits, and a latent model trained on its latents."""
    images, labels = digits
    autoencoder = tiny_autoencoder()
    autoencoder.fit(images, batch_size=64, epochs=3, verbose=0)
    autoencoder.calibrate(images)
    model = tiny_latent_model(autoencoder)
    model.fit(images[:128], labels[:128], batch_size=32, epochs=1, verbose=0)
    return autoencoder, model


def reconstruction_error(autoencoder, images):
    return float(np.mean((to_numpy(autoencoder(images)) - images / 255.0) ** 2))


def test_the_autoencoders_round_trip_improves_with_training(digits, trained):
    images = digits[0][:128]
    assert reconstruction_error(trained[0], images) < 0.5 * reconstruction_error(tiny_autoencoder(), images)


def test_a_residual_autoencoder_with_the_l1_and_spectral_loss_learns_and_reloads_the_same(digits, tmp_path):
    images = digits[0][:256]
    keras.utils.set_random_seed(0)
    options = {"residual": True, "pixel_loss": "l1", "frequency_weight": 0.5, "latent_channels": 8}
    autoencoder = Autoencoder(channels=TINY_AUTOENCODER, seed=0, **options)
    autoencoder.compile(optimizer=keras.optimizers.Adam(3e-3))
    before = reconstruction_error(autoencoder, images)
    autoencoder.fit(images, batch_size=64, epochs=3, verbose=0)
    assert reconstruction_error(autoencoder, images) < 0.5 * before
    assert autoencoder.latent_shape == (7, 7, 8)
    assert any("_block_residual" in layer.name for layer in autoencoder.decoder.layers)
    autoencoder.save(tmp_path / "autoencoder.keras")
    loaded = keras.saving.load_model(tmp_path / "autoencoder.keras")
    assert {key: loaded.get_config()[key] for key in options if key != "latent_channels"} == \
        {key: value for key, value in options.items() if key != "latent_channels"}
    np.testing.assert_allclose(to_numpy(loaded(images[:8])), to_numpy(autoencoder(images[:8])), atol=1e-5)


def test_the_spectral_error_charges_every_frequency_alike():
    from keras_sgm.models.autoencoder import spectral_error

    zeros = np.zeros((2, 8, 4, 1), "float32")
    dot, stripes = zeros.copy(), zeros.copy()
    dot[0, 3, 1] = 1.0  # one pixel: every frequency at amplitude 1 / sqrt(32)
    stripes[0, ::2] = 1.0  # alternate rows: the mean and the highest vertical frequency
    np.testing.assert_allclose(to_numpy(spectral_error(dot, zeros)), [32 ** 0.5, 0.0], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(to_numpy(spectral_error(stripes, zeros)), [2 * 16 / 32 ** 0.5, 0.0],
                               rtol=1e-5, atol=1e-4)
    # A shift moves the phases, not the amplitudes: the same error wherever the detail is.
    np.testing.assert_allclose(to_numpy(spectral_error(np.roll(dot, 2, axis=2), zeros)), [32 ** 0.5, 0.0],
                               rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="pixel_loss must be one of l2, l1; got 'l3'"):
        Autoencoder(channels=TINY_AUTOENCODER, pixel_loss="l3")
    with pytest.raises(ValueError, match="frequency_weight must be a finite number >= 0"):
        Autoencoder(channels=TINY_AUTOENCODER, frequency_weight=-1)


def test_calibrated_latents_have_unit_variance(test_digits, trained):
    # Calibrated on the training digits, measured on digits it has not seen.
    latents = to_numpy(trained[0].encode(test_digits[0]))
    assert latents.shape == (len(test_digits[0]), 7, 7, 4)
    assert latents.std() == pytest.approx(1.0, rel=0.05)


def test_encoding_in_padded_batches_gives_each_images_own_latents(test_digits, trained):
    images = test_digits[0][:21]
    # 21 images in batches of 8: the last batch is padded to 8, and the padding dropped.
    latents = trained[0].encode_in_batches(images, batch_size=8)
    assert latents.shape == (21, 7, 7, 4)
    np.testing.assert_allclose(latents, to_numpy(trained[0].encode(images)), atol=1e-5)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_returns_images_from_a_latent_model(trained, name):
    model = trained[1]
    if name == "consistency":  # the same latent model as a consistency model
        model = LatentScoreModel.from_config({**model.get_config(), "consistency": {}})
    guided = model.guided(labels=[3, 5], guidance=2.0)
    images, _ = SAMPLERS[name](guided, 2, seed=0, **FAST[name])
    # Raw output, not clipped: the decoder's sigmoid keeps it in [0, 1].
    assert images.shape == (2, 28, 28, 1) and 0.0 <= images.min() and images.max() <= 1.0


def test_latent_inpainting_keeps_the_known_pixels(trained, test_digits):
    known = test_digits[0][:2] / 255.0
    mask = half_mask((28, 28, 1), "top")
    completed, _ = inpaint(trained[1], known, mask, steps=3, seed=0)
    np.testing.assert_array_equal(completed[:, :14], known[:, :14].astype("float32"))
    with pytest.raises(ValueError, match="reconstruction guidance alone"):
        inpaint(trained[1], known, mask, steps=3, reconstruction_guidance=0.0)


def test_latents_encoded_once_train_the_steps_that_encoding_in_each_step_trains(trained):
    from keras_sgm.recipes.data import training_data

    autoencoder = trained[0]
    images, _ = training_data(str(FIXTURE), 16, steps_per_epoch=3, seed=0)
    latents, _ = training_data(str(FIXTURE), 16, steps_per_epoch=3, seed=0, autoencoder=autoencoder)
    # The same batches, in the same order, as the latents of the images.
    first_images, first_labels = next(iter(images["x"]))
    first_latents, latent_labels = next(iter(latents["x"]))
    np.testing.assert_array_equal(latent_labels, first_labels)
    np.testing.assert_allclose(first_latents["latents"], to_numpy(autoencoder.encode(first_images)), atol=1e-5)
    runs = []
    for fit_data in (images, latents):
        keras.utils.set_random_seed(3)
        model = tiny_latent_model(autoencoder, seed=3)
        history = model.fit(**fit_data, epochs=2, verbose=0)
        runs.append((history.history["loss"], model.network.get_weights()))
    np.testing.assert_allclose(runs[1][0], runs[0][0], rtol=1e-5)
    for encoded_once, encoded_each_step in zip(runs[1][1], runs[0][1], strict=True):
        np.testing.assert_allclose(encoded_once, encoded_each_step, atol=1e-5)


def test_flipped_latents_are_those_of_the_image_or_of_its_mirror(trained, digits):
    import tensorflow as tf

    from keras_sgm.recipes.data import encoded_examples

    autoencoder, images = trained[0], digits[0][:64]
    plain, mirrored = (to_numpy(autoencoder.encode(x)) for x in (images, images[:, :, ::-1]))
    examples = encoded_examples(tf.data.Dataset.from_tensor_slices(images), autoencoder, flip=True)
    fit_data = batch_images(examples, 64, shuffle=False, flip=True)
    drawn = next(iter(fit_data))["latents"].numpy()
    is_mirror = [np.allclose(d, m, atol=1e-5) for d, m in zip(drawn, mirrored)]
    is_plain = [np.allclose(d, p, atol=1e-5) for d, p in zip(drawn, plain)]
    assert all(m or p for m, p in zip(is_mirror, is_plain)) and 10 < sum(is_mirror) < 54


def test_fit_refuses_latents_of_another_shape(trained):
    expected = r"latents of shape \(7, 7, 2\) but this model's autoencoder makes \(7, 7, 4\)"
    with pytest.raises(ValueError, match=expected):
        trained[1].fit({"latents": np.zeros((4, 7, 7, 2), "float32")}, epochs=1, verbose=0)


def test_bits_per_dim_refuses_a_latent_model(trained, test_digits):
    with pytest.raises(ValueError, match="needs a model of pixels"):
        bits_per_dim(trained[1], test_digits[0][:2])


def test_a_latent_model_saves_as_one_file_and_reloads_with_the_same_outputs(trained, tmp_path):
    path = tmp_path / "latent.keras"
    trained[1].save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, LatentScoreModel)
    assert float(to_numpy(loaded.autoencoder.latent_scale)) == float(to_numpy(trained[0].latent_scale))
    expected, _ = edm_heun(trained[1].guided(labels=[7], guidance=2.0), 1, steps=3, seed=9)
    actual, _ = edm_heun(loaded.guided(labels=[7], guidance=2.0), 1, steps=3, seed=9)
    np.testing.assert_allclose(actual, expected, atol=1e-5)


SAVE_LATENT = """
import sys, keras, numpy as np
sys.path.insert(0, {root!r})
from tests.test_latent import tiny_autoencoder, tiny_latent_model
model = tiny_latent_model(tiny_autoencoder(seed=3), seed=3)
model.save({out!r} + "/latent.keras")
rng = np.random.default_rng(0)
latents = rng.normal(size=(2, 7, 7, 4)).astype("float32")
scores = model.score(latents, np.array([0.1, 0.7], "float32"), labels=np.array([2, 9]))
np.savez({out!r} + "/outputs.npz", latents=latents, scores=keras.ops.convert_to_numpy(scores),
         images=keras.ops.convert_to_numpy(model.decode(latents)))
"""


def test_a_latent_model_saved_on_another_backend_gives_the_same_outputs(backend, tmp_path):
    root = str(pathlib.Path(__file__).resolve().parents[1])
    subprocess.run([sys.executable, "-c", SAVE_LATENT.format(root=root, out=str(tmp_path))],
                   env={**os.environ, "KERAS_BACKEND": NEXT_BACKEND[backend]}, check=True, capture_output=True, timeout=600)
    loaded = keras.saving.load_model(tmp_path / "latent.keras")
    expected = np.load(tmp_path / "outputs.npz")
    scores = loaded.score(expected["latents"], np.array([0.1, 0.7], "float32"), labels=np.array([2, 9]))
    np.testing.assert_allclose(to_numpy(scores), expected["scores"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(to_numpy(loaded.decode(expected["latents"])), expected["images"], atol=1e-5)


def test_the_autoencoders_levels_follow_the_image_size():
    # f = 4 up to 32 pixels a side, f = 8 above: the latent grid stays small for the U-Net.
    for image_shape, latent_shape in (((28, 28, 1), (7, 7, 4)), ((32, 32, 3), (8, 8, 4)), ((64, 64, 3), (8, 8, 4)),
                                      ((64, 48, 1), (8, 6, 4)), ((24, 32, 1), (6, 8, 4))):
        assert Autoencoder(image_shape).latent_shape == latent_shape, image_shape
    non_square = Autoencoder((64, 48, 3))
    images = np.random.default_rng(0).random((2, 64, 48, 3), dtype=np.float32)
    assert tuple(non_square.encode(images).shape) == (2, 8, 6, 4)
    assert tuple(non_square(images).shape) == (2, 64, 48, 3)


def test_bad_latent_inputs_get_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="does not divide a 30x30 image; pad or resize the images to 32x32"):
        Autoencoder(image_shape=(30, 30, 1), channels=TINY_AUTOENCODER)
    with pytest.raises(ValueError, match=r"build_unet\(\(7, 7, 4\)"):
        LatentScoreModel(Autoencoder(channels=TINY_AUTOENCODER), build_unet((28, 28, 1), channels=(8,)))
    pixel = tmp_path / "pixel.keras"
    small_model().save(pixel)
    other_shape = tmp_path / "other.keras"
    Autoencoder(image_shape=(32, 32, 1), channels=TINY_AUTOENCODER).save(other_shape)
    common = ["train", "--latent", "--data", str(FIXTURE), "--epochs", "1", "--steps-per-epoch", "1",
              "--batch-size", "8", "--verbose", "0"]
    for autoencoder, message in ((pixel, "not an Autoencoder"), (other_shape, "encodes (32, 32, 1) images")):
        result = CliRunner().invoke(main, [*common, "--autoencoder", str(autoencoder),
                                           "--output-dir", str(tmp_path / "run")])
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], result.output
    result = CliRunner().invoke(main, [*common, "--patch-size", "2", "--output-dir", str(tmp_path / "p")])
    assert result.exit_code == 2 and "must divide" in result.output, result.output


def test_the_exported_copy_of_a_latent_model_samples_the_same_digits(trained, tmp_path):
    from keras_sgm.models.presets import inference_copy

    model = trained[1]
    model.keep_guide()  # a run's own guide, which the copy must keep with its weights
    try:
        inference_copy(model).save(tmp_path / "exported.keras")
        exported = keras.saving.load_model(tmp_path / "exported.keras")
        assert isinstance(exported, LatentScoreModel) and exported.ema_network is None
        for view in (lambda m: m.guided(guide="none"), lambda m: m.guided()):  # raw, then autoguided
            ours, _ = edm_heun(view(model), 4, steps=3, seed=0)
            theirs, _ = edm_heun(view(exported), 4, steps=3, seed=0)
            np.testing.assert_allclose(to_numpy(theirs), to_numpy(ours), atol=1e-5)
    finally:
        model.guide_network = None


def test_fine_tuning_a_latent_model_keeps_its_autoencoder_and_network(trained, tmp_path):
    from keras_sgm.models.saving import load_model
    from keras_sgm.models.unet import unet_arguments

    autoencoder = trained[0]
    source = LatentScoreModel(autoencoder, build_unet(autoencoder.latent_shape, channels=TINY_LATENT_UNET,
                                                      num_classes=10), seed=1)
    source.save(tmp_path / "source.keras")
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", "--data", str(FIXTURE), "--init-weights",
                                       str(tmp_path / "source.keras"), "--epochs", "1",
                                       "--steps-per-epoch", "1", "--batch-size", "8",
                                       "--output-dir", str(run), "--verbose", "0", "--num-samples", "1"])
    assert result.exit_code == 0, result.output
    # Its score network only knows these latents: no new autoencoder is trained.
    assert not (run / "autoencoder.keras").exists()
    tuned = load_model(run / "model.keras")
    assert isinstance(tuned, LatentScoreModel)
    assert unet_arguments(tuned.network) == unet_arguments(source.network)
    for kept, original in zip(tuned.autoencoder.get_weights(), autoencoder.get_weights()):
        np.testing.assert_array_equal(kept, original)


def test_the_reconstruction_report_measures_what_training_improves(trained, test_digits):
    from keras_sgm.evaluation.evaluate import reconstruction_report

    images, labels = test_digits[0][:200], test_digits[1][:200]
    after = reconstruction_report(trained[0], images, labels)
    before = reconstruction_report(tiny_autoencoder(), images, labels)
    assert after["reconstructions"].shape == images.shape
    # (200 digits are too few for a meaningful FID of 128 features: the benchmark measures it.)
    assert after["mse"] < 0.5 * before["mse"] and after["psnr"] > before["psnr"] + 3.0


class Crash(Exception):
    """Stands for a kill just after a checkpoint was written."""


def _losses(path):
    with open(path) as file:
        return [float(row["loss"]) for row in csv.DictReader(file)]


@pytest.mark.skipif(keras.backend.backend() != "torch",
                    reason="the stages' resume is the recipe's logic, tested where it runs fastest (PyTorch 50 s, "
                           "JAX 86 s, TensorFlow 114 s); test_reliability's killed run covers each backend")
def test_an_interrupted_latent_run_resumes_each_stage_and_ends_like_an_uninterrupted_one(tmp_path, monkeypatch):
    from keras_sgm.recipes import training
    from keras_sgm.recipes.callbacks import HistoryCSV
    from keras_sgm.recipes.config import TrainingConfig

    options = dict(data=str(FIXTURE), epochs=2, autoencoder_epochs=2, batch_size=16, steps_per_epoch=4,
                   channels=TINY_LATENT_UNET, latent=True, num_samples=4, verbose=0)
    training.train(TrainingConfig(output_dir=tmp_path / "whole", **options))

    # A kill once each stage's first epoch is saved and logged, then the same command again.
    logged = HistoryCSV.on_epoch_end
    for stage in ("autoencoder_history.csv", "history.csv"):
        def crash_after_the_first_epoch(self, epoch, logs=None, stage=stage):
            logged(self, epoch, logs)
            if self.path.name == stage and epoch == 0:
                raise Crash

        monkeypatch.setattr(HistoryCSV, "on_epoch_end", crash_after_the_first_epoch)
        with pytest.raises(Crash):
            training.train(TrainingConfig(output_dir=tmp_path / "cut", **options))
    monkeypatch.setattr(HistoryCSV, "on_epoch_end", logged)
    training.train(TrainingConfig(output_dir=tmp_path / "cut", **options))

    # Every epoch once, none lost, none redone. The autoencoder's first epoch is the
    # same to the last digits; after its resume a fresh `fit` shuffles the batches
    # anew, so its second epoch, and the score model trained on its latents, follow
    # the uninterrupted run closely but not to the bit.
    for history, first_epoch in (("autoencoder_history.csv", 1e-4), ("history.csv", 1e-2)):
        whole, cut = _losses(tmp_path / "whole" / history), _losses(tmp_path / "cut" / history)
        assert len(cut) == len(whole) == 2, history
        assert cut[0] == pytest.approx(whole[0], rel=first_epoch), history
        assert cut[-1] == pytest.approx(whole[-1], rel=0.3), history
    resumed = keras.saving.load_model(tmp_path / "cut" / "model.keras")
    assert isinstance(resumed, LatentScoreModel) and int(to_numpy(resumed.optimizer.iterations)) == 8
