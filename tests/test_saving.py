import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_sgm import ScoreModel, VESchedule
from keras_sgm.models.saving import CheckpointError, load_model
from tests.conftest import NEXT_BACKEND, small_model, to_numpy
from tests.helpers.save_on_backend import fixed_inputs


def test_save_and_load_round_trip_everything(digits, tmp_path):
    model = small_model(seed=2)
    model.schedule = VESchedule(20.0)
    model.fit(digits[0][:64], batch_size=32, epochs=2, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)

    assert isinstance(loaded, ScoreModel)
    assert loaded.schedule.sigma == 20.0 and loaded.eps == model.eps
    assert loaded.ema_decay == model.ema_decay
    for name in ("network", "ema_network"):
        for saved, restored in zip(getattr(model, name).weights, getattr(loaded, name).weights):
            np.testing.assert_array_equal(to_numpy(saved), to_numpy(restored), err_msg=name)
    assert len(loaded.optimizer.variables) == len(model.optimizer.variables)
    for saved, restored in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(to_numpy(saved), to_numpy(restored))
    images, times = fixed_inputs()
    np.testing.assert_array_equal(to_numpy(model.score(images, times)), to_numpy(loaded.score(images, times)))
    # The restored model keeps training from where it stopped.
    loaded.fit(digits[0][:32], batch_size=32, epochs=1, verbose=0)
    assert int(to_numpy(loaded.optimizer.iterations)) == int(to_numpy(model.optimizer.iterations)) + 1


def test_a_file_saved_on_another_backend_gives_the_same_scores(backend, tmp_path):
    env = {**os.environ, "KERAS_BACKEND": NEXT_BACKEND[backend]}
    script = pathlib.Path(__file__).parent / "helpers" / "save_on_backend.py"
    subprocess.run([sys.executable, str(script), str(tmp_path)], env=env, check=True,
                   capture_output=True, timeout=600)
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    expected = np.load(tmp_path / "scores.npy")
    actual = to_numpy(loaded.score(*fixed_inputs()))
    assert np.max(np.abs(actual - expected)) <= 1e-4


def test_the_package_loader_restores_every_weight_and_names_a_broken_file(tmp_path):
    model = small_model(seed=3, num_classes=10)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = load_model(path, compile=True)
    for saved, restored in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(to_numpy(saved), to_numpy(restored), err_msg=saved.path)
    np.testing.assert_array_equal(to_numpy(loaded.seed_generator.state), to_numpy(model.seed_generator.state))
    (tmp_path / "broken.keras").write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(CheckpointError, match="broken.keras"):
        load_model(tmp_path / "broken.keras")
