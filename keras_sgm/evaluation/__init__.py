"""Evaluation: sample-quality metrics on the features of a shipped classifier, and reports."""

from keras_sgm._lazy import lazy_exports

__getattr__ = lazy_exports(globals(), {
    "SampleQuality": "keras_sgm.evaluation.during_training",
    "calibration": "keras_sgm.evaluation.evaluate",
    "evaluate_model": "keras_sgm.evaluation.evaluate",
    "inpainting_accuracy": "keras_sgm.evaluation.evaluate",
    "load_reference_images": "keras_sgm.evaluation.evaluate",
    "reconstruction_report": "keras_sgm.evaluation.evaluate",
    "format_report": "keras_sgm.evaluation.report",
})
