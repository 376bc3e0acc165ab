"""Colors the user steers: hints and a reference photo, through every entry point."""

import json
import warnings

import numpy as np
import pytest
from PIL import Image

from deepkoala import cli, color
from deepkoala.guidance import Guide, Hint, Reference, parse_color, read_hints, spread_hints
from tests.helpers import make_clip, striped_images


def _two_regions(width=96, height=64):
    """A gray photo: a dark left half and a light right half, with a sharp edge."""
    gray = np.full((height, width), 70, np.uint8)
    gray[:, width // 2 :] = 190
    return gray


def _chroma(image):
    rgb = np.asarray(image, np.float32) / 255.0
    return np.asarray(color.rgb_to_lab(rgb))[..., 1:]


def _in_gamut_color(gray_value, a=25.0, b=-30.0):
    """A "#rrggbb" color with the lightness of a gray pixel and some chroma: reachable there."""
    gray = np.full((1, 3), gray_value / 255.0, np.float32)
    lightness = float(np.asarray(color.rgb_to_lightness(gray))[0])
    rgb = np.asarray(color.lab_to_rgb(np.array([[lightness, a, b]], np.float32)))[0]
    return "#" + bytes(int(v) for v in np.round(rgb * 255.0)).hex()


def test_no_guidance_gives_the_automatic_output_exactly(tiny_colorizer):
    photos = [_two_regions(), striped_images(1)[0]]
    automatic = [np.asarray(image) for image in tiny_colorizer.colorize(photos)]
    for hints in (None, [[], None]):
        guided = tiny_colorizer.colorize(photos, hints=hints, reference=None)
        for expected, image in zip(automatic, guided, strict=True):
            np.testing.assert_array_equal(np.asarray(image), expected)


def test_a_hint_sets_its_color_at_its_point_and_changes_far_colors_less(tiny_colorizer):
    photo = _two_regions()
    hint_color = _in_gamut_color(70)
    automatic = _chroma(tiny_colorizer.colorize(photo))
    guided = _chroma(tiny_colorizer.colorize(photo, hints=[(20, 30, hint_color)]))
    wanted = _chroma(np.array([[parse_color(hint_color)]], np.uint8))[0, 0]
    assert np.linalg.norm(guided[30, 20] - wanted) < 4.0
    change = np.linalg.norm(guided - automatic, axis=-1)
    near, across_the_edge = change[:, :40].mean(), change[:, 56:].mean()
    assert near > 5.0 and across_the_edge < 0.2 * near


def test_more_hints_of_the_truth_bring_the_colors_closer_to_it():
    truth = striped_images(1, size=64)[0]
    lightness = np.asarray(color.rgb_to_lab(truth / 255.0))[..., 0].astype(np.float32)
    true_chroma = _chroma(truth)
    gray = np.zeros_like(true_chroma)
    rng = np.random.default_rng(0)
    errors = []
    for count in (1, 10, 60):
        points = rng.integers(0, 64, (count, 2))
        hints = np.array([(x, y, *true_chroma[y, x], 1.0) for x, y in points], np.float32).reshape(
            -1, 5
        )
        guided = spread_hints(lightness, gray, hints)
        errors.append(np.abs(guided - true_chroma).mean())
    assert errors[0] > errors[1] > errors[2]


def test_colors_parse_and_bad_ones_are_named():
    assert parse_color("#B22222") == parse_color("b22222") == (178, 34, 34)
    assert parse_color([250, 160, 60]) == (250, 160, 60)
    for bad in ("#b2222", "red", (1, 2), (1, 2, 300), (1.5, 2, 3), None):
        with pytest.raises(ValueError, match="#rrggbb"):
            parse_color(bad)
    with pytest.raises(ValueError, match=r"hint at \(3, 4\)"):
        Hint(3, 4, "#zzzzzz")
    with pytest.raises(ValueError, match="x must be a number"):
        Hint("3", 4, "#ffffff")


def test_bad_guidance_fails_only_its_image(tiny_colorizer):
    photos = [_two_regions(), _two_regions()]
    with pytest.raises(ValueError, match=r"outside the photo, which is 96x64"):
        tiny_colorizer.colorize(photos[0], hints=[(96, 10, "#ff0000")])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = tiny_colorizer.colorize(
            photos, hints=[[(5, -1, "#ff0000")], [(5, 5, "#ff0000")]], errors="skip"
        )
    assert results[0] is None and results[1].size == (96, 64)
    assert "item 0" in str(caught[-1].message) and "outside the photo" in str(caught[-1].message)
    with pytest.warns(UserWarning, match="#rrggbb"):
        results = tiny_colorizer.colorize(
            photos, hints=[[(5, 5, "not a color")], None], errors="skip"
        )
    assert results[0] is None and results[1] is not None
    with pytest.raises(ValueError, match="one entry per image: 2 image"):
        tiny_colorizer.colorize(photos, hints=[[(5, 5, "#ff0000")]])
    with pytest.raises(ValueError, match="one entry per image"):
        tiny_colorizer.colorize(photos, reference=[striped_images(1)[0]])


def test_bad_references_are_clear_errors(tmp_path, tiny_colorizer):
    photo = _two_regions()
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        tiny_colorizer.colorize(photo, reference=tmp_path / "missing.jpg")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a photo")
    with pytest.raises(ValueError, match="broken.png"):
        tiny_colorizer.colorize(photo, reference=broken)
    with pytest.raises(ValueError, match="gray photo"):
        tiny_colorizer.colorize(photo, reference=np.stack([photo] * 3, axis=-1))


def test_a_reference_lends_its_colors_where_it_matches(tiny_colorizer):
    truth = striped_images(3, size=64)
    gray = [np.asarray(Image.fromarray(image).convert("L")) for image in truth]
    automatic = [_chroma(image) for image in tiny_colorizer.colorize(gray)]
    # The truth itself as reference: every cell finds itself, and borrows its colors.
    guided = [_chroma(image) for image in tiny_colorizer.colorize(gray, reference=list(truth))]
    # A reference is matched once per backbone and size (a video reuses it on every batch).
    reference = Reference(truth[0])
    assert reference.features(tiny_colorizer, 32) is reference.features(tiny_colorizer, 32)
    for image, before, after in zip(truth, automatic, guided, strict=True):
        error_before = np.abs(before - _chroma(image)).mean()
        assert np.abs(after - _chroma(image)).mean() < 0.6 * error_before


def test_hint_files(tmp_path):
    path = tmp_path / "hints.json"
    path.write_text(json.dumps([{"x": 1, "y": 2, "color": "#ff0000", "radius": 3}]))
    (hint,) = read_hints(path)
    assert (hint.x, hint.y, hint.rgb, hint.radius) == (1.0, 2.0, (255, 0, 0), 3.0)
    for text, message in [
        ("{not json", "Cannot read the hint file"),
        ('{"x": 1}', "must hold a JSON list"),
        ('[{"x": 1, "y": 2}]', '"color"'),
        ('[{"x": 1, "y": 2, "color": "#ff0000", "colour": 1}]', '"color"'),
    ]:
        path.write_text(text)
        with pytest.raises(ValueError, match=message):
            read_hints(path)
    with pytest.raises(ValueError, match="Cannot read the hint file"):
        read_hints(tmp_path / "missing.json")


def test_guides_carry_hints_in_working_pixels():
    guide = Guide(hints=[(0, 0, "#ff0000"), (199, 99, "#00ff00")])
    hints = guide.at_size(200, 100, 32)["hints"]
    # Pixel centers map to pixel centers: the last pixel's center is the last cell's.
    np.testing.assert_allclose(hints[:, :2], [[-0.42, -0.34], [31.42, 31.34]], atol=0.01)


def test_command_line_hints_and_reference(tmp_path, saved_tiny_model, capsys):
    photo = tmp_path / "old.png"
    Image.fromarray(_two_regions()).save(photo)
    model = ["--weights", str(saved_tiny_model)]
    plain = tmp_path / "plain"
    assert cli.main(["colorize", str(photo), "-o", str(plain), *model]) == 0
    hinted = tmp_path / "hinted"
    hint = "20,30," + _in_gamut_color(70)
    assert cli.main(["colorize", str(photo), "-o", str(hinted), "--hint", hint, *model]) == 0
    changed = np.abs(
        _chroma(Image.open(hinted / "old.png")) - _chroma(Image.open(plain / "old.png"))
    )
    assert changed[:, :40].mean() > 5.0
    hint_file = tmp_path / "hints.json"
    hint_file.write_text(json.dumps([{"x": 20, "y": 30, "color": hint.split(",")[2]}]))
    from_file = tmp_path / "from_file"
    assert cli.main(["colorize", str(photo), "-o", str(from_file), "--hints", str(hint_file),
                     *model]) == 0  # fmt: skip
    np.testing.assert_array_equal(
        np.asarray(Image.open(from_file / "old.png")), np.asarray(Image.open(hinted / "old.png"))
    )
    reference = tmp_path / "summer.png"
    Image.fromarray(striped_images(1, size=64)[0]).save(reference)
    assert cli.main(["colorize", str(photo), "-o", str(tmp_path / "referenced"), "--reference",
                     str(reference), *model]) == 0  # fmt: skip
    capsys.readouterr()
    # Mistakes: one line each, nothing written.
    second = tmp_path / "second.png"
    Image.fromarray(_two_regions()).save(second)
    for arguments, message in [
        ([str(photo), str(second), "--hint", hint], "one photo"),
        ([str(photo), "--hint", "500,30,#ff0000"], "outside the photo"),
        ([str(photo), "--hints", str(tmp_path / "none.json")], "Cannot read the hint file"),
        ([str(photo), "--reference", str(tmp_path / "none.jpg")], "none.jpg"),
    ]:
        code = cli.main(["colorize", *arguments, "-o", str(tmp_path / "bad"), *model])
        assert code == 1
        assert message in capsys.readouterr().err
    assert not (tmp_path / "bad").exists() or not list((tmp_path / "bad").iterdir())
    with pytest.raises(SystemExit):
        cli.main(["colorize", str(photo), "--hint", "20,#ff0000", *model])
    assert "X,Y,#rrggbb" in capsys.readouterr().err


def test_a_video_borrows_a_reference_on_every_frame(tmp_path, tiny_colorizer):
    pytest.importorskip("av")
    from deepkoala.video import colorize_video

    src = make_clip(tmp_path / "in.mp4", frames=6)
    reference = striped_images(1, size=64)[0]
    report = colorize_video(tiny_colorizer, src, tmp_path / "out.mp4", verbose=0,
                            reference=reference)  # fmt: skip
    assert report["frames"] == 6
    with pytest.raises(ValueError, match="gray photo"):
        colorize_video(tiny_colorizer, src, tmp_path / "gray.mp4", verbose=0,
                       reference=np.zeros((8, 8, 3), np.uint8))  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4"]
