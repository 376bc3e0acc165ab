"""Quality metrics on hand-made cases with known answers, and the evaluate command."""

import json

import numpy as np
import pytest
from PIL import Image
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from deepkoala import cli, color, evaluate, metrics
from deepkoala.evaluation import format_report, gray_baseline


def _noisy_pair(seed=0):
    rng = np.random.default_rng(seed)
    image = data.astronaut()[:96, :128]
    noisy = np.clip(image.astype(int) + rng.integers(-40, 40, image.shape), 0, 255)
    return image, noisy.astype(np.uint8)


def test_identical_images_score_perfectly():
    image = data.coffee()[:64, :64]
    assert metrics.psnr(image, image) == float("inf")
    assert metrics.ssim(image, image) == pytest.approx(1.0)
    assert metrics.ab_error_auc(image, image) == 1.0


def test_psnr_of_a_known_shift():
    image = np.full((8, 8, 3), 100, np.uint8)
    assert metrics.psnr(image, image + 10) == pytest.approx(10 * np.log10(255**2 / 100))


def test_psnr_and_ssim_match_scikit_image():
    image, noisy = _noisy_pair()
    expected_psnr = peak_signal_noise_ratio(image, noisy, data_range=255)
    assert metrics.psnr(image, noisy) == pytest.approx(expected_psnr, abs=1e-9)
    expected = structural_similarity(image, noisy, channel_axis=-1, data_range=255)
    assert metrics.ssim(image, noisy) == pytest.approx(expected, abs=1e-9)


def test_colorfulness_of_gray_and_pure_red():
    assert metrics.colorfulness(np.full((5, 5, 3), 77, np.uint8)) == 0.0
    assert metrics.colorfulness(gray_baseline(data.coffee())) == pytest.approx(0.0, abs=1e-9)
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 255
    assert metrics.colorfulness(red) == pytest.approx(0.3 * np.hypot(255, 127.5))
    # Half red, half green: the signed original sees opposite hues cancel in
    # the mean; the absolute variant does not.
    halves = np.zeros((2, 2, 3), np.uint8)
    halves[0, :, 0] = halves[1, :, 1] = 255
    assert metrics.colorfulness(halves, absolute=False) == pytest.approx(
        np.hypot(255, 0) + 0.3 * np.hypot(0, 127.5)
    )
    assert metrics.colorfulness(halves) == pytest.approx(0.3 * np.hypot(255, 127.5))


def test_auc_of_a_known_chroma_shift():
    lab = np.zeros((16, 16, 3), np.float32)
    lab[..., 0] = 60.0
    shifted = lab.copy()
    shifted[..., 1] = 10.0  # every pixel 10 a* units away
    gray = np.round(np.asarray(color.lab_to_rgb(lab)) * 255).astype(np.uint8)
    tinted = np.round(np.asarray(color.lab_to_rgb(shifted)) * 255).astype(np.uint8)
    # Thresholds 0..150: the CDF is 0 below an error of ~10 and 1 from there on.
    assert 139 / 151 <= metrics.ab_error_auc(gray, tinted) <= 142 / 151


def test_metrics_reject_mismatched_images():
    with pytest.raises(ValueError, match="shape"):
        metrics.psnr(np.zeros((4, 4, 3)), np.zeros((4, 5, 3)))
    with pytest.raises(ValueError, match="RGB"):
        metrics.colorfulness(np.zeros((4, 4)))


def _color_folder(folder):
    folder.mkdir()
    for index, image in enumerate([data.coffee()[:48, :64], data.astronaut()[:40, :40]]):
        Image.fromarray(image).save(folder / f"{index}.png")
    (folder / "broken.jpg").write_bytes(b"nope")
    return folder


def test_evaluate_reports_beside_the_gray_baseline(tmp_path, tiny_colorizer):
    folder = _color_folder(tmp_path / "photos")
    with pytest.warns(UserWarning, match="broken.jpg"):
        report = evaluate(tiny_colorizer, folder, verbose=0)
    assert report["images"] == 2
    originals = [data.coffee()[:48, :64], data.astronaut()[:40, :40]]
    gray_psnrs = [metrics.psnr(image, gray_baseline(image)) for image in originals]
    assert report["gray"]["psnr"] == pytest.approx(np.mean(gray_psnrs))
    colorfulness = [metrics.colorfulness(image) for image in originals]
    assert report["original"]["colorfulness"] == pytest.approx(np.mean(colorfulness))
    assert report["gray"]["colorfulness"] == pytest.approx(0.0, abs=1e-9)
    gap = report["colorfulness_gap"]
    assert gap["gray"] == pytest.approx(report["original"]["colorfulness"])
    assert gap["deepkoala"] == pytest.approx(
        report["original"]["colorfulness"] - report["deepkoala"]["colorfulness"]
    )
    table = format_report(report)
    assert "PSNR" in table and "gray" in table
    assert evaluate(tiny_colorizer, folder, limit=1, verbose=0)["images"] == 1


def test_evaluate_command_json(tmp_path, tiny_colorizer, capsys):
    folder = _color_folder(tmp_path / "photos")
    (folder / "broken.jpg").unlink()
    model = tmp_path / "tiny.keras"
    tiny_colorizer.save(model)
    code = cli.main(["evaluate", str(folder), "--weights", str(model), "--json", "--limit", "2"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"images", "deepkoala", "gray", "original", "colorfulness_gap"}
    assert set(report["deepkoala"]) == {"psnr", "ssim", "auc", "colorfulness"}


def test_hue_confusion_counts_true_against_colorized_hue_families():
    from deepkoala import color
    from deepkoala.metrics import hue_confusion, hue_family_names

    def patch(lightness, a, b):
        lab = np.broadcast_to(np.float32([lightness, a, b]), (8, 8, 3))
        return np.round(np.asarray(color.lab_to_rgb(lab)) * 255).astype("uint8")

    names = hue_family_names()
    green, tan = patch(50, -40, 35), patch(50, 12, 30)  # hue 139 and 68 degrees
    gray, blue = patch(50, 0, 0), patch(50, 5, -40)
    truth, colorized = np.concatenate([green, gray]), np.concatenate([tan, blue])
    counts = hue_confusion(truth, colorized, stride=1)
    assert counts.shape == (8, 8) and counts.sum() == 128
    assert counts[names.index("green"), names.index("orange")] == 64
    assert counts[names.index("gray"), names.index("blue")] == 64
    red = patch(50, 40, -5)  # hue -7: red, across the wrap-around
    assert hue_confusion(red, red, stride=2)[1, 1] == 16
