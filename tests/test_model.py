"""The network's blocks and their composition, on tiny configurations."""

import json
from dataclasses import replace

import keras
import numpy as np
import pytest

from deepkoala import Colorizer, blocks
from deepkoala.backbones import available_backbones, get_backbone
from deepkoala.layers import RepeatToGrid
from deepkoala.model import colorization_head, deep_koalarization
from tests.helpers import TINY_BACKBONE, TINY_SIZES

TINY_FILTERS = {
    "encoder_filters": TINY_SIZES["encoder_filters"],
    "fusion_filters": TINY_SIZES["fusion_filters"],
    "decoder_filters": TINY_SIZES["decoder_filters"],
}


def _tiny_model():
    keras.utils.set_random_seed(0)
    return deep_koalarization(TINY_BACKBONE, backbone_weights=None, **TINY_FILTERS)


def _lightness(height, width, batch=2, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (batch, height, width, 1)).astype("float32")


def test_encoder_downsamples_by_eight():
    model = blocks.encoder((4, 4, 4, 4, 4, 4, 4, 5))
    assert model(_lightness(32, 48)).shape == (2, 4, 6, 5)
    assert [layer.name for layer in model.layers[1:]] == [f"encoder_conv{i}" for i in range(1, 9)]


def test_decoder_upsamples_by_eight_into_tanh_range():
    model = blocks.decoder(3, (4, 4, 4, 4))
    grid = np.random.default_rng(0).normal(size=(2, 4, 6, 3)).astype("float32") * 100
    output = np.asarray(model(grid))
    assert output.shape == (2, 32, 48, 2)
    assert np.abs(output).max() <= 1.0


def test_fusion_repeats_the_embedding_over_the_actual_grid():
    model = blocks.fusion(feature_channels=3, embedding_size=5, filters=4)
    features = np.zeros((2, 7, 3, 3), "float32")
    vectors = np.random.default_rng(0).normal(size=(2, 5)).astype("float32")
    assert model([features, vectors]).shape == (2, 7, 3, 4)
    repeated = np.asarray(RepeatToGrid()([vectors, features]))
    np.testing.assert_array_equal(repeated[:, 6, 2], vectors)
    np.testing.assert_array_equal(repeated[:, 0, 0], vectors)


def test_embedding_is_frozen_and_returns_logits():
    model = blocks.embedding(TINY_BACKBONE, weights=None)
    assert not model.trainable
    assert model.trainable_weights == []
    assert model(_lightness(24, 40)).shape == (2, 6)


@pytest.mark.parametrize(("height", "width"), [(8, 8), (32, 32), (40, 64), (72, 24)])
def test_model_accepts_any_multiple_of_eight(height, width):
    model = _tiny_model()
    assert model(_lightness(height, width)).shape == (2, height, width, 2)


def test_model_is_made_of_named_blocks():
    model = _tiny_model()
    head = model.head
    assert {layer.name for layer in head.layers} >= {"encoder", "fusion", "decoder"}
    assert not model.embedding.trainable
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == sum(int(np.prod(w.shape)) for w in head.trainable_weights)


def test_paper_head_has_the_paper_parameter_count():
    # The decoder/encoder/fusion widths of the paper with a 1000-logit backbone.
    head = colorization_head(1000)
    assert head.count_params() == 6_573_794


def test_block_arguments_are_validated():
    with pytest.raises(ValueError, match="filters"):
        blocks.encoder((64, 128))
    with pytest.raises(ValueError, match="filters"):
        blocks.decoder(8, (4, 4, 4, 0))
    with pytest.raises(ValueError, match="embedding_size"):
        blocks.fusion(8, 0)
    with pytest.raises(ValueError, match="Known backbones"):
        blocks.embedding("resnet9000", weights=None)
    assert {"inception_resnet_v2", "inception_v3"} <= set(available_backbones())
    assert get_backbone("inception_resnet_v2").input_size == 299


def test_functional_config_round_trip_gives_equal_outputs():
    model = _tiny_model()
    clone = keras.Model.from_config(json.loads(json.dumps(model.get_config())))
    clone.set_weights(model.get_weights())
    inputs = _lightness(32, 32)
    np.testing.assert_allclose(np.asarray(clone(inputs)), np.asarray(model(inputs)), atol=1e-6)


def test_colorizer_config_round_trip():
    colorizer = Colorizer(backbone=TINY_BACKBONE, backbone_weights=None, **TINY_SIZES)
    config = colorizer.get_config()
    assert set(config) == {
        "name",
        "trainable",
        "backbone",
        "backbone_weights",
        "image_size",
        "encoder_filters",
        "fusion_filters",
        "decoder_filters",
        "dtype_policy",
        "loss",
        "temperature",
        "mid_level_features",
        "edge_aware_chroma",
        "saturation",
        "guided",
        "uncertainty_fade",
    }
    rebuilt = Colorizer.from_config(json.loads(json.dumps(config)))
    assert rebuilt.get_config() == config
    edge_aware = Colorizer.from_config({**config, "edge_aware_chroma": True})
    assert edge_aware.get_config()["edge_aware_chroma"] is True
    with pytest.raises(ValueError, match="edge_aware_chroma"):
        Colorizer.from_config({**config, "edge_aware_chroma": "yes"})
    with pytest.raises(ValueError, match="saturation"):
        Colorizer.from_config({**config, "saturation": 0})


def test_saturation_scales_the_predicted_chroma_only():
    colorizer = Colorizer(backbone=TINY_BACKBONE, backbone_weights=None, **TINY_SIZES)
    vivid = Colorizer.from_config({**colorizer.get_config(), "saturation": 1.5})
    vivid.set_weights(colorizer.get_weights())
    lightness = np.random.default_rng(0).uniform(20, 80, (2, 32, 32)).astype("float32")
    np.testing.assert_allclose(
        vivid.predict_chroma(lightness), 1.5 * colorizer.predict_chroma(lightness), rtol=1e-5
    )
    # The network itself, and so its exports, are unchanged.
    scaled = lightness[..., None] / 50.0 - 1.0
    np.testing.assert_array_equal(
        vivid.predict_on_batch(scaled), colorizer.predict_on_batch(scaled)
    )


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("image_size", 30),
        ("image_size", 0),
        ("image_size", "224"),
        ("backbone", "alexnet"),
        ("backbone_weights", "/no/such/file.h5"),
        ("encoder_filters", (8, 8)),
        ("fusion_filters", -1),
        ("loss", "huber"),
        ("temperature", 0.0),
        ("temperature", float("nan")),
        ("mid_level_features", "yes"),
    ],
)
def test_colorizer_rejects_bad_arguments_naming_them(argument, value):
    arguments = dict(TINY_SIZES, backbone=TINY_BACKBONE, backbone_weights=None)
    arguments[argument] = value
    with pytest.raises(ValueError, match=argument if argument != "backbone" else "backbone="):
        Colorizer(**arguments)


def test_keras_file_round_trip_gives_equal_outputs(tmp_path, tiny_colorizer):
    path = tmp_path / "tiny.keras"
    tiny_colorizer.save(path)
    loaded = Colorizer.load(path)
    assert loaded.get_config() == dict(tiny_colorizer.get_config(), backbone_weights=None)
    inputs = _lightness(32, 32)
    expected = np.asarray(tiny_colorizer(inputs))
    np.testing.assert_allclose(np.asarray(loaded(inputs)), expected, atol=1e-6)
    # A plain Keras load in safe mode works too: no pickled code inside.
    plain = keras.saving.load_model(path, safe_mode=True, compile=False)
    np.testing.assert_allclose(np.asarray(plain(inputs)), expected, atol=1e-6)


def test_one_training_step_changes_only_the_head(tiny_colorizer):
    from tests.helpers import striped_images

    backbone_before = [keras.ops.convert_to_numpy(w) for w in tiny_colorizer.embedding.weights]
    head_before = [keras.ops.convert_to_numpy(w) for w in tiny_colorizer.head.weights]
    history = tiny_colorizer.fit(striped_images(4), epochs=1, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    backbone_after = tiny_colorizer.embedding.weights
    head_after = tiny_colorizer.head.weights
    for before, after in zip(backbone_before, backbone_after, strict=True):
        np.testing.assert_array_equal(before, keras.ops.convert_to_numpy(after))
    assert any(
        not np.array_equal(b, keras.ops.convert_to_numpy(a))
        for b, a in zip(head_before, head_after, strict=True)
    )


def test_a_failed_imagenet_download_is_one_clear_error(monkeypatch):
    from deepkoala import backbones

    def offline_build(weights):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: 403")

    spec = backbones.get_backbone(TINY_BACKBONE)
    monkeypatch.setitem(
        backbones._REGISTRY, "offline_test", replace(spec, name="offline_test", build=offline_build)
    )
    with pytest.raises(OSError, match="ImageNet weights of the offline_test backbone"):
        blocks.embedding("offline_test", weights="imagenet")


def test_set_decoding_changes_the_colorizer_in_place_as_a_rebuilt_one_would():
    colorizer = Colorizer(
        backbone=TINY_BACKBONE, backbone_weights=None, loss="classification", **TINY_SIZES
    )
    lightness = np.random.default_rng(0).uniform(20, 80, (2, 32, 32)).astype("float32")
    before = colorizer.predict_chroma(lightness)  # traced with the old temperature
    weights = colorizer.weights
    assert colorizer.set_decoding(temperature=0.2, saturation=1.3) is colorizer
    assert colorizer.weights == weights  # the same variables: nothing rebuilt
    rebuilt = Colorizer.from_config(colorizer.get_config())
    rebuilt.set_weights(colorizer.get_weights())
    assert rebuilt.get_config()["temperature"] == 0.2
    after = colorizer.predict_chroma(lightness)
    np.testing.assert_allclose(after, rebuilt.predict_chroma(lightness), atol=1e-4)
    # Saturation alone would give 1.3 * before: the new temperature took effect.
    assert not np.allclose(after, 1.3 * before, rtol=0.05)
    colorizer.set_decoding(edge_aware_chroma=True)
    assert colorizer.get_config()["edge_aware_chroma"] is True
    with pytest.raises(ValueError, match="saturation"):
        colorizer.set_decoding(saturation=-1)
    with pytest.raises(ValueError, match="image_size=64"):
        colorizer.set_decoding(image_size=64)  # not a decoding setting
    assert colorizer.get_config()["saturation"] == 1.3  # a refused change changes nothing
    colorizer.set_decoding(uncertainty_fade=2.0)
    faded = colorizer.predict_chroma(lightness)
    assert colorizer.get_config()["uncertainty_fade"] == 2.0
    assert np.all(np.abs(faded) <= np.abs(after) + 1e-6)  # only ever paler
    rebuilt = Colorizer.from_config(colorizer.get_config())
    rebuilt.set_weights(colorizer.get_weights())
    np.testing.assert_allclose(rebuilt.predict_chroma(lightness), faded, atol=1e-4)
