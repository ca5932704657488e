import csv
import math
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import keras_sgm
from keras_sgm.cli import main
from keras_sgm.diffusion.guidance import DEFAULT_GUIDANCE
from keras_sgm.models.unet import unet_arguments
from keras_sgm.sampling.sample import SAMPLERS, sample
from tests.conftest import FIXTURE, small_model


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "tiny.keras"
    small_model(seed=9).save(path)
    return path


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_usage_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for fragment in fragments:
        assert fragment in result.output


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and keras_sgm.__version__ in result.output


def test_info_names_the_active_backend_and_its_version():
    result = invoke("info")
    assert result.exit_code == 0, result.output
    assert f"backend    {keras.backend.backend()}" in result.output
    assert keras.__version__ in result.output and "devices" in result.output


def test_train_takes_the_training_config_with_its_defaults(monkeypatch, tmp_path):
    import dataclasses

    from keras_sgm.recipes import training
    from keras_sgm.recipes.config import DEFAULTS

    configs = []
    monkeypatch.setattr(training, "train", configs.append)
    assert invoke("train", "--output-dir", tmp_path / "run").exit_code == 0
    assert configs == [dataclasses.replace(DEFAULTS, output_dir=str(tmp_path / "run"))]


def test_cli_offers_every_sampler_with_its_help():
    from keras_sgm.cli.sampling import sample

    option = next(param for param in sample.params if param.name == "sampler")
    assert sorted(option.type.choices) == sorted(SAMPLERS)
    assert all(f"{name}:" in option.help for name in SAMPLERS)


@pytest.mark.parametrize("sampler", sorted(set(SAMPLERS) - {"consistency"}))  # its model: test_consistency
def test_sample_writes_a_png_grid_and_the_raw_images(checkpoint, tmp_path, sampler):
    out, npz = tmp_path / "grid.png", tmp_path / "raw.npz"
    result = invoke("sample", "--checkpoint", checkpoint, "--num", 5, "--sampler", sampler,
                    "--steps", 3, "--seed", 1, "--out", out, "--npz", npz, "--no-progress")
    assert result.exit_code == 0, result.output
    assert f"5 unconditional digits with {sampler}" in result.output
    images = np.load(npz)["images"]
    assert images.shape == (5, 28, 28, 1) and 0 <= images.min() and images.max() <= 1
    grid = np.asarray(Image.open(out))
    assert grid.ndim == 2 and grid.shape[0] > 2 * 28 and grid.max() > 0


def test_sample_batches_do_not_change_the_count(checkpoint, tmp_path):
    npz = tmp_path / "raw.npz"
    result = invoke("sample", "--checkpoint", checkpoint, "--num", 5, "--batch-size", 2,
                    "--steps", 2, "--out", tmp_path / "g.png", "--npz", npz, "--no-progress")
    assert result.exit_code == 0, result.output
    assert np.load(npz)["images"].shape[0] == 5


def test_sample_errors_are_one_line_with_exit_code_2(checkpoint, tmp_path):
    assert_usage_error(invoke("sample", "--checkpoint", tmp_path / "missing.keras"), "does not exist")
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"not a zip file")
    assert_usage_error(invoke("sample", "--checkpoint", corrupt, "--out", tmp_path / "a.png"),
                       "not a .keras file")
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    assert_usage_error(invoke("sample", "--checkpoint", truncated, "--out", tmp_path / "a.png"),
                       "truncated, corrupted")
    other_zip = tmp_path / "other.keras"
    import zipfile

    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("notes.txt", "not a model")
    assert_usage_error(invoke("sample", "--checkpoint", other_zip, "--out", tmp_path / "a.png"),
                       "cannot load the checkpoint")
    assert_usage_error(invoke("sample", "--checkpoint", checkpoint, "--sampler", "ddim"), "ddim")
    assert_usage_error(invoke("sample", "--checkpoint", checkpoint, "--num", 0), "--num")
    assert_usage_error(invoke("sample", "--checkpoint", checkpoint, "--steps", -3), "--steps")
    assert_usage_error(invoke("sample", "--checkpoint", checkpoint, "--out", tmp_path / "no" / "g.png"),
                       "does not exist")
    assert_usage_error(invoke("sample", "--checkpoint", checkpoint, "--out", tmp_path), "directory")
    assert_usage_error(invoke("sample", "--checkpoint", checkpoint, "--out", tmp_path / "g.jpg"), ".png")
    assert not any(p.suffix == ".png" for p in tmp_path.iterdir())


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only folders")
def test_sample_into_a_read_only_folder_is_refused(checkpoint, tmp_path):
    tmp_path.chmod(0o500)
    try:
        assert_usage_error(invoke("sample", "--checkpoint", checkpoint, "--out", tmp_path / "g.png"),
                           "not writable")
    finally:
        tmp_path.chmod(0o700)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="what a resumed run keeps is the recipe's logic; test_reliability's killed run "
                           "covers `train` and its resume on each backend")
def test_train_runs_on_an_npz_and_resumes(tmp_path):
    common = ["train", "--data", FIXTURE, "--batch-size", 32, "--steps-per-epoch", 2, "--num-samples", 4,
              "--output-dir", tmp_path, "--verbose", 0]
    result = invoke(*common, "--epochs", 1, "--pixel", "--patch-size", 2, "--channels", "8,16", "--blocks-per-level", 1,
                    "--attention", "--dropout", 0.1)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "model.keras").exists() and (tmp_path / "samples.png").exists()
    # Resuming keeps the run's pixel space and network, although the defaults are others; it may
    # measure the samples' quality, which the history and TensorBoard then record.
    assert_usage_error(invoke(*common, "--epochs", 2, "--eval-every", 1, "--eval-num", 100, "--features", "mnist"),
                       "num=100", "at least 129")
    result = invoke(*common, "--epochs", 2, "--eval-every", 1, "--eval-num", 130, "--features", "mnist",
                    "--tensorboard")
    assert result.exit_code == 0, result.output
    with open(tmp_path / "history.csv") as file:
        epochs = list(csv.DictReader(file))
    assert [row["epoch"] for row in epochs] == ["0", "1"], "the second run did not resume"
    assert epochs[0]["fid"] == "" and all(math.isfinite(float(epochs[1][name])) for name in ("fid", "kid", "loss"))
    assert 0 <= float(epochs[1]["recognised"]) <= 1
    import tensorflow as tf

    tags = {value.tag for events in (tmp_path / "tensorboard").rglob("events.*")
            for record in tf.data.TFRecordDataset(str(events)).as_numpy_iterator()
            for value in tf.compat.v1.Event.FromString(record).summary.value}
    assert {"samples", "epoch_fid", "epoch_recognised", "epoch_loss"} <= tags
    resumed = keras.saving.load_model(tmp_path / "model.keras", compile=False)
    assert unet_arguments(resumed.network) == {"patch_size": 2, "channels": (8, 16), "blocks_per_level": 1,
                                               "attention": True, "dropout": 0.1}


def test_train_from_saved_weights_takes_their_architecture(tmp_path):
    source = keras_sgm.ScoreModel(keras_sgm.build_unet(num_classes=10, patch_size=2, channels=(8, 16, 32)),
                                  seed=3)
    source.save(tmp_path / "source.keras")
    result = invoke("train", "--data", FIXTURE, "--batch-size", 8, "--steps-per-epoch", 1, "--epochs", 1,
                    "--init-weights", tmp_path / "source.keras", "--output-dir", tmp_path / "run", "--verbose", 0,
                    "--num-samples", 1)
    assert result.exit_code == 0, result.output
    tuned = keras.saving.load_model(tmp_path / "run" / "model.keras", compile=False)
    assert unet_arguments(tuned.network)["patch_size"] == 2
    assert unet_arguments(tuned.network)["channels"] == (8, 16, 32)


def test_train_errors(tmp_path):
    assert_usage_error(invoke("train", "--epochs", 0), "--epochs")
    assert_usage_error(invoke("train", "--channels", "8,x"), "--channels", "comma-separated")
    assert_usage_error(invoke("train", "--data", FIXTURE, "--patch-size", 3, "--output-dir", tmp_path / "p",
                              "--verbose", 0), "must divide")
    assert not (tmp_path / "p").exists()
    assert_usage_error(invoke("train", "--data", tmp_path / "none.npz"), "does not exist")
    assert_usage_error(invoke("train", "--data-dir", tmp_path, "--output-dir", tmp_path / "o",
                              "--verbose", 0), "TFDS_DATA_DIR")
    # An unreadable model to start from fails in one line, before anything is printed and before the
    # autoencoder stage trains and writes anything.
    (tmp_path / "garbage.keras").write_bytes(b"not a model")
    for weights in (tmp_path / "garbage.keras", ""):
        assert_usage_error(invoke("train", "--data", FIXTURE, "--init-weights", weights, "--output-dir",
                                  tmp_path / "w"), "cannot start from")
        assert not (tmp_path / "w").exists()


def test_output_below_a_file_is_refused(checkpoint, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert_usage_error(invoke("sample", "--checkpoint", checkpoint, "--out", blocker / "g.png"),
                       "does not exist")
    assert_usage_error(invoke("train", "--output-dir", blocker / "run", "--verbose", 0),
                       "not a writable folder")


def test_evaluate_prints_the_table_and_writes_json(checkpoint, tmp_path):
    import json

    out = tmp_path / "eval.json"
    result = invoke("evaluate", "--checkpoint", checkpoint, "--num", 200, "--steps", 2,
                    "--data", FIXTURE, "--json", out, "--bpd", "--bpd-num", 2, "--bpd-tolerance", 0.05, "--calibrate",
                    "--no-progress")
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    for key in ("fid", "kid", "classifier_score", "coverage", "nfe", "seconds", "bpd", "fid_floor"):
        assert key in report and f"{key}" in json.dumps(report)
    assert "| FID (classifier features) |" in result.output and "bits/dim" in result.output
    # An untrained model is far from the digits: its FID is above the real-digit floor.
    assert report["fid"] > report["fid_floor"]


def test_evaluate_errors(checkpoint, tmp_path):
    assert_usage_error(invoke("evaluate", "--checkpoint", checkpoint, "--num", 10), "--num")
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((2, 28, 28), "uint8"))
    assert_usage_error(invoke("evaluate", "--checkpoint", checkpoint, "--data", bad,
                              "--json", tmp_path / "e.json"), "x_test")


@pytest.fixture(scope="module")
def conditional_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "conditional.keras"
    small_model(seed=9, num_classes=10).save(path)
    return path


def test_sample_digit_all_writes_one_row_per_digit(conditional_checkpoint, tmp_path):
    out, npz = tmp_path / "grid.png", tmp_path / "raw.npz"
    result = invoke("sample", "--checkpoint", conditional_checkpoint, "--label", "all", "--num", 3,
                    "--steps", 2, "--out", out, "--npz", npz, "--no-progress")
    assert result.exit_code == 0, result.output
    saved = np.load(npz)
    assert saved["images"].shape == (30, 28, 28, 1)
    assert saved["labels"].tolist() == [d for d in range(10) for _ in range(3)]
    grid = np.asarray(Image.open(out))
    assert grid.shape == (2 * (10 * 30 + 2), 2 * (3 * 30 + 2))


def test_sample_one_digit_with_guidance(conditional_checkpoint, tmp_path):
    npz = tmp_path / "raw.npz"
    common = ["sample", "--checkpoint", conditional_checkpoint, "--num", 2, "--steps", 2,
              "--out", tmp_path / "g.png", "--npz", npz, "--no-progress"]
    assert invoke(*common, "--label", 7, "--guidance", 0).exit_code == 0
    guidance_zero = np.load(npz)["images"]
    assert invoke(*common, "--label", "none").exit_code == 0
    np.testing.assert_array_equal(np.load(npz)["images"], guidance_zero)
    result = invoke(*common, "--label", 7, "--guidance", 3)
    assert result.exit_code == 0 and "7, guidance 3" in result.output
    assert not np.array_equal(np.load(npz)["images"], guidance_zero)


def test_sample_any_digit_draws_seeded_random_labels_and_records_them(conditional_checkpoint, tmp_path):
    npz = tmp_path / "raw.npz"
    common = ["sample", "--checkpoint", conditional_checkpoint, "--num", 12, "--steps", 2,
              "--out", tmp_path / "g.png", "--npz", npz, "--no-progress"]
    result = invoke(*common, "--label", "any")
    assert result.exit_code == 0 and f"random classes, guidance {DEFAULT_GUIDANCE:g}" in result.output
    drawn = np.load(npz)
    assert len(set(drawn["labels"].tolist())) > 3 and set(drawn["labels"].tolist()) <= set(range(10))
    invoke(*common, "--label", "any", "--seed", 1)
    assert not np.array_equal(np.load(npz)["labels"], drawn["labels"])
    # The recorded labels are the ones the digits were drawn with.
    model = keras.saving.load_model(conditional_checkpoint, compile=False)
    expected, _, _ = sample(model, 12, steps=2, seed=0, labels=drawn["labels"], guidance=DEFAULT_GUIDANCE)
    np.testing.assert_allclose(drawn["images"], expected, atol=1e-5)


def test_sample_without_digit_guides_random_digits_of_a_conditional_model(conditional_checkpoint, tmp_path):
    common = ["sample", "--checkpoint", conditional_checkpoint, "--num", 6, "--steps", 2,
              "--out", tmp_path / "g.png", "--no-progress"]
    result = invoke(*common, "--npz", tmp_path / "default.npz")
    assert result.exit_code == 0 and f"random classes, guidance {DEFAULT_GUIDANCE:g}" in result.output
    invoke(*common, "--npz", tmp_path / "any.npz", "--label", "any")
    default, any_digit = np.load(tmp_path / "default.npz"), np.load(tmp_path / "any.npz")
    np.testing.assert_array_equal(default["labels"], any_digit["labels"])
    np.testing.assert_array_equal(default["images"], any_digit["images"])
    # One option away: the unconditional path.
    result = invoke(*common, "--npz", tmp_path / "none.npz", "--label", "none")
    assert result.exit_code == 0 and "6 unconditional digits" in result.output
    assert "labels" not in np.load(tmp_path / "none.npz")


def test_digit_errors(checkpoint, conditional_checkpoint, tmp_path):
    out = tmp_path / "g.png"
    assert_usage_error(invoke("sample", "--checkpoint", checkpoint, "--label", 3, "--out", out),
                       "class-conditional")
    assert_usage_error(invoke("sample", "--checkpoint", conditional_checkpoint, "--label", "ten"),
                       "'ten' is not a class of this model; its classes are 0, 1, 2")
    assert_usage_error(invoke("sample", "--checkpoint", conditional_checkpoint, "--label", "-1"), "0..9")
    assert_usage_error(invoke("sample", "--checkpoint", conditional_checkpoint, "--label", 10), "0..9")
    assert_usage_error(invoke("sample", "--checkpoint", conditional_checkpoint, "--label", 3,
                              "--guidance", -1), "--guidance")


@pytest.fixture(scope="module")
def digit_png(tmp_path_factory, test_digits):
    path = tmp_path_factory.mktemp("png") / "digit.png"
    Image.fromarray(test_digits[0][0, ..., 0]).save(path)
    return path


def test_inpaint_keeps_the_known_half_and_writes_the_grid(conditional_checkpoint, digit_png, tmp_path):
    out, npz = tmp_path / "inpainted.png", tmp_path / "raw.npz"
    result = invoke("inpaint", "--checkpoint", conditional_checkpoint, "--image", digit_png, "--keep", "top",
                    "--num", 3, "--steps", 3, "--resample", 2, "--label", 7, "--out", out, "--npz", npz,
                    "--no-progress")
    assert result.exit_code == 0, result.output
    assert "(6 NFE each)" in result.output
    completed = np.load(npz)["images"]
    known = np.asarray(Image.open(digit_png), dtype="float32")[None, :, :, None] / 255.0
    np.testing.assert_allclose(completed[:, :14], np.repeat(known, 3, axis=0)[:, :14], atol=1e-6)
    assert np.asarray(Image.open(out)).shape == (2 * 32, 2 * (4 * 30 + 2))


def test_inpaint_with_a_mask_png(conditional_checkpoint, digit_png, tmp_path):
    mask = np.zeros((28, 28), "uint8")
    mask[:, :10] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    npz = tmp_path / "raw.npz"
    result = invoke("inpaint", "--checkpoint", conditional_checkpoint, "--image", digit_png,
                    "--mask", tmp_path / "mask.png", "--num", 2, "--steps", 2,
                    "--out", tmp_path / "i.png", "--npz", npz, "--no-progress")
    assert result.exit_code == 0, result.output
    known = np.asarray(Image.open(digit_png), dtype="float32") / 255.0
    np.testing.assert_allclose(np.load(npz)["images"][:, :, :10, 0], np.stack([known[:, :10]] * 2), atol=1e-6)


def test_inpaint_errors(conditional_checkpoint, digit_png, tmp_path):
    common = ["inpaint", "--checkpoint", conditional_checkpoint, "--out", tmp_path / "i.png"]
    Image.open(digit_png).convert("RGB").save(tmp_path / "rgb.png")
    assert_usage_error(invoke(*common, "--image", tmp_path / "rgb.png", "--keep", "top"), "mode RGB")
    Image.new("L", (32, 32)).save(tmp_path / "big.png")
    assert_usage_error(invoke(*common, "--image", tmp_path / "big.png", "--keep", "top"), "32x32", "28x28")
    (tmp_path / "text.png").write_text("not an image")
    assert_usage_error(invoke(*common, "--image", tmp_path / "text.png", "--keep", "top"), "cannot read the image")
    assert_usage_error(invoke(*common, "--image", tmp_path / "none.png", "--keep", "top"), "cannot read the image")
    assert_usage_error(invoke(*common, "--image", digit_png), "exactly one of --keep")
    Image.new("L", (28, 28)).save(tmp_path / "black.png")
    assert_usage_error(invoke(*common, "--image", digit_png, "--mask", tmp_path / "black.png"), "no pixel")
    assert_usage_error(invoke(*common, "--image", digit_png, "--keep", "middle"), "--keep")
    assert not (tmp_path / "i.png").exists()


def test_a_checkpoint_for_another_image_shape_is_refused(digit_png, tmp_path):
    path = tmp_path / "rgb32.keras"
    small_model(image_shape=(32, 32, 3)).save(path)
    assert_usage_error(invoke("inpaint", "--checkpoint", path, "--image", digit_png, "--keep", "top",
                              "--out", tmp_path / "i.png"), "needs RGB (mode RGB)")
    assert_usage_error(invoke("evaluate", "--checkpoint", path, "--data", FIXTURE,
                              "--json", tmp_path / "e.json"), "28x28x1")


def test_evaluate_conditional_reports_how_often_the_requested_digit_is_drawn(conditional_checkpoint, tmp_path):
    import json

    out = tmp_path / "eval.json"
    result = invoke("evaluate", "--checkpoint", conditional_checkpoint, "--num", 200, "--steps", 2,
                    "--conditional", "--guidance", 1.5, "--data", FIXTURE, "--json", out, "--no-progress")
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert 0.0 <= report["label_accuracy"] <= 1.0 and report["guidance"] == 1.5
    assert "recognised as the requested class" in result.output and "| guidance | classifier-free, 1.5 |" in result.output
    # Autoguided instead, by a guide (here the model itself) in an interval of noise levels.
    result = invoke("evaluate", "--checkpoint", conditional_checkpoint, "--num", 200, "--steps", 2, "--conditional",
                    "--guide", conditional_checkpoint, "--guide-interval", "0.1,2", "--data", FIXTURE, "--json", out,
                    "--no-progress")
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["autoguidance"] == 2.0 and report["guide_interval"] == [0.1, 2.0] and "guidance" not in report
    assert "| guidance | autoguidance 2 by " in result.output and "at noise levels 0.1 to 2 |" in result.output
    assert_usage_error(invoke("evaluate", "--checkpoint", conditional_checkpoint.parent / "missing.keras",
                              "--conditional", "--json", tmp_path / "e.json"), "does not exist")


def test_churn_is_for_the_heun_sampler(checkpoint, tmp_path):
    out = tmp_path / "g.png"
    result = invoke("sample", "--checkpoint", checkpoint, "--num", 2, "--steps", 2, "--churn", 10,
                    "--out", out, "--no-progress")
    assert result.exit_code == 0, result.output
    assert_usage_error(invoke("sample", "--checkpoint", checkpoint, "--sampler", "euler", "--churn", 10,
                              "--out", out), "heun sampler only")


HELP_WITHOUT_A_BACKEND = """
import sys
sys.argv = ["keras-sgm", *sys.argv[1:]]
from keras_sgm.cli import main
try:
    main()
except SystemExit:
    pass
print("imported:", sorted(m for m in ("keras", "tensorflow", "jax", "torch") if m in sys.modules))
"""


@pytest.mark.parametrize("command", [[], ["sample"], ["train"], ["evaluate"]])
def test_help_imports_no_backend(command):
    result = subprocess.run([sys.executable, "-c", HELP_WITHOUT_A_BACKEND, *command, "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "Usage: keras-sgm" in result.stdout, result.stderr
    assert result.stdout.strip().endswith("imported: []"), result.stdout[-300:]


@pytest.mark.skipif(keras.backend.backend() == "tensorflow", reason="TensorFlow is the backend there")
def test_sampling_the_shipped_model_on_jax_and_torch_does_not_import_tensorflow(tmp_path):
    """TensorFlow takes seconds to import and only reads data; `keras-sgm sample` needs none."""
    result = subprocess.run([sys.executable, "-c", HELP_WITHOUT_A_BACKEND, "sample", "--num", "2", "--steps", "2",
                             "--out", str(tmp_path / "grid.png"), "--no-progress"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and (tmp_path / "grid.png").exists(), result.stderr[-2000:]
    imported = result.stdout.strip().splitlines()[-1]
    assert imported.startswith("imported:") and "tensorflow" not in imported, result.stdout


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="XLA's compilation cache is JAX's")
def test_commands_on_jax_keep_their_compiled_programs_for_the_next_one(checkpoint, tmp_path):
    command = [str(pathlib.Path(sys.executable).with_name("keras-sgm")), "sample", "--checkpoint", str(checkpoint),
               "--num", "2", "--steps", "2", "--out", str(tmp_path / "grid.png"), "--no-progress"]
    environment = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    environment.pop("JAX_COMPILATION_CACHE_DIR", None)
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
    assert result.returncode == 0, result.stderr[-2000:]
    cached = sorted(path.name for path in (tmp_path / "cache" / "keras-sgm" / "jax").iterdir())
    assert len(cached) > 5, cached
    # The second run finds every program it needs there: it compiles, and so adds, nothing.
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(path.name for path in (tmp_path / "cache" / "keras-sgm" / "jax").iterdir()) == cached


def test_the_installed_command_samples_quietly(checkpoint, tmp_path):
    command = pathlib.Path(sys.executable).with_name("keras-sgm")
    result = subprocess.run([str(command), "sample", "--checkpoint", str(checkpoint), "--num", "2", "--steps", "2",
                             "--out", str(tmp_path / "grid.png"), "--no-progress"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "grid.png").exists() and "2 unconditional digits with heun" in result.stdout
    assert "cuInit" not in result.stderr and "oneDNN" not in result.stderr, result.stderr[-2000:]


def test_the_installed_command_keeps_exit_codes_and_messages(tmp_path):
    """`keras-sgm` leaves without the interpreter's teardown; its codes and output must survive."""
    command = str(pathlib.Path(sys.executable).with_name("keras-sgm"))
    result = subprocess.run([command, "sample", "--nmu", "2"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "No such option '--nmu'" in result.stderr, result.stderr
    missing = tmp_path / "missing.keras"
    result = subprocess.run([command, "sample", "--checkpoint", str(missing), "--out", str(tmp_path / "grid.png")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and str(missing) in result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "grid.png").exists()
