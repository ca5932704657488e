"""Run as `KERAS_BACKEND=... python tests/helpers/save_on_backend.py OUT_DIR`.

Trains a small score model for a few steps on the committed digits, saves it
to OUT_DIR/model.keras and its scores on fixed inputs to OUT_DIR/scores.npy,
so that a test on another backend can load the file and compare.
"""

import pathlib
import sys

import keras
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from tests.conftest import FIXTURE, small_model  # noqa: E402


def fixed_inputs():
    rng = np.random.RandomState(0)
    return rng.rand(4, 28, 28, 1).astype("float32"), np.array([0.05, 0.3, 0.6, 1.0], "float32")


if __name__ == "__main__":
    out = pathlib.Path(sys.argv[1])
    model = small_model(seed=7)
    model.fit(np.load(FIXTURE)["x_train"][:64, ..., None], batch_size=32, epochs=1, verbose=0)
    model.save(out / "model.keras")
    np.save(out / "scores.npy", keras.ops.convert_to_numpy(model.score(*fixed_inputs())))
