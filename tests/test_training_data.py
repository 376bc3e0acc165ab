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


def test_photo_weights_draw_each_epoch_in_proportion_and_name_bad_weights(tmp_path):
    import pytest
    from PIL import Image

    from deepkoala.training_data import TrainingData
    from tests.helpers import striped_images

    folder = tmp_path / "photos"
    (folder / "rare").mkdir(parents=True)
    (folder / "common").mkdir()
    for index, image in enumerate(striped_images(8)):
        side = "rare" if index < 2 else "common"
        Image.fromarray(image).save(folder / side / f"{index}.png")

    def embed(batch):
        return np.zeros((len(batch), 4), "float32")

    with TrainingData(folder, 32, embed, "test", tmp_path / "cache", views_per_image=2) as data:
        train, _ = data.split(0.0)
        # Rare: 2 photos; common: 6. Balanced sources: each photo of a source
        # weighs 1 / (photos of its source).
        balanced = data.batches(
            train, 4, 32, seed=0, photo_weights=lambda path: 1 / 2 if "rare" in path else 1 / 6
        )
        drawn = []
        for _ in range(200):
            drawn.extend(balanced._order)
            balanced.on_epoch_end()
        photos = [data.store.photos[data.store.sources[item]] for item in drawn]
        rare_share = np.mean(["rare" in photo for photo in photos])
        assert len(balanced._order) == len(train) == 16
        assert 0.45 < rare_share < 0.55  # a quarter of the photos, half of the draws
        with pytest.raises(ValueError, match=r"photo_weights\(.*\)=-1"):
            data.batches(train, 4, 32, photo_weights=lambda path: -1)
        with pytest.raises(ValueError, match="weight 0"):
            data.batches(train, 4, 32, photo_weights=lambda path: 0)


def test_degraded_lightness_changes_the_input_never_the_target(tmp_path):
    from deepkoala.embedding_cache import store_from_arrays
    from deepkoala.training_data import TrainingBatches
    from tests.helpers import striped_images

    images = striped_images(16)
    store = store_from_arrays(images, 32, lambda batch: np.zeros((len(batch), 4), "float32"))
    batches = TrainingBatches(
        store, np.arange(16), 16, augment=False, shuffle=False, seed=0, degrade=True
    )
    inputs, target = batches[0]
    np.testing.assert_array_equal(target, store.images[:16])  # the truth, untouched
    changed = [not np.array_equal(a, b) for a, b in zip(inputs["rgb"], target, strict=True)]
    assert 3 <= sum(changed) <= 13  # about half of them
    assert inputs["rgb"].dtype == np.uint8 and inputs["rgb"].shape == target.shape
