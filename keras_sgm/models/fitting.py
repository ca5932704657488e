"""What a keras-sgm model needs to train on images with the backend's train step.

`keras_sgm.backend.TrainStep` asks a model for four hooks. `ImageFitting`
gives three of them for models trained on images (uint8 0..255 or floats in
[0, 1]) with an optional label; a model adds `batch_loss(images, labels, training)`
and, if it keeps one, its EMA update.
"""

from keras import ops

from keras_sgm.backend.train_step import TrainStep, compiler_warnings_quieted
from keras_sgm.data import validation
from keras_sgm.data.images import unit_floats
from keras_sgm.models.legacy import SEED_STATE, saved_seed_state


class ImageFitting(TrainStep):
    """A mixin of `keras.Model`: `fit` on images, with a `loss` metric.

    The model sets `self.loss_tracker = keras.metrics.Mean(name="loss")` and
    `self.seed_generator` (the training noise's generator), and defines
    `batch_loss(images, labels, training)`. The generator's state is saved with the
    model, so that a resumed run draws the noise an uninterrupted one would.
    """

    @property
    def metrics(self):
        return [self.loss_tracker]

    def training_batch(self, data):
        """`(images, labels)` of a batch: float32 images in [0, 1] (uint8 0..255
        is rescaled) and the labels, or None when the batch has none."""
        return unit_floats(ops.convert_to_tensor(validation.image_batch(data))), validation.label_batch(data)

    def update_ema(self):
        """Called after every optimizer step; nothing to do without an EMA."""

    def record_loss(self, loss):
        """Adds a batch's loss to the running mean; returns the logs."""
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def save_own_variables(self, store):
        super().save_own_variables(store)
        store[SEED_STATE] = ops.convert_to_numpy(self.seed_generator.state)

    def load_own_variables(self, store):
        own = self._trainable_variables + self._non_trainable_variables
        for index, variable in enumerate(own):
            variable.assign(store[f"{index}"])
        seed_state = saved_seed_state(store)
        if seed_state is not None:
            self.seed_generator.state.assign(seed_state)


class CheckedImageFit:
    """A mixin of a `keras.Model` with `image_shape` and `num_classes`: `fit`
    and `evaluate` check their images and labels first, with a `ValueError`
    that names the problem, before any training step runs."""

    def fit(self, x=None, y=None, validation_data=None, **kwargs):
        """`keras.Model.fit`, after checking that the images suit the model.

        `x` may be an array of images, float in [0, 1] or uint8 0..255, or a
        batched `tf.data.Dataset` of images or of `(image, label)` pairs; `y`
        holds the labels of an array `x`. A conditional model learns from the
        labels, an unconditional one ignores them. Bad images raise a
        `ValueError` before training.
        """
        self.check_images(x, "x")
        if y is not None:
            self.check_labels(y, "`y`")
        if validation_data is not None:
            self.check_images(validation.image_batch(validation_data), "validation_data")
        with compiler_warnings_quieted():
            return super().fit(x, y, validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, y=None, **kwargs):
        self.check_images(x, "x")
        return super().evaluate(x, y, **kwargs)

    def check_images(self, data, argument):
        """Raises a `ValueError` naming the problem if `data` cannot train this model
        (see `keras_sgm.data.validation.check_images`)."""
        validation.check_images(data, self.image_shape, argument, self.num_classes)

    def check_labels(self, labels, argument):
        """Raises a `ValueError` unless `labels` are integers in 0..num_classes - 1."""
        validation.check_labels(labels, self.num_classes, argument)
