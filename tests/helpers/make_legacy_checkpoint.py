"""Writes the legacy-checkpoint fixture: `KERAS_BACKEND=... python tests/helpers/make_legacy_checkpoint.py`.

Run once per backend at commit 508dc24 (keras-sgm 0.1.0, before the sampler
redesign), tensorflow first: the TensorFlow run trains a small conditional
model for a few steps (so that its EMA and optimizer state are not trivial),
saves it to `tests/data/legacy_checkpoint.keras` and its scores on fixed
inputs; every run adds its backend's samples of that file, since the samplers'
random draws differ between backends. `test_legacy_checkpoint.py` loads the
file with today's code and expects the same outputs.
"""

import pathlib
import sys

import keras
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from tests.conftest import FIXTURE, small_model  # noqa: E402

DATA = pathlib.Path(__file__).parents[1] / "data"
CHECKPOINT = DATA / "legacy_checkpoint.keras"
OUTPUTS = DATA / "legacy_checkpoint_outputs.npz"


def probe_inputs():
    """Noisy images, times and labels (the "no label" token 10 included)."""
    rng = np.random.default_rng(1)
    images = rng.normal(size=(6, 28, 28, 1)).astype("float32")
    times = np.linspace(0.02, 1.0, 6, dtype="float32")
    labels = np.array([0, 3, 7, 9, 10, 5], dtype="int32")
    return images, times, labels


SAMPLE_LABELS = np.array([1, 4, 8], dtype="int32")
SAMPLE_GUIDANCE = 3.0


def sampler_outputs(model):
    """Short runs of every sampler, guided, unconditional and inpainting."""
    # The fixture was written at 508dc24 with that version's module paths (keras_sgm.samplers).
    from keras_sgm.sampling.inpainting import inpaint
    from keras_sgm.sampling.masks import half_mask
    from keras_sgm.sampling.samplers import edm_heun, euler_maruyama, predictor_corrector, probability_flow_ode

    guided = model.guided(SAMPLE_LABELS, SAMPLE_GUIDANCE)
    known = np.load(FIXTURE)["x_test"][:3, ..., None].astype("float32") / 255.0
    return {
        "heun": edm_heun(guided, 3, steps=4, seed=1)[0],
        "heun_churn": edm_heun(model, 3, steps=4, churn=5.0, seed=2)[0],
        "euler": euler_maruyama(guided, 3, steps=6, seed=3)[0],
        "pc": predictor_corrector(model, 3, steps=4, seed=4)[0],
        "ode_heun": probability_flow_ode(model, 3, solver="heun", steps=4, seed=5)[0],
        "inpaint": inpaint(guided, known, half_mask((28, 28, 1), "top"), steps=5, seed=6)[0],
    }


def main():
    backend = keras.backend.backend()
    outputs = dict(np.load(OUTPUTS)) if OUTPUTS.exists() else {}
    if backend == "tensorflow":
        data = np.load(FIXTURE)
        model = small_model(seed=5, num_classes=10, label_dropout=0.3)
        model.fit(data["x_train"][:96, ..., None], data["y_train"][:96], batch_size=32, epochs=2,
                  verbose=0)
        model.save(CHECKPOINT)
        images, times, labels = probe_inputs()
        outputs = {
            "scores": keras.ops.convert_to_numpy(model.score(images, times, labels=labels)),
            "guided_scores": keras.ops.convert_to_numpy(
                model.score(images, times, labels=labels, guidance=SAMPLE_GUIDANCE)
            ),
            "raw_scores": keras.ops.convert_to_numpy(
                model.score(images, times, labels=labels, network=model.network)
            ),
            "iterations": keras.ops.convert_to_numpy(model.optimizer.iterations),
        }
    model = keras.saving.load_model(CHECKPOINT)
    for name, images in sampler_outputs(model).items():
        outputs[f"{backend}_{name}"] = images
    np.savez_compressed(OUTPUTS, **outputs)


if __name__ == "__main__":
    main()
