"""The `deepkoala` command line."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from deepkoala import cli
from tests.helpers import striped_images


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "deepkoala.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_version_and_help():
    from deepkoala import __version__

    result = _run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"deepkoala {__version__}"
    for command in ([], ["colorize"], ["train"]):
        result = _run(*command, "--help")
        assert result.returncode == 0
        assert "usage: deepkoala" in result.stdout


def test_user_mistakes_are_one_line_errors_without_traceback(tmp_path):
    result = _run("colorize", str(tmp_path / "missing.jpg"), "-o", str(tmp_path), "--weights", "x")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"deepkoala: error: no such file or folder: {tmp_path / 'missing.jpg'}"
    ]
    image = tmp_path / "in.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(image)
    result = _run("colorize", str(image), "-o", str(tmp_path), "--weights", str(image))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("deepkoala: error:") and "not a deepkoala .keras file" in last_line
    result = _run("train", str(tmp_path / "nowhere"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"deepkoala: error: no such folder: {tmp_path / 'nowhere'}"
    )
    assert "Traceback" not in result.stderr
    # -o is optional now (outputs go beside the inputs); two sources are a usage error.
    assert _run("colorize", str(image), "--weights", "x", "--preset", "y").returncode == 2


def test_colorize_files_and_folders(tmp_path, saved_tiny_model, capsys):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(striped_images(1)[0]).save(folder / "a.png")
    Image.fromarray(np.zeros((10, 20), np.uint8)).save(folder / "sub" / "b.jpg")
    (folder / "broken.jpg").write_bytes(b"not an image")
    single = tmp_path / "a.png"
    Image.fromarray(np.full((9, 7), 100, np.uint8)).save(single)
    out = tmp_path / "out"
    code = cli.main(
        ["colorize", str(folder), str(single), "-o", str(out), "--weights", str(saved_tiny_model),
         "--batch-size", "2", "--size", "16"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1  # one input was unreadable; the others are all written
    assert "broken.jpg" in captured.err
    assert Image.open(out / "a.png").size == (32, 32)
    assert Image.open(out / "sub" / "b.jpg").size == (20, 10)
    assert Image.open(out / "a-2.png").size == (7, 9)  # name clash gets a suffix


def test_train_then_colorize(tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for index, image in enumerate(striped_images(4)):
        Image.fromarray(image).save(folder / f"{index}.png")
    model = tmp_path / "trained.keras"
    code = cli.main(
        ["train", str(folder), "--epochs", "1", "--out", str(model), "--size", "32",
         "--backbone", "tiny_test_backbone", "--backbone-weights", "none", "--batch-size", "2"]
    )  # fmt: skip
    assert code == 0 and model.is_file()
    code = cli.main(
        ["train", str(folder), "--epochs", "1", "--out", str(model), "--weights", str(model)]
    )
    assert code == 0
    code = cli.main(["colorize", str(folder / "0.png"), "-o", str(tmp_path / "out"),
                     "--weights", str(model)])  # fmt: skip
    assert code == 0
    assert (tmp_path / "out" / "0.png").is_file()


def test_colorize_without_an_output_folder_writes_beside_the_inputs(
    tmp_path, saved_tiny_model, capsys
):
    photo = tmp_path / "photo.jpg"
    Image.fromarray(striped_images(1)[0]).save(photo)
    folder = tmp_path / "album"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(striped_images(1)[0]).save(folder / "sub" / "a.png")
    assert cli.main(["colorize", str(photo), str(folder), "--weights", str(saved_tiny_model)]) == 0
    assert Image.open(tmp_path / "photo_colorized.jpg").size == (32, 32)
    assert Image.open(tmp_path / "album_colorized" / "sub" / "a.png").size == (32, 32)
    assert sorted(p.name for p in folder.rglob("*")) == ["a.png", "sub"]  # nothing added


def test_colorize_keeps_jpeg_photos_jpeg_unless_told_otherwise(tmp_path, saved_tiny_model):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(striped_images(1)[0]).save(folder / "a.jpg")
    Image.fromarray(striped_images(1)[0]).save(folder / "b.tif")
    # A JPEG by content is a JPEG, whatever its name.
    Image.fromarray(striped_images(1)[0]).save(folder / "c.png", format="JPEG")
    weights = ["--weights", str(saved_tiny_model)]
    assert cli.main(["colorize", str(folder), "-o", str(tmp_path / "auto"), *weights]) == 0
    formats = {p.name: Image.open(p).format for p in (tmp_path / "auto").iterdir()}
    assert formats == {"a.jpg": "JPEG", "b.png": "PNG", "c.jpg": "JPEG"}
    for chosen, extension, name in [("png", ".png", "PNG"), ("jpeg", ".jpg", "JPEG")]:
        out = tmp_path / chosen
        arguments = ["colorize", str(folder), "-o", str(out), "--format", chosen, *weights]
        assert cli.main(arguments) == 0
        written = {p.name: Image.open(p).format for p in out.iterdir()}
        assert written == {f"{stem}{extension}": name for stem in "abc"}


def test_train_fine_tunes_a_preset_and_help_shows_examples(tmp_path, monkeypatch):
    from deepkoala import Colorizer

    loaded = []

    def fake_from_preset(cls, name):
        loaded.append(name)
        raise ValueError("stop here")

    monkeypatch.setattr(Colorizer, "from_preset", classmethod(fake_from_preset))
    folder = tmp_path / "photos"
    folder.mkdir()
    code = cli.main(
        ["train", str(folder), "--preset", "some-preset", "--out", str(tmp_path / "m.keras")]
    )
    assert loaded == ["some-preset"] and code == 1  # loaded first (the stub then fails)
    for command in ("colorize", "train", "evaluate", "presets"):
        assert f"deepkoala {command}" in _run(command, "--help").stdout.split("example")[-1]


def test_colorize_saturation_scales_the_colors(tmp_path, tiny_colorizer):
    from skimage import color as skcolor

    # A head whose output is one color everywhere: a* = 12.8, b* = -12.8.
    last = tiny_colorizer.head.decoder.get_layer("decoder_conv5")
    kernel, _ = last.get_weights()
    last.set_weights([np.zeros_like(kernel), np.array([0.1, -0.1], "float32")])
    model = tmp_path / "fixed.keras"
    tiny_colorizer.save(model)
    photo = tmp_path / "gray.png"
    Image.fromarray(np.full((16, 16), 120, np.uint8)).save(photo)
    chroma = {}
    for saturation in (None, "2"):
        out = tmp_path / f"out-{saturation}"
        extra = [] if saturation is None else ["--saturation", saturation]
        assert (
            cli.main(["colorize", str(photo), "-o", str(out), "--weights", str(model), *extra]) == 0
        )
        lab = skcolor.rgb2lab(np.asarray(Image.open(out / "gray.png")) / 255.0)
        chroma[saturation] = lab[..., 1:].mean(axis=(0, 1))
    np.testing.assert_allclose(chroma[None], [12.8, -12.8], atol=1.0)
    np.testing.assert_allclose(chroma["2"], [25.6, -25.6], atol=1.5)
    with pytest.raises(SystemExit):
        cli.main(["colorize", str(photo), "--saturation", "0"])
