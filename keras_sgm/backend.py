"""The only backend-specific code in keras-sgm: gradient and state plumbing.

Everything mathematical (the loss, the EMA update, the samplers) is written
once in `keras.ops`. What differs between TensorFlow, JAX and PyTorch is how
gradients are taken and how variables are updated inside a compiled
function, and that lives here:

- `TrainStep`: a mixin giving `keras.Model` a `train_step` / `test_step`
  for the active backend. The model provides four hooks, each written once
  in `keras.ops`:
  - `training_batch(data) -> (images, labels)`: a batch as float32 images
    and its labels (or None);
  - `batch_loss(images, labels, training) -> loss`: the scalar loss,
    drawing its noise from the model's seed generator (`training` turns
    dropout on);
  - `update_ema()`: called after every optimizer step;
  - `record_loss(loss) -> logs`: updates the loss metric and returns the logs.
- `compile_stateful(fn, variables)`: compiles a function of tensors that
  reads (and may assign) Keras variables, such as one sampler step.
- `ReplicaSeedGenerator`: the training noise's generator, which gives each
  `tf.distribute` replica its own draws.
- `training_jit_compile(steps, patch_size)`: the `jit_compile` setting that
  trains fastest on this backend for a run of that many steps.
- `initializers_skipped()`: variables start as zeros while a saved model
  loads, which spares JAX one compilation per weight shape.
"""

import contextlib
import warnings

import keras
import numpy as np

BACKEND = keras.backend.backend()

if BACKEND == "torch":
    # torch.compile warns, with a stack trace, about every cached dtype helper
    # of Keras it traces; those helpers are pure, so tracing through is exact.
    warnings.filterwarnings("ignore", message="Dynamo detected a call to a `functools.lru_cache`")


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


# torch.compile repays its compilation (30 to 90 s for the default network on
# a 2-core CPU) only over long runs; 1,000 steps is about two MNIST epochs.
TORCH_COMPILE_MIN_STEPS = 1000


def training_jit_compile(steps, patch_size=1):
    """The `jit_compile` of `model.compile` for a training run of `steps` steps.

    JAX and TensorFlow: Keras's `"auto"`, which compiles with XLA (on
    TensorFlow only with a GPU: on a 2-core CPU XLA trained no faster). PyTorch:
    Keras's `"auto"` runs eagerly, but `torch.compile` (`True`) trains the
    default network 1.4 to 1.8 times as fast on a 2-core CPU and 2.4 to 2.6
    times as fast on an H200 GPU, after a compilation of 30 to 90 s. It is
    chosen for runs of at least `TORCH_COMPILE_MIN_STEPS` steps, and not
    for the `patch_size=2` network, which it slows by about 10 % on a CPU.

    Args:
        steps: Training steps in the whole run.
        patch_size: The network's `patch_size` (see `build_unet`).

    Returns:
        `"auto"`, `True` or `False`.
    """
    if BACKEND != "torch":
        return "auto"
    return steps >= TORCH_COMPILE_MIN_STEPS and patch_size == 1


TrainStep = {
    "tensorflow": _TensorFlowTrainStep,
    "torch": _TorchTrainStep,
    "jax": _JaxTrainStep,
}[BACKEND]


def compile_stateful(fn, variables):
    """Compiles `fn(*tensors)`, which may read and assign `variables`.

    JAX: `jax.jit` of a pure version of `fn` whose variable values go in and
    come out explicitly. TensorFlow: a `tf.function` over the variables.
    PyTorch: `fn` itself, run without autograd bookkeeping.

    Args:
        fn: A function of tensors written in `keras.ops`.
        variables: Every Keras variable that `fn` reads or assigns.

    Returns:
        A callable with `fn`'s signature.
    """
    variables = list(variables)
    if BACKEND == "jax":
        import jax

        @jax.jit
        def pure(values, *args):
            return run_stateless(lambda: fn(*args), variables, values)

        def call(*args):
            output, values = pure([v.value for v in variables], *args)
            for variable, value in zip(variables, values):
                variable.assign(value)
            return output

        return call
    if BACKEND == "tensorflow":
        import tensorflow as tf

        _quiet_retracing_warnings()
        return tf.function(fn, reduce_retracing=True, autograph=False)

    import torch

    def call(*args):
        with torch.no_grad():
            return fn(*args)

    return call


@contextlib.contextmanager
def initializers_skipped():
    """Inside, new variables start as zeros instead of drawing from their initializers.

    For loading a saved model, which overwrites every variable it builds. On
    JAX every initializer draw of a new shape is an XLA compilation of its
    own: with 37 of them `load_pretrained()` took 9.2 s on a 2-core CPU, 0.6 s
    without them. Variables whose initializer is not a Keras `Initializer`
    (a seed generator's state) are created as usual. Not thread-safe: it
    swaps a method of `keras.Variable` while it runs.
    """
    variable_class = keras.Variable
    draw = variable_class._initialize_with_initializer

    def zeros_instead(variable, initializer):
        if not isinstance(initializer, keras.initializers.Initializer):
            return draw(variable, initializer)
        variable._initialize(variable._convert_to_tensor(np.zeros(variable.shape, variable.dtype)))

    variable_class._initialize_with_initializer = zeros_instead
    try:
        yield
    finally:
        variable_class._initialize_with_initializer = draw


class _DropRetracingWarnings:
    """Each sampler call compiles its own closures on purpose; TensorFlow
    counts those as retracing of one function and warns after five calls."""

    @staticmethod
    def filter(record):
        return "triggered tf.function retracing" not in record.getMessage()


def _quiet_retracing_warnings():
    import logging

    logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _DropRetracingWarnings) for f in logger.filters):
        logger.addFilter(_DropRetracingWarnings())


def input_gradient(fn, x, has_aux=False):
    """The gradient of the scalar `fn(x)` with respect to the tensor `x`.

    Works inside `compile_stateful` functions on every backend, for the
    Hutchinson divergence of the likelihood computation and for
    reconstruction guidance in inpainting.

    Args:
        fn: A function of `x` in `keras.ops` returning a scalar, or with
            `has_aux` a pair `(scalar, aux)`.
        x: A tensor.
        has_aux: Also return `fn`'s second output, computed in the same
            forward pass as the gradient.

    Returns:
        The gradient, or `(gradient, aux)` with `has_aux`.
    """
    split = (lambda out: out) if has_aux else (lambda out: (out, None))
    if BACKEND == "jax":
        import jax

        gradient, aux = jax.grad(lambda y: split(fn(y)), has_aux=True)(x)
    elif BACKEND == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            value, aux = split(fn(x))
        gradient = tape.gradient(value, x)
    else:
        import torch

        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            value, aux = split(fn(x))
            gradient = torch.autograd.grad(value, x)[0]
            aux = None if aux is None else aux.detach()
    return (gradient, aux) if has_aux else gradient
