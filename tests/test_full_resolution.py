"""The numpy full-resolution color math against `color`'s keras.ops reference."""

import numpy as np
import pytest
from PIL import Image

from deepkoala import color, full_resolution
from deepkoala.images import resize_channel


def _photo(height, width, channels=3, seed=0):
    """Smooth uint8 pixels: a small random image enlarged, as photos are."""
    rng = np.random.default_rng(seed)
    shape = (max(2, height // 8), max(2, width // 8)) + ((channels,) if channels > 1 else ())
    small = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))
    return np.asarray(small.resize((width, height), Image.Resampling.BILINEAR))


def _reference_merge(lightness, chroma):
    """The former merge: whole-channel Pillow resize, then `color.lab_to_rgb`."""
    height, width = lightness.shape
    a, b = (resize_channel(chroma[..., i], height, width) for i in range(2))
    rgb = np.asarray(color.lab_to_rgb(np.stack([lightness, a, b], -1), preserve_lightness=True))
    return np.round(rgb * 255.0).astype(np.uint8)


@pytest.mark.parametrize("channels", [1, 3])
def test_lightness_matches_color_for_uint8_and_float_pixels(channels):
    pixels = _photo(70, 90, channels)
    floats = pixels.astype(np.float32) / 255.0
    convert = color.rgb_to_lightness if channels == 3 else color.gray_to_lightness
    expected = np.asarray(convert(floats))
    np.testing.assert_allclose(full_resolution.lightness(pixels), expected, atol=1e-3)
    np.testing.assert_allclose(full_resolution.lightness(floats), expected, atol=1e-3)
    assert full_resolution.lightness(pixels).dtype == np.float32


@pytest.mark.parametrize(
    "shape", [(150, 203), (64, 64), (1, 1), (3, 500), (20, 12)]
)  # several bands, one band, a pixel, a strip, smaller than the chroma
def test_merge_matches_the_reference_within_one_level(shape):
    rng = np.random.default_rng(1)
    lightness = full_resolution.lightness(_photo(*shape))
    chroma = rng.normal(0.0, 45.0, (32, 32, 2)).astype(np.float32)  # often out of gamut
    merged = np.asarray(full_resolution.merge(lightness, chroma)).astype(int)
    reference = _reference_merge(lightness, chroma).astype(int)
    assert merged.shape == shape + (3,)
    assert np.abs(merged - reference).max() <= 1
    assert (merged != reference).mean() < 0.01


def test_merge_keeps_the_lightness():
    lightness = full_resolution.lightness(_photo(90, 70))
    chroma = np.random.default_rng(2).normal(0.0, 60.0, (16, 16, 2)).astype(np.float32)
    merged = np.asarray(full_resolution.merge(lightness, chroma))
    out_lightness = np.asarray(color.rgb_to_lightness(merged.astype(np.float32) / 255.0))
    assert np.abs(out_lightness - lightness).max() < 1.0


def test_edge_aware_chroma_stops_at_the_lightness_edge():
    lightness = np.full((64, 64), 30.0, np.float32)
    lightness[:, 32:] = 70.0  # a sharp edge, down the middle
    chroma = np.zeros((8, 8, 2), np.float32)
    chroma[:, :4, 0], chroma[:, 4:, 0] = 40.0, -40.0  # red left, green right, coarse
    a_star = {}
    for edge_aware in (False, True):
        merged = np.asarray(full_resolution.merge(lightness, chroma, edge_aware=edge_aware))
        lab = np.asarray(color.rgb_to_lab(merged.astype(np.float32) / 255.0))
        assert np.abs(lab[..., 0] - lightness).max() < 1.0  # lightness kept either way
        a_star[edge_aware] = lab[32, 28:36, 1]  # four pixels each side of the edge
    # Bilinear blurs the colors across the edge; the guided filter keeps them apart.
    bleed = {key: np.abs(values[:4] - values[4:]).min() for key, values in a_star.items()}
    assert bleed[True] > bleed[False] + 10.0


@pytest.mark.parametrize("shape", [(1, 1), (3, 500), (150, 203)])
def test_edge_aware_merge_handles_any_shape(shape):
    lightness = full_resolution.lightness(_photo(*shape))
    chroma = np.random.default_rng(3).normal(0.0, 30.0, (16, 16, 2)).astype(np.float32)
    merged = full_resolution.merge(lightness, chroma, edge_aware=True)
    assert merged.size == shape[::-1]


@pytest.mark.parametrize("channels", [1, 3])
def test_lightness_of_a_pil_image_is_read_band_by_band_with_the_same_values(channels):
    pixels = _photo(300, 410, channels)  # several bands of rows
    image = Image.fromarray(pixels)
    np.testing.assert_array_equal(
        full_resolution.lightness(image), full_resolution.lightness(pixels)
    )


def test_lightness_refuses_a_pil_image_in_another_mode():
    with pytest.raises(ValueError, match='mode "L" or "RGB". Received: CMYK'):
        full_resolution.lightness(Image.new("CMYK", (4, 4)))


def test_band_scratch_is_reused_across_photos_of_other_widths():
    # A wide photo after a narrow one: the scratch arrays are reshaped, not stale.
    for width in (37, 5000, 640):
        pixels = _photo(40, width)
        chroma = np.random.default_rng(width).normal(0.0, 30.0, (8, 8, 2)).astype(np.float32)
        lightness = full_resolution.lightness(pixels)
        merged = np.asarray(full_resolution.merge(lightness, chroma)).astype(int)
        assert np.abs(merged - _reference_merge(lightness, chroma)).max() <= 1


@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize("edge_aware", [False, True])
def test_merge_over_a_photo_gives_the_colors_of_merge_and_writes_over_it(
    monkeypatch, mode, edge_aware
):
    from deepkoala import images

    # As for a photo over 4 megapixels: its guide and resizes come band by band.
    monkeypatch.setattr(images, "BAND_RESIZE_PIXELS", 1000)
    monkeypatch.setattr(full_resolution, "GUIDE_SHORT_SIDE", 90)
    photo = Image.fromarray(_photo(300, 410, 3 if mode == "RGB" else 1))
    chroma = np.random.default_rng(3).normal(0.0, 30.0, (24, 24, 2)).astype(np.float32)
    expected = full_resolution.merge(full_resolution.lightness(photo), chroma, edge_aware)
    kept = photo.copy()
    output = full_resolution.merge_over(photo, chroma, edge_aware)
    assert output is not photo and output.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(output), np.asarray(expected))
    np.testing.assert_array_equal(np.asarray(photo), np.asarray(kept))  # not overwritten
    output = full_resolution.merge_over(photo, chroma, edge_aware, overwrite=True)
    assert (output is photo) == (mode == "RGB")  # a gray photo cannot hold colors
    np.testing.assert_array_equal(np.asarray(output), np.asarray(expected))


@pytest.mark.parametrize("axis", [0, 1])
def test_window_sums_by_doubling_equal_direct_sums_for_every_side(axis):
    x = np.random.default_rng(4).uniform(0.0, 1.0, (40, 50)).astype(np.float32)
    for side in range(1, 20):  # odd sides (the box filter's) and even ones
        count = x.shape[axis] - side + 1
        out = np.empty((count, 50) if axis == 0 else (40, count), np.float32)
        spare = [np.empty(x.size, np.float32) for _ in range(2)]
        sums = full_resolution._window_sums(x, side, axis, out, spare)
        windows = [np.take(x, range(i, i + side), axis=axis).sum(axis=axis) for i in range(count)]
        np.testing.assert_allclose(sums, np.stack(windows, axis=axis), atol=1e-4)
