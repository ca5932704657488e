"""Serving: a model out of Python (`export`, ONNX and TensorFlow SavedModel files) and in the browser
(`studio`, a local web app over a JSON API)."""

from keras_sgm._lazy import lazy_exports

__getattr__ = lazy_exports(globals(), {
    "export": "keras_sgm.serving.export",
    "EXPORT_FORMATS": "keras_sgm.serving.export",
})
