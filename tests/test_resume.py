"""Training survives being killed: resumable epochs, safe caches, NaN stops."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from tests.helpers import striped_images

REPOSITORY = Path(__file__).resolve().parent.parent

TRAIN_SCRIPT = """
import sys, time
import keras
sys.path.insert(0, {repository!r})
from tests.helpers import TINY_BACKBONE, TINY_SIZES, striped_images
from deepkoala import Colorizer

checkpoint_dir, log_path, pause = sys.argv[1], sys.argv[2], float(sys.argv[3])
log = open(log_path, "a")

class Log(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        log.write(f"begin {{epoch}}\\n"); log.flush()
    def on_epoch_end(self, epoch, logs=None):
        log.write(f"end {{epoch}}\\n"); log.flush()
    def on_train_batch_end(self, batch, logs=None):
        time.sleep(pause)

keras.utils.set_random_seed(0)
colorizer = Colorizer(backbone=TINY_BACKBONE, backbone_weights=None, **TINY_SIZES)
colorizer.fit(striped_images(8), epochs=5, batch_size=2, checkpoint_dir=checkpoint_dir,
              callbacks=[Log()], verbose=0)
log.write("finished\\n"); log.flush()
"""


def _wait_for(predicate, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def _lines(path):
    return path.read_text().splitlines() if path.exists() else []


def test_sigkill_mid_epoch_then_resume_from_last_completed_epoch(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(TRAIN_SCRIPT.format(repository=str(REPOSITORY)))
    checkpoints, log = tmp_path / "checkpoints", tmp_path / "log.txt"
    command = [sys.executable, str(script), str(checkpoints), str(log)]

    first = subprocess.Popen([*command, "0.3"])
    try:
        _wait_for(lambda: "begin 2" in _lines(log))
        time.sleep(0.4)  # inside epoch 3 (index 2), after at least one batch
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    first_run = _lines(log)
    assert first_run[-1] == "begin 2" and "end 1" in first_run and "finished" not in first_run

    log.write_text("")
    second = subprocess.run([*command, "0"], timeout=300)
    assert second.returncode == 0
    assert _lines(log) == ["begin 2", "end 2", "begin 3", "end 3", "begin 4", "end 4", "finished"]
    assert not checkpoints.exists()  # removed once training completed


def test_nan_loss_stops_training_with_a_clear_error(tiny_colorizer):
    def poison(batch, logs):
        if batch == 1:
            last = tiny_colorizer.head.decoder.layers[-2]
            last.set_weights([np.full_like(w, np.nan) for w in last.get_weights()])

    with pytest.raises(FloatingPointError, match="loss became nan at epoch 1, batch 2"):
        tiny_colorizer.fit(
            striped_images(8),
            epochs=2,
            batch_size=2,
            callbacks=[keras.callbacks.LambdaCallback(on_train_batch_begin=poison)],
            verbose=0,
        )


CACHE_SCRIPT = """
import sys, time
sys.path.insert(0, {repository!r})
from tests.helpers import TINY_BACKBONE, TINY_SIZES
from deepkoala import Colorizer

colorizer = Colorizer(backbone=TINY_BACKBONE, backbone_weights=None, **TINY_SIZES)
embed = colorizer.embed
def slow_embed(batch):
    print("embedding", flush=True)
    time.sleep(1.0)
    return embed(batch)
colorizer.embed = slow_embed
colorizer.fit(sys.argv[1], cache_dir=sys.argv[2], epochs=1, verbose=0)
"""


def test_sigkill_while_building_the_cache_leaves_nothing_trusted(tmp_path, tiny_colorizer):
    photos, cache = tmp_path / "photos", tmp_path / "cache"
    photos.mkdir()
    for index, image in enumerate(striped_images(80, size=40)):
        Image.fromarray(image).save(photos / f"{index:03d}.png")
    script = tmp_path / "cache.py"
    script.write_text(CACHE_SCRIPT.format(repository=str(REPOSITORY)))
    build = subprocess.Popen(
        [sys.executable, str(script), str(photos), str(cache)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert build.stdout.readline().strip() == "embedding"  # mid-build
    finally:
        build.send_signal(signal.SIGKILL)
        build.wait()
    left = os.listdir(cache)
    assert left and all(".partial-" in name for name in left)  # only an untrusted partial

    history = tiny_colorizer.fit(photos, cache_dir=cache, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    names = os.listdir(cache)
    assert len(names) == 1 and names[0].endswith(".h5")  # the abandoned partial is gone
