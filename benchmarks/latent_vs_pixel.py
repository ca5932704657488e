"""Latent against pixel diffusion at equal training minutes on this machine, as a markdown table.

    KERAS_BACKEND=tensorflow python benchmarks/latent_vs_pixel.py --data ../shared/data/mnist.npz \
        --minutes 10 20 40 --output-dir runs/latent_vs_pixel [--plot docs/latent_vs_pixel.png]

Each candidate trains from scratch with the main job's recipe (batch 128,
Adam 1e-3 after a 500-step warm-up, EMA 0.999, label dropout 0.1, the same
seed) until the wall clock has spent each budget on it; the latent
candidate's autoencoder training counts in its budget. A snapshot is saved
at every budget (the clock stops while it saves), and each snapshot is
scored by the same `evaluate_model` (EDM Heun, 35 NFE): FID, KID, classifier
score and class shares of unconditional samples, then the same with every
digit asked for equally often at the default guidance, with the share
recognised as the requested digit. The largest budget is scored on `--num`
samples, the others on `--num-intermediate`. A killed run resumes where it
stopped: the elapsed training time is kept beside each candidate's
checkpoint. The learning rate stays constant after the warm-up, since the
snapshots are points of one run.
"""

import argparse
import json
import os
import pathlib
import time

import keras
import numpy as np

from keras_sgm import metrics
from keras_sgm.checkpoints import load_model
from keras_sgm.evaluation import evaluate_model, load_reference_digits
from keras_sgm.training import (
    architecture,
    mnist_training_data,
    prepare_autoencoder,
    resume_from,
    save_atomically,
    score_model,
)

CANDIDATES = ("pixel", "latent")


class WallClockBudgets(keras.callbacks.Callback):
    """Saves a snapshot when the training clock passes each budget, and stops after the last.

    The clock counts training only: it stops while snapshots and checkpoints
    are written, and it starts at `state["seconds"]` of an earlier run.
    """

    def __init__(self, folder, budgets_minutes, state):
        super().__init__()
        self.folder, self.state = folder, state
        self.budgets = [m for m in budgets_minutes if f"{m:g}" not in state["snapshots"]]

    def _paused(self, action):
        self.state["seconds"] += time.perf_counter() - self.start
        action()
        self.start = time.perf_counter()

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        elapsed = self.state["seconds"] + time.perf_counter() - self.start
        while self.budgets and elapsed >= 60 * self.budgets[0]:
            minutes = self.budgets.pop(0)
            self._paused(lambda: self._snapshot(minutes))
        if not self.budgets:
            self.model.stop_training = True

    def _snapshot(self, minutes):
        save_atomically(self.model, self.folder / f"model_{minutes:g}min.keras")
        self.state["snapshots"][f"{minutes:g}"] = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        self._save_state()

    def on_epoch_end(self, epoch, logs=None):
        self._paused(self._checkpoint)

    def _checkpoint(self):
        save_atomically(self.model, self.folder / "model.keras")
        self._save_state()

    def _save_state(self):
        partial = self.folder / ".state.json.partial"
        partial.write_text(json.dumps(self.state))
        os.replace(partial, self.folder / "state.json")


def train_candidate(name, folder, fit_data, steps, budgets, seed):
    """Trains one candidate until its last budget; returns its state (seconds, snapshots)."""
    folder.mkdir(parents=True, exist_ok=True)
    state_path = folder / "state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {"seconds": 0.0, "snapshots": {}}
    if all(f"{m:g}" in state["snapshots"] for m in budgets):
        return state
    autoencoder = None
    if name == "latent":
        start = time.perf_counter()
        autoencoder = prepare_autoencoder(folder, fit_data, steps, epochs=4, seed=seed, verbose=2)
        if "autoencoder_seconds" not in state:
            state["autoencoder_seconds"] = time.perf_counter() - start
            state["seconds"] += state["autoencoder_seconds"]
    keras.utils.set_random_seed(seed)
    model = score_model(architecture(folder / "model.keras", None, autoencoder), autoencoder, seed=seed)
    warmup = keras.optimizers.schedules.CosineDecay(0.0, 10**9, warmup_target=1e-3, warmup_steps=500)
    model.compile(optimizer=keras.optimizers.Adam(warmup))
    initial_epoch = resume_from(model, folder / "model.keras", steps)
    budget = WallClockBudgets(folder, budgets, state)
    model.fit(**fit_data, epochs=10_000, initial_epoch=initial_epoch, callbacks=[budget], verbose=2)
    return state


def evaluate_snapshot(path, test_images, train_images, reference, num, seed):
    """Unconditional and guided figures of one snapshot, and its sampling speed."""
    model = load_model(path)
    row = {}
    for mode, labels in (("unconditional", None), ("guided", np.repeat(np.arange(10), num // 10))):
        report, _ = evaluate_model(model, test_images, train_images, num=num, seed=seed,
                                   reference=reference, labels=labels)
        row[mode] = report
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="mnist.npz; TFDS when unset")
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 20, 40])
    parser.add_argument("--candidates", nargs="+", choices=CANDIDATES, default=list(CANDIDATES))
    parser.add_argument("--output-dir", default="runs/latent_vs_pixel")
    parser.add_argument("--num", type=int, default=10_000, help="samples scored at the largest budget")
    parser.add_argument("--num-intermediate", type=int, default=2_000, help="samples at the other budgets")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", help="a PNG of FID against training minutes")
    args = parser.parse_args()

    output = pathlib.Path(args.output_dir)
    budgets = sorted(args.minutes)
    fit_data, steps = mnist_training_data(128, args.data, seed=args.seed)
    test_images, train_images = load_reference_digits(args.data)
    reference = metrics.classify(test_images)
    results_path = output / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    for name in args.candidates:
        state = train_candidate(name, output / name, fit_data, steps, budgets, args.seed)
        for minutes in budgets:
            key = f"{name}/{minutes:g}"
            num = args.num if minutes == budgets[-1] else args.num_intermediate
            if key in results and results[key]["num"] == num:
                continue
            row = evaluate_snapshot(output / name / f"model_{minutes:g}min.keras", test_images, train_images,
                                    reference, num, args.seed)
            results[key] = {"candidate": name, "minutes": minutes, "num": num, "backend": keras.backend.backend(),
                            "steps": state["snapshots"][f"{minutes:g}"],
                            "autoencoder_seconds": state.get("autoencoder_seconds"), **row}
            results_path.write_text(json.dumps(results, indent=1))
    print_table(results)
    if args.plot:
        plot(results, args.plot)


def print_table(results):
    print("| candidate | minutes | steps | samples | FID | KID | classifier score | class shares | "
          "guided FID | recognised | sampling img/s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in sorted(results.values(), key=lambda r: (r["candidate"], r["minutes"])):
        free, guided = row["unconditional"], row["guided"]
        shares = free["class_histogram"]
        print(f"| {row['candidate']} | {row['minutes']:g} | {row['steps']} | {row['num']} | {free['fid']:.2f} | "
              f"{free['kid']:.4f} | {free['classifier_score']:.2f} | {100 * min(shares):.1f}-{100 * max(shares):.1f} % | "
              f"{guided['fid']:.2f} | {100 * guided['label_accuracy']:.2f} % | {row['num'] / free['seconds']:.0f} |")


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axis = pyplot.subplots(figsize=(6, 4))
    for name in CANDIDATES:
        rows = sorted((r for r in results.values() if r["candidate"] == name), key=lambda r: r["minutes"])
        for mode, style in (("unconditional", "-o"), ("guided", "--s")):
            axis.plot([r["minutes"] for r in rows], [r[mode]["fid"] for r in rows], style,
                      label=f"{name}, {mode}")
    axis.set_xlabel(f"training minutes ({next(iter(results.values()))['backend']}, 2-core CPU)")
    axis.set_ylabel("FID (classifier features, 35 NFE)")
    axis.set_yscale("log")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
