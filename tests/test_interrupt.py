"""Ctrl-C (SIGINT) loses nothing: only complete files, exit 130, and a rerun recovers."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

from deepkoala import interrupts
from tests.helpers import striped_images

_REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The deepkoala command in a process of its own that knows the tests' tiny backbone.
_CLI = [
    sys.executable, "-c",
    "import sys, tests.helpers; from deepkoala import cli; sys.exit(cli.main(sys.argv[1:]))",
]  # fmt: skip
_TINY = ["--backbone", "tiny_test_backbone", "--backbone-weights", "none", "--size", "32"]


def _start(*arguments, home):
    return subprocess.Popen(
        [*_CLI, *arguments],
        cwd=_REPOSITORY,
        env={**os.environ, "DEEPKOALA_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A suite started in the background of a shell ignores SIGINT, and its
        # children would inherit that: the command gets Ctrl-C as a user's would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _interrupt_when(process, ready, timeout=180):
    """SIGINT `process` as soon as `ready()` holds; its (exit status, stderr)."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, process.communicate()[1][-2000:]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, errors = process.communicate(timeout=120)
    return process.returncode, errors


def _photos(folder, count, size=48):
    folder.mkdir()
    for index, image in enumerate(striped_images(count, size=size)):
        Image.fromarray(image).save(folder / f"{index:03d}.png")
    return folder


def _visible(folder):
    return sorted(name for name in os.listdir(folder) if not name.startswith("."))


def test_ctrl_c_during_colorize_leaves_complete_outputs_and_a_rerun_finishes(
    tmp_path, saved_tiny_model
):
    photos, out = _photos(tmp_path / "photos", 300), tmp_path / "out"
    arguments = ["colorize", str(photos), "-o", str(out), "--weights", str(saved_tiny_model)]
    run = _start(*arguments, "--batch-size", "2", home=tmp_path / "home")
    code, errors = _interrupt_when(run, lambda: out.is_dir() and len(os.listdir(out)) >= 5)
    assert code == 130 and "deepkoala: interrupted" in errors
    done = _visible(out)
    assert 5 <= len(done) < 300 and sorted(os.listdir(out)) == done  # no partial left
    for name in done:
        with Image.open(out / name) as image:
            image.load()  # complete: a truncated PNG would raise
    # The rerun keeps what was done (named as existing) and writes the rest.
    rerun = subprocess.run(
        [*_CLI, *arguments], cwd=_REPOSITORY, capture_output=True, text=True, timeout=300
    )
    assert rerun.returncode == 1 and rerun.stderr.count("exists") == len(done)
    assert _visible(out) == [f"{index:03d}.png" for index in range(300)]


def test_ctrl_c_during_the_cache_build_leaves_no_partial_and_a_rerun_trains(tmp_path):
    photos, home = _photos(tmp_path / "photos", 200, size=64), tmp_path / "home"
    arguments = ["train", str(photos), *_TINY, "--stored-size", "64", "--views-per-image", "4"]
    arguments += ["--epochs", "1", "--out", str(tmp_path / "model.keras")]
    cache = home / "cache"

    def building():
        return cache.is_dir() and any(".partial-" in name for name in os.listdir(cache))

    code, errors = _interrupt_when(_start(*arguments, home=home), building)
    assert code == 130 and "deepkoala: interrupted" in errors, errors[-3000:]
    # No partial is left (on a fast machine the build may have ended before the signal).
    assert not any(".partial-" in name for name in os.listdir(cache))
    assert not (tmp_path / "model.keras").exists()
    rerun = subprocess.run(
        [*_CLI, *arguments], cwd=_REPOSITORY, env={**os.environ, "DEEPKOALA_HOME": str(home)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert (tmp_path / "model.keras").exists() and len(os.listdir(cache)) == 1


def test_ctrl_c_during_an_epoch_keeps_the_checkpoint_and_a_rerun_resumes(tmp_path):
    photos, home = _photos(tmp_path / "photos", 24), tmp_path / "home"
    checkpoints, model = tmp_path / "checkpoints", tmp_path / "model.keras"
    arguments = ["train", str(photos), *_TINY, "--batch-size", "2"]
    arguments += ["--checkpoint-dir", str(checkpoints), "--out", str(model)]

    def saved():
        # Keras' record of the epoch is written after the weights it describes.
        return (checkpoints / "training_metadata.json").is_file()

    run = _start(*arguments, "--epochs", "40", home=home)
    code, errors = _interrupt_when(run, saved)
    assert code == 130 and "deepkoala: interrupted" in errors and not model.exists()
    kept = _visible(checkpoints)
    assert kept and sorted(os.listdir(checkpoints)) == kept  # complete checkpoints, no partial
    # Keras' record of the last completed epoch: the rerun trains only the next one.
    done = json.loads((checkpoints / "training_metadata.json").read_text())["epoch"]
    epochs = str(done + 1)
    resumed = subprocess.run(
        [*_CLI, *arguments, "--epochs", epochs], cwd=_REPOSITORY,
        env={**os.environ, "DEEPKOALA_HOME": str(home)}, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"Epoch {epochs}/{epochs}" in resumed.stdout and "Epoch 1/" not in resumed.stdout
    assert model.exists()


@pytest.fixture
def python_handles_ctrl_c():
    """Python's own SIGINT handler, as in a command a user runs (not a background job)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_a_ctrl_c_that_python_drops_is_delivered_again(python_handles_ctrl_c):
    class Finalized:
        def __del__(self):
            raise KeyboardInterrupt  # a Ctrl-C landing in a finalizer or a gc callback

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), interrupts.delivered():
        Finalized()  # Python prints "Exception ignored in ..." and goes on
        time.sleep(5)
    assert time.monotonic() - started < 2


def test_a_ctrl_c_that_a_library_swallows_is_raised_at_the_next_safe_point(
    python_handles_ctrl_c,
):
    with pytest.raises(KeyboardInterrupt), interrupts.delivered():
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            pass  # a library caught it (TensorFlow's `except Exception` caught a SystemError)
        interrupts.check()
    interrupts.check()  # the command has ended: nothing pending any more


def test_a_ctrl_c_that_is_ignored_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a job in the background
    try:
        with interrupts.delivered():
            assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
