"""Mixed precision: bfloat16 arithmetic, float32 weights, loss and samplers."""

import keras
import numpy as np

import keras_sgm
from tests.conftest import SMALL_CHANNELS, to_numpy


def _model(dtype, seed=0):
    keras.utils.set_random_seed(seed)
    network = keras_sgm.build_unet(channels=SMALL_CHANNELS, embed_dim=32, num_classes=10, dtype=dtype)
    model = keras_sgm.ScoreModel(network, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    return model


def test_a_mixed_precision_model_computes_the_float32_score_up_to_bfloat16_rounding():
    full, mixed = _model(None), _model("mixed_bfloat16")
    mixed.network.set_weights(full.network.get_weights())
    mixed.ema_network.set_weights(full.ema_network.get_weights())
    assert all(w.dtype == "float32" for w in mixed.network.weights)
    assert mixed.network.get_layer("down1_conv").compute_dtype == "bfloat16"

    rng = np.random.default_rng(0)
    images = rng.random((8, 28, 28, 1), dtype=np.float32)
    times = np.linspace(0.02, 1.0, 8, dtype=np.float32)
    expected = to_numpy(full.score(images, times, labels=np.arange(8)))
    scores = mixed.score(images, times, labels=np.arange(8))
    assert keras.backend.standardize_dtype(scores.dtype) == "float32"
    error = np.abs(to_numpy(scores) - expected).max() / np.abs(expected).max()
    assert 0 < error < 0.05, error


def test_mixed_precision_training_lowers_the_loss_and_keeps_its_policy(digits, tmp_path):
    images, labels = digits
    model = _model("mixed_bfloat16")
    losses = model.fit(images, labels, batch_size=64, epochs=4, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.8 * losses[0], losses

    model.save(tmp_path / "mixed.keras")
    reloaded = keras.saving.load_model(tmp_path / "mixed.keras")
    assert reloaded.network.get_layer("down1_conv").compute_dtype == "bfloat16"
    assert reloaded.network.get_layer("output_conv").compute_dtype == "float32"
    probe = images[:4].astype("float32") / 255.0, np.full((4,), 0.3, "float32")
    np.testing.assert_allclose(to_numpy(reloaded.score(*probe)), to_numpy(model.score(*probe)), rtol=1e-5, atol=1e-5)
