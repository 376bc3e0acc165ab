"""Importing deepkoala is silent, writes nothing and needs no TensorFlow off TF."""

import os
import subprocess
import sys

import pytest


def _python(code, env_extra, cwd):
    env = dict(os.environ, **env_extra)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


def _files_under(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_import_prints_nothing_and_writes_nothing_beyond_keras(tmp_path):
    written = {}
    for name, code in [("keras", "import keras"), ("deepkoala", "import deepkoala.colorizer")]:
        home = tmp_path / name
        home.mkdir()
        result = _python(code, {"HOME": str(home), "KERAS_HOME": str(home / ".keras")}, home)
        assert result.returncode == 0, result.stderr
        assert result.stdout == ""
        written[name] = _files_under(home)
    # Keras writes its own ~/.keras/keras.json on import; deepkoala adds nothing.
    assert written["deepkoala"] == written["keras"]


def test_import_under_jax_does_not_import_tensorflow(tmp_path):
    pytest.importorskip("jax")
    result = _python(
        "import sys, deepkoala; deepkoala.Colorizer; print('tensorflow' in sys.modules)",
        {"KERAS_BACKEND": "jax"},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
