"""Killed runs resume, bad losses stop cleanly, and training is deterministic."""

import csv
import signal
import subprocess
import sys
import time

import keras
import numpy as np
from click.testing import CliRunner

from keras_sgm.cli import main
from tests.conftest import FIXTURE, small_model, to_numpy

STEPS = 20
EPOCHS = 2


def _train_command(output_dir, epochs, steps=STEPS):
    # Pixel space: test_latent covers the resumes of a latent run's two stages.
    return [sys.executable, "-m", "keras_sgm.cli", "train", "--pixel", "--data", str(FIXTURE), "--epochs", str(epochs),
            "--batch-size", "8", "--steps-per-epoch", str(steps), "--channels", "8,16,32",
            "--num-samples", "4", "--output-dir", str(output_dir), "--verbose", "2"]


def _history(output_dir):
    with open(output_dir / "history.csv") as file:
        return [(int(row["epoch"]), float(row["loss"])) for row in csv.DictReader(file)]


def test_a_killed_run_resumes_from_its_last_checkpoint_and_finishes(tmp_path):
    killed = tmp_path / "killed"
    process = subprocess.Popen(_train_command(killed, EPOCHS), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while time.time() < deadline and process.poll() is None:
        if (killed / "history.csv").exists() and len(_history(killed)) >= 1:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert _history(killed)[0][0] == 0 and len(_history(killed)) < EPOCHS, "the kill missed the run"
    finished = len(_history(killed))
    # The checkpoint left by the kill is whole.
    assert isinstance(keras.saving.load_model(killed / "model.keras"), keras.Model)

    resumed = subprocess.run(_train_command(killed, EPOCHS), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming from {killed / 'model.keras'} after epoch {finished}" in resumed.stdout
    epochs = [epoch for epoch, _ in _history(killed)]
    assert epochs == list(range(EPOCHS)), epochs  # every epoch once: none lost, none redone
    model = keras.saving.load_model(killed / "model.keras")
    assert int(to_numpy(model.optimizer.iterations)) == EPOCHS * STEPS

    losses = [loss for _, loss in _history(killed)]
    # The resumed epoch trained on from the killed run's weights and optimizer (the same seed's
    # first step is test_the_same_seed_gives_an_identical_first_training_step's).
    assert np.isfinite(losses).all() and losses[-1] < losses[0], losses


def test_a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    common = ["train", "--pixel", "--data", str(FIXTURE), "--batch-size", "16", "--steps-per-epoch", "3",
              "--channels", "8,16,32", "--num-samples", "1", "--output-dir", str(tmp_path), "--verbose", "0"]
    assert CliRunner().invoke(main, [*common, "--epochs", "1"]).exit_code == 0
    good = (tmp_path / "model.keras").read_bytes()
    result = CliRunner().invoke(main, [*common, "--epochs", "2", "--learning-rate", "1e30"])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "the loss became nan at step" in lines[0], result.output
    assert "learning rate" in lines[0] and "last good checkpoint" in lines[0]
    assert (tmp_path / "model.keras").read_bytes() == good


def test_the_same_seed_gives_an_identical_first_training_step(digits):
    images, labels = digits
    weights = []
    for _ in range(2):
        model = small_model(seed=7, num_classes=10)
        loss = model.train_on_batch(images[:16], labels[:16], return_dict=True)["loss"]
        weights.append((loss, model.network.get_weights()))
    assert weights[0][0] == weights[1][0]
    for first, second in zip(weights[0][1], weights[1][1]):
        np.testing.assert_array_equal(first, second)


def test_a_checkpoint_restores_the_noise_generator(tmp_path, digits):
    model = small_model(seed=4)
    model.fit(digits[0][:32], batch_size=16, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(to_numpy(loaded.seed_generator.state), to_numpy(model.seed_generator.state))
