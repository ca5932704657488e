import keras
from click.testing import CliRunner

import keras_sgm
from keras_sgm.cli import main


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and keras_sgm.__version__ in result.output


def test_info_names_the_active_backend_and_its_version():
    result = CliRunner().invoke(main, ["info"])
    assert result.exit_code == 0, result.output
    backend = keras.backend.backend()
    assert f"backend    {backend}" in result.output
    assert keras.__version__ in result.output
    assert "devices" in result.output
