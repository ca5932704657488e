"""Recipes: what trains a model end to end (data, architecture, optimizer, callbacks,
checkpoints and the run itself), built on the library below."""

from keras_sgm._lazy import lazy_exports

__getattr__ = lazy_exports(globals(), {
    "NonFiniteLossError": "keras_sgm.recipes.callbacks",
    "training_callbacks": "keras_sgm.recipes.callbacks",
    "resume_from": "keras_sgm.recipes.checkpoints",
    "save_atomically": "keras_sgm.recipes.checkpoints",
    "start_from": "keras_sgm.recipes.checkpoints",
    "DEFAULTS": "keras_sgm.recipes.config",
    "TrainingConfig": "keras_sgm.recipes.config",
    "train": "keras_sgm.recipes.training",
})
