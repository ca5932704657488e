"""Data parallelism for a training run, as each backend does it: every local device, the CPU
split into replicas on JAX, and several hosts through `keras.distribution.initialize`.

A run asks for it once, before anything touches a device (`data_parallel`), and
builds, trains and samples inside the returned `DataParallel.scope()`. On JAX
the global batch is one array sharded over the devices: every replica draws
the noise of its own share of that array, and XLA averages the gradients. On
TensorFlow, `tf.distribute.MirroredStrategy` runs one copy of the train step per
device (`keras_sgm.backend.train_step` gives each its own noise) and sums the
scaled gradients.

The module imports Keras only when called, so that the command line can show
its choices for `--help` at once.
"""

import contextlib
import dataclasses
import os

DISTRIBUTE_CHOICES = ("auto", "on", "off")
"""`"auto"`: JAX spreads over its devices (a CPU split into host devices of at
least `MIN_REPLICA_BATCH` images each), the other backends use one device;
`"on"`: every local device; `"off"`: one device."""

MIN_REPLICA_BATCH = 32
"""Fewer images per replica leave XLA:CPU's kernels too little work to pay for the split."""

CLUSTER_VARIABLES = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                     "KERAS_DISTRIBUTION_PROCESS_ID")


class DistributionError(ValueError):
    """A distributed run was asked for where this backend or machine cannot give it."""


@dataclasses.dataclass(frozen=True)
class DataParallel:
    """How a run spreads its batches: the devices, the hosts, and a scope to build and train in.

    Attributes:
        replicas: Devices that each train on a share of the global batch.
        process_id: This process's index among the hosts (0: the chief, which
            alone writes files).
        num_processes: Processes in the job.
        strategy: The Keras distribution (JAX) or `tf.distribute` strategy
            (TensorFlow), or None for one device.
    """

    replicas: int = 1
    process_id: int = 0
    num_processes: int = 1
    strategy: object = None

    @property
    def is_chief(self):
        """Whether this process writes the checkpoints, grids and logs."""
        return self.process_id == 0

    def describe(self):
        """One line for the log: `"4 replicas (DataParallel), 1 process"`."""
        if self.strategy is None:
            return "1 device"
        kind = type(self.strategy).__name__
        hosts = f", {self.num_processes} processes" if self.num_processes > 1 else ""
        return f"{self.replicas} replicas ({kind}){hosts}"

    @contextlib.contextmanager
    def scope(self):
        """Builds, compiles, trains and samples under the distribution, and leaves it after."""
        import keras

        if self.strategy is None:
            yield self
        elif keras.backend.backend() == "tensorflow":
            with self.strategy.scope():
                yield self
        else:
            previous = keras.distribution.distribution()
            keras.distribution.set_distribution(self.strategy)
            try:
                yield self
            finally:
                keras.distribution.set_distribution(previous)


def shard_batch(batch):
    """Lays a batch out over the devices of the active data-parallel distribution, a share on each.

    Work on a batch that no training step shards (encoding the data, sampling)
    would otherwise run whole on every replica, since the weights are on all of
    them. Works eagerly and inside compiled functions. The batch is returned as
    it is without a Keras distribution (TensorFlow, PyTorch, one device), in a
    job of several processes (each process's batch is its own there, not a share
    of a global one), and when it does not divide over the devices.

    Args:
        batch: A tensor whose first axis is the batch.

    Returns:
        The batch, sharded or as it was.
    """
    import keras

    distribution = keras.distribution.distribution()
    if distribution is None or keras.backend.backend() != "jax":
        return batch
    import jax

    mesh = distribution.device_mesh
    devices = dict(zip(mesh.axis_names, mesh.shape))[distribution.batch_dim_name]
    shape = keras.ops.shape(batch)
    if jax.process_count() > 1 or not shape or shape[0] % devices:
        return batch
    return keras.distribution.distribute_tensor(batch, distribution.get_data_layout(shape))


def cpu_replicas(batch_size, cores=None):
    """The host devices to split a CPU into for a batch: two per core, as long as each keeps
    `MIN_REPLICA_BATCH` images and the batch divides evenly.

    XLA:CPU leaves part of the cores idle on the small maps of a latent U-Net;
    replicas side by side fill them (`benchmarks/cpu_parallelism.py`).

    Args:
        batch_size: The global batch.
        cores: CPU cores available to this process (default: its affinity).

    Returns:
        The number of host devices, at least 1.
    """
    return _even_split(batch_size, 2 * (cores or len(os.sched_getaffinity(0))))


def _even_split(batch_size, devices):
    """The most replicas, up to `devices`, that each keep `MIN_REPLICA_BATCH` images and divide the batch."""
    replicas = max(1, min(devices, batch_size // MIN_REPLICA_BATCH))
    while batch_size % replicas:
        replicas -= 1
    return replicas


def cluster_requested():
    """Whether Keras's cluster variables, or a SLURM job of several tasks, name other processes."""
    if "KERAS_DISTRIBUTION_NUM_PROCESSES" in os.environ:
        return _requested_processes() > 1
    return _requested_processes() > 1 and "SLURM_JOB_ID" in os.environ


def _requested_processes():
    return int(os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES") or os.environ.get("SLURM_NTASKS") or 1)


def data_parallel(distribute="auto", batch_size=128):
    """Sets up the data parallelism of a run; call it before the run touches any device.

    Args:
        distribute: One of `DISTRIBUTE_CHOICES` (True and False mean `"on"`
            and `"off"`).
        batch_size: The global batch, which every replica's share must divide.

    Returns:
        A `DataParallel`.

    Raises:
        DistributionError: The backend cannot distribute (PyTorch), the batch
            does not divide over the devices, or a cluster was asked for
            outside JAX.

    Example:

    >>> parallel = data_parallel("auto", batch_size=128)
    >>> with parallel.scope():
    ...     model = build_and_compile()
    ...     model.fit(dataset)
    """
    import keras

    distribute = {True: "on", False: "off"}.get(distribute, distribute)
    if distribute not in DISTRIBUTE_CHOICES:
        raise DistributionError(f"distribute must be one of {DISTRIBUTE_CHOICES}; got {distribute!r}.")
    backend = keras.backend.backend()
    if distribute == "off":
        return DataParallel()
    if cluster_requested() and backend != "jax":
        raise DistributionError(
            f"several processes ({', '.join(CLUSTER_VARIABLES)}) need KERAS_BACKEND=jax; "
            f"Keras's {backend} backend trains on one host."
        )
    if backend == "jax":
        return _jax_data_parallel(distribute, batch_size)
    if distribute == "auto":
        return DataParallel()
    if backend == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy()
        _check_divides(batch_size, strategy.num_replicas_in_sync)
        return DataParallel(replicas=strategy.num_replicas_in_sync, strategy=strategy)
    raise DistributionError(
        "Keras's torch backend has no data parallelism yet; use KERAS_BACKEND=jax (DataParallel) "
        "or tensorflow (MirroredStrategy) with --distribute, or leave it off."
    )


def _jax_data_parallel(distribute, batch_size):
    import jax
    import keras

    # A split asked for by the user (JAX_NUM_CPU_DEVICES or XLA's flag) stands.
    user_split = os.environ.get("JAX_NUM_CPU_DEVICES") or "host_platform_device_count" in os.environ.get(
        "XLA_FLAGS", "")
    if not user_split:
        try:
            jax.config.update("jax_num_cpu_devices", cpu_replicas(batch_size // _requested_processes()))
        except RuntimeError:  # JAX has computed in this process already: its devices stay as they are
            pass
    if cluster_requested() and not jax.distributed.is_initialized():
        # After the split: joining the cluster runs a first computation on the devices.
        keras.distribution.initialize()
    devices = jax.devices()
    if distribute == "auto" and jax.process_count() == 1 and devices[0].platform == "cpu":
        # The CPU may have been split for a larger batch earlier in this process.
        devices = devices[:_even_split(batch_size, len(devices))]
    if len(devices) == 1:
        return DataParallel()
    _check_divides(batch_size, len(devices))
    return DataParallel(replicas=len(devices), process_id=jax.process_index(), num_processes=jax.process_count(),
                        strategy=keras.distribution.DataParallel(devices=devices))


def _check_divides(batch_size, replicas):
    if batch_size % replicas:
        raise DistributionError(
            f"batch_size={batch_size} does not split over {replicas} devices; use a multiple of {replicas}."
        )
