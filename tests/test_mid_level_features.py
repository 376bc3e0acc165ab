"""The mid-level variant: the backbone's feature map fused beside the embedding."""

import h5py
import keras
import numpy as np
import pytest
from PIL import Image

from deepkoala import Colorizer, blocks
from deepkoala.backbones import Backbone, register_backbone
from deepkoala.embedding_cache import ImageStore
from deepkoala.layers import ResizeToGrid
from deepkoala.training_data import TrainingBatches
from tests.helpers import TINY_BACKBONE, TINY_SIZES, striped_images


def _mid_level_colorizer(**overrides):
    keras.utils.set_random_seed(0)
    arguments = dict(TINY_SIZES, backbone=TINY_BACKBONE, backbone_weights=None)
    return Colorizer(mid_level_features=True, **{**arguments, **overrides})


@pytest.mark.parametrize("size", [(28, 28), (24, 40), (7, 7), (14, 14)])
def test_resize_to_grid_is_bilinear_resizing(size):
    features = np.random.default_rng(0).random((2, 14, 14, 3)).astype("float32")
    grid = np.zeros((2, *size, 1), "float32")
    expected = keras.ops.image.resize(features, size, interpolation="bilinear")
    np.testing.assert_allclose(
        np.asarray(ResizeToGrid()([features, grid])), np.asarray(expected), atol=1e-5
    )


def test_embedding_gives_logits_and_the_feature_map():
    model = blocks.embedding(TINY_BACKBONE, weights=None, mid_level_features=True)
    logits, features = model(np.zeros((2, 40, 24, 1), "float32"))
    # The tiny backbone: 32x32 input, a 3x3 "valid" convolution of stride 2.
    assert logits.shape == (2, 6) and features.shape == (2, 15, 15, 4)
    assert not model.trainable


def test_a_backbone_without_a_feature_layer_is_refused():
    def build(weights):
        inputs = keras.Input((32, 32, 3))
        pooled = keras.layers.GlobalAveragePooling2D()(inputs)
        return keras.Model(inputs, keras.layers.Dense(4)(pooled))

    register_backbone(Backbone("tiny_without_features", build, 32, 1 / 255, 0.0, 4))
    with pytest.raises(ValueError, match="mid_level_features"):
        Colorizer(backbone="tiny_without_features", backbone_weights=None, mid_level_features=True)


def test_fusion_takes_the_feature_map_at_any_grid():
    model = blocks.fusion(feature_channels=3, embedding_size=5, filters=4, mid_level_channels=2)
    fused = model([np.ones((1, 6, 10, 3)), np.ones((1, 5)), np.ones((1, 14, 14, 2))])
    assert fused.shape == (1, 6, 10, 4)


@pytest.mark.parametrize("loss", ["mse", "classification"])
def test_mid_level_colorizer_saves_fits_and_colorizes_at_any_size(tmp_path, loss):
    colorizer = _mid_level_colorizer(loss=loss)
    assert len(colorizer.head.inputs) == 3
    assert Colorizer.from_config(colorizer.get_config()).get_config() == colorizer.get_config()
    history = colorizer.fit(striped_images(4, size=48), batch_size=2, stored_size=40, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    photo = striped_images(1, size=48)[0]
    # A second working size retraces the graph with unknown sizes.
    sizes = [colorizer.colorize(photo, image_size=s).size for s in (32, 64, 48)]
    assert sizes == [(48, 48)] * 3
    path = tmp_path / "mid.keras"
    colorizer.save(path)
    loaded = Colorizer.load(path)
    assert loaded.get_config()["mid_level_features"]
    lightness = np.random.default_rng(0).uniform(-1, 1, (1, 40, 24, 1)).astype("float32")
    np.testing.assert_allclose(
        np.asarray(loaded(lightness)), np.asarray(colorizer(lightness)), atol=1e-6
    )


def test_the_cache_holds_the_feature_maps(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for index, image in enumerate(striped_images(3, size=48)):
        Image.fromarray(image).save(photos / f"{index}.png")
    colorizer = _mid_level_colorizer()
    colorizer.fit(photos, batch_size=2, views_per_image=2, cache_dir=tmp_path / "cache", verbose=0)
    (cache,) = (tmp_path / "cache").glob("*.h5")
    with h5py.File(cache) as file:
        assert file["mid_level"].shape == (6, 15, 15, 4)
        assert file["mid_level"].dtype == np.float16
    # The paper's colorizer on the same photos keeps a cache of its own.
    keras.utils.set_random_seed(0)
    plain = Colorizer(backbone=TINY_BACKBONE, backbone_weights=None, **TINY_SIZES)
    plain.fit(photos, batch_size=2, views_per_image=2, cache_dir=tmp_path / "cache", verbose=0)
    assert len(list((tmp_path / "cache").glob("*.h5"))) == 2


def test_crops_and_flips_keep_maps_on_their_image():
    # Each map cell holds the mean of the 16x16 pixels it covers, as a
    # 224 view and a 14x14 map: a crop of both must still agree.
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 224, 224, 3), dtype=np.uint8)
    cells = images[..., 0].reshape(4, 14, 16, 14, 16).mean(axis=(2, 4))[..., None]
    store = ImageStore(images, np.zeros((4, 6), np.float32), mid_level=cells.astype(np.float16))
    for augment in (True, False):
        batches = TrainingBatches(store, np.arange(4), 4, crop_size=192, augment=augment, seed=1)
        for _ in range(3):
            inputs, _ = batches[0]
            assert inputs["rgb"].shape == (4, 192, 192, 3)
            assert inputs["mid_level"].shape == (4, 12, 12, 1)
            expected = inputs["rgb"][..., 0].reshape(4, 12, 16, 12, 16).mean(axis=(2, 4))
            np.testing.assert_allclose(inputs["mid_level"][..., 0], expected, atol=0.1)
            batches.on_epoch_end()
