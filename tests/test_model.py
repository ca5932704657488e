import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_sgm import ScoreModel, build_unet
from tests.conftest import small_model, to_numpy


def _marginal_std(t):
    return np.sqrt((25.0 ** (2 * t) - 1) / (2 * math.log(25.0)))


@pytest.mark.parametrize("noise_distribution", ["lognormal", "uniform"])
def test_train_step_loss_equals_the_formula_with_the_same_noise(digits, noise_distribution):
    model = small_model(seed=3, noise_distribution=noise_distribution)
    images = digits[0][:16]
    weights_before = model.network.get_weights()
    state_before = to_numpy(model.seed_generator.state)

    logs = model.train_on_batch(images, return_dict=True)

    # Replay the model's random draws from a generator in the same state.
    replay = keras.random.SeedGenerator(0)
    replay.state.assign(state_before)
    if noise_distribution == "uniform":
        t = to_numpy(keras.random.uniform((16,), minval=model.eps, maxval=1.0, seed=replay))
    else:
        sigma = np.exp(-0.6 + 1.6 * to_numpy(keras.random.normal((16,), seed=replay)).astype("float64"))
        sigma = np.clip(sigma, _marginal_std(model.eps), _marginal_std(1.0))
        t = np.log1p(2 * math.log(25.0) * sigma**2) / (2 * math.log(25.0))
    z = to_numpy(keras.random.normal(images.shape, seed=replay))
    std = _marginal_std(t)[:, None, None, None]
    x0 = images.astype("float32") / 255.0
    network = keras.models.clone_model(model.network)
    network.set_weights(weights_before)
    # EDM preconditioning with sigma_data = 0.5: D = c_skip x + c_out F(c_in x), s = (D - x) / sigma^2.
    x = x0 + std * z
    variance = std**2 + 0.25
    denoised = 0.25 / variance * x + 0.5 * std / np.sqrt(variance) * to_numpy(network([x / np.sqrt(variance), t]))
    score = (denoised - x) / std**2
    expected = np.mean(np.sum((score * std + z) ** 2, axis=(1, 2, 3)))
    assert logs["loss"] == pytest.approx(expected, rel=1e-4)


def _zero_network():
    images = keras.Input((4, 4, 1))
    times = keras.Input(())
    return keras.Model([images, times], keras.layers.Lambda(lambda x: x * 0.0)(images))


def test_edm_preconditioning_makes_a_silent_network_the_score_of_gaussian_data():
    # With F = 0, D = c_skip x, the exact denoiser of N(0, sigma_data^2) data.
    model = ScoreModel(_zero_network(), ema_decay=0, sigma_data=0.3)
    x = np.random.default_rng(0).normal(size=(5, 4, 4, 1)).astype("float32")
    times = np.linspace(0.01, 1.0, 5).astype("float32")
    std = to_numpy(model.schedule.marginal_std(times))[:, None, None, None]
    np.testing.assert_allclose(to_numpy(model.score(x, times)), -x / (0.3**2 + std**2), rtol=1e-5)


def test_noise_parameterization_is_the_network_output_over_sigma(digits):
    network = small_model().network
    model = ScoreModel(network, ema_decay=0, parameterization="noise")
    x = digits[0][:3].astype("float32") / 255.0
    times = np.array([0.1, 0.5, 0.9], "float32")
    std = to_numpy(model.schedule.marginal_std(times))[:, None, None, None]
    # The score is (D - x) / sigma^2 of the denoiser D = x + sigma F: float32 round-off of x remains.
    np.testing.assert_allclose(
        to_numpy(model.score(x, times)), to_numpy(network([x, times])) / std, rtol=1e-5, atol=1e-5
    )
    with pytest.raises(ValueError, match="parameterization"):
        ScoreModel(network, parameterization="v")


def test_loss_drops_on_real_digits_within_200_steps(digits):
    model = small_model(seed=0)
    images = digits[0]
    held_out = images[:256]
    before = model.evaluate(held_out, batch_size=256, verbose=0)
    model.fit(images, batch_size=32, epochs=200 // (len(images) // 32) + 1,
              steps_per_epoch=len(images) // 32, verbose=0)
    after = model.evaluate(held_out, batch_size=256, verbose=0)
    assert after < 0.7 * before, f"loss went from {before:.1f} to {after:.1f}"


@pytest.mark.skipif(
    keras.backend.backend() == "tensorflow",
    reason="TensorFlow's stateless RNG picks another algorithm under XLA, so the noise differs",
)
def test_compiled_training_takes_the_same_steps_as_uncompiled():
    """jit_compile=True (XLA; torch.compile on PyTorch) is what long runs of
    the main job use; it must change the speed, not the training. A U-Net of
    two levels keeps the compilation short."""
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (64, 8, 8, 1), dtype="uint8"), rng.integers(0, 10, 64)
    runs = []
    for jit_compile in (False, True):
        keras.utils.set_random_seed(3)
        network = build_unet((8, 8, 1), channels=(8, 16), embed_dim=16, blocks_per_level=1, num_classes=10)
        model = ScoreModel(network, seed=3, label_dropout=0.5)
        model.compile(optimizer=keras.optimizers.Adam(2e-3), jit_compile=jit_compile)
        history = model.fit(images, labels, batch_size=32, epochs=2, shuffle=False, verbose=0)
        runs.append((history.history["loss"], [to_numpy(w) for w in model.ema_network.weights]))
    (eager_losses, eager_weights), (compiled_losses, compiled_weights) = runs
    np.testing.assert_allclose(compiled_losses, eager_losses, rtol=1e-4)
    for compiled, eager in zip(compiled_weights, eager_weights):
        np.testing.assert_allclose(compiled, eager, rtol=1e-3, atol=1e-5)


def test_ema_weights_trail_the_raw_weights_and_drive_score(digits):
    model = small_model(seed=1, ema_decay=0.9)
    model.fit(digits[0][:128], batch_size=32, epochs=2, verbose=0)
    raw, ema = model.network.get_weights(), model.ema_network.get_weights()
    assert any(not np.allclose(r, e) for r, e in zip(raw, ema))
    images = np.random.RandomState(0).rand(2, 28, 28, 1).astype("float32")
    times = np.array([0.3, 0.7], "float32")
    np.testing.assert_allclose(
        to_numpy(model.score(images, times)),
        to_numpy(model.score(images, times, network=model.ema_network)),
    )
    assert not np.allclose(
        to_numpy(model.score(images, times)),
        to_numpy(model.score(images, times, network=model.network)),
    )


def test_without_ema_the_trained_raw_network_samples(digits):
    model = small_model(seed=1, ema_decay=None)
    images = np.random.RandomState(0).rand(2, 28, 28, 1).astype("float32")
    times = np.array([0.3, 0.7], "float32")
    before = to_numpy(model.score(images, times))
    model.fit(digits[0][:64], batch_size=32, epochs=1, verbose=0)
    after = to_numpy(model.score(images, times))
    assert not np.allclose(before, after)
    np.testing.assert_array_equal(after, to_numpy(model.score(images, times, network=model.network)))


def test_uint8_and_float_images_train_identically(digits):
    uint8_images = digits[0][:32]
    losses = []
    for images in (uint8_images, uint8_images.astype("float32") / 255.0):
        model = small_model(seed=5)
        losses.append(model.train_on_batch(images, return_dict=True)["loss"])
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)


def test_fit_accepts_datasets_of_images_and_of_labelled_pairs(digits):
    images, labels = digits
    images_only = tf.data.Dataset.from_tensor_slices(images[:64]).batch(32)
    pairs = tf.data.Dataset.from_tensor_slices((images[:64], labels[:64])).batch(32)
    model = small_model()
    history = model.fit(images_only, validation_data=pairs, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0]) and np.isfinite(history.history["val_loss"][0])
    history = model.fit(pairs, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_usual_callbacks_work(digits, tmp_path):
    images = digits[0][:64]
    model = small_model()
    checkpoint = tmp_path / "best.keras"
    callbacks = [
        keras.callbacks.ModelCheckpoint(str(checkpoint)),
        keras.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=1e9),
        keras.callbacks.TensorBoard(str(tmp_path / "logs")),
        keras.callbacks.BackupAndRestore(str(tmp_path / "backup")),
    ]
    history = model.fit(images, batch_size=32, epochs=5, callbacks=callbacks, verbose=0)
    # EarlyStopping with an impossible min_delta stops after patience + 1 epochs.
    assert len(history.history["loss"]) == 2
    assert isinstance(keras.saving.load_model(checkpoint), ScoreModel)
    assert any("events" in name for _, _, files in os.walk(tmp_path / "logs") for name in files)


def test_backup_and_restore_resumes_an_interrupted_fit(digits, tmp_path):
    images = digits[0][:64]

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    model = small_model()
    with pytest.raises(KeyboardInterrupt):
        model.fit(images, batch_size=32, epochs=4, callbacks=[backup, Interrupt()], verbose=0)
    resumed = small_model()
    history = resumed.fit(images, batch_size=32, epochs=4, callbacks=[backup], verbose=0)
    assert len(history.history["loss"]) == 2, "the two finished epochs were not skipped"
    assert int(to_numpy(resumed.optimizer.iterations)) == 8


def test_fit_trains_with_dropout_and_samples_without_it():
    """Dropout draws a new mask at every training step (its seed advances inside the
    compiled step on every backend) and the score the samplers read stays deterministic."""
    keras.utils.set_random_seed(0)
    network = build_unet((8, 8, 1), channels=(8, 16), embed_dim=16, blocks_per_level=1, dropout=0.3)
    model = ScoreModel(network, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    dropout_seeds = [layer.seed_generator.state for layer in network.layers
                     if isinstance(layer, keras.layers.Dropout)]
    before = [to_numpy(seed) for seed in dropout_seeds]
    images = np.random.default_rng(0).random((64, 8, 8, 1), dtype="float32")
    model.fit(images, batch_size=32, epochs=1, verbose=0)
    after = [to_numpy(seed) for seed in dropout_seeds]
    assert len(before) == 3 and all(not np.array_equal(b, a) for b, a in zip(before, after))
    times = np.array([0.3, 0.7], "float32")
    np.testing.assert_array_equal(to_numpy(model.score(images[:2], times)), to_numpy(model.score(images[:2], times)))
