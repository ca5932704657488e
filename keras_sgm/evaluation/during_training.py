"""`SampleQuality`: FID, KID and the recognised share of a score model's samples while it trains."""

import math
import time

import keras
import numpy as np

from keras_sgm.evaluation import metrics
from keras_sgm.evaluation.classifier import load_classifier
from keras_sgm.sampling.sample import sample

QUALITY_LOGS = ("fid", "kid", "recognised")
"""The figures `SampleQuality` adds to the logs: NaN on the epochs it skips (and `recognised` for
an unconditional model), so that `keras.callbacks.CSVLogger` keeps one column for each."""


class SampleQuality(keras.callbacks.Callback):
    """Samples a few hundred images every `every` epochs and adds their quality to the logs.

    The samples come from the model's EMA weights (those `sample` uses), with
    the same noise at every measurement, so that the figures move with the
    model alone. A conditional model samples every class in turn, guided at
    its default scale, and `recognised` is the share that the feature network
    classifies as the class asked for. The figures join the epoch's logs
    before the callbacks that come after this one run, so that
    `keras.callbacks.CSVLogger` and `keras.callbacks.TensorBoard` record them.

    Args:
        reference_images: Real images of the model's shape (its test split),
            uint8 0..255 or floats in [0, 1].
        features: The feature network: a name or file for
            `keras_sgm.evaluation.classifier.load_classifier`, or a model
            returning `(features, logits)`.
        every: Epochs between measurements.
        num: Samples per measurement.
        sampler: A sampler name of `keras_sgm.sampling.sample.SAMPLERS`;
            None: the model's default.
        steps: The sampler's steps; None: its default.
        seed: Seed of the samples.
        verbose: Print one line per measurement.

    Example:

    ```python
    quality = SampleQuality(test_images, features="fashion_mnist", every=2, num=500)
    model.fit(images, labels, epochs=10, callbacks=[quality, keras.callbacks.CSVLogger("history.csv")])
    quality.history  # [{"epoch": 2, "fid": ..., "kid": ..., "recognised": ..., "seconds": ...}, ...]
    ```
    """

    def __init__(self, reference_images, features, every=1, num=500, sampler=None, steps=None, seed=0,
                 verbose=True):
        super().__init__()
        self.features = features if isinstance(features, keras.Model) else load_classifier(features)
        dimensions = self.features.output[0].shape[-1]
        if int(every) < 1:
            raise ValueError(f"SampleQuality measures every >= 1 epochs; got every={every}.")
        if int(num) <= dimensions:
            raise ValueError(f"FID on {dimensions} features needs more samples than that; got num={num}, give at "
                             f"least {dimensions + 1}.")
        self.reference_images = reference_images
        self.every, self.num, self.sampler, self.steps, self.seed = int(every), int(num), sampler, steps, seed
        self.verbose = verbose
        self.history = []
        self._reference = None  # the reference images' features, computed at the first measurement

    def measure(self):
        """Samples `num` images now and returns their figures, as `history` records them."""
        start = time.perf_counter()
        if self._reference is None:
            self._reference = metrics.classify(self.reference_images, features=self.features)[0]
        classes = getattr(self.model, "num_classes", None)
        labels = np.arange(self.num) % classes if classes else None
        images, _, _ = sample(self.model, self.num, self.sampler, self.steps, self.seed, labels=labels)
        embeddings, probabilities = metrics.classify(images, features=self.features)
        figures = {
            "fid": metrics.frechet_distance(embeddings, self._reference),
            "kid": metrics.kernel_distance(embeddings, self._reference, subsets=20)[0],
            "recognised": float(np.mean(probabilities.argmax(axis=1) == labels)) if classes else math.nan,
        }
        return {**figures, "seconds": time.perf_counter() - start}

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        if (epoch + 1) % self.every:
            logs.update(dict.fromkeys(QUALITY_LOGS, math.nan))
            return
        figures = self.measure()
        self.history.append({"epoch": epoch + 1, **figures})
        logs.update({name: figures[name] for name in QUALITY_LOGS})
        if self.verbose:
            share = figures["recognised"]
            recognised = "" if math.isnan(share) else f", recognised {100 * share:.1f} %"
            print(f"quality after epoch {epoch + 1}: FID {figures['fid']:.2f}, KID {figures['kid']:.4f}{recognised} "
                  f"({self.num} samples, {figures['seconds']:.1f} s)")
