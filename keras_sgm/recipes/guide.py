"""The run's own autoguidance guide: the network that sampled after an early epoch, kept with the model.

Autoguidance (Karras et al. 2024) guides a model with a weaker version of
itself; a briefly trained state of the same run is such a version, and it
comes free. `KeepGuide` saves it to `guide.keras` when its epoch ends, and
`attach_guide` makes it the finished model's guide network, saved inside
`model.keras`, so that the model's unconditional samples are autoguided by
default, on the command line and in Python alike.
"""

import json
import pathlib
import zipfile

import keras

from keras_sgm.models.presets import AUTOGUIDANCE_INTERVAL
from keras_sgm.recipes.checkpoints import save_atomically

GUIDE_FILE = "guide.keras"


class KeepGuide(keras.callbacks.Callback):
    """Saves the network that samples (the EMA's) after epoch `epoch` (counted from 1) to `path`.

    The model takes it only after `fit` (see `attach_guide`): the trainer
    holds the model's variables for the whole of a `fit`.
    """

    def __init__(self, path, epoch):
        super().__init__()
        self.path, self.epoch = pathlib.Path(path), int(epoch)

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            save_atomically(self.model.inference_network, self.path)


def carry_guide(model, checkpoint):
    """Gives `model` a guide network like that saved in the run's own `checkpoint` (a `.keras`
    file, read for its config alone), so that the checkpoint's weights load into it."""
    with zipfile.ZipFile(checkpoint) as archive:
        saved = json.loads(archive.read("config.json"))["config"].get("guide_network")
    if saved is not None:
        model.guide_network = keras.saving.deserialize_keras_object(saved)
        model.guide_network.trainable = False


def attach_guide(model, path):
    """Makes the network saved at `path` the guide network of `model`, if it has none yet, guiding
    between the shipped guide's noise levels (`AUTOGUIDANCE_INTERVAL`) unless the model names its own.

    The highest levels decide an image's class and layout, where guiding costs variety; the
    measurement that chose this is in docs/benchmarks.md, "A run's own guide".

    Returns:
        Whether a guide was attached (the model then needs saving again).
    """
    path = pathlib.Path(path)
    if model.guide_network is not None or not path.exists():
        return False
    network = keras.saving.load_model(path, compile=False)
    network.trainable = False
    model.guide_network = network
    if model.autoguidance_interval is None:
        model.autoguidance_interval = AUTOGUIDANCE_INTERVAL
    return True
