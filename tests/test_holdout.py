"""Fine-tuning keeps photos out by name, scores them, stops early and never ends worse."""

import warnings

import keras
import numpy as np
import pytest
from PIL import Image

from deepkoala import Colorizer, cli
from deepkoala.holdout import Holdout, holdout_size, split_holdout
from tests.helpers import striped_images


def _photo_folder(folder, count):
    folder.mkdir()
    for index, image in enumerate(striped_images(count)):
        Image.fromarray(image).save(folder / f"photo{index:02d}.png")
    return folder


@pytest.fixture
def pretrained(saved_tiny_model):
    return Colorizer.load(saved_tiny_model)


def _scripted(monkeypatch, scores):
    """Holdout scores in this order (before, then one per epoch), gray 10 dB."""
    remaining = list(scores)

    def score(self):
        psnr = remaining.pop(0)
        return {"deepkoala": {"psnr": psnr}, "gray": {"psnr": 10.0}}

    monkeypatch.setattr(Holdout, "_score", score)


def test_the_holdout_is_chosen_by_name_wherever_the_folder_is():
    names = [f"img{index}.jpg" for index in range(30)]
    here = split_holdout([f"/a/{name}" for name in names], 6)
    there = split_holdout([f"/elsewhere/b/{name}" for name in names], 6)
    assert [p.split("/")[-1] for p in here[1]] == [p.split("/")[-1] for p in there[1]]
    assert len(here[0]) == 24 and not set(here[0]) & set(here[1])
    assert [holdout_size(n) for n in (1, 4, 5, 10, 20, 50, 500)] == [0, 0, 1, 2, 4, 10, 20]


def test_fine_tuning_scores_before_and_after_and_logs_each_epoch(tmp_path, pretrained):
    folder = _photo_folder(tmp_path / "photos", 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no epoch beat the start", if so
        history = pretrained.fit(folder, epochs=2, batch_size=2, cache_dir=tmp_path / "c")
    report = history.holdout
    assert report["photos"] == 2 and len(report["epochs"]) == len(history.history["loss"])
    assert history.history["holdout_psnr"] == [epoch["psnr"] for epoch in report["epochs"]]
    assert set(report["before"]) == {"psnr", "ssim", "auc", "colorfulness"}
    assert report["after"]["psnr"] >= report["before"]["psnr"]  # never ends worse
    assert report["gray"]["psnr"] > 0


def test_training_stops_after_patience_and_keeps_the_best_epoch(tmp_path, pretrained, monkeypatch):
    _scripted(monkeypatch, [10.0, 11.0, 12.0, 11.5, 11.0, 11.9, 13.0])
    seen = []

    class RecordWeights(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(pretrained.head.get_weights())

    folder = _photo_folder(tmp_path / "photos", 10)
    history = pretrained.fit(
        folder, epochs=10, batch_size=2, cache_dir=tmp_path / "c", callbacks=[RecordWeights()]
    )
    assert len(history.history["loss"]) == 5  # best at 2, then 3 epochs without better
    assert history.holdout["kept_epoch"] == 2 and history.holdout["after"]["psnr"] == 12.0
    for kept, now in zip(seen[1], pretrained.head.get_weights(), strict=True):
        np.testing.assert_array_equal(kept, now)


def test_a_fine_tune_that_only_hurts_keeps_the_starting_weights(tmp_path, pretrained, monkeypatch):
    folder = _photo_folder(tmp_path / "photos", 10)
    start = pretrained.head.get_weights()
    _scripted(monkeypatch, [20.0, 19.0, 18.0, 17.0])
    with pytest.warns(UserWarning, match="No epoch beat the starting weights"):
        history = pretrained.fit(folder, epochs=5, batch_size=2, cache_dir=tmp_path / "c")
    assert history.holdout["kept_epoch"] == 0 and history.holdout["after"]["psnr"] == 20.0
    for before, after in zip(start, pretrained.head.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    # keep_last: the last epoch's weights, and a warning that they are worse.
    _scripted(monkeypatch, [20.0, 19.0])
    with pytest.warns(UserWarning, match="worse on the 2 held-out"):
        history = pretrained.fit(
            folder, epochs=1, batch_size=2, cache_dir=tmp_path / "c", keep_last=True
        )
    assert history.holdout["kept_epoch"] == 1
    changed = [
        not np.array_equal(a, b) for a, b in zip(start, pretrained.head.get_weights(), strict=True)
    ]
    assert any(changed)


def test_too_few_photos_for_a_holdout_is_a_warning_not_a_crash(tmp_path, pretrained):
    folder = _photo_folder(tmp_path / "photos", 3)
    with pytest.warns(UserWarning, match="No holdout: 3 photos"):
        history = pretrained.fit(folder, epochs=1, batch_size=2, cache_dir=tmp_path / "c")
    assert history.holdout is None
    with pytest.raises(ValueError, match="must leave photos to train on: 3 photos"):
        pretrained.fit(folder, holdout=3, cache_dir=tmp_path / "c")
    with pytest.raises(ValueError, match="holdout='some'"):
        pretrained.fit(folder, holdout="some", cache_dir=tmp_path / "c")


def test_a_fresh_colorizer_trains_on_everything_unless_asked(tmp_path, tiny_colorizer):
    folder = _photo_folder(tmp_path / "photos", 6)
    history = tiny_colorizer.fit(folder, epochs=1, batch_size=2, cache_dir=tmp_path / "c")
    assert history.holdout is None and not tiny_colorizer.pretrained
    history = tiny_colorizer.fit(
        striped_images(6), epochs=1, batch_size=2, holdout=2, cache_dir=tmp_path / "c"
    )
    assert history.holdout["photos"] == 2


def test_the_command_line_prints_before_and_after(tmp_path, saved_tiny_model, capsys):
    folder = _photo_folder(tmp_path / "photos", 10)
    arguments = ["train", str(folder), "--epochs", "2", "--batch-size", "2"]
    out = tmp_path / "mine.keras"
    code = cli.main([*arguments, "--weights", str(saved_tiny_model), "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and out.is_file()
    assert "holdout: 2 photo(s); before: " in printed and " dB (gray " in printed
    code = cli.main([*arguments, "--weights", str(saved_tiny_model), "--out", str(out),
                     "--holdout", "0"])  # fmt: skip
    assert code == 0 and "holdout:" not in capsys.readouterr().out
