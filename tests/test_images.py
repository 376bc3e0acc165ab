"""Reading every kind of input image the way a user would hand it over."""

import numpy as np
import pytest
from PIL import Image

from deepkoala.images import (
    read_image,
    read_photo,
    read_rgb_uint8,
    resize_and_center_crop,
    resize_bands,
    resize_channel,
)


def _color(width=12, height=8):
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    ("mode", "shape"),
    [("L", (8, 12)), ("RGB", (8, 12, 3)), ("RGBA", (8, 12, 3)), ("P", (8, 12, 3)),
     ("CMYK", (8, 12, 3)), ("1", (8, 12)), ("LA", (8, 12)), ("I", (8, 12)), ("F", (8, 12))],
)  # fmt: skip
def test_pil_modes_become_float_gray_or_rgb(mode, shape):
    image = read_image(_color().convert(mode))
    assert image.shape == shape
    assert image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0


def test_16_bit_png_keeps_its_full_range(tmp_path):
    values = np.linspace(0, 65535, 8 * 12).reshape(8, 12).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    image = read_image(path)
    assert image.shape == (8, 12)
    np.testing.assert_allclose(image, values / 65535.0, atol=1e-6)


def test_cmyk_jpeg_file_is_read_as_rgb(tmp_path):
    path = tmp_path / "print.jpg"
    _color().convert("CMYK").save(path)
    assert read_image(path).shape == (8, 12, 3)


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    _color(width=12, height=8).save(path, exif=exif)
    assert read_image(path).shape == (12, 8, 3)
    with Image.open(path) as opened:
        assert read_image(opened).shape == (12, 8, 3)
        assert opened.size == (12, 8)  # the caller's image is left as it was


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.full((4, 5), 255, np.uint8), 1.0),
        (np.full((4, 5, 1), 0.5, np.float32), 0.5),
        (np.full((4, 5, 3), 65535, np.uint16), 1.0),
        (np.full((4, 5, 3), 0.25, np.float64), 0.25),
    ],
)
def test_arrays_are_scaled_to_unit_range(array, expected):
    image = read_image(array)
    assert image.shape[:2] == (4, 5)
    np.testing.assert_allclose(image, expected, atol=1e-6)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((4, 5, 2), np.uint8), "shape"),
        (np.zeros((2, 4, 5, 3), np.uint8), "shape"),
        (np.zeros((0, 5), np.uint8), "empty"),
        (np.full((4, 5), 2.0, np.float32), r"\[0, 1\]"),
        (np.full((4, 5), np.nan, np.float32), "finite"),
        (np.zeros((4, 5), np.int64), "dtype"),
    ],
)
def test_bad_arrays_are_rejected_clearly(array, message):
    with pytest.raises(ValueError, match=message):
        read_image(array)


def test_missing_and_corrupt_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        read_image(tmp_path / "nope.jpg")
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    with pytest.raises(ValueError, match="corrupt.jpg"):
        read_image(corrupt)
    with pytest.raises(ValueError, match="path, a PIL.Image or a numpy array"):
        read_image(42)


def test_truncated_file_is_an_error_not_a_partial_image(tmp_path):
    path = tmp_path / "cut.png"
    _color(64, 64).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.png"):
        read_image(path)


def test_rgb_uint8_and_center_crop():
    gray = read_rgb_uint8(np.full((10, 30), 128, np.uint8))
    assert gray.shape == (10, 30, 3) and gray.dtype == np.uint8
    assert (gray == 128).all()
    wide = np.zeros((10, 30, 3), np.uint8)
    wide[:, 10:20] = 255  # the center third is white
    cropped = resize_and_center_crop(wide, 8)
    assert cropped.shape == (8, 8, 3)
    assert cropped[:, 2:6].min() == 255
    assert resize_and_center_crop(np.zeros((1, 1, 3), np.uint8), 8).shape == (8, 8, 3)


def test_a_large_channel_is_resized_band_by_band_as_pillow_does():
    # Over images.BAND_RESIZE_PIXELS: the rows band by band, then the columns.
    channel = np.random.default_rng(0).uniform(0, 100, (2100, 3000)).astype(np.float32)
    whole = np.asarray(
        Image.fromarray(channel, mode="F").resize((224, 224), Image.Resampling.BILINEAR)
    )
    np.testing.assert_array_equal(resize_channel(channel, 224, 224), whole)


def test_read_photo_as_image_keeps_8_bit_photos_as_pil_images(tmp_path):
    path = str(tmp_path / "photo.png")
    Image.new("RGB", (6, 4), (10, 200, 30)).save(path)
    pixels, _ = read_photo(path, as_image=True)
    assert isinstance(pixels, Image.Image) and pixels.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(pixels), read_photo(path)[0])
    Image.fromarray(np.full((4, 6), 60000, np.uint16)).save(path)
    pixels, _ = read_photo(path, as_image=True)
    assert pixels.dtype == np.float32  # a 16-bit photo stays an array


def test_resize_bands_equals_pillows_resize_whatever_the_bands():
    channel = np.random.default_rng(1).uniform(0, 100, (300, 500)).astype(np.float32)

    def pillow(height, width):
        image = Image.fromarray(channel, mode="F")
        return np.asarray(image.resize((width, height), Image.Resampling.BILINEAR))

    bands = [(top, channel[top : top + 37].copy()) for top in range(0, 300, 37)]
    np.testing.assert_array_equal(resize_bands(bands, channel.shape, 60, 90), pillow(60, 90))
    same_width = [(top, channel[top : top + 50]) for top in range(0, 300, 50)]
    np.testing.assert_array_equal(resize_bands(same_width, channel.shape, 60, 500), pillow(60, 500))
