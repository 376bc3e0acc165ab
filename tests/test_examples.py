"""The scripts in examples/ run, on tiny settings."""

import runpy
import sys
from pathlib import Path

from PIL import Image

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run_example(name, monkeypatch, *args):
    monkeypatch.setattr(sys, "argv", [name, *args])
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")


def test_fine_tune_then_colorize_examples(tmp_path, monkeypatch, capsys):
    model = tmp_path / "mine.keras"
    monkeypatch.setenv("DEEPKOALA_HOME", str(tmp_path / "home"))
    _run_example(
        "fine_tune.py", monkeypatch, str(EXAMPLES / "photos"), "--out", str(model),
        "--epochs", "1", "--backbone", "tiny_test_backbone", "--backbone-weights", "none",
        "--size", "32",
    )  # fmt: skip
    assert model.is_file()
    output = tmp_path / "colorized.png"
    _run_example(
        "colorize_photo.py", monkeypatch, str(EXAMPLES / "sample_gray.jpg"), str(output),
        "--weights", str(model),
    )  # fmt: skip
    assert Image.open(output).size == Image.open(EXAMPLES / "sample_gray.jpg").size
    assert "Wrote" in capsys.readouterr().out


def test_guided_example(tmp_path, monkeypatch, capsys, tiny_colorizer):
    model = tmp_path / "tiny.keras"
    tiny_colorizer.save(model)
    output = tmp_path / "hinted.png"
    _run_example(
        "colorize_guided.py", monkeypatch, str(EXAMPLES / "sample_gray.jpg"), str(output),
        "--hint", "120,80,#b22222", "--reference", str(EXAMPLES / "photos" / "coffee.jpg"),
        "--weights", str(model),
    )  # fmt: skip
    assert Image.open(output).size == Image.open(EXAMPLES / "sample_gray.jpg").size
    assert "steered" in capsys.readouterr().out
