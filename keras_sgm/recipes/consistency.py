"""The consistency-tuning recipe: a trained score model into a few-step consistency model (ECT)."""

import dataclasses

from keras_sgm.models.saving import load_model
from keras_sgm.recipes.config import TUNING_DEFAULTS
from keras_sgm.recipes.training import train


def tune_consistency(config=TUNING_DEFAULTS):
    """Tunes the score model `config.init_weights` into a consistency model, with `train`'s run.

    The tuned model has the score model's network, space (pixel or latent)
    and classes, and learns with `ConsistencyTuning`'s loss, on the data the
    score model was trained on unless `config.data` says otherwise. It
    keeps `train`'s atomic checkpoint every epoch, resuming, NaN stop and
    progress; `keras_sgm.sampling.samplers.multistep_consistency` (the
    `consistency` sampler) draws from it in 1 to 4 network evaluations.

    Args:
        config: A `TrainingConfig` whose `init_weights` is the score model
            (a `.keras` file or a preset name) and whose `data` is None or
            that model's data; `consistency` is set.

    Returns:
        `train`'s dict: the model, the paths written and the epoch times.

    Example:

    >>> import dataclasses
    >>> result = tune_consistency(dataclasses.replace(TUNING_DEFAULTS, epochs=1, steps_per_epoch=100))
    >>> result["model"].is_consistency_model
    True
    """
    if config.init_weights is None:
        raise ValueError("consistency tuning starts from a trained score model: give its .keras file "
                         "(--checkpoint), or 'pretrained' for the shipped one.")
    data = config.data
    if data is None:
        data = load_model(config.init_weights).dataset or "mnist"
    return train(dataclasses.replace(config, data=data, consistency=True))
