"""The only backend-specific code: gradient plumbing and compiled functions.

- `train_step`: the `TrainStep` mixin of each backend and `ReplicaSeedGenerator`;
- `compile`: `compile_stateful` (one sampler program), `input_gradient` and
  `training_jit_compile` (which `jit_compile` trains fastest here);
- `distribution`: `data_parallel`, a run's devices and hosts;
- `tensorflow`: TensorFlow imported without its start-up chatter.
"""

from keras_sgm._lazy import lazy_exports

__getattr__ = lazy_exports(globals(), {
    "BACKEND": "keras_sgm.backend.train_step",
    "ReplicaSeedGenerator": "keras_sgm.backend.train_step",
    "TrainStep": "keras_sgm.backend.train_step",
    "run_stateless": "keras_sgm.backend.train_step",
    "TORCH_COMPILE_MIN_STEPS": "keras_sgm.backend.compile",
    "compile_stateful": "keras_sgm.backend.compile",
    "input_gradient": "keras_sgm.backend.compile",
    "training_jit_compile": "keras_sgm.backend.compile",
    "DataParallel": "keras_sgm.backend.distribution",
    "data_parallel": "keras_sgm.backend.distribution",
})
