"""`import keras_sgm` imports no backend and changes nothing global, even once every module is imported."""

import subprocess
import sys

PROBE = """
import logging, os, sys, warnings
state = lambda: (dict(os.environ), list(sys.meta_path), list(warnings.filters), os.fstat(2).st_ino,
                 [list(logging.getLogger(name).filters) for name in ("tensorflow", "jax", "absl")])
before = state()
import keras_sgm
assert "keras" not in sys.modules and "tensorflow" not in sys.modules, "import keras_sgm imported a backend"
assert state() == before, "import keras_sgm changed the interpreter"
import keras
before = state()
import keras_sgm.cli, keras_sgm.evaluation.metrics, keras_sgm.models.latent, keras_sgm.recipes.training
import keras_sgm.sampling.samplers
assert state() == before, "importing keras-sgm's modules changed the interpreter"
"""


def test_importing_the_package_changes_nothing_global(backend):
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
