"""The a*b* bins, the losses that fight sepia, and training with each loss."""

import json

import keras
import numpy as np
import pytest

from deepkoala import Colorizer, chroma_bins, color
from deepkoala.layers import AnnealedMean
from deepkoala.losses import ChromaCrossEntropy, RebalancedChromaMSE, chroma_mse
from deepkoala.settings import LOSSES
from tests.helpers import LEARNING_SIZES, TINY_BACKBONE, TINY_SIZES, striped_images


def test_bins_cover_the_srgb_gamut_and_index_the_nearest_center():
    centers = chroma_bins.bin_centers()
    assert centers.shape == (chroma_bins.BIN_COUNT, 2)
    rgb = np.random.default_rng(0).integers(0, 256, (4096, 3)).astype(np.uint8)
    ab = np.asarray(color.rgb_to_lab(rgb))[..., 1:]
    nearest = np.argmin(((ab[:, None] - centers[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(np.asarray(chroma_bins.bin_index(ab)), nearest)
    assert np.abs(ab - centers[nearest]).max() <= 5.0 + 1e-4


def test_soft_encoding_is_a_distribution_centered_on_the_color():
    ab = np.array([[12.0, -33.0], [80.0, 70.0]], np.float32)
    target = np.asarray(chroma_bins.soft_encode(ab))
    np.testing.assert_allclose(target.sum(-1), 1.0, atol=1e-5)
    mean = target @ chroma_bins.bin_centers()
    np.testing.assert_allclose(mean, ab, atol=0.5)


def test_rebalancing_favours_rare_colors_with_unit_mean_weight():
    counts = np.zeros(chroma_bins.BIN_COUNT)
    counts[chroma_bins.bin_index(np.array([0.0, 0.0]))] = 9000
    counts[chroma_bins.bin_index(np.array([-60.0, 50.0]))] = 100
    weights = chroma_bins.rebalancing_weights(counts)
    gray, green = (int(chroma_bins.bin_index(np.array(ab))) for ab in ([0.0, 0.0], [-60.0, 50.0]))
    assert weights[green] > 10 * weights[gray]
    np.testing.assert_allclose(np.sum(counts * weights) / counts.sum(), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="histogram"):
        chroma_bins.rebalancing_weights(np.zeros(chroma_bins.BIN_COUNT))


def test_annealed_mean_goes_from_mean_to_mode_as_temperature_falls():
    logits = np.full((1, 1, 1, chroma_bins.BIN_COUNT), -10.0, np.float32)
    gray, red = (int(chroma_bins.bin_index(np.array(ab))) for ab in ([5.0, 5.0], [65.0, 45.0]))
    logits[..., gray], logits[..., red] = 1.0, 0.8
    plain = np.asarray(AnnealedMean(1.0)(logits))[0, 0, 0] * color.AB_SCALE
    sharp = np.asarray(AnnealedMean(0.02)(logits))[0, 0, 0] * color.AB_SCALE
    assert 15 < plain[0] < 45  # between the two colors
    np.testing.assert_allclose(sharp, [5.0, 5.0], atol=0.1)  # the most likely bin
    assert AnnealedMean.from_config(AnnealedMean(0.2).get_config()).temperature == 0.2
    with pytest.raises(ValueError, match="temperature"):
        AnnealedMean(-1.0)


def test_uncertainty_fade_pales_only_colors_torn_between_opposite_hues():
    def logits_on(*colors, blue_lead=0.0):
        logits = np.full((1, 1, 1, chroma_bins.BIN_COUNT), -20.0, np.float32)
        for ab in colors:
            logits[..., int(chroma_bins.bin_index(np.array(ab)))] = 1.0 + blue_lead * (ab[1] < 0)
        return logits

    def decode(logits, fade):
        return np.asarray(AnnealedMean(0.38, fade)(logits))[0, 0, 0] * color.AB_SCALE

    sure = logits_on([-20.0, -40.0])  # one blue
    np.testing.assert_allclose(decode(sure, 2.0), decode(sure, 0.0), rtol=1e-4)
    near = logits_on([-20.0, -40.0], [-30.0, -40.0])  # two blues: one hue
    assert np.linalg.norm(decode(near, 1.0)) > 0.95 * np.linalg.norm(decode(near, 0.0))
    torn = logits_on([-20.0, -40.0], [20.0, 40.0], blue_lead=1.0)  # blue, or orange
    unfaded, faded = decode(torn, 0.0), decode(torn, 1.0)
    assert np.linalg.norm(unfaded) > 25  # annealing picks blue
    assert np.linalg.norm(faded) < 0.6 * np.linalg.norm(unfaded)
    assert np.dot(faded, unfaded) > 0  # the same hue, paler
    config = AnnealedMean(0.3, 1.5).get_config()
    assert AnnealedMean.from_config(config).uncertainty_fade == 1.5
    with pytest.raises(ValueError, match="uncertainty_fade=-1"):
        AnnealedMean(0.38, -1)


def test_losses_are_zero_or_minimal_for_the_true_colors():
    rgb = striped_images(2, size=16).astype(np.float32)
    chroma = np.asarray(color.rgb_to_lab(rgb / 255.0))[..., 1:] / color.AB_SCALE
    assert float(np.max(chroma_mse(rgb, chroma))) < 1e-8
    weights = np.linspace(0.5, 2.0, chroma_bins.BIN_COUNT).astype(np.float32)
    assert float(RebalancedChromaMSE(weights)(rgb, chroma)) < 1e-8
    assert float(RebalancedChromaMSE(weights)(rgb, chroma + 0.1)) > 1e-3
    # Cross-entropy is lowest for logits that put the mass on the true bins.
    pooled = chroma.reshape(2, 4, 4, 4, 4, 2).mean(axis=(2, 4)) * color.AB_SCALE
    target = np.asarray(chroma_bins.soft_encode(pooled))
    loss = ChromaCrossEntropy()
    right = float(loss(rgb, np.log(target + 1e-9)))
    uniform = float(loss(rgb, np.zeros_like(target)))
    assert right < uniform


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_trains_saves_and_loads(tmp_path, loss):
    keras.utils.set_random_seed(0)
    colorizer = Colorizer(backbone=TINY_BACKBONE, backbone_weights=None, loss=loss, **TINY_SIZES)
    history = colorizer.fit(striped_images(8), epochs=2, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    inputs = list(striped_images(2))
    images = colorizer.colorize(inputs)
    assert images[0].size == (32, 32)
    path = tmp_path / "tiny.keras"
    colorizer.save(path)
    loaded = Colorizer.load(path)
    assert loaded.get_config()["loss"] == loss
    assert json.loads(json.dumps(loaded.get_config())) == json.loads(
        json.dumps(dict(colorizer.get_config(), backbone_weights=None))
    )
    np.testing.assert_array_equal(np.asarray(loaded.colorize(inputs[0])), np.asarray(images[0]))
    # Safe mode, no custom objects beyond deepkoala's registered layers.
    keras.saving.load_model(path, safe_mode=True, compile=False)


def test_classification_learns_vivid_colors_from_gray_patterns():
    """Classification with the annealed mean gets the stripes' colors, not gray."""
    keras.utils.set_random_seed(0)
    colorizer = Colorizer(
        backbone=TINY_BACKBONE, backbone_weights=None, loss="classification", **LEARNING_SIZES
    )
    images = striped_images(88)
    # About 500 steps: classification first settles on the three colors'
    # mixture for 100-200 steps before it tells the patterns apart.
    colorizer.fit(images[:64], epochs=60, batch_size=8, learning_rate=3e-3, seed=0, verbose=0)
    outputs = np.stack([np.asarray(image) for image in colorizer.colorize(list(images[64:]))])
    true_ab = np.asarray(color.rgb_to_lab(images[64:]))[..., 1:]
    out_ab = np.asarray(color.rgb_to_lab(outputs))[..., 1:]
    error = float(np.mean(np.hypot(*(true_ab - out_ab).transpose(3, 0, 1, 2))))
    gray_error = float(np.mean(np.hypot(*true_ab.transpose(3, 0, 1, 2))))
    print(f"mean a*b* error {error:.1f}, gray {gray_error:.1f}")
    assert error < 0.5 * gray_error
