"""Property-based tests: hostile values for every option of every command.

Whatever the values, the user sees one line, `Error: ...`, the exit code is
2, and no file is written.
"""

import math
import os
import pathlib
import tempfile

import click
import numpy as np
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from keras_sgm.cli import main
from keras_sgm.cli.options import (
    Channels,
    DataSource,
    FeatureNetwork,
    FiniteFloat,
    ImageSize,
    Label,
    NoiseInterval,
)
from keras_sgm.cli.serving import HostAddress
from tests.conftest import FIXTURE

OUTPUT_SUFFIXES = {"out": ".png", "npz": ".npz", "json_path": ".json"}
REQUIRED = {"inpaint": ["--image", "digit.png"]}


def _text_except(valid):
    return st.text(max_size=12).filter(lambda s: s.strip() not in valid)


def _not_an_int():
    return _text_except(set()).filter(lambda s: not s.strip().lstrip("+-").isdigit())


def _hostile_values(param):
    """Values of `param` that must be refused."""
    kind = param.type
    if param.name in ("init_weights", "checkpoint", "guide") and kind == click.STRING:  # a saved model, or a preset
        return st.sampled_from(["missing.keras", "a_folder", "garbage.bin", "", "pretrained.keras"])
    if isinstance(kind, click.IntRange):
        outside = [st.integers(max_value=kind.min - 1)] if kind.min is not None else []
        outside += [st.integers(min_value=kind.max + 1)] if kind.max is not None else []
        return st.one_of(*outside, _not_an_int())
    if isinstance(kind, FiniteFloat):
        outside = [st.floats(max_value=kind.min, exclude_max=True, allow_nan=False)] if kind.min is not None else []
        outside += [st.floats(min_value=kind.max, exclude_min=True, allow_nan=False)] if kind.max is not None else []
        if kind.min_open:
            outside.append(st.just(kind.min))
        return st.one_of(*outside, st.sampled_from(["nan", "inf", "-inf", "1e999"]),
                         _text_except(set()).filter(lambda s: not _is_float(s) and _refused(kind, s)))
    if isinstance(kind, click.Choice):
        return _text_except(set(kind.choices))
    if isinstance(kind, Channels):
        return st.one_of(st.sampled_from(["0", "8,0", "-8", "8,,16", "4097", "", "8;16"]),
                         _text_except(set()).filter(lambda s: _refused(kind, s)))
    if isinstance(kind, DataSource):  # a TFDS name, a folder of images, or an existing .npz
        return st.sampled_from(["missing.npz", "a_folder", "garbage.bin", "", "MNIST", "a_folder.npz",
                                "no_such_dataset", "./missing_folder", "digit.png"])
    if isinstance(kind, FeatureNetwork):
        return st.sampled_from(["missing.keras", "a_folder", "garbage.bin", "", "inception3", "digit.png", "MNIST"])
    if isinstance(kind, NoiseInterval):
        return st.one_of(st.sampled_from(["", "2,1", "-1,2", "0,inf", "nan,1", "1", "1,2,3", "none", "1;2"]),
                         _text_except(set()).filter(lambda s: _refused(kind, s)))
    if isinstance(kind, ImageSize):
        return st.one_of(st.sampled_from(["0", "32x", "x32", "-4", "4097", "32x32x3", "", "1e3"]),
                         _text_except(set()).filter(lambda s: _refused(kind, s)))
    if isinstance(kind, HostAddress):
        return st.sampled_from(["", "bad host", "256.1.1.1", "127.0.0.1:80", "example.com", "::1::"])
    if isinstance(kind, Label):  # no class of the tiny test models, nor a word
        return st.sampled_from(["", " ", "-1", "10", "12", "ten", "sneaker", "!", "1.5"])
    if isinstance(kind, click.Path):
        if param.name in OUTPUT_SUFFIXES:  # files the command writes
            return st.sampled_from(["a_folder", "missing/x" + OUTPUT_SUFFIXES[param.name], "plain.txt",
                                    "garbage.bin/x" + OUTPUT_SUFFIXES[param.name]])
        if not kind.file_okay:  # folders
            return st.sampled_from(["garbage.bin"])
        return st.sampled_from(["missing.keras", "a_folder", "garbage.bin", ""])
    raise AssertionError(f"no hostile values for {param.name} of type {kind}")


def _refused(kind, text):
    try:
        kind.convert(text, None, None)
    except click.BadParameter:
        return True
    return False


def _is_float(text):
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


COMMANDS = {
    name: [p for p in command.params if isinstance(p, click.Option) and not p.is_flag]
    for name, command in main.commands.items()
    if any(isinstance(p, click.Option) and not p.is_flag for p in command.params)
}


@st.composite
def hostile_invocations(draw):
    name = draw(st.sampled_from(sorted(COMMANDS)))
    options = draw(st.lists(st.sampled_from(COMMANDS[name]), min_size=1, max_size=3, unique_by=lambda p: p.name))
    args = [name]
    for option in options:
        args += [option.opts[0], str(draw(_hostile_values(option)))]
    if not any(option.name == "image" for option in options):
        args += REQUIRED.get(name, [])
    return args


def _snapshot(folder):
    return {(path, path.stat().st_size) for path in pathlib.Path(folder).rglob("*")}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_invocations())
def test_hostile_options_get_a_one_line_error_and_write_nothing(args):
    with tempfile.TemporaryDirectory() as folder:
        os.makedirs(os.path.join(folder, "a_folder"))
        pathlib.Path(folder, "garbage.bin").write_bytes(os.urandom(64))
        pathlib.Path(folder, "missing.keras").unlink(missing_ok=True)
        Image.fromarray(np.load(FIXTURE)["x_test"][0]).save(os.path.join(folder, "digit.png"))
        before = _snapshot(folder)
        cwd = os.getcwd()
        os.chdir(folder)
        try:
            result = CliRunner().invoke(main, args)
        finally:
            os.chdir(cwd)
        assert result.exit_code == 2, (args, result.output, result.exception)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: "), (args, result.output)
        assert "Traceback" not in result.output
        assert _snapshot(folder) == before, args
