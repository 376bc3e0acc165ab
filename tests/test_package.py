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


def _package_imports():
    """{module: the deepkoala modules it imports, at the top or inside functions}."""
    import ast
    import pathlib

    package = pathlib.Path(__file__).resolve().parent.parent / "deepkoala"
    modules = {path.stem for path in package.glob("*.py")}
    graph = {}
    for path in package.glob("*.py"):
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "deepkoala":
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("deepkoala."):
                imported.add(node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                imported.update(
                    alias.name.split(".")[1]
                    for alias in node.names
                    if alias.name.startswith("deepkoala.")
                )
        # `from deepkoala import Colorizer` goes through the lazy attribute to colorizer.py.
        imported = {"colorizer" if name == "Colorizer" else name for name in imported}
        graph[path.stem] = (imported & modules) - {path.stem}
    return graph


def test_the_modules_import_no_circle_and_only_the_command_line_imports_the_task():
    graph = _package_imports()
    # The entry points that load a colorizer by name: the command line and the archive job.
    loaders = {name for name, imported in graph.items() if "colorizer" in imported}
    assert loaders == {"cli", "archive"}
    assert "colorizer" not in graph["training"] | graph["saving"]
    state = {}

    def visit(module, path):
        state[module] = "open"
        for imported in sorted(graph[module]):
            assert state.get(imported) != "open", f"import circle: {' -> '.join(path)}"
            if imported not in state:
                visit(imported, [*path, imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
