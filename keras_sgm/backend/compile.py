"""Compiled functions on each backend: sampler programs and their cache, input gradients, and the train
step's jit setting."""


from keras_sgm.backend.train_step import BACKEND, run_stateless

# torch.compile repays its compilation, tens of seconds on a CPU, only over
# long runs; 1,000 steps is about two MNIST epochs.
TORCH_COMPILE_MIN_STEPS = 1000


def training_jit_compile(steps, patch_size=1):
    """The `jit_compile` of `model.compile` for a training run of `steps` steps.

    JAX and TensorFlow: Keras's `"auto"`, which compiles with XLA (on
    TensorFlow only with a GPU: on a CPU XLA trained no faster). PyTorch:
    Keras's `"auto"` runs eagerly, but `torch.compile` (`True`) trains the
    default network faster on CPUs and GPUs once it has compiled
    (`docs/benchmarks.md`). It is chosen for runs of at least
    `TORCH_COMPILE_MIN_STEPS` steps, and not for the `patch_size=2`
    network, which it slows on a CPU.

    Args:
        steps: Training steps in the whole run.
        patch_size: The network's `patch_size` (see `build_unet`).

    Returns:
        `"auto"`, `True` or `False`.
    """
    if BACKEND != "torch":
        return "auto"
    return steps >= TORCH_COMPILE_MIN_STEPS and patch_size == 1


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

        return tf.function(fn, reduce_retracing=True, autograph=False)

    import torch

    def call(*args):
        with torch.no_grad():
            return fn(*args)

    return call


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


class ProgramCache:
    """A model's compiled sampler programs, by key, and the generator of their noise.

    A model holds one as `sampling_programs`, as keras-hub keeps its
    generate function on the model, and clears it when a network or the
    schedule it traced is replaced. The noise generator is reseeded by every
    sampler call, so that a seed gives the same samples whatever ran before.
    """

    def __init__(self):
        self.programs = {}
        self._noise = None

    @property
    def noise(self):
        """The `keras.random.SeedGenerator` of the sampler noise, made on first use."""
        if self._noise is None:
            import keras

            self._noise = keras.random.SeedGenerator(0)
        return self._noise

    def clear(self):
        """Drops the compiled programs; the next sampler call compiles again."""
        self.programs.clear()
