"""Lazy exports of a package: names resolved on first use, so that importing a package imports no backend."""

import importlib


def lazy_exports(package_globals, exports):
    """The module `__getattr__` of a package that exports `exports` without importing them.

    Args:
        package_globals: The package's `globals()`; a resolved name is stored
            there, so that the next lookup is a plain attribute.
        exports: `{name: "keras_sgm.module.path"}`.

    Returns:
        A function to assign to the package's `__getattr__` (PEP 562).

    Example:

    >>> __getattr__ = lazy_exports(globals(), {"edm_heun": "keras_sgm.sampling.samplers"})
    """
    package = package_globals["__name__"]

    def __getattr__(name):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        package_globals[name] = value
        return value

    return __getattr__
