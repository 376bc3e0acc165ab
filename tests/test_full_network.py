"""The real, full-size network of the paper, end to end (a random backbone offline)."""

import numpy as np
import pytest
from skimage import color as skcolor
from skimage import data

from deepkoala import Colorizer


@pytest.fixture(scope="module")
def paper_colorizer():
    return Colorizer(backbone="inception_resnet_v2", backbone_weights=None)


def _count(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


def test_parameter_counts_are_the_papers(paper_colorizer):
    model = paper_colorizer
    assert _count(model.trainable_weights) == 6_573_794
    backbone = model.embedding.get_layer("inception_resnet_v2")
    assert backbone.count_params() == 55_873_736
    assert _count(model.non_trainable_weights) == 55_873_736
    assert backbone.output_shape == (None, 1000)


def test_colorize_and_fit_end_to_end(paper_colorizer):
    photo = data.chelsea()  # 300x451, not a multiple of 8
    colorized = paper_colorizer.colorize(photo)
    assert colorized.size == (451, 300)
    out_lightness = skcolor.rgb2lab(np.asarray(colorized))[..., 0]
    assert np.abs(out_lightness - skcolor.rgb2lab(photo)[..., 0]).max() < 1.0

    images = np.stack([data.chelsea()[:224, :224], data.coffee()[:224, :224]])
    history = paper_colorizer.fit(images, epochs=1, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"][0])
