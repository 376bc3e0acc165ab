"""The preset release recipe of docs/release.md, end to end on a tiny folder."""

import os
import runpy
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from deepkoala import Colorizer, cli
from deepkoala.download import file_sha256
from deepkoala.presets import Preset, get_preset, register_preset, unregister_preset
from tests.helpers import striped_images

TOOLS = Path(__file__).resolve().parent.parent / "tools"


def test_train_evaluate_export_register_and_load(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DEEPKOALA_HOME", str(tmp_path / "home"))
    train, heldout = tmp_path / "train", tmp_path / "heldout"
    for folder, seed in ((train, 0), (heldout, 1)):
        folder.mkdir()
        for index, image in enumerate(striped_images(6, size=40, seed=seed)):
            Image.fromarray(image).save(folder / f"{index}.png")

    model = tmp_path / "model.keras"
    assert cli.main(
        ["train", str(train), "--epochs", "2", "--out", str(model), "--size", "32",
         "--backbone", "tiny_test_backbone", "--backbone-weights", "none", "--batch-size", "3"]
    ) == 0  # fmt: skip
    capsys.readouterr()
    assert cli.main(["evaluate", str(heldout), "--weights", str(model), "--json"]) == 0
    report = tmp_path / "report.json"
    report.write_text(capsys.readouterr().out)

    monkeypatch.setattr(
        sys,
        "argv",
        ["export_preset.py", str(model), "--name", "tiny-release", "--description", "test",
         "--trained-on", "stripes", "--report", str(report), "--out-dir", str(tmp_path / "out")],
    )  # fmt: skip
    runpy.run_path(str(TOOLS / "export_preset.py"), run_name="__main__")
    printed = capsys.readouterr().out
    folder = tmp_path / "out" / "tiny-release"
    assert sorted(os.listdir(folder)) == [
        "backbone.weights.h5",  # a random backbone: not the published one, so it is kept
        "config.json",
        "head.weights.h5",
        "metadata.json",
    ]
    assert f"'head.weights.h5': {file_sha256(folder / 'head.weights.h5')!r}" in printed

    registry_lines = printed.split("Registry lines for deepkoala/presets.py:\n")[1]
    try:
        exec(registry_lines, {"Preset": Preset, "register_preset": register_preset})
        preset = get_preset("tiny-release")
        assert preset.scores["images"] == 6 and "gray_psnr" in preset.scores
        cached = tmp_path / "home" / "weights"
        shutil.copytree(folder, cached / "tiny-release")  # as a download would leave it
        monkeypatch.setenv("DEEPKOALA_OFFLINE", "1")
        released = Colorizer.from_preset("tiny-release")
    finally:
        unregister_preset("tiny-release")
    original = Colorizer.load(model)
    probe = np.random.default_rng(0).uniform(-1, 1, (1, 32, 32, 1)).astype("float32")
    difference = np.abs(np.asarray(released(probe)) - np.asarray(original(probe)))
    assert difference.max() * 128 < 2.0
