"""Sample quality against training minutes on this machine, for networks and recipes side by side.

    KERAS_BACKEND=tensorflow python benchmarks/time_to_quality.py --data ../shared/data/mnist.npz \
        --candidates latent latent-resnet --minutes 10 20 40 --output-dir runs/time_to_quality \
        [--plot docs/time_to_quality.png]

A candidate is a network (`build_unet` arguments), pixel or latent space,
and a recipe (batch size, learning rate and warm-up, EMA decay, label
dropout, the noise-level distribution); `--list` prints them. Each trains
from scratch with the same seed until the wall clock has spent each budget
on it. A latent candidate's budget includes the autoencoder's training: the
latent candidates share one autoencoder (the same seed would train the
same one), trained once, and each is charged its minutes. A snapshot is
saved at every budget (the clock stops while it saves), and every snapshot
is scored by the same `evaluate_model` (EDM Heun, 35 NFE): FID, KID,
classifier score and class shares of unconditional samples, then the same
with every digit asked for equally often at the default guidance, with the
share recognised as the requested digit. The largest budget is scored on
`--num` samples, the others on `--num-intermediate`; `--guidance-sweep` scores
the guided samples at further scales, since the best scale changes as a model
trains (the table shows the best). A killed run resumes
where it stopped: the elapsed training time is kept beside each
candidate's checkpoint. The learning rate stays constant after the
warm-up, since the snapshots are points of one run.
"""

import argparse
import json
import os
import pathlib
import time

import keras
import numpy as np

from keras_sgm.diffusion.guidance import DEFAULT_GUIDANCE
from keras_sgm.evaluation import metrics
from keras_sgm.evaluation.evaluate import evaluate_model, load_reference_images
from keras_sgm.models.saving import load_model
from keras_sgm.recipes.architecture import architecture, score_model
from keras_sgm.recipes.autoencoder_stage import prepare_autoencoder
from keras_sgm.recipes.checkpoints import continued_run, resume_from, save_atomically
from keras_sgm.data.sources import open_data
from keras_sgm.recipes.data import training_data

RECIPE = {
    "batch_size": 128,
    "learning_rate": 1e-3,
    "warmup_steps": 500,
    "ema_decay": 0.999,
    "label_dropout": 0.1,
    "log_sigma_mean": -0.6,
    "log_sigma_std": 1.6,
}
"""The recipe every candidate starts from: that of the main job up to version 0.1 (its cosine
decay left out, since a wall-clock budget has no last step)."""

CANDIDATES = {
    # The tutorial's one convolution per level: the main job's network up to 0.1, and the shipped
    # version 6's; then the same network on the latent grid, as issue 17 first built it.
    "pixel": {"latent": False, "network": {}},
    "latent": {"latent": True, "network": {"channels": (64, 128, 256), "blocks_per_level": 0,
                                           "attention": False}},
    # Residual blocks (attention at the coarsest level) in pixel space, on 2x2 patches and on the
    # 7x7x4 latent grid, each small enough to ship (at most 10 MB: about 2.4 M parameters).
    "pixel-resnet": {"latent": False, "network": {"channels": (32, 64, 128), "blocks_per_level": 1}},
    "patch-resnet": {"latent": False, "network": {"patch_size": 2, "channels": (32, 64, 128),
                                                  "blocks_per_level": 2, "attention": True}},
    "latent-resnet": {"latent": True, "network": {"channels": (64, 128), "blocks_per_level": 2,
                                                  "attention": True}},
    "latent-resnet-deep": {"latent": True, "network": {"channels": (64, 128), "blocks_per_level": 3,
                                                       "attention": True}},
    # The recipe is part of a candidate: a larger step size with a slower EMA. The best at 10 and
    # 20 minutes, and so the main job's default since 0.2 (which adds the cosine decay).
    "latent-resnet-lr2e-3": {"latent": True, "network": {"channels": (64, 128), "blocks_per_level": 2,
                                                         "attention": True},
                             "recipe": {"learning_rate": 2e-3, "ema_decay": 0.9995}},
}


def recipe_of(name):
    return {**RECIPE, **CANDIDATES[name].get("recipe", {})}


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
        write_json_atomically(self.folder / "state.json", self.state)

    def on_epoch_end(self, epoch, logs=None):
        self._paused(self._checkpoint)

    def _checkpoint(self):
        save_atomically(self.model, self.folder / "model.keras")
        write_json_atomically(self.folder / "state.json", self.state)


def write_json_atomically(path, value):
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(value, indent=1))
    os.replace(partial, path)


def shared_autoencoder(output, data, seed):
    """The latent candidates' autoencoder and the seconds its training took, trained once."""
    folder = output / "autoencoder"
    seconds_path = folder / "seconds.json"
    fit_data, steps = training_data(data, RECIPE["batch_size"], seed=seed)
    start = time.perf_counter()
    autoencoder = prepare_autoencoder(folder, fit_data, steps, 4, (28, 28, 1), seed=seed, verbose=2)
    if not seconds_path.exists():
        write_json_atomically(seconds_path, {"seconds": time.perf_counter() - start})
    return autoencoder, json.loads(seconds_path.read_text())["seconds"]


def train_candidate(name, output, data, budgets, seed):
    """Trains one candidate until its last budget; returns its state (seconds, snapshots)."""
    folder = output / name
    folder.mkdir(parents=True, exist_ok=True)
    state_path = folder / "state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {"seconds": 0.0, "snapshots": {}}
    if all(f"{m:g}" in state["snapshots"] for m in budgets):
        return state
    candidate, recipe = CANDIDATES[name], recipe_of(name)
    autoencoder = None
    if candidate["latent"]:
        autoencoder, seconds = shared_autoencoder(output, data, seed)
        if "autoencoder_seconds" not in state:
            state["autoencoder_seconds"] = seconds
            state["seconds"] += seconds
    fit_data, steps = training_data(data, recipe["batch_size"], seed=seed)
    keras.utils.set_random_seed(seed)
    network = architecture((28, 28, 1), continued_run(folder / "model.keras"), autoencoder, **candidate["network"])
    model = score_model(network, open_data(data), autoencoder, seed=seed, label_dropout=recipe["label_dropout"],
                        ema_decay=recipe["ema_decay"], log_sigma_mean=recipe["log_sigma_mean"],
                        log_sigma_std=recipe["log_sigma_std"])
    warmup = keras.optimizers.schedules.CosineDecay(0.0, 10**9, warmup_target=recipe["learning_rate"],
                                                    warmup_steps=recipe["warmup_steps"])
    model.compile(optimizer=keras.optimizers.Adam(warmup))
    initial_epoch = resume_from(model, folder / "model.keras", steps)
    budget = WallClockBudgets(folder, budgets, state)
    model.fit(**fit_data, epochs=10_000, initial_epoch=initial_epoch, callbacks=[budget], verbose=2)
    return state


def evaluate_snapshot(path, test_images, train_images, reference, num, seed, guidance_sweep=(), row=None):
    """Unconditional and guided figures of one snapshot, with its sampling speed; guided figures
    at each scale of `guidance_sweep` under `guided_at`. Parts already in `row` are kept."""
    model = load_model(path)
    row = {"parameters": model.network.count_params(), **(row or {})}
    balanced = np.repeat(np.arange(10), num // 10)

    def score(**options):
        report, _ = evaluate_model(model, test_images, train_images, num=num, seed=seed, reference=reference,
                                   **options)
        return report

    if "unconditional" not in row:
        row["unconditional"] = score()
    if "guided" not in row:
        row["guided"] = score(labels=balanced)
    row["guided_at"] = {f"{g:g}": row.get("guided_at", {}).get(f"{g:g}") or score(labels=balanced, guidance=g)
                        for g in guidance_sweep}
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="mnist.npz; TFDS when unset")
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 20, 40])
    parser.add_argument("--candidates", nargs="+", default=["pixel", "latent"],
                        help=f"of {', '.join(CANDIDATES)}; with --report-only, also names given to --full-run")
    parser.add_argument("--output-dir", default="runs/time_to_quality")
    parser.add_argument("--num", type=int, default=10_000, help="samples scored at the largest budget")
    parser.add_argument("--num-intermediate", type=int, default=2_000, help="samples at the other budgets")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--guidance-sweep", type=float, nargs="*", default=[1.0, 2.0],
                        help="guidance scales scored besides the default, on every snapshot")
    parser.add_argument("--plot", help="a PNG of FID against training minutes")
    parser.add_argument("--list", action="store_true", help="print the candidates and exit")
    parser.add_argument("--report-only", action="store_true",
                        help="no training or scoring: the table (and plot) of the results so far")
    parser.add_argument("--full-run", nargs=3, metavar=("NAME", "MINUTES", "FOLDER"),
                        help="record a whole training run (say the main job) that took MINUTES, from the "
                             "`keras-sgm evaluate --json` files in FOLDER: heun.json (unconditional) and "
                             "guided_SCALE.json (--conditional --guidance SCALE); then report")
    args = parser.parse_args()
    unknown = sorted(set(args.candidates) - set(CANDIDATES))
    if unknown and not (args.report_only or args.full_run):
        parser.error(f"no candidate named {', '.join(unknown)}; --list prints them")
    if args.list:
        for name in CANDIDATES:
            print(f"{name}: {CANDIDATES[name]['network'] or 'the tutorial network'}, "
                  f"{'latent' if CANDIDATES[name]['latent'] else 'pixel'} space, recipe {recipe_of(name)}")
        return

    output = pathlib.Path(args.output_dir)
    results_path = output / "results.json"
    if args.full_run:
        name, minutes, folder = args.full_run
        results = json.loads(results_path.read_text()) if results_path.exists() else {}
        results[f"{name}/{float(minutes):g}"] = full_run_row(name, float(minutes), pathlib.Path(folder))
        write_json_atomically(results_path, results)
        args.candidates = [*args.candidates, name]
        args.report_only = True
    if args.report_only:
        report(json.loads(results_path.read_text()), args.candidates, args.plot)
        return
    budgets = sorted(args.minutes)
    test_images, train_images = load_reference_images(args.data)
    reference = metrics.classify(test_images)
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    for name in args.candidates:
        state = train_candidate(name, output, args.data, budgets, args.seed)
        for minutes in budgets:
            key = f"{name}/{minutes:g}"
            num = args.num if minutes == budgets[-1] else args.num_intermediate
            done = results.get(key) if key in results and results[key]["num"] >= num else None
            if done and all(f"{g:g}" in done.get("guided_at", {}) for g in args.guidance_sweep):
                continue
            num = done["num"] if done else num
            row = evaluate_snapshot(output / name / f"model_{minutes:g}min.keras", test_images, train_images,
                                    reference, num, args.seed, args.guidance_sweep, done)
            results[key] = {**(done or {}), "candidate": name, "minutes": minutes, "num": num,
                            "backend": keras.backend.backend(), "steps": state["snapshots"][f"{minutes:g}"],
                            "autoencoder_seconds": state.get("autoencoder_seconds"), **row}
            write_json_atomically(results_path, results)
    report(results, args.candidates, args.plot)


def full_run_row(name, minutes, folder):
    """A results row of a whole run from its `keras-sgm evaluate` reports in `folder`."""
    unconditional = json.loads((folder / "heun.json").read_text())
    guided_at = {f"{float(path.stem.split('_', 1)[1]):g}": json.loads(path.read_text())
                 for path in sorted(folder.glob("guided_*.json"))}
    default = guided_at.pop(f"{DEFAULT_GUIDANCE:g}", None) or guided_at.pop(next(iter(guided_at)))
    return {"candidate": name, "minutes": minutes, "num": unconditional["num"], "backend": "full run",
            "steps": None, "unconditional": unconditional, "guided": default, "guided_at": guided_at}


def report(results, candidates, plot_path=None):
    """Prints the table of `candidates`' rows, and plots them to `plot_path`."""
    chosen = [r for r in results.values() if r["candidate"] in candidates]
    print_table(chosen)
    if plot_path:
        plot(chosen, plot_path)


def print_table(results):
    print("| candidate | parameters | minutes | steps | samples | FID | KID | classifier score | class shares | "
          "guided FID (scale) | recognised | best guided FID (scale, recognised) | sampling img/s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in sorted(results, key=lambda r: (r["candidate"], r["minutes"])):
        free, guided = row["unconditional"], row["guided"]
        shares = free["class_histogram"]
        parameters = f"{row['parameters'] / 1e6:.2f} M" if "parameters" in row else "-"
        print(f"| {row['candidate']} | {parameters} | {row['minutes']:g} | {row['steps'] or '-'} | "
              f"{row['num']} | {free['fid']:.2f} | {free['kid']:.4f} | {free['classifier_score']:.2f} | "
              f"{100 * min(shares):.1f}-{100 * max(shares):.1f} % | {guided['fid']:.2f} ({guided['guidance']:g}) | "
              f"{100 * guided['label_accuracy']:.2f} % | {best_guided(row)} | {row['num'] / free['seconds']:.0f} |")


def best_guided_report(row):
    """The scale (default or swept) of a row's lowest guided FID, and its report."""
    scales = {f"{row['guided']['guidance']:g}": row["guided"], **row.get("guided_at", {})}
    return min(scales.items(), key=lambda item: item[1]["fid"])


def best_guided(row):
    scale, report = best_guided_report(row)
    return f"{report['fid']:.2f} ({scale}, {100 * report['label_accuracy']:.1f} %)"


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(1, 2, figsize=(10, 4), sharey=True)
    figures = {"unconditional": lambda row: row["unconditional"]["fid"],
               "guided (best scale)": lambda row: best_guided_report(row)[1]["fid"]}
    for axis, (title, fid) in zip(axes, figures.items()):
        for name in sorted({r["candidate"] for r in results}):
            rows = sorted((r for r in results if r["candidate"] == name), key=lambda r: r["minutes"])
            axis.plot([r["minutes"] for r in rows], [fid(r) for r in rows], "-o", label=name)
        axis.set_title(f"{title} samples")
        axis.set_xlabel("training minutes (2-core CPU)")
        axis.set_yscale("log")
        axis.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("FID (classifier features, 35 NFE)")
    axes[1].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
