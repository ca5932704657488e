"""Where a training step of the default network spends its time, layer by layer.

    KERAS_BACKEND=jax python benchmarks/layer_costs.py [--batch-size 128] [--steps 10] [--repeats 3] [--candidate NAME]

Each layer of the U-Net is trained alone: its inputs pass through a trainable
per-channel scale, so that `fit` runs the layer's forward pass, its weight
gradients and its input gradients, compiled the way the backend compiles the
full network's step. The time of an empty step (the same wrapping around a
one-pixel input) is subtracted. The table lists the costliest layers, then the
cost per layer type, next to the full training step of `benchmarks/speed.py`.
Elementwise layers carry the scale and the squared error on their own tensors,
so their figures are upper bounds.
"""

import argparse
import collections

import keras
import numpy as np
from speed import benchmark_model, median_seconds, training_step_seconds
from time_to_quality import CANDIDATES


class ChannelScale(keras.layers.Layer):
    """A trainable scale per channel, so that gradients flow into the inputs."""

    def build(self, input_shape):
        # The last axis of an image batch; a single scale for a batch of scalars.
        self.scale = self.add_weight(shape=tuple(input_shape[1:][-1:]), initializer="ones")

    def call(self, inputs):
        return inputs * self.scale


def seconds_per_step(layer, input_shapes, batch_size, steps, repeats):
    """Median seconds of one `fit` step of `layer` alone on random inputs."""
    rng = np.random.default_rng(0)
    inputs = [keras.Input(shape[1:]) for shape in input_shapes]
    scaled = [ChannelScale()(x) for x in inputs]
    if isinstance(layer, keras.layers.MultiHeadAttention):
        outputs = layer(scaled[0], scaled[0])  # self-attention: the query is the value
    else:
        outputs = layer(scaled if len(scaled) > 1 else scaled[0])
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    data = [rng.standard_normal((steps * batch_size, *shape[1:]), dtype=np.float32) for shape in input_shapes]
    target = np.zeros((steps * batch_size, *outputs.shape[1:]), np.float32)
    seconds = median_seconds(
        lambda: model.fit(data, target, batch_size=batch_size, epochs=1, shuffle=False, verbose=0), repeats
    )
    return seconds / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10, help="training steps per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--candidate", choices=sorted(CANDIDATES),
                        help="a time_to_quality.py candidate's network instead of the default one")
    parser.add_argument("--top", type=int, default=12, help="how many single layers to list")
    args = parser.parse_args()
    timing = dict(batch_size=args.batch_size, steps=args.steps, repeats=args.repeats)

    # The full step goes first: after dozens of single-layer models the same
    # process measured TensorFlow's and JAX's full step at half their speed.
    full_model = benchmark_model(args.candidate)
    full_model.compile(optimizer=keras.optimizers.Adam(1e-4))
    full = training_step_seconds(full_model, **timing)
    network = full_model.network
    empty = seconds_per_step(keras.layers.Identity(), [(None, 1)], **timing)
    costs = []
    for layer in network.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        inputs = layer.input if isinstance(layer.input, list) else [layer.input]
        shapes = [tuple(x.shape) for x in inputs]
        seconds = seconds_per_step(layer, shapes, **timing) - empty
        costs.append((seconds, layer.name, type(layer).__name__, shapes))

    backend = keras.backend.backend()
    total = sum(seconds for seconds, *_ in costs)
    print(f"\n{backend}, batch {args.batch_size}: full training step {1e3 * full:.1f} ms "
          f"({args.batch_size / full:.0f} img/s); sum of single layers {1e3 * total:.1f} ms "
          f"(empty step {1e3 * empty:.1f} ms, subtracted)\n")
    print("| layer | type | input shapes | ms per step | share of the sum |")
    print("| --- | --- | --- | --- | --- |")
    for seconds, name, kind, shapes in sorted(costs, reverse=True)[: args.top]:
        shown = ", ".join("x".join(str(d) for d in shape[1:]) or "scalar" for shape in shapes)
        print(f"| {name} | {kind} | {shown} | {1e3 * seconds:.1f} | {seconds / total:.0%} |")
    by_type = collections.defaultdict(float)
    for seconds, _, kind, _ in costs:
        by_type[kind] += seconds
    print("\n| layer type | ms per step | share of the sum |")
    print("| --- | --- | --- |")
    for kind, seconds in sorted(by_type.items(), key=lambda item: -item[1]):
        print(f"| {kind} | {1e3 * seconds:.1f} | {seconds / total:.0%} |")


if __name__ == "__main__":
    main()
