"""What careless or hostile input gets: a clear error, or a skip that names it; nothing lost."""

import json
import math
import os
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from deepkoala import Colorizer, cli
from deepkoala.atomic import partial_path
from deepkoala.image_files import find_images
from tests.helpers import TINY_BACKBONE, striped_images


@pytest.fixture
def saved_tiny_model(tmp_path, tiny_colorizer):
    path = tmp_path / "model" / "tiny.keras"
    path.parent.mkdir()
    tiny_colorizer.save(path)
    return path


def _photo(path, seed=0, size=32):
    Image.fromarray(striped_images(1, size=size, seed=seed)[0]).save(path)
    return path


def test_colorize_into_its_input_folder_never_destroys_an_input(tmp_path, saved_tiny_model):
    folder = tmp_path / "photos"
    folder.mkdir()
    _photo(folder / "x.jpg")
    _photo(folder / "x.png", seed=1)  # would be x.jpg's output name
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    args = ["colorize", str(folder), "-o", str(folder), "--weights", str(saved_tiny_model)]
    assert cli.main(args) == 1  # one output was refused, and said so
    for name, data in before.items():
        assert (folder / name).read_bytes() == data
    # --overwrite replaces earlier outputs, never inputs.
    assert cli.main([*args, "--overwrite"]) == 1
    assert (folder / "x.png").read_bytes() == before["x.png"]


def test_existing_outputs_are_kept_unless_overwrite(tmp_path, saved_tiny_model, capsys):
    photo = _photo(tmp_path / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").write_bytes(b"keep me")
    args = ["colorize", str(photo), "-o", str(out), "--weights", str(saved_tiny_model)]
    assert cli.main(args) == 1
    assert (out / "a.png").read_bytes() == b"keep me"
    assert "exists already" in capsys.readouterr().err
    assert cli.main([*args, "--overwrite"]) == 0
    assert Image.open(out / "a.png").size == (32, 32)


def test_an_output_that_cannot_be_written_is_skipped_and_named(tmp_path, saved_tiny_model, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    _photo(folder / "a.png")
    _photo(folder / "b.png", seed=1)
    out = tmp_path / "out"
    (out / "a.png").mkdir(parents=True)  # a folder in the way
    code = cli.main(
        ["colorize", str(folder), "-o", str(out), "--weights", str(saved_tiny_model),
         "--overwrite", "--batch-size", "1"]
    )  # fmt: skip
    assert code == 1
    assert "a.png" in capsys.readouterr().err
    assert Image.open(out / "b.png").size == (32, 32)  # later inputs still processed
    assert not [p for p in out.iterdir() if "partial" in p.name]


def test_symlink_loops_end_and_stay_inside_the_folder(tmp_path):
    outside = tmp_path / "parent_photo.png"
    _photo(outside)
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    _photo(folder / "a.png")
    _photo(folder / "sub" / "b.png")
    os.symlink(".", folder / "s1")
    os.symlink(".", folder / "s2")
    os.symlink("..", folder / "sub" / "up")
    os.symlink("..", folder / "loop")  # leads outside: not followed
    os.symlink(outside, folder / "linked.png")  # a file put there on purpose: kept
    os.symlink(folder / "a.png", folder / "same.png")  # the same real file: once
    found = find_images(str(folder))
    real = sorted(os.path.realpath(p) for p in found)
    assert real == sorted(
        os.path.realpath(p) for p in (folder / "a.png", folder / "sub" / "b.png", outside)
    )


def test_a_dangling_symlink_is_skipped_and_named_by_fit_and_evaluate(tmp_path, tiny_colorizer):
    from deepkoala.evaluation import evaluate

    folder = tmp_path / "photos"
    folder.mkdir()
    for index in range(4):
        _photo(folder / f"{index}.png", seed=index)
    os.symlink(tmp_path / "gone.png", folder / "dangling.png")
    with pytest.warns(UserWarning, match="dangling.png"):
        history = tiny_colorizer.fit(folder, epochs=1, cache_dir=tmp_path / "cache", verbose=0)
    assert np.isfinite(history.history["loss"][0])
    with pytest.warns(UserWarning, match="dangling.png"):
        report = evaluate(tiny_colorizer, str(folder), verbose=0)
    assert report["images"] == 4


@pytest.mark.parametrize("value", [math.nan, math.inf, -1.0, 0])
def test_non_finite_or_non_positive_learning_rates_are_refused(value, tiny_colorizer):
    with pytest.raises(ValueError, match="learning_rate"):
        tiny_colorizer.fit(striped_images(2), learning_rate=value, verbose=0)


def test_colorize_raises_instead_of_returning_black_from_broken_weights(tiny_colorizer):
    head = tiny_colorizer.head
    head.set_weights([np.full_like(w, np.nan) for w in head.get_weights()])
    with pytest.raises(FloatingPointError, match="not finite"):
        tiny_colorizer.colorize(striped_images(1)[0])


@pytest.mark.parametrize("bad", [math.inf, math.nan])
def test_a_float_tiff_with_a_non_finite_pixel_is_an_error_naming_it(tmp_path, bad, tiny_colorizer):
    pixels = np.full((16, 16), 0.5, np.float32)
    pixels[3, 4] = bad
    path = tmp_path / "float.tif"
    Image.fromarray(pixels, mode="F").save(path)
    with pytest.raises(ValueError, match="float.tif.*not finite"):
        tiny_colorizer.colorize(str(path))


def test_colorize_a_list_can_skip_bad_items(tmp_path, tiny_colorizer):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    good = list(striped_images(3))
    with pytest.raises(ValueError, match="broken.jpg"):
        tiny_colorizer.colorize([good[0], str(broken), good[1]])
    with pytest.warns(UserWarning, match="broken.jpg"):
        results = tiny_colorizer.colorize(
            [good[0], str(broken), good[1], good[2]], batch_size=2, errors="skip"
        )
    assert results[1] is None
    assert [image.size for image in results if image is not None] == [(32, 32)] * 3
    with pytest.raises(ValueError, match="errors"):
        tiny_colorizer.colorize(good, errors="ignore")


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "deepkoala.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_train_checks_where_the_result_goes_before_training(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    _photo(folder / "a.png")
    trained = []
    monkeypatch.setattr(Colorizer, "fit", lambda self, *args, **kwargs: trained.append(1))
    for out, message in [
        (tmp_path / "model.txt", "must name a .keras file"),
        (tmp_path / "no" / "such" / "m.keras", "no such folder"),
    ]:
        code = cli.main(["train", str(folder), "--out", str(out), "--backbone", TINY_BACKBONE])
        assert code == 1
        assert message in capsys.readouterr().err
    assert trained == []


LEGACY_FILE = Path(__file__).resolve().parent / "data" / "tiny-0.1.keras"


def _with_entry(path, name, data, target):
    """A copy of the .keras file at `path` whose archive entry `name` holds `data`."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as copy:
        for item in source.infolist():
            copy.writestr(item.filename, data if item.filename == name else source.read(item))
    return target


def _settings_entry(path):
    """(entry name, settings dict, wrap) of a current or a 0.1 file."""
    with zipfile.ZipFile(path) as archive:
        if "deepkoala.json" in archive.namelist():
            return "deepkoala.json", json.loads(archive.read("deepkoala.json")), lambda c: c
        serialized = json.loads(archive.read("config.json"))
    return "config.json", serialized["config"], lambda c: {**serialized, "config": c}


@pytest.mark.parametrize("release", ["current", "0.1"])
@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"image_size": "abc"}, "image_size"),
        ({"image_size": -8}, "image_size"),
        ({"image_size": 200000}, "image_size"),
        ({"loss": "sepia"}, "loss"),
        ({"colour": 1}, "colour"),
    ],
)
def test_saved_settings_are_checked_on_load(tmp_path, saved_tiny_model, release, settings, message):
    path = saved_tiny_model if release == "current" else LEGACY_FILE
    name, config, wrap = _settings_entry(path)
    data = json.dumps(wrap({**config, **settings})).encode()
    bad = _with_entry(path, name, data, tmp_path / "bad.keras")
    with pytest.raises(ValueError, match=message):
        Colorizer.load(bad)


@pytest.mark.parametrize("release", ["current", "0.1"])
def test_settings_that_are_not_an_object_or_too_large_are_refused(
    tmp_path, saved_tiny_model, release
):
    path = saved_tiny_model if release == "current" else LEGACY_FILE
    name, _, _ = _settings_entry(path)
    for index, data in enumerate([b"{}", b"[1, 2]", b" " * (2 << 20) + b"{}"]):
        bad = _with_entry(path, name, data, tmp_path / f"bad{index}.keras")
        with pytest.raises(ValueError, match="bad"):
            Colorizer.load(bad)


def test_a_file_of_release_0_1_loads_with_its_weights():
    colorizer = Colorizer.load(LEGACY_FILE).set_precision("float32")  # as the plain model
    network = keras.saving.load_model(LEGACY_FILE, compile=False)  # the plain model inside
    lightness = np.random.default_rng(0).uniform(-1, 1, (1, 32, 32, 1)).astype("float32")
    np.testing.assert_allclose(
        np.asarray(colorizer(lightness)), np.asarray(network(lightness)), atol=1e-6
    )
    assert isinstance(colorizer, Colorizer) and colorizer.image_size == 32


def test_cli_errors_from_bad_model_files_are_one_line(tmp_path, saved_tiny_model):
    photo = _photo(tmp_path / "a.png")
    empty_settings = _with_entry(saved_tiny_model, "config.json", b"{}", tmp_path / "empty.keras")
    with zipfile.ZipFile(saved_tiny_model) as archive:
        keras_config = archive.read("config.json").decode()
    unknown_class = _with_entry(
        saved_tiny_model,
        "config.json",
        keras_config.replace("Colorizer", "NoSuchModel").encode(),
        tmp_path / "unknown.keras",
    )
    for model in (empty_settings, unknown_class):
        result = _run("colorize", str(photo), "-o", str(tmp_path / "out"), "--weights", str(model))
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("deepkoala: error:")


LOCK_HOLDER = """
import fcntl, sys, time
lock = open(sys.argv[1], "a")
fcntl.flock(lock, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="advisory locks are POSIX")
def test_a_live_cache_build_in_another_pid_namespace_is_not_deleted(tmp_path, tiny_colorizer):
    """The cleanup asks the build's lock, not its process id, which another container reuses."""
    folder = tmp_path / "photos"
    folder.mkdir()
    _photo(folder / "a.png")
    cache = tmp_path / "cache"
    cache.mkdir()
    # Partials named by the one rule; the live one's process id would be
    # alive here (this process), as another container's build could have.
    live = Path(partial_path(cache / "other.h5"))
    live.write_bytes(b"being written")
    abandoned = Path(partial_path(cache / "old.h5"))
    abandoned.write_bytes(b"left by a killed build")
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, f"{live}.lock"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        tiny_colorizer.fit(folder, epochs=1, cache_dir=cache, verbose=0)
        assert live.exists()
        assert not abandoned.exists()
    finally:
        holder.kill()
        holder.wait()


def test_warning_free_colorize_of_good_lists(tiny_colorizer):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(tiny_colorizer.colorize(list(striped_images(2)), errors="skip")) == 2
