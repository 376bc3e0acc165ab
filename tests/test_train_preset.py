"""tools/train_preset.py and tools/make_gallery.py on a tiny photo set."""

import csv
import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import TINY_BACKBONE, striped_images

TOOLS = Path(__file__).resolve().parent.parent / "tools"


def _photo_set(root):
    """A folder laid out as tools/make_demo_dataset.py writes it."""
    rows = []
    for split, count, seed in (("train", 6, 0), ("heldout", 3, 1)):
        (root / split).mkdir(parents=True)
        for index, image in enumerate(striped_images(count, size=48, seed=seed)):
            package = "pkg-a" if index % 2 else "pkg-b"
            path = f"{split}/{package}-{index}.jpg"
            Image.fromarray(image).save(root / path)
            rows.append(
                {"path": path, "split": split, "package": package, "licence": "CC0-1.0",
                 "copyright": "nobody"}
            )  # fmt: skip
    with open(root / "manifest.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


def _run_tool(monkeypatch, name, *args):
    monkeypatch.setattr(sys, "argv", [name, *map(str, args)])
    try:
        runpy.run_path(str(TOOLS / name), run_name="__main__")
    except SystemExit as exit_:
        assert exit_.code in (0, None)


def test_train_preset_writes_model_record_and_heldout_scores(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPKOALA_HOME", str(tmp_path / "home"))
    data = _photo_set(tmp_path / "data")
    out = tmp_path / "out"
    _run_tool(
        monkeypatch, "train_preset.py", data, "--name", "tiny", "--backbone", TINY_BACKBONE,
        "--loss", "classification", "--image-size", "32", "--stored-size", "40", "--views", "2",
        "--packages", "pkg-a", "--steps", "3", "--batch-size", "2", "--cosine-decay",
        "--degrade-lightness", "--out-dir", out,
    )  # fmt: skip
    record = json.loads((out / "tiny-training.json").read_text())
    assert record["steps"] == 3 and record["degrade_lightness"] is True
    assert record["views_per_image"] == 2 and record["config"]["loss"] == "classification"
    assert record["source_packages"] == ["pkg-a"] and record["training_photos"] == 3
    assert {photo["licence"] for photo in record["photos"]} == {"CC0-1.0"}
    assert record["heldout"]["images"] == 3 and "gray" in record["heldout"]
    assert (out / "tiny.keras").is_file()

    gallery = tmp_path / "gallery.jpg"
    _run_tool(
        monkeypatch, "make_gallery.py", data / "heldout", gallery, "--model", out / "tiny.keras",
        out / "tiny.keras", "--count", "2", "--include", "pkg-a-1.jpg",
    )  # fmt: skip
    with Image.open(gallery) as image:
        assert image.width == 4 * 256  # gray input, two models, original
        assert image.height == 22 + 3 * 256


def test_validation_by_subject_early_stopping_and_temperature_choice(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPKOALA_HOME", str(tmp_path / "home"))
    monkeypatch.syspath_prepend(str(TOOLS))  # calibrate_decoding imports train_preset
    data = _photo_set(tmp_path / "data")
    out = tmp_path / "out"
    _run_tool(
        monkeypatch, "train_preset.py", data, "--name", "tiny", "--backbone", TINY_BACKBONE,
        "--loss", "classification", "--image-size", "32", "--stored-size", "32",
        "--steps", "8", "--batch-size", "2", "--validation-percent", "34",
        "--early-stopping", "1", "--balance-sources", "1", "--out-dir", out,
    )  # fmt: skip
    record = json.loads((out / "tiny-training.json").read_text())
    assert record["validation_photos"] == 2 and record["training_photos"] == 4
    assert record["balance_sources"] == 1.0
    assert len(record["validation_loss_history"]) == record["epochs"] >= 1
    held_back = {photo["path"] for photo in record["photos"][-2:]}  # validation photos last
    assert all(path.startswith("train/") for path in held_back)

    choice = tmp_path / "decoding.json"
    _run_tool(
        monkeypatch, "calibrate_decoding.py", out / "tiny.keras", data,
        "--validation-percent", "34", "--temperatures", "0.3", "0.5",
        "--saturations", "1.0", "1.5", "--edge-aware", "--resamples", "50", "--out", choice,
    )  # fmt: skip
    calibration = json.loads(choice.read_text())
    assert calibration["validation_photos"] == 2
    assert [(row["temperature"], row["saturation"]) for row in calibration["table"]] == [
        (0.3, 1.0), (0.3, 1.5), (0.5, 1.0), (0.5, 1.5)
    ]  # fmt: skip
    assert all(0.0 <= row["odds_of_meeting_the_bars"] <= 1.0 for row in calibration["table"])
    assert calibration["chosen"] in [
        {"temperature": row["temperature"], "saturation": row["saturation"]}
        for row in calibration["table"]
    ]


def test_bar_odds_count_the_resamples_that_meet_every_bar(monkeypatch):
    monkeypatch.syspath_prepend(str(TOOLS))
    from calibrate_decoding import bar_odds

    gray = np.array([[20.0, 0.90]] * 4)
    original = np.full(4, 40.0)
    clear = np.array([[22.0, 0.91, 30.0]] * 4)  # every bar met on every photo
    assert bar_odds(clear, gray, original, 1.0, 0.6, 100) == 1.0
    pale = clear.copy()
    pale[:, 2] = 20.0  # half the originals' colorfulness
    assert bar_odds(pale, gray, original, 1.0, 0.6, 100) == 0.0
    mixed = clear.copy()
    mixed[0, 0] = 10.0  # one bad photo: the bar holds only in resamples without it
    odds = bar_odds(mixed, gray, original, 1.0, 0.6, 2000)
    assert abs(odds - 0.75**4) < 0.05


def test_decoding_choice_treats_odds_within_sampling_error_as_ties(monkeypatch):
    monkeypatch.syspath_prepend(str(TOOLS))
    from calibrate_decoding import choose

    rows = [
        {"odds_of_meeting_the_bars": 0.454, "colorfulness_share": 0.61},
        {"odds_of_meeting_the_bars": 0.451, "colorfulness_share": 0.69},
        {"odds_of_meeting_the_bars": 0.30, "colorfulness_share": 0.75},
    ]
    assert choose(rows, 2000)["colorfulness_share"] == 0.69  # 0.003 apart: a tie
    assert choose(rows, 10**7)["colorfulness_share"] == 0.61  # no longer within the error


def test_blend_weights_interpolates_two_heads_of_the_same_settings(tmp_path, monkeypatch):
    import keras
    import pytest

    from deepkoala import Colorizer
    from tests.helpers import TINY_SIZES

    keras.utils.set_random_seed(0)
    first = Colorizer(backbone=TINY_BACKBONE, backbone_weights=None, **TINY_SIZES)
    second = Colorizer(backbone=TINY_BACKBONE, backbone_weights=None, **TINY_SIZES)
    first.save(tmp_path / "a.keras")
    second.save(tmp_path / "b.keras")
    out = tmp_path / "blend.keras"
    _run_tool(monkeypatch, "blend_weights.py", tmp_path / "a.keras", tmp_path / "b.keras",
              "--weight", "0.25", "--out", out)  # fmt: skip
    blended = Colorizer.load(out)
    assert blended.get_config() == first.get_config()
    for got, a, b in zip(
        blended.get_weights(), first.get_weights(), second.get_weights(), strict=True
    ):
        np.testing.assert_allclose(got, 0.75 * a + 0.25 * b, rtol=1e-6, atol=1e-7)
    monkeypatch.syspath_prepend(str(TOOLS))
    from blend_weights import blend

    other = Colorizer(backbone=TINY_BACKBONE, backbone_weights=None, saturation=2.0, **TINY_SIZES)
    with pytest.raises(ValueError, match="different settings"):
        blend(first, other, 0.5)


def test_a_guided_head_trains_from_a_model_and_exports(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPKOALA_HOME", str(tmp_path / "home"))
    data = _photo_set(tmp_path / "data")
    out = tmp_path / "out"
    common = ["--image-size", "32", "--stored-size", "32", "--steps", "2", "--batch-size", "2"]
    _run_tool(
        monkeypatch, "train_preset.py", data, "--name", "tiny", "--backbone", TINY_BACKBONE,
        "--loss", "classification", *common, "--out-dir", out,
    )  # fmt: skip
    _run_tool(
        monkeypatch, "train_preset.py", data, "--name", "tiny-guided", "--guided-from",
        out / "tiny.keras", *common, "--out-dir", out,
    )  # fmt: skip
    record = json.loads((out / "tiny-guided-training.json").read_text())
    assert record["config"]["guided"] and record["guided_from"] == str(out / "tiny.keras")
    assert record["steps"] == 2
    _run_tool(
        monkeypatch, "export_preset.py", out / "tiny-guided.keras", "--name", "tiny-guided",
        "--out-dir", tmp_path / "presets",
    )  # fmt: skip
    config = json.loads((tmp_path / "presets" / "tiny-guided" / "config.json").read_text())
    monkeypatch.syspath_prepend(str(TOOLS))
    from export_preset import add_cross_source

    table = tmp_path / "loso.json"
    table.write_text(json.dumps({"rows": [], "mean_psnr_over_gray": 0.5}))
    record = tmp_path / "presets" / "tiny-guided" / "training.json"
    add_cross_source(record, table)
    assert json.loads(record.read_text())["cross_source"]["mean_psnr_over_gray"] == 0.5
    assert config["config"]["guided"] is True


def test_leave_one_source_out_scores_each_source_with_a_head_trained_without_it(
    tmp_path, monkeypatch
):
    import importlib.util

    monkeypatch.setenv("DEEPKOALA_HOME", str(tmp_path / "home"))
    data = _photo_set(tmp_path / "data")
    spec = importlib.util.spec_from_file_location("loso", TOOLS / "leave_one_source_out.py")
    loso = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loso)
    monkeypatch.setattr(loso, "FOLDS", {"a": ("pkg-a",), "b": ("pkg-b",)})
    out = tmp_path / "loso"
    loso.main(
        [str(data), "--out-dir", str(out), "--steps", "2", "--folds", "a", "b", "--backbone",
         TINY_BACKBONE, "--loss", "classification", "--image-size", "32", "--stored-size",
         "32", "--batch-size", "2"]
    )  # fmt: skip
    result = json.loads((out / "leave-one-source-out.json").read_text())
    assert [row["fold"] for row in result["rows"]] == ["a", "b"]
    # Each fold trained on the other source only, and scored on all of its own photos.
    for row, other in zip(result["rows"], ("pkg-b", "pkg-a"), strict=True):
        record = json.loads((out / row["fold"] / f"{row['fold']}-training.json").read_text())
        assert record["source_packages"] == [other]
        assert row["photos"] == {"a": 4, "b": 5}[row["fold"]]  # both splits of the source
        assert row["psnr_over_gray"] == round(row["psnr"] - row["gray_psnr"], 3)
    assert result["worst_source"] in ("a", "b") and "mean_psnr_over_gray" in result
    # The same fold models, scored again with another decoding: no training.
    monkeypatch.setattr(loso.train_preset, "main", lambda argv: pytest.fail("trained again"))
    loso.main(
        [str(data), "--out-dir", str(out), "--folds", "a", "b", "--score-only",
         "--uncertainty-fade", "2", "--table", "faded.json"]
    )  # fmt: skip
    faded = json.loads((out / "faded.json").read_text())
    assert faded["decoding"] == {"uncertainty_fade": 2.0}
    for row, before in zip(faded["rows"], result["rows"], strict=True):
        assert row["photos"] == before["photos"] and row["gray_psnr"] == before["gray_psnr"]
        assert row["colorfulness_share"] <= before["colorfulness_share"] + 1e-3  # only paler
    assert (out / "a" / "a-left-out-faded.json").is_file()
    (data / "manifest.csv").write_text(
        (data / "manifest.csv").read_text().replace("pkg-a", "darknet")
    )
    with pytest.raises(SystemExit, match="reserved"):
        loso.main([str(data), "--out-dir", str(out)])


def test_train_preset_as_two_processes_writes_one_record(tmp_path):
    pytest.importorskip("jax")
    import os
    import socket
    import subprocess

    data = _photo_set(tmp_path / "data")
    out = tmp_path / "out"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The tool with the tests' tiny backbone registered.
    runner = (
        "import runpy, sys, tests.helpers; sys.argv[0] = 'train_preset.py'; "
        f"runpy.run_path({str(TOOLS / 'train_preset.py')!r}, run_name='__main__')"
    )
    root = TOOLS.parent
    environment = dict(
        os.environ, KERAS_BACKEND="jax", PYTHONPATH=str(root), DEEPKOALA_HOME=str(tmp_path / "home")
    )
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                runner,
                str(data),
                "--name",
                "tiny",
                "--backbone",
                TINY_BACKBONE,
                "--image-size",
                "32",
                "--stored-size",
                "40",
                "--steps",
                "2",
                "--batch-size",
                "2",
                "--out-dir",
                str(out),
                "--coordinator",
                f"127.0.0.1:{port}",
                "--num-processes",
                "2",
                "--process-id",
                str(index),
            ],
            cwd=root,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for index in range(2)
    ]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    record = json.loads((out / "tiny-training.json").read_text())
    assert record["steps"] == 2 and record["keras_backend"] == "jax"
    assert "Trained 2 steps" in outputs[0] and "Trained" not in outputs[1]
    assert sorted(path.name for path in out.iterdir()) == [
        "tiny-heldout.json", "tiny-training.json", "tiny.keras",
    ]  # fmt: skip
