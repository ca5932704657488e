"""What reading a `.keras` file of keras-sgm 0.1 needs, and nothing else.

0.1 saved the U-Net as a plain functional model, and no state of the
training noise's generator. Its registered class names
(`keras_sgm>ScoreModel`, `keras_sgm>VESchedule`, ...) are today's, so
Keras finds the classes by name; the two differences are read here.
"""

import keras

SEED_STATE = "seed_generator_state"
"""The key of the training noise generator's state among a model's saved variables (absent in 0.1)."""


def saved_seed_state(store):
    """The seed generator's saved state in a model's variable `store`, or None in a 0.1 file."""
    return store[SEED_STATE] if SEED_STATE in store.keys() else None


def functional_unet_arguments(network):
    """The `build_unet` arguments of a 0.1 network, a functional model, read from its layers.

    Returns:
        A dict with `patch_size`, `channels`, `blocks_per_level`, `attention`
        and `dropout`.
    """
    layers_by_name = {layer.name: layer for layer in network.layers}
    channels = []
    while f"down{len(channels)}_conv" in layers_by_name:
        channels.append(layers_by_name[f"down{len(channels)}_conv"].filters)
    blocks = 0
    while f"down0_block{blocks}_conv1" in layers_by_name:
        blocks += 1
    dropout = layers_by_name.get("down0_block0_dropout")
    patchify = layers_by_name.get("patchify")
    return {
        "patch_size": 1 if patchify is None else patchify.block_size,
        "channels": tuple(channels),
        "blocks_per_level": blocks,
        "attention": any(isinstance(layer, keras.layers.MultiHeadAttention) for layer in network.layers),
        "dropout": 0.0 if dropout is None else dropout.rate,
    }
