"""The module paths of keras-sgm 0.1, before the library was split into subpackages.

`import keras_sgm.samplers` (or `keras_sgm.model`, `keras_sgm.training`, ...)
keeps working: each old path is a module that looks its names up in the
modules that hold them now.
"""

import importlib
import importlib.abc
import importlib.util
import sys
import types

OLD_MODULES = {
    "schedules": ["diffusion.schedules"],
    "preconditioning": ["diffusion.preconditioning"],
    "losses": ["diffusion.loss"],
    "guidance": ["diffusion.guidance"],
    "score_function": ["diffusion.protocol"],
    "layers": ["models.layers"],
    "unet": ["models.unet", "models.blocks"],
    "autoencoder": ["models.autoencoder"],
    "model": ["models.score_model"],
    "latent": ["models.latent"],
    "fitting": ["models.fitting"],
    "pretrained": ["models.presets", "diffusion.guidance"],
    "checkpoints": ["models.saving"],
    "samplers": ["sampling.samplers", "sampling.sample", "sampling.inpainting", "sampling.masks",
                 "models.presets"],
    "inpainting": ["sampling.inpainting", "sampling.masks"],
    "likelihood": ["sampling.likelihood"],
    "masks": ["sampling.masks"],
    "ode_solver": ["sampling.ode_solver"],
    "images": ["data.images"],
    "validation": ["data.validation"],
    "metrics": ["evaluation.metrics"],
    "classifier": ["evaluation.classifier"],
    "cli_options": ["cli.options"],
    "training": ["recipes.training", "recipes.callbacks", "recipes.checkpoints", "recipes.architecture",
                 "recipes.autoencoder_stage", "recipes.data", "recipes.optimizer"],
}
"""Old module name -> the modules (under `keras_sgm.`) its names now live in, searched in order."""


class _OldModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.rpartition(".")
        if package == "keras_sgm" and name in OLD_MODULES:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return types.ModuleType(spec.name, f"keras-sgm 0.1's {spec.name}; see `keras_sgm._compat`.")

    def exec_module(self, module):
        homes = [f"keras_sgm.{home}" for home in OLD_MODULES[module.__name__.rpartition(".")[2]]]

        def __getattr__(name):
            for home in homes:
                value = getattr(importlib.import_module(home), name, _MISSING)
                if value is not _MISSING:
                    return value
            raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}")

        module.__getattr__ = __getattr__


_MISSING = object()


def install():
    """Makes the old module paths importable (once per process)."""
    if not any(isinstance(finder, _OldModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(_OldModuleFinder())
