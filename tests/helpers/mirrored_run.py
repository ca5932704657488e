"""Run as `python tests/helpers/mirrored_run.py OUT.npz` with KERAS_BACKEND=tensorflow.

Splits the CPU into two logical devices, takes one SGD step with
`tf.distribute.MirroredStrategy`, and replays that step on one device: each
replica's half of the batch with the noise seed that replica draws, and the
mean of the two gradients. Saves both results.
"""

import pathlib
import sys

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from keras_sgm.backend.train_step import ReplicaSeedGenerator  # noqa: E402
from tests.conftest import FIXTURE, small_model  # noqa: E402

LEARNING_RATE = 0.05


def sgd_model():
    model = small_model(seed=0, num_classes=10)
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE))
    return model


def replay(weights, seed_state, images, labels):
    """The mirrored step, computed replica by replica on one device."""
    model = sgd_model()
    model.network.set_weights(weights)
    halves = np.split(np.arange(len(images)), 2)
    losses, gradients = [], []
    for replica, half in enumerate(halves):
        model.seed_generator.state.assign(seed_state + np.array([replica * ReplicaSeedGenerator.REPLICA_OFFSET, 0]))
        with tf.GradientTape() as tape:
            loss = model.batch_loss(*model.training_batch((images[half], labels[half])))
        losses.append(float(loss))
        gradients.append([tf.convert_to_tensor(g) for g in tape.gradient(loss, model.network.trainable_weights)])
    mean_gradients = {v.path: (a + b) / 2 for v, a, b in zip(model.network.trainable_weights, *gradients)}
    stepped = [
        w.numpy() - LEARNING_RATE * mean_gradients[w.path].numpy() if w.path in mean_gradients else w.numpy()
        for w in model.network.weights
    ]
    return losses, stepped


if __name__ == "__main__":
    data = np.load(FIXTURE)
    images, labels = data["x_train"][:64, ..., None], data["y_train"][:64]
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = sgd_model()
    weights = [w.numpy() for w in model.network.weights]
    seed_state = model.seed_generator.state.numpy()
    loss = model.fit(images, labels, batch_size=64, epochs=1, shuffle=False, verbose=0).history["loss"][0]
    replica_losses, expected = replay(weights, seed_state, images, labels)
    np.savez(
        sys.argv[1],
        loss=loss,
        replica_losses=replica_losses,
        replicas=strategy.num_replicas_in_sync,
        **{f"mirrored_{i}": w.numpy() for i, w in enumerate(model.network.weights)},
        **{f"replayed_{i}": w for i, w in enumerate(expected)},
    )
