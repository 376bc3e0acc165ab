"""The Lab conversions against scikit-image, the reference implementation."""

import warnings

import numpy as np
import pytest
from skimage import color as skcolor
from skimage import data

from deepkoala import color


def _real_images():
    return [data.chelsea(), data.coffee(), data.astronaut(), data.rocket()]


def _random_lab(seed, count=20000):
    """Lab colors over the whole range, many of them outside the sRGB gamut."""
    rng = np.random.default_rng(seed)
    lightness = rng.uniform(0, 100, count)
    return np.stack([lightness, *rng.uniform(-128, 127, (2, count))], axis=-1)


def _random_image(seed=0):
    return np.random.default_rng(seed).random((96, 96, 3)).astype("float32")


@pytest.mark.parametrize("index", range(5))
def test_rgb_to_lab_matches_scikit_image(index):
    images = [_random_image()] + [image / 255.0 for image in _real_images()]
    rgb = images[index].astype("float32")
    expected = skcolor.rgb2lab(rgb.astype("float64"))
    ours = np.asarray(color.rgb_to_lab(rgb))
    assert ours.dtype == np.float32
    difference = np.abs(ours - expected).max(axis=(0, 1))
    assert difference[0] < 0.01
    assert difference[1:].max() < 0.05


def test_lab_to_rgb_matches_scikit_image_including_out_of_gamut():
    lab = _random_lab(seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-image warns about negative Z
        expected = skcolor.lab2rgb(lab)
    ours = np.asarray(color.lab_to_rgb(lab.astype("float32")))
    assert np.abs(ours - expected).max() < 1e-4


def test_lab_of_real_images_back_to_rgb_matches_scikit_image():
    for image in _real_images():
        lab = skcolor.rgb2lab(image)
        expected = skcolor.lab2rgb(lab)
        ours = np.asarray(color.lab_to_rgb(lab.astype("float32")))
        assert np.abs(ours - expected).max() < 1e-4


def test_round_trip_of_8_bit_images_is_exact():
    images = [*_real_images(), np.round(_random_image(2) * 255).astype("uint8")]
    for image in images:
        lab = color.rgb_to_lab(image)  # uint8 input is scaled by 1/255
        back = np.round(np.asarray(color.lab_to_rgb(lab)) * 255).astype("uint8")
        exact = (back == image).all(axis=-1).mean()
        assert exact >= 0.999


def test_lightness_shortcuts_agree_with_full_conversion():
    rgb = _random_image(3)
    full = np.asarray(color.rgb_to_lab(rgb))[..., 0]
    np.testing.assert_allclose(np.asarray(color.rgb_to_lightness(rgb)), full, atol=1e-3)
    gray = rgb[..., 0]
    gray_lab = skcolor.rgb2lab(np.repeat(gray[..., None], 3, axis=-1).astype("float64"))[..., 0]
    np.testing.assert_allclose(np.asarray(color.gray_to_lightness(gray)), gray_lab, atol=0.01)
    back = np.asarray(color.lightness_to_gray(color.gray_to_lightness(gray)))
    np.testing.assert_allclose(back, gray, atol=1e-5)


def test_preserve_lightness_keeps_l_exactly_and_stays_in_gamut():
    lab = _random_lab(seed=4).astype("float32")
    rgb = np.asarray(color.lab_to_rgb(lab, preserve_lightness=True))
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0
    lightness = skcolor.rgb2lab(rgb.astype("float64"))[..., 0]
    assert np.abs(lightness - lab[..., 0]).max() < 0.01
    # Plain clipping, by contrast, changes L by many units for such colors.
    clipped = np.asarray(color.lab_to_rgb(lab))
    assert np.abs(skcolor.rgb2lab(clipped.astype("float64"))[..., 0] - lab[..., 0]).max() > 5


def test_in_gamut_colors_are_unchanged_by_preserve_lightness():
    lab = skcolor.rgb2lab(data.coffee()).astype("float32")
    plain = np.asarray(color.lab_to_rgb(lab))
    preserved = np.asarray(color.lab_to_rgb(lab, preserve_lightness=True))
    assert np.abs(plain - preserved).max() < 1e-4


def test_works_on_symbolic_tensors_inside_a_model():
    import keras

    from deepkoala.layers import GrayFromLightness, LightnessFromRGB

    rgb = keras.Input((None, None, 3), dtype="uint8")
    model = keras.Model(rgb, GrayFromLightness()(LightnessFromRGB()(rgb)))
    image = data.coffee()[:64, :64]
    gray = np.asarray(model(image[None]))[0]
    expected = np.asarray(color.lightness_to_gray(color.rgb_to_lightness(image))) * 255
    np.testing.assert_allclose(gray[..., 0], expected, atol=1e-3)
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])
