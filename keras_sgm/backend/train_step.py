"""The train steps of each backend: how gradients are taken and variables updated.

Everything mathematical (the loss, the EMA update) is written once in
`keras.ops`; `TrainStep` is the mixin that gives `keras.Model` a
`train_step` / `test_step` for the active backend. The model provides four
hooks, each written once in `keras.ops`:

- `training_batch(data) -> (images, labels)`: a batch as float32 images
  and its labels (or None);
- `batch_loss(images, labels, training) -> loss`: the scalar loss,
  drawing its noise from the model's seed generator (`training` turns
  dropout on);
- `update_ema()`: called after every optimizer step;
- `record_loss(loss) -> logs`: updates the loss metric and returns the logs.

`ReplicaSeedGenerator` is the training noise's generator, which gives each
`tf.distribute` replica its own draws.
"""

import contextlib
import warnings

import keras

BACKEND = keras.backend.backend()


@contextlib.contextmanager
def compiler_warnings_quieted():
    """Inside (a `fit`), PyTorch's warning about Keras's cached helpers is not shown.

    torch.compile warns, with a stack trace, about every cached dtype helper
    of Keras it traces; those helpers are pure, so tracing through is exact.
    The filter is undone on leaving.
    """
    with warnings.catch_warnings():
        if BACKEND == "torch":
            warnings.filterwarnings("ignore", message="Dynamo detected a call to a `functools.lru_cache`")
        yield


def run_stateless(fn, variables, values):
    """Runs `fn()` with `variables` bound to `values`, without touching them.

    Returns `fn()`'s output and the variables' values after it ran (its
    assignments included). This is how a stateful Keras computation becomes
    a pure function that JAX can differentiate and compile.
    """
    with keras.StatelessScope(state_mapping=list(zip(variables, values))) as scope:
        output = fn()
    return output, [scope.get_current_value(v) for v in variables]


class ReplicaSeedGenerator(keras.random.SeedGenerator):
    """A `SeedGenerator` that gives every `tf.distribute` replica its own noise.

    Under `MirroredStrategy` each replica runs the train step on its share
    of the batch with the same mirrored generator state, so a plain
    generator would draw the same times and noise on every replica. This
    one offsets the drawn seed by the replica's index; the state itself
    advances identically everywhere and stays in sync. Elsewhere it is a
    plain `SeedGenerator`.
    """

    REPLICA_OFFSET = 1_000_003

    def next(self, ordered=True):
        seed = super().next(ordered)
        if BACKEND != "tensorflow":
            return seed
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return seed
        replica = tf.cast(context.replica_id_in_sync_group, seed.dtype)
        return seed + tf.constant([self.REPLICA_OFFSET, 0], seed.dtype) * replica


class _TensorFlowTrainStep:
    def train_step(self, data):
        import tensorflow as tf

        batch = self.training_batch(data)
        with tf.GradientTape() as tape:
            loss = self.batch_loss(*batch, training=True)
            # The optimizer sums the replicas' gradients (MirroredStrategy).
            replica_share = loss / tf.distribute.get_strategy().num_replicas_in_sync
        gradients = tape.gradient(replica_share, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        self.update_ema()
        return self.record_loss(loss)

    def test_step(self, data):
        return self.record_loss(self.batch_loss(*self.training_batch(data)))


class _TorchTrainStep:
    def train_step(self, data):
        import torch

        batch = self.training_batch(data)
        self.zero_grad()
        loss = self.batch_loss(*batch, training=True)
        loss.backward()
        trainable = self.trainable_variables
        gradients = [v.value.grad for v in trainable]
        with torch.no_grad():
            self.optimizer.apply(gradients, trainable)
        self.update_ema()
        return self.record_loss(loss)

    def test_step(self, data):
        return self.record_loss(self.batch_loss(*self.training_batch(data)))


class _JaxTrainStep:
    def _state_variables(self, with_optimizer):
        groups = [self.trainable_variables, self.non_trainable_variables]
        if with_optimizer:
            groups.append(self.optimizer.variables)
        groups.append(self.metrics_variables)
        return groups

    def _run_on_state(self, fn, state, with_optimizer):
        """`run_stateless` over the trainer's state tuple, group by group."""
        groups = self._state_variables(with_optimizer)
        flat_variables = [v for group in groups for v in group]
        flat_values = [v for group in state for v in group]
        output, flat_values = run_stateless(fn, flat_variables, flat_values)
        new_state, start = [], 0
        for group in groups:
            new_state.append(flat_values[start : start + len(group)])
            start += len(group)
        return output, tuple(new_state)

    def train_step(self, state, data):
        import jax

        # The batch is prepared inside the stateless run: a latent model encodes
        # it with variables that only the state holds during fit.
        def loss_and_state(trainable_values):
            return self._run_on_state(
                lambda: self.batch_loss(*self.training_batch(data), training=True),
                (trainable_values, *state[1:]),
                with_optimizer=True,
            )

        (loss, state), gradients = jax.value_and_grad(loss_and_state, has_aux=True)(
            state[0]
        )
        trainable, optimizer_values = self.optimizer.stateless_apply(
            state[2], gradients, state[0]
        )
        state = (trainable, state[1], optimizer_values, state[3])

        def after_update():
            self.update_ema()
            return self.record_loss(loss)

        return self._run_on_state(after_update, state, with_optimizer=True)

    def test_step(self, state, data):
        return self._run_on_state(
            lambda: self.record_loss(self.batch_loss(*self.training_batch(data))),
            state,
            with_optimizer=False,
        )


TrainStep = {
    "tensorflow": _TensorFlowTrainStep,
    "torch": _TorchTrainStep,
    "jax": _JaxTrainStep,
}[BACKEND]
