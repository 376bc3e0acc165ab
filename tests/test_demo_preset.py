"""The bundled demo preset: loads offline, keeps lightness, really colorizes."""

import os

import numpy as np
import pytest
from skimage import color as skcolor
from skimage import data

from deepkoala import Colorizer, metrics
from deepkoala.presets import weights_file


@pytest.fixture(scope="module")
def demo():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEEPKOALA_OFFLINE", "1")  # shipped in the package: no network
        return Colorizer.from_preset("demo")


def test_demo_preset_fits_in_16_mb_and_is_registered():
    preset = Colorizer.presets()["demo"]
    path = weights_file(preset.file_name, preset.sha256)
    assert os.path.getsize(path) <= 16 * 1024 * 1024
    assert preset.config["backbone"] == "efficientnet_lite0"
    assert preset.scores["psnr"] and preset.scores["gray_psnr"]


@pytest.mark.parametrize("photo", [data.coffee(), data.astronaut()], ids=["coffee", "astronaut"])
def test_demo_output_keeps_lightness_and_has_color(demo, photo):
    # Neither photo is in the demo training set.
    colorized = np.asarray(demo.colorize(photo))
    assert colorized.shape == photo.shape
    lightness_error = skcolor.rgb2lab(colorized)[..., 0] - skcolor.rgb2lab(photo)[..., 0]
    assert np.abs(lightness_error).max() < 1.0
    assert metrics.colorfulness(colorized) > 5.0
