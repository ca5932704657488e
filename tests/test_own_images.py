"""Training on a user's own images: folders, shapes, colours, labels by name, and bad input."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from keras_sgm.cli import main
from keras_sgm.data.sources import open_data
from tests.conftest import FIXTURE, NEXT_BACKEND
from tests.helpers.model_outputs import model_outputs

TINY = ["--epochs", "1", "--batch-size", "4", "--autoencoder-epochs", "1", "--channels", "8,16",
        "--blocks-per-level", "1", "--num-samples", "2", "--verbose", "0"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def write_images(folder, count, size, color, suffix=".png", seed=0, mode="RGB"):
    """`count` noisy images of one `color` (an RGB triple) and size `(height, width)`."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        pixels = np.clip(np.array(color) + rng.normal(0, 20, (*size, 3)), 0, 255).astype("uint8")
        Image.fromarray(pixels).convert(mode).save(folder / f"{index}{suffix}", quality=95)


@pytest.fixture(scope="module")
def pets(tmp_path_factory):
    """A folder of RGB 32x32 images in two classes, red cats (PNG) and blue dogs (JPEG), split in
    train/ (8 of each) and test/ (4 of each)."""
    root = tmp_path_factory.mktemp("pets")
    for split, count, seed in (("train", 8, 1), ("test", 4, 2)):
        write_images(root / split / "cat", count, (32, 32), (220, 40, 40), ".png", seed=seed)
        write_images(root / split / "dog", count, (32, 32), (40, 40, 220), ".jpg", seed=seed + 10)
    return root


@pytest.fixture(scope="module")
def pets_model(pets, tmp_path_factory):
    """A tiny class-conditional latent model of `pets`, trained by `keras-sgm train`."""
    out = tmp_path_factory.mktemp("pets_run")
    result = invoke("train", "--data", pets, "--output-dir", out, *TINY)
    assert result.exit_code == 0, result.output
    return out / "model.keras"


def test_class_folders_give_labels_names_splits_and_the_exact_pixels(pets):
    data = open_data(str(pets))
    assert (data.name, data.class_names, data.image_shape, data.sizes) == ("pets0", ("cat", "dog"), (32, 32, 3),
                                                                            {"train": 16, "test": 8})
    images, labels = data.arrays()
    assert images.dtype == np.uint8 and labels.tolist() == [0] * 8 + [1] * 8
    assert data.arrays("test")[1].tolist() == [0] * 4 + [1] * 4
    assert np.array_equal(images[0], np.asarray(Image.open(pets / "train" / "cat" / "0.png")))  # PNG: lossless
    assert images[labels == 0, ..., 0].mean() > 150 > images[labels == 1, ..., 0].mean()  # red cats, blue dogs


def test_a_flat_folder_or_no_labels_is_unlabelled_and_grayscale_stays_grayscale(tmp_path, pets):
    write_images(tmp_path / "flat", 3, (20, 28), (128, 128, 128), mode="L")
    flat = open_data(str(tmp_path / "flat"))
    assert flat.class_names is None and flat.image_shape == (20, 28, 1)
    assert flat.arrays()[1] is None and flat.arrays()[0].shape == (3, 20, 28, 1)
    assert open_data(str(pets), labels=False).class_names is None


def test_colour_conversion_and_resizing(pets):
    gray = open_data(str(pets), color="grayscale", image_size=16)
    images, _ = gray.arrays()
    assert gray.image_shape == (16, 16, 1) and images.shape == (16, 16, 16, 1)
    # Luminance of red (220, 40, 40) is about 0.299 * 220 + 0.587 * 40 + 0.114 * 40 = 94.
    assert 80 < images[:8].mean() < 110
    rgb = open_data(str(FIXTURE), color="rgb", image_size=(32, 32), crop="pad")
    digits, labels = rgb.arrays()
    assert digits.shape == (512, 32, 32, 3) and rgb.class_names == tuple("0123456789")
    assert np.array_equal(digits[..., 0], digits[..., 2])  # gray digits in RGB


def test_other_aspect_ratios_are_cropped_padded_or_stretched(tmp_path):
    # A 20x40 image: a white left half, a black right half, and a grey middle quarter.
    pixels = np.zeros((20, 40), "uint8")
    pixels[:, :20] = 255
    pixels[:, 15:25] = 128
    write_folder = tmp_path / "wide"
    write_folder.mkdir()
    Image.fromarray(pixels).save(write_folder / "a.png")
    center = open_data(str(write_folder), image_size=20, crop="center").arrays()[0][0, ..., 0]
    pad = open_data(str(write_folder), image_size=20, crop="pad").arrays()[0][0, ..., 0]
    stretch = open_data(str(write_folder), image_size=20, crop="none").arrays()[0][0, ..., 0]
    # The centre crop keeps the middle 20 columns: mostly the grey band, with white and black at its sides.
    assert abs(int(center[10, 10]) - 128) < 10
    assert center[10, 0] > 200 and center[10, -1] < 50
    # Padding keeps the whole image, halved, between black bands above and below.
    assert pad[0].max() == 0 and pad[-1].max() == 0 and pad[10, 2] > 200
    # Stretching keeps the whole width: white at the left edge, black at the right, no bands.
    assert stretch[0, 1] > 200 and stretch[0, -2] < 50


def test_flips_follow_the_seed(pets):
    from keras_sgm.recipes.data import training_data

    data = open_data(str(pets))

    def first_batch(flip, seed=0):
        fit_data, _ = training_data(data, 16, seed=seed, flip=flip)
        return np.asarray(next(iter(fit_data["x"]))[0])

    plain, flipped = first_batch(False), first_batch(True)
    mirrored = [np.array_equal(f, p[:, ::-1]) and not np.array_equal(f, p) for f, p in zip(flipped, plain)]
    unchanged = [np.array_equal(f, p) for f, p in zip(flipped, plain)]
    assert all(m or u for m, u in zip(mirrored, unchanged)) and 2 < sum(mirrored) < 14
    assert np.array_equal(first_batch(True), flipped)


def test_a_model_of_rgb_class_folders_samples_inpaints_and_reloads_on_another_backend(pets, pets_model, tmp_path,
                                                                                      backend):
    import keras

    out = pets_model.parent
    model = keras.saving.load_model(out / "model.keras", compile=False)
    assert (model.image_shape, model.class_names, model.dataset) == ((32, 32, 3), ("cat", "dog"), "pets0")
    assert Image.open(out / "samples_by_class.png").mode == "RGB"
    sample = ["sample", "--checkpoint", out / "model.keras", "--num", 3, "--steps", 2, "--no-progress"]
    result = invoke(*sample, "--label", "DOG", "--out", tmp_path / "dogs.png", "--npz", tmp_path / "dogs.npz")
    assert result.exit_code == 0 and "images (dog, guidance" in result.output, result.output
    unknown = invoke(*sample, "--label", "cow", "--out", tmp_path / "cows.png")
    assert unknown.exit_code == 2 and "its classes are cat, dog" in unknown.output
    assert not (tmp_path / "cows.png").exists()
    dogs = np.load(tmp_path / "dogs.npz")
    assert dogs["labels"].tolist() == [1, 1, 1] and dogs["images"].shape == (3, 32, 32, 3)
    # Inpainting reads a PNG of the model's size and colour.
    Image.open(pets / "test" / "dog" / "0.jpg").save(tmp_path / "dog.png")
    result = invoke("inpaint", "--checkpoint", out / "model.keras", "--image", tmp_path / "dog.png", "--keep", "top",
                    "--num", 2, "--steps", 2, "--label", "dog", "--out", tmp_path / "i.png", "--npz", tmp_path / "i.npz",
                    "--no-progress")
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "i.npz")["images"].shape == (2, 32, 32, 3)
    # The same file on another backend: the same denoiser and decoder (sampling noise differs by backend).
    np.savez(tmp_path / "inputs.npz", x=np.random.default_rng(0).normal(size=(2, *model.sample_shape)),
             sigma=np.array([0.5, 5.0]))
    script = pathlib.Path(__file__).parent / "helpers" / "model_outputs.py"
    done = subprocess.run([sys.executable, str(script), str(out / "model.keras"), str(tmp_path / "inputs.npz"),
                           str(tmp_path / "other.npz")], env={**os.environ, "KERAS_BACKEND": NEXT_BACKEND[backend]},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    here, there = model_outputs(out / "model.keras", tmp_path / "inputs.npz"), np.load(tmp_path / "other.npz")
    for name in ("denoised", "images"):
        assert here[name].shape == (2, *model.sample_shape) if name == "denoised" else (2, 32, 32, 3)
        np.testing.assert_allclose(there[name], here[name], atol=1e-4, err_msg=name)


def test_an_unlabelled_non_square_grayscale_model(tmp_path):
    # In pixel space: test_latent checks the autoencoder's non-square grids, and the pets model
    # the latent recipe end to end.
    write_images(tmp_path / "flat", 8, (22, 30), (90, 90, 90), mode="L")
    out = tmp_path / "run"
    result = invoke("train", "--pixel", "--data", tmp_path / "flat", "--image-size", "24x32", "--crop", "pad",
                    "--output-dir", out, *TINY)
    assert result.exit_code == 0, result.output
    # Two 24x32 samples side by side, with 2-pixel gaps, doubled.
    assert Image.open(out / "samples.png").size == (2 * (2 * (32 + 2) + 2), 2 * (24 + 2 + 2))
    assert not (out / "samples_by_class.png").exists()
    result = invoke("sample", "--checkpoint", out / "model.keras", "--num", 2, "--steps", 2, "--no-progress",
                    "--out", tmp_path / "s.png", "--npz", tmp_path / "s.npz")
    assert result.exit_code == 0 and "unconditional images" in result.output, result.output
    assert np.load(tmp_path / "s.npz")["images"].shape == (2, 24, 32, 1)
    assert invoke("sample", "--checkpoint", out / "model.keras", "--label", "0").exit_code == 2


def test_train_classifier_gives_the_features_that_evaluate_scores_a_colour_model_with(pets, pets_model, tmp_path):
    import json

    classifier = tmp_path / "pets.keras"
    result = invoke("train-classifier", "--data", pets, "--output", classifier, "--epochs", 3, "--batch-size", 8)
    assert result.exit_code == 0 and "classifier of 32x32x3 images, test accuracy" in result.output, result.output
    # Red cats and blue dogs: the colour alone tells them apart.
    assert float(result.output.split("test accuracy ")[1].split()[0]) >= 0.75
    report_path = tmp_path / "e.json"
    result = invoke("evaluate", "--checkpoint", pets_model, "--data", pets, "--features", classifier, "--num", 200,
                    "--steps", 2, "--conditional", "--calibrate", "--json", report_path, "--no-progress")
    assert result.exit_code == 0 and "classes covered (of 2)" in result.output, result.output
    report = json.loads(report_path.read_text())
    assert len(report["class_histogram"]) == 2 and 0 <= report["label_accuracy"] <= 1
    assert report["fid_floor"] < report["fid_ceiling"]  # real images score better than noise
    # No feature network ships for this data: the error says how to make one.
    result = invoke("evaluate", "--checkpoint", pets_model, "--data", pets, "--json", report_path)
    assert result.exit_code == 2 and "keras-sgm train-classifier" in result.output
    unlabelled = invoke("train-classifier", "--data", pets / "train" / "cat", "--output", tmp_path / "c.keras")
    assert unlabelled.exit_code == 2 and "has no labels" in unlabelled.output


def _folder_as_people_have_it(root):
    """Two classes named with a space and an accent (decomposed, as a Mac writes file names), in
    every mode Pillow opens, with the clutter of file managers and archivers; `{file: expected
    grey level}` of the images that have one."""
    import unicodedata

    boots, cafe = root / "ankle boot", root / unicodedata.normalize("NFD", "Café")
    write_images(boots, 2, (16, 16), (200, 200, 200), ".PNG", mode="L")  # upper-case extension
    write_images(cafe, 1, (16, 16), (30, 30, 30), ".TIFF")
    Image.fromarray(np.full((16, 16), 40000, "uint16")).save(boots / "deep.png")  # 16-bit grey: 40000 / 257
    Image.new("RGBA", (16, 16), (0, 0, 0, 0)).save(cafe / "clear.png")  # fully transparent: white
    palette = Image.new("P", (16, 16), 1)
    palette.putpalette([0, 0, 0, 90, 90, 90] + [0] * 762)
    palette.save(cafe / "palette.gif")
    Image.new("CMYK", (16, 16), (0, 0, 0, 255)).save(cafe / "print.jpg")  # full black ink
    # A phone photo: stored 16 wide and 8 tall, white on its left; EXIF says turn it upright.
    stored = np.zeros((8, 16), "uint8")
    stored[:, :8] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    Image.fromarray(stored).save(cafe / "phone.jpg", exif=exif, quality=95)
    for folder in (boots, cafe):
        (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
        (folder / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
        (folder / "._0.png").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X")  # AppleDouble
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.png").write_bytes(b"not an image")
    (root / "__MACOSX" / "Café").mkdir(parents=True)
    (root / "__MACOSX" / "Café" / "._phone.jpg").write_bytes(b"\x00\x05\x16\x07")
    return {"ankle boot/deep.png": round(40000 / 257), "Café/clear.png": 255, "Café/palette.gif": 90,
            "Café/print.jpg": 0}


def test_folders_as_people_have_them_train_upright_in_every_mode_with_named_classes(tmp_path):
    import unicodedata

    from types import SimpleNamespace

    from keras_sgm.cli.labels import class_index
    from keras_sgm.data.folders import load_image, scan_folder
    from keras_sgm.recipes.data import training_data

    levels = _folder_as_people_have_it(tmp_path / "mine")
    data = open_data(str(tmp_path / "mine"), image_size=16, color="grayscale")
    names = [unicodedata.normalize("NFC", name) for name in data.class_names]
    assert names == ["Café", "ankle boot"] and data.sizes == {"train": 8} and not data.skipped
    scan = scan_folder(tmp_path / "mine" / data.class_names[0])
    assert sorted(p.name for p in scan.files) == ["0.TIFF", "clear.png", "palette.gif", "phone.jpg", "print.jpg"]
    for name, level in levels.items():
        path = next((tmp_path / "mine").glob(name.replace("Café", "Caf*")))
        assert abs(int(load_image(path, (16, 16), "grayscale", "none").mean()) - level) <= 2, name
    upright = load_image(next((tmp_path / "mine").glob("Caf*/phone.jpg")), (16, 8), "grayscale", "none")[..., 0]
    assert upright[:7].mean() > 240 and upright[9:].mean() < 15  # the white half on top, as the phone showed it
    # The data pipeline reads every image, whatever its mode, with its class.
    images, labels = data.arrays()
    assert images.shape == (8, 16, 16, 1) and labels.tolist() == [0] * 5 + [1] * 3
    fit_data, steps = training_data(data, 8)
    assert steps == 1 and np.asarray(next(iter(fit_data["x"]))[0]).shape == (8, 16, 16, 1)
    # The class names, as typed on another keyboard, pick their class.
    model = SimpleNamespace(num_classes=2, class_names=data.class_names)
    assert [class_index(model, label) for label in ("ankle boot", "café", "CAFE", "Ankle_Boot")] == [1, 0, 0, 1]


def test_files_that_do_not_decode_are_named_before_training_then_refused_or_skipped(tmp_path, pets):
    import shutil

    folder = tmp_path / "pets"
    shutil.copytree(pets / "train", folder)
    (folder / "cat" / "3.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (folder / "dog" / "3.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    refused = invoke("train-classifier", "--data", folder, "--output", tmp_path / "c.keras")
    assert refused.exit_code == 2 and len(refused.output.strip().splitlines()) == 1
    assert "cannot read the image" in refused.output and "3.png and 1 more" in refused.output
    assert "--bad-images skip" in refused.output and not (tmp_path / "c.keras").exists()
    skipped = open_data(str(folder), bad_images="skip")
    assert skipped.sizes == {"train": 14} and len(skipped.skipped) == 2 and "skipped 2" in skipped.describe()
    trained = invoke("train-classifier", "--data", folder, "--bad-images", "skip", "--epochs", 1,
                     "--batch-size", 7, "--output", tmp_path / "c.keras")
    assert trained.exit_code == 0 and (tmp_path / "c.keras").exists(), trained.output


def _bad_folders(root):
    """Folders a user might give by mistake, by the words their error must contain."""
    (root / "empty").mkdir()
    (root / "no_images").mkdir()
    (root / "no_images" / "notes.txt").write_text("not an image")
    write_images(root / "corrupt", 2, (8, 8), (0, 0, 0))
    (root / "corrupt" / "1.png").write_bytes((root / "corrupt" / "1.png").read_bytes()[:40])
    write_images(root / "mixed", 1, (8, 8), (0, 0, 0))
    write_images(root / "mixed" / "big", 1, (9, 9), (0, 0, 0))
    (root / "mixed" / "big" / "0.png").rename(root / "mixed" / "big.png")
    (root / "mixed" / "big").rmdir()
    write_images(root / "empty_class" / "a", 2, (8, 8), (0, 0, 0))
    (root / "empty_class" / "b").mkdir()
    return {"empty": "is empty", "no_images": "holds no images", "corrupt": "cannot read the image",
            "mixed": "differ in size", "empty_class": "class folder"}


def test_bad_data_gets_a_one_line_error_exit_2_and_no_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    cases = {tmp_path / name: words for name, words in _bad_folders(tmp_path).items()}
    cases["no_such_dataset_here"] = "has no dataset"
    cases["cifar10"] = "is not prepared"
    for data, words in cases.items():
        out = tmp_path / "run"
        result = invoke("train", "--data", data, "--output-dir", out, *TINY)
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and words in lines[0], (data, result.output)
        assert not out.exists(), data


def test_label_names_match_in_any_case_and_punctuation_or_by_a_unique_prefix():
    from types import SimpleNamespace

    from click.exceptions import ClickException

    from keras_sgm.cli.labels import class_index

    clothes = SimpleNamespace(num_classes=10, class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"))
    assert [class_index(clothes, name) for name in ("ankle BOOT", "ankle_boot", "t-shirt", "Sneaker", "9")] == \
        [9, 9, 0, 7, 9]
    for ambiguous_or_unknown in ("s", "hat", "-1", "10"):
        with pytest.raises(ClickException):
            class_index(clothes, ambiguous_or_unknown)
    # A class named by a number wins over the index of the same spelling.
    counted = SimpleNamespace(num_classes=3, class_names=("1", "2", "3"))
    assert class_index(counted, "1") == 0 and class_index(counted, "0") == 0
