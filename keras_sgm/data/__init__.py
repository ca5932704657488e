"""Data: any image source (`open_data`) as `tf.data` pipelines, image conversion and grids, and checks of
user input."""

from keras_sgm._lazy import lazy_exports

__getattr__ = lazy_exports(globals(), {
    "DatasetUnavailableError": "keras_sgm.data.datasets",
    "ImageData": "keras_sgm.data.sources",
    "open_data": "keras_sgm.data.sources",
    "tfds_builder": "keras_sgm.data.datasets",
    "batch_images": "keras_sgm.data.datasets",
    "load_mnist": "keras_sgm.data.datasets",
    "load_npz_images": "keras_sgm.data.datasets",
    "mnist_builder": "keras_sgm.data.datasets",
    "make_grid": "keras_sgm.data.images",
    "save_grid": "keras_sgm.data.images",
    "unit_floats": "keras_sgm.data.images",
})
