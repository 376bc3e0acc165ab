"""The learned guided head: its inputs, its start from an automatic head, saving and training."""

import keras
import numpy as np
import pytest

from deepkoala import Colorizer, chroma_bins, color, guided_head
from deepkoala.guidance import Guide
from tests.helpers import TINY_BACKBONE, TINY_SIZES, striped_images


@pytest.fixture
def automatic():
    keras.utils.set_random_seed(0)
    return Colorizer(
        backbone=TINY_BACKBONE,
        backbone_weights=None,
        loss="classification",
        mid_level_features=True,
        **TINY_SIZES,
    )


@pytest.fixture
def guided(automatic):
    return guided_head.guided_copy(automatic)


def _lightness(count=2, size=32):
    return np.random.default_rng(0).uniform(0, 100, (count, size, size)).astype(np.float32)


def _guides(images):
    guide = Guide(hints=[(5, 6, "#c02020"), (20, 25, (40, 160, 60))], reference=images[1])
    return [guide.at_size(32, 32, 32), None]


def test_a_guided_copy_colorizes_as_its_original_without_guidance(automatic, guided):
    assert guided.get_config()["guided"] and not automatic.get_config()["guided"]
    assert [i.name for i in guided.inputs] == ["lightness", "hints", "color_histogram"]
    lightness = _lightness()
    np.testing.assert_allclose(
        guided.predict_chroma(lightness), automatic.predict_chroma(lightness), atol=1e-5
    )
    # The gates start at zero, and the automatic blocks are frozen.
    assert not guided.head.guide.get_layer("guide_gates").kernel.numpy().any()
    assert guided.head.guide.trainable_weights
    assert not any(getattr(guided.head, b).trainable for b in ("encoder", "fusion", "decoder"))


def test_guided_config_round_trip(guided):
    config = guided.get_config()
    rebuilt = Colorizer.from_config(config)
    assert rebuilt.get_config() == config
    assert [i.name for i in rebuilt.head.inputs] == [i.name for i in guided.head.inputs]
    with pytest.raises(ValueError, match="guided"):
        Colorizer(backbone=TINY_BACKBONE, backbone_weights=None, guided="yes", **TINY_SIZES)
    # The guidance acts on the a*b* bins: a regression head cannot be guided.
    with pytest.raises(ValueError, match="loss='mse'"):
        Colorizer(backbone=TINY_BACKBONE, backbone_weights=None, guided=True, **TINY_SIZES)


def test_a_guided_keras_file_saves_and_loads_with_equal_outputs(tmp_path, guided):
    # Weights that use the guidance, so the round trip covers them.
    for layer in guided.head.guide.layers:
        if layer.weights:
            layer.kernel.assign(np.random.default_rng(1).normal(0, 0.5, layer.kernel.shape))
    path = tmp_path / "guided.keras"
    guided.save(path)
    loaded = Colorizer.load(path)
    images = striped_images(2)
    lightness, guidance = _lightness(), _guides(images)
    expected = guided.predict_chroma(lightness, guidance)
    np.testing.assert_array_equal(loaded.predict_chroma(lightness, guidance), expected)
    # The guidance reaches the network: the guided item differs from no guidance.
    unguided = guided_head.SPREAD_AFTER
    try:
        guided_head.SPREAD_AFTER = False
        learned = guided.predict_chroma(lightness, guidance)
    finally:
        guided_head.SPREAD_AFTER = unguided
    assert not np.allclose(learned[0], guided.predict_chroma(lightness)[0], atol=1e-4)


def test_one_fit_step_trains_the_guide_block_alone(guided):
    images = striped_images(4)
    before = guided.head.get_weights()
    frozen = [b.get_weights() for b in (guided.head.encoder, guided.head.decoder)]
    history = guided.fit(images, epochs=1, batch_size=2, verbose=0, seed=0)
    assert np.isfinite(history.history["loss"]).all()
    trainer = guided.training_model()
    assert {"rgb", "embedding", "mid_level", "hints", "color_histogram"} <= set(
        trainer.input.keys() if isinstance(trainer.input, dict) else trainer.input_names
    )
    # The gates left zero: the step saw sampled guidance.
    assert guided.head.guide.get_layer("guide_gates").kernel.numpy().any()
    for old, new in zip(frozen, (guided.head.encoder, guided.head.decoder), strict=True):
        for old_weight, new_weight in zip(old, new.get_weights(), strict=True):
            np.testing.assert_array_equal(old_weight, new_weight)
    assert len(before) == len(guided.head.get_weights())


def test_sampled_hints_carry_the_truths_colors_at_their_points():
    images = striped_images(8)
    sampled = guided_head.sample_guidance(images, np.random.default_rng(0))
    hints, histograms = sampled["hints"], sampled["color_histogram"]
    assert hints.shape == (8, 32, 32, 5) and histograms.shape == (8, chroma_bins.BIN_COUNT)
    truth = np.asarray(color.rgb_to_lab(images / 255.0))[..., 1:] / color.AB_SCALE
    # Full trust marks the hinted pixels; some views get no hints at all.
    exact = hints[..., 4] == 1.0
    assert exact.any() and not hints[~exact.any(axis=(1, 2))].any()
    # A hint's color is a 3x3 mean of the truth near its point: close, not equal.
    assert np.abs(hints[..., :2][exact] - truth[exact]).mean() < 0.2
    np.testing.assert_allclose(hints[..., 2:4], hints[..., :2] * hints[..., 4:], atol=1e-6)
    sums = histograms.sum(axis=1)
    assert np.all(np.isclose(sums, 1.0) | (sums == 0.0))


def test_network_inputs_place_hints_and_a_references_histogram():
    images = striped_images(2)
    hints, histograms = guided_head.network_inputs(_guides(images), _lightness())
    assert hints[0, 6, 5, 4] == 1.0 and hints[0, 25, 20, 4] == 1.0
    expected = np.asarray(color.rgb_to_lab(np.array([[[192, 32, 32]]]) / 255.0))[0, 0, 1:]
    np.testing.assert_allclose(hints[0, 6, 5, :2], expected / color.AB_SCALE, atol=1e-4)
    assert not hints[1].any() and not histograms[1].any()
    np.testing.assert_allclose(histograms[0].sum(), 1.0, rtol=1e-5)


def test_a_guided_colorizer_colorizes_with_hints(guided, tmp_path):
    image = striped_images(1)[0]
    output = guided.colorize(image, hints=[(3, 3, "#00ff00")], reference=striped_images(2)[1])
    assert output.size == (32, 32)
    with pytest.raises(ValueError, match="outside"):
        guided.colorize(image, hints=[(40, 3, "#00ff00")])


def test_the_priors_pull_toward_the_hints_color_and_the_references_palette():
    from deepkoala.layers import AnnealedMean, GuidancePriors

    logits = np.random.default_rng(0).normal(0, 0.1, (1, 2, 2, chroma_bins.BIN_COUNT))
    logits = logits.astype(np.float32)
    priors, mean = GuidancePriors(), AnnealedMean()
    hint = np.array([40.0, -30.0], np.float32) / color.AB_SCALE
    cells = np.zeros((1, 2, 2, 5), np.float32)
    cells[..., :2], cells[..., 4] = hint, 1.0
    palette = np.zeros((1, chroma_bins.BIN_COUNT), np.float32)
    palette[0, chroma_bins.bin_index(np.array([-55.0, 55.0]))] = 1.0
    gates = np.zeros((1, 2, 2, 2), np.float32)
    pulled = np.asarray(mean(priors([logits, cells, gates + [1.0, 0.0], palette * 0])))
    np.testing.assert_allclose(
        pulled.reshape(-1, 2) * color.AB_SCALE, [[40.0, -30.0]] * 4, atol=1.0
    )
    pulled = np.asarray(mean(priors([logits, cells * 0, gates + [0.0, 1.0], palette])))
    np.testing.assert_allclose(
        pulled.reshape(-1, 2) * color.AB_SCALE, [[-55.0, 55.0]] * 4, atol=1.0
    )
    # No hints and no reference: the same distribution, whatever the gates.
    unguided = priors([logits, cells * 0, gates + 1.0, palette * 0])
    np.testing.assert_allclose(np.asarray(mean(unguided)), np.asarray(mean(logits)), atol=1e-6)
