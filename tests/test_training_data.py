"""The views a training photo is cut into."""

import numpy as np

from deepkoala.images import resize_and_center_crop
from deepkoala.training_data import random_resized_views


def test_random_resized_views_are_squares_at_several_scales():
    # A horizontal gradient: a crop's mean tells where it was cut.
    image = np.repeat(np.linspace(0, 255, 300)[None, :, None], 200, axis=0)
    image = np.repeat(image, 3, axis=2).astype(np.uint8)
    views = random_resized_views(image, 32, 6, seed=1)
    assert views.shape == (6, 32, 32, 3) and views.dtype == np.uint8
    np.testing.assert_array_equal(views[0], resize_and_center_crop(image, 32))
    spreads = {int(view[..., 0].max()) - int(view[..., 0].min()) for view in views[1:]}
    assert len(spreads) > 1  # crops of different sizes
    np.testing.assert_array_equal(views, random_resized_views(image, 32, 6, seed=1))
    assert not np.array_equal(views, random_resized_views(image, 32, 6, seed=2))
    # Tiny pictures are upsampled, never fail.
    assert random_resized_views(np.zeros((1, 1, 3), np.uint8), 8, 3, seed=0).shape == (3, 8, 8, 3)
