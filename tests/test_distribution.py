import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests.conftest import FIXTURE


def _run(script, tmp_path):
    out = tmp_path / "runs.npz"
    result = subprocess.run([sys.executable, str(pathlib.Path(__file__).parent / "helpers" / script), str(out)],
                            env=os.environ.copy(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return np.load(out)


@pytest.fixture(scope="module")
def data_parallel_runs(tmp_path_factory):
    if keras.backend.backend() != "jax":
        pytest.skip("keras.distribution.DataParallel is JAX-only in Keras 3")
    return _run("data_parallel_run.py", tmp_path_factory.mktemp("data_parallel"))


def test_data_parallel_training_matches_single_device(data_parallel_runs):
    runs = data_parallel_runs
    np.testing.assert_allclose(runs["parallel_loss"], runs["single_loss"], rtol=1e-4)
    weights = sorted(k for k in runs if k.startswith("single_") and k != "single_loss")
    assert weights
    for key in weights:
        np.testing.assert_allclose(runs[key.replace("single", "parallel")], runs[key], rtol=1e-3, atol=1e-5)


def test_data_parallel_sampling_and_encoding_split_the_batch_and_match_one_device(data_parallel_runs):
    runs = data_parallel_runs
    # Each of the 2 devices works on half the batch, not on a replicated whole.
    assert list(runs["images_per_device"]) == [4, 4]
    assert runs["single_samples"].shape == (8, 28, 28, 1) and runs["single_latents"].shape[0] == 20
    np.testing.assert_allclose(runs["parallel_samples"], runs["single_samples"], atol=1e-4)
    np.testing.assert_allclose(runs["parallel_latents"], runs["single_latents"], atol=1e-5)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.distribute needs TensorFlow")
def test_a_mirrored_step_is_the_mean_of_the_replicas_steps_each_with_its_own_noise(tmp_path):
    runs = _run("mirrored_run.py", tmp_path)
    assert runs["replicas"] == 2
    first, second = runs["replica_losses"]
    np.testing.assert_allclose(runs["loss"], (first + second) / 2, rtol=1e-5)
    weights = sorted(k for k in runs if k.startswith("mirrored_"))
    assert weights
    for key in weights:
        np.testing.assert_allclose(runs[key], runs[key.replace("mirrored", "replayed")], rtol=1e-4, atol=1e-5)


def test_a_cpu_is_split_into_replicas_that_each_keep_enough_images_and_divide_the_batch():
    from keras_sgm.backend.distribution import MIN_REPLICA_BATCH, cpu_replicas

    assert cpu_replicas(128, cores=2) == 4  # two per core
    assert cpu_replicas(128, cores=8) == 128 // MIN_REPLICA_BATCH
    assert cpu_replicas(96, cores=2) == 3
    assert cpu_replicas(100, cores=2) == 2  # 3 does not divide 100
    assert cpu_replicas(16, cores=2) == 1


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="JAX distributes")
def test_distribution_the_backend_cannot_give_is_a_one_line_error_before_any_file(tmp_path, monkeypatch):
    from tests.test_cli import assert_usage_error, invoke

    out = tmp_path / "run"
    common = ("train", "--data", FIXTURE, "--batch-size", 16, "--steps-per-epoch", 1, "--epochs", 1,
              "--output-dir", out, "--verbose", 0)
    if keras.backend.backend() == "torch":
        assert_usage_error(invoke(*common, "--distribute", "on"), "torch backend has no data parallelism")
    monkeypatch.setenv("KERAS_DISTRIBUTION_NUM_PROCESSES", "2")
    assert_usage_error(invoke(*common), "need KERAS_BACKEND=jax")
    assert not out.exists()


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="the JAX split of the CPU")
def test_a_batch_that_does_not_split_over_the_devices_is_a_one_line_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "keras_sgm.cli", "train", "--data", str(FIXTURE), "--batch-size", "30",
         "--distribute", "on", "--output-dir", str(tmp_path / "run")],
        env=dict(os.environ, JAX_NUM_CPU_DEVICES="4"), capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Error: batch_size=30 does not split over 4 devices; use a multiple of 4." in result.stderr
    assert not (tmp_path / "run").exists()


MULTI_PROCESS_RUN = pathlib.Path(__file__).parent / "helpers" / "multi_process_run.py"


def _free_port():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _launch(output_dir, epochs, processes, kill_chief_after=None):
    """Runs `multi_process_run.py` as a job of `processes` processes on the loopback address;
    returns each one's exit code and log."""
    address, runs = f"127.0.0.1:{_free_port()}", []
    for process_id in range(processes):
        env = dict(os.environ)
        if processes > 1:
            env.update(KERAS_DISTRIBUTION_JOB_ADDRESSES=address, KERAS_DISTRIBUTION_NUM_PROCESSES=str(processes),
                       KERAS_DISTRIBUTION_PROCESS_ID=str(process_id))
        args = [sys.executable, str(MULTI_PROCESS_RUN), str(output_dir), str(epochs)]
        if kill_chief_after and process_id == 0:
            args.append(str(kill_chief_after))
        log = open(pathlib.Path(output_dir).parent / f"{pathlib.Path(output_dir).name}-{process_id}.log", "w+")
        runs.append((subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT), log))
    results = []
    for process, log in runs:
        code = process.wait(timeout=600)
        log.seek(0)
        results.append((code, log.read()))
        log.close()
    return results


def _weights(checkpoint):
    model = keras.saving.load_model(checkpoint, compile=False)
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


def _losses(run):
    lines = (run / "history.csv").read_text().strip().splitlines()[1:]
    return [float(line.split(",")[1]) for line in lines]


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="Keras joins several processes on JAX only")
def test_two_processes_killed_and_rerun_train_the_weights_of_one_process_with_the_whole_batch(tmp_path):
    (one_code, one_log), = _launch(tmp_path / "one", 2, processes=1)
    assert one_code == 0, one_log[-3000:]

    # A process that dies fails the whole job, and says how to resume.
    run = tmp_path / "two"
    (chief_code, _), (other_code, other_log) = _launch(run, 2, processes=2, kill_chief_after=1)
    assert chief_code != 0 and other_code != 0, other_log[-3000:]
    # Our message, or JAX's when its coordination service ends the process first.
    assert "process 1 of 2 stopped" in other_log or "another task died" in other_log, other_log[-3000:]
    assert "the same command on every host then resumes from the last checkpoint" in other_log
    assert len(_losses(run)) == 1 and keras.saving.load_model(run / "model.keras", compile=False)

    # The same command again resumes, and ends where one process with the whole batch does.
    (chief_code, chief_log), (other_code, other_log) = _launch(run, 2, processes=2)
    assert chief_code == 0 and other_code == 0, chief_log[-3000:] + other_log[-3000:]
    assert f"resuming from {run / 'model.keras'} after epoch 1" in chief_log
    assert "training on 2 replicas (DataParallel), 2 processes" in chief_log
    assert "Epoch" not in other_log, "only process 0 reports"
    np.testing.assert_allclose(_losses(run), _losses(tmp_path / "one"), rtol=1e-5)
    for single, parallel in zip(_weights(tmp_path / "one" / "model.keras"), _weights(run / "model.keras"), strict=True):
        np.testing.assert_allclose(parallel, single, rtol=0, atol=1e-5)
    resumed = keras.saving.load_model(run / "model.keras")
    assert int(keras.ops.convert_to_numpy(resumed.optimizer.iterations)) == 6
