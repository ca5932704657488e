"""Exported files against Keras: size, outputs, and img/s at batch 1 and 64, in one process.

    KERAS_BACKEND=jax python benchmarks/export.py --out runs/export --json runs/export.jsonl
    KERAS_BACKEND=torch python benchmarks/export.py --out runs/export --json runs/export.jsonl
    KERAS_BACKEND=tensorflow python benchmarks/export.py --out runs/export --json runs/export.jsonl

Exports the shipped consistency model (its 1-step generator, its denoiser and its decoder) in the
formats this backend writes, into `OUT/<format>` (a format another backend wrote already is reused),
then times each part on this backend's Keras (`predict_on_batch`, and `sample()` for the generator)
and on onnxruntime and TensorFlow's SavedModel, side by side, after a warm-up call. Prints a
markdown table and the largest difference from Keras's outputs.
"""

import argparse
import json
import pathlib
import time

import keras
import numpy as np

from keras_sgm.models.presets import CONSISTENCY_PRESET
from keras_sgm.models.saving import load_model
from keras_sgm.sampling.sample import sample
from keras_sgm.serving.export import EXPORT_FORMATS, check_format, export, exportable_parts


def rate(run, batch, repeats):
    run()  # compiles
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    return batch / float(np.median(seconds))


def size_mb(path):
    path = pathlib.Path(path)
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(file.stat().st_size for file in files) / 1e6


def runner(format, path):
    """A function of the inputs list that runs the exported part without Keras."""
    if format == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path))
        names = [spec.name for spec in session.get_inputs()]
        return lambda inputs: session.run(None, dict(zip(names, inputs)))[0]
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    return lambda inputs: np.asarray(loaded.serve(inputs if len(inputs) > 1 else inputs[0]))


def inputs_of(name, model, batch, rng):
    latents = rng.standard_normal((batch, *model.sample_shape), dtype=np.float32)
    labels = np.arange(batch, dtype=np.int32) % 10
    return {"denoiser": [latents * 10, np.full(batch, 10.0, np.float32), labels], "decoder": [latents],
            "generator": [latents[:, None], labels]}[name]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/export", help="folder of the exported files, one subfolder per format")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--json", help="append each row to this JSON-lines file")
    args = parser.parse_args()

    backend = keras.backend.backend()
    model = load_model(CONSISTENCY_PRESET)
    parts = exportable_parts(model, steps=1)
    folders = {}
    for format in EXPORT_FORMATS:
        folder = pathlib.Path(args.out) / format
        try:
            check_format(format)
            export(model, folder, format=format, steps=1)
        except ValueError as error:
            print(f"{backend}: {error}")
        if folder.is_dir():
            folders[format] = folder

    rng = np.random.default_rng(0)
    print("| part | batch | format | MB | Keras img/s | exported img/s | x Keras | max difference |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, part in parts.items():
        for batch in args.batches:
            inputs = inputs_of(name, model, batch, rng)
            inputs_as_model_takes = inputs if len(inputs) > 1 else inputs[0]
            expected = keras.ops.convert_to_numpy(part.predict_on_batch(inputs_as_model_takes))
            keras_rate = rate(lambda: part.predict_on_batch(inputs_as_model_takes), batch, args.repeats)
            rows = []
            if name == "generator":
                labels = inputs[1]
                sample_rate = rate(lambda: sample(model, batch, sampler="consistency", steps=1, labels=labels),
                                   batch, args.repeats)
                rows.append(("sample()", None, sample_rate, 0.0))
            for format, folder in folders.items():
                path = folder / (f"{name}.onnx" if format == "onnx" else name)
                run = runner(format, path)
                difference = float(np.abs(run(inputs) - expected).max())
                rows.append((format, size_mb(path), rate(lambda: run(inputs), batch, args.repeats), difference))
            for format, megabytes, exported_rate, difference in rows:
                print(f"| {name} | {batch} | {format} | {'-' if megabytes is None else f'{megabytes:.1f}'} | "
                      f"{keras_rate:.0f} | {exported_rate:.0f} | {exported_rate / keras_rate:.2f} | "
                      f"{difference:.1e} |", flush=True)
                if args.json:
                    with open(args.json, "a") as file:
                        file.write(json.dumps({"backend": backend, "part": name, "batch": batch, "format": format,
                                               "mb": megabytes, "keras_img_s": keras_rate,
                                               "exported_img_s": exported_rate, "max_difference": difference}) + "\n")


if __name__ == "__main__":
    main()
