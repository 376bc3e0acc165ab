"""What a photo carries besides its pixels is kept: EXIF, its ICC profile, its alpha."""

import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms

from deepkoala import cli, full_resolution, photo_metadata, png16
from deepkoala.images import read_pixels
from tests.helpers import striped_images, wide_gamut_profile

_MAKE, _DESCRIPTION, _ORIENTATION = 0x010F, 0x010E, 0x0112


def _colorize(tmp_path, model, *names):
    out = tmp_path / "out"
    arguments = ["colorize", *(str(tmp_path / name) for name in names), "-o", str(out)]
    assert cli.main([*arguments, "--weights", str(model)]) == 0
    return out


def test_exif_is_kept_with_the_orientation_reset(tmp_path, saved_tiny_model):
    photo = Image.fromarray(striped_images(1, size=48)[0][:, :32])  # 32 wide, 48 high
    exif = Image.Exif()
    exif[_MAKE], exif[_DESCRIPTION], exif[_ORIENTATION] = "Koala Cam", "Grandma, 1931", 6
    photo.save(tmp_path / "scan.jpg", exif=exif.tobytes())
    out = _colorize(tmp_path, saved_tiny_model, "scan.jpg")
    with Image.open(out / "scan.jpg") as result:
        kept = result.getexif()
        # Orientation 6 turned the pixels upright: 48 wide, and the tag says upright.
        assert result.size == (48, 32)
        assert kept[_MAKE] == "Koala Cam" and kept[_DESCRIPTION] == "Grandma, 1931"
        assert kept.get(_ORIENTATION, 1) == 1


def test_alpha_is_kept_unchanged_and_dropped_only_for_jpeg(tmp_path, saved_tiny_model):
    rgb = striped_images(1)[0]
    alpha = np.tile(np.arange(0, 256, 8, dtype=np.uint8), (32, 1))
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(tmp_path / "logo.png")
    gray_alpha = np.dstack([rgb[..., 0], alpha])
    Image.fromarray(gray_alpha, "LA").save(tmp_path / "gray.png")
    out = _colorize(tmp_path, saved_tiny_model, "logo.png", "gray.png")
    for name in ("logo.png", "gray.png"):
        with Image.open(out / name) as result:
            assert result.mode == "RGBA"
            np.testing.assert_array_equal(np.asarray(result.getchannel("A")), alpha)
    assert cli.main(
        ["colorize", str(tmp_path / "logo.png"), "-o", str(tmp_path / "jpeg"), "--format",
         "jpeg", "--weights", str(saved_tiny_model)]
    ) == 0  # fmt: skip
    with Image.open(tmp_path / "jpeg" / "logo.jpg") as result:
        assert result.mode == "RGB"


def test_a_photo_in_another_color_space_is_read_through_its_profile_and_kept_in_it(
    tmp_path, saved_tiny_model
):
    profile = wide_gamut_profile()
    rgb = striped_images(1)[0]
    Image.fromarray(rgb).save(tmp_path / "wide.png", icc_profile=profile)
    as_srgb = ImageCms.profileToProfile(
        Image.fromarray(rgb),
        ImageCms.ImageCmsProfile(ImageCms.core.profile_frombytes(profile)),
        ImageCms.createProfile("sRGB"),
    )
    # Read through the profile: the sRGB pixels of the photo, not its raw values.
    np.testing.assert_array_equal(read_pixels(tmp_path / "wide.png"), np.asarray(as_srgb))
    assert not np.array_equal(np.asarray(as_srgb), rgb)
    out = _colorize(tmp_path, saved_tiny_model, "wide.png")
    with Image.open(out / "wide.png") as result:
        assert result.info["icc_profile"] == profile
        back = ImageCms.profileToProfile(
            result, ImageCms.ImageCmsProfile(ImageCms.core.profile_frombytes(profile)),
            ImageCms.createProfile("sRGB"),
        )  # fmt: skip
    # The result, seen through its profile, has the photo's lightness.
    expected = full_resolution.lightness(np.asarray(as_srgb))
    np.testing.assert_allclose(full_resolution.lightness(np.asarray(back)), expected, atol=1.5)


def test_the_api_returns_the_alpha_and_exif_and_arrays_carry_none(tiny_colorizer):
    rgba = Image.fromarray(np.dstack([striped_images(1)[0], np.full((32, 32), 7, np.uint8)]))
    exif = Image.Exif()
    exif[_MAKE] = "Koala Cam"
    rgba.info["exif"] = exif.tobytes()
    result = tiny_colorizer.colorize(rgba)
    assert result.mode == "RGBA" and result.getchannel("A").getextrema() == (7, 7)
    assert photo_metadata.save_options(result, "PNG")["exif"] == exif.tobytes()
    wide = tiny_colorizer.colorize(rgba, depth=16)
    assert wide.shape == (32, 32, 4) and np.all(wide[..., 3] == 7 * 257)
    assert tiny_colorizer.colorize(striped_images(1)[0]).mode == "RGB"
    assert photo_metadata.read(Image.new("RGB", (2, 2))) is None


def _read_png16(path):
    """The uint16 pixels of a 16-bit PNG whose rows are unfiltered (as `png16` writes them)."""
    data, chunks, offset = path.read_bytes(), {}, 8
    while offset < len(data):
        (length,), kind = (
            struct.unpack(">I", data[offset : offset + 4]),
            data[offset + 4 : offset + 8],
        )
        chunks[kind] = chunks.get(kind, b"") + data[offset + 8 : offset + 8 + length]
        offset += length + 12
    width, height, depth, color_type = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert depth == 16
    channels = {2: 3, 6: 4}[color_type]
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, -1)
    assert not rows[:, 0].any()  # filter type 0 on every row
    return rows[:, 1:].copy().view(">u2").reshape(height, width, channels).astype(np.uint16)


def _lightness16(rgb16):
    return full_resolution.lightness(rgb16.astype(np.float32) / 65535.0)


def test_a_16_bit_scan_keeps_its_lightness_at_16_bits(tmp_path, saved_tiny_model, tiny_colorizer):
    # A smooth 16-bit gray ramp: 8 bits would keep at most 256 of its levels.
    ramp = np.linspace(2000, 60000, 64 * 48).reshape(48, 64).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "scan.png")  # mode I;16
    expected = full_resolution.lightness(ramp.astype(np.float32) / 65535.0)
    result = tiny_colorizer.colorize(ramp, depth=16)
    assert result.dtype == np.uint16 and result.shape == (48, 64, 3)
    np.testing.assert_allclose(_lightness16(result), expected, atol=0.01)
    assert len(np.unique(result[..., 1])) > 1000
    out = tmp_path / "out"
    arguments = ["colorize", str(tmp_path / "scan.png"), "-o", str(out), "--depth", "16"]
    assert cli.main([*arguments, "--weights", str(saved_tiny_model)]) == 0
    written = _read_png16(out / "scan.png")
    np.testing.assert_allclose(_lightness16(written), expected, atol=0.01)
    with pytest.raises(ValueError, match="depth"):
        tiny_colorizer.colorize(ramp, depth=12)
    assert cli.main([*arguments, "--format", "jpeg", "--weights", str(saved_tiny_model)]) == 1


def test_a_16_bit_png_keeps_alpha_and_exif(tmp_path):
    exif = Image.Exif()
    exif[_MAKE] = "Koala Cam"
    pixels = np.random.default_rng(0).integers(0, 65536, (5, 7, 4)).astype(np.uint16)
    (tmp_path / "x.png").write_bytes(png16.encode(pixels, exif=exif.tobytes()))
    np.testing.assert_array_equal(_read_png16(tmp_path / "x.png"), pixels)
    with Image.open(tmp_path / "x.png") as image:
        assert image.getexif()[_MAKE] == "Koala Cam"
    with pytest.raises(ValueError, match="uint16"):
        png16.encode(pixels.astype(np.uint8))
