"""Several processes on 127.0.0.1: JAX training, a killed process, and the sharded cache."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from deepkoala.embedding_cache import shard_of
from deepkoala.training import backbone_id
from deepkoala.training_data import TrainingData
from tests.helpers import TINY_BACKBONE, TINY_SIZES, _build_tiny_classifier, striped_images

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "multi_process_training.py"
# The CLI, with the tiny test backbone registered.
CLI = "import sys, tests.helpers; from deepkoala.cli import main; sys.exit(main(sys.argv[1:]))"


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _photos(folder, count=16):
    folder.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(striped_images(count, size=40)):
        Image.fromarray(image).save(folder / f"photo{index:02d}.png")
    return folder


def _balanced_photos(folder, per_shard=8):
    """Photos named so that each of 2 shards holds `per_shard`, and their paths in
    the order whose batches of 8 are the 2 processes' batches of 4 side by side."""
    names = ([], [])
    for number in range(1000):
        name = f"photo{number:03d}.png"
        if len(names[shard_of(name, 2)]) < per_shard:
            names[shard_of(name, 2)].append(name)
    folder.mkdir(parents=True)
    images = iter(striped_images(2 * per_shard, size=40))
    for name in sorted(names[0] + names[1]):
        Image.fromarray(next(images)).save(folder / name)
    order = [
        str(folder / name)
        for start in range(0, per_shard, 4)
        for shard in names
        for name in sorted(shard)[start : start + 4]
    ]
    return folder, order


def _environment(backend="jax"):
    return dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=str(ROOT))


def _start(arguments, log):
    return subprocess.Popen(
        [sys.executable, *arguments], cwd=ROOT, env=_environment(), stdout=log, stderr=log
    )


def _result(process, log, timeout=300):
    assert process.wait(timeout=timeout) == 0, log.read_text()[-3000:]
    return json.loads(log.read_text().strip().splitlines()[-1])


def test_two_processes_train_like_one_and_process_0_writes(tmp_path):
    pytest.importorskip("jax")
    photos, in_batch_order = _balanced_photos(tmp_path / "photos")
    (tmp_path / "order.json").write_text(json.dumps(in_batch_order))
    port, logs = _free_port(), [tmp_path / f"process{i}.log" for i in range(3)]
    runs = []
    with open(logs[0], "w") as log0, open(logs[1], "w") as log1, open(logs[2], "w") as alone:
        for index, log in enumerate((log0, log1)):
            arguments = [photos, tmp_path / "parallel.keras", tmp_path / "cache", 2, port, 2, index]
            runs.append(_start([SCRIPT, *map(str, arguments)], log))
        single = [tmp_path / "order.json", tmp_path / "single.keras", tmp_path / "single-cache", 2]
        runs.append(_start([SCRIPT, *map(str, single)], alone))
        first, second, lone = (_result(run, log) for run, log in zip(runs, logs, strict=True))
    # The same global batches of 8: each process's 4 photos of its hash shard.
    assert len(first["loss"]) == 2
    assert first["loss"] == pytest.approx(lone["loss"], rel=1e-2)
    assert first == second  # every process ends with the same weights
    assert first["weights_sum"] == pytest.approx(lone["weights_sum"], rel=1e-2)
    # Each process cached only its own shard.
    shards = sorted(os.listdir(tmp_path / "cache"))
    assert [name[-16:] for name in shards] == ["-shard-0-of-2.h5", "-shard-1-of-2.h5"]
    from deepkoala import Colorizer

    colorized = Colorizer.load(tmp_path / "parallel.keras").colorize(striped_images(1)[0])
    assert colorized.size == (32, 32)
    assert not list((tmp_path / "single-cache").glob("*shard*"))


def _train_processes(tmp_path, photos, epochs, logs, by_environment=False):
    """`deepkoala train` as 2 processes on 127.0.0.1, checkpointing into tmp_path/checkpoints.

    The cluster is given by the command's options, or (`by_environment`) by the
    KERAS_DISTRIBUTION_* variables.
    """
    port = _free_port()
    arguments = [
        "-c", CLI, "train", str(photos), "--backbone", TINY_BACKBONE, "--backbone-weights",
        "none", "--size", "32", "--epochs", str(epochs), "--batch-size", "8",
        "--cache-dir", str(tmp_path / "cache"), "--checkpoint-dir", str(tmp_path / "checkpoints"),
        "--out", str(tmp_path / "model.keras"),
    ]  # fmt: skip
    runs = []
    for index, log in enumerate(logs):
        environment = _environment()
        if by_environment:
            environment.update(
                KERAS_DISTRIBUTION_JOB_ADDRESSES=f"127.0.0.1:{port},127.0.0.1:{_free_port()}",
                KERAS_DISTRIBUTION_NUM_PROCESSES="2",
                KERAS_DISTRIBUTION_PROCESS_ID=str(index),
            )
            options = []
        else:
            options = ["--coordinator", f"127.0.0.1:{port}", "--num-processes", "2",
                       "--process-id", str(index)]  # fmt: skip
        runs.append(
            subprocess.Popen(
                [sys.executable, *arguments, *options],
                cwd=ROOT,
                env=environment,
                stdout=log,
                stderr=log,
            )  # fmt: skip
        )
    return runs


def test_a_killed_process_stops_the_others_and_a_restart_resumes(tmp_path):
    pytest.importorskip("jax")
    photos = _photos(tmp_path / "photos")
    out = tmp_path / "model.keras"
    paths = [tmp_path / f"process{i}.log" for i in range(2)]
    with open(paths[0], "w") as log0, open(paths[1], "w") as log1:
        runs = _train_processes(tmp_path, photos, 100000, (log0, log1))
        # Training has started, and checkpointed, when epoch 3 is reported.
        deadline = time.monotonic() + 240
        while "Epoch 3/" not in paths[0].read_text() and time.monotonic() < deadline:
            assert runs[0].poll() is None, paths[0].read_text()[-3000:]
            time.sleep(0.5)
        assert "Epoch 3/" in paths[0].read_text(), paths[0].read_text()[-3000:]
        runs[1].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        try:
            code = runs[0].wait(timeout=90)
        finally:
            runs[0].kill()
        waited = time.monotonic() - killed
    assert code != 0
    assert waited < 60, waited
    assert "another task died" in paths[0].read_text()
    assert not out.exists()

    # Every process restarted (told the cluster by the environment this time):
    # they resume after the last checkpointed epoch.
    metadata = tmp_path / "checkpoints" / "training_metadata.json"
    done = json.loads(metadata.read_text())["epoch"] + 1
    with open(paths[0], "w") as log0, open(paths[1], "w") as log1:
        runs = _train_processes(tmp_path, photos, done + 1, (log0, log1), by_environment=True)
        for run, path in zip(runs, paths, strict=True):
            assert run.wait(timeout=300) == 0, path.read_text()[-3000:]
    resumed = paths[0].read_text()
    assert f"Epoch {done + 1}/{done + 1}" in resumed and "Epoch 1/" not in resumed
    assert "Saved" in resumed and "Saved" not in paths[1].read_text()
    assert out.exists() and not (tmp_path / "checkpoints").exists()


def _cli(*arguments, timeout=300):
    return subprocess.run(
        [sys.executable, "-c", CLI, *map(str, arguments)],
        cwd=ROOT, env=_environment(), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_shards_built_by_two_processes_equal_an_unsharded_build(tmp_path):
    photos = _photos(tmp_path / "photos", count=12)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff")
    shared = tmp_path / "shared"
    # Fixed backbone weights: a cache belongs to the weights it was embedded with.
    backbone_weights = tmp_path / "tiny.weights.h5"
    _build_tiny_classifier(None).save_weights(backbone_weights)
    common = ["--backbone", TINY_BACKBONE, "--backbone-weights", backbone_weights, "--size", "32",
              "--stored-size", "40", "--views-per-image", "2", "--cache-dir", shared]  # fmt: skip
    builds = [
        subprocess.Popen(
            [sys.executable, "-c", CLI, "cache", str(photos), *map(str, common), "--shard", shard],
            cwd=ROOT,
            # This process's backend, whose embeddings they are compared with.
            env=_environment(keras.backend.backend()),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for shard in ("0/2", "1/2")
    ]
    outputs = [build.communicate(timeout=300)[0] for build in builds]
    assert [build.returncode for build in builds] == [0, 0], outputs
    names = sorted(p.name for p in photos.iterdir() if p.suffix == ".png")
    in_first = sum(shard_of(name, 2) == 0 for name in names)
    assert f"shard 0/2: {in_first} photos, {2 * in_first} views" in outputs[0]

    from deepkoala import Colorizer

    colorizer = Colorizer(backbone=TINY_BACKBONE, backbone_weights=str(backbone_weights))
    key = (40, colorizer.embed, backbone_id(colorizer))
    with pytest.warns(UserWarning, match="broken.jpg"):
        whole = TrainingData(photos, *key, tmp_path / "whole", views_per_image=2, verbose=False)
    with pytest.warns(UserWarning, match="broken.jpg"):
        sharded = TrainingData(photos, *key, shared, views_per_image=2, verbose=False)
    with whole, sharded:
        a, b = whole.store, sharded.store
        assert isinstance(b.images.datasets, list) and len(b.images.datasets) == 2
        assert a.photos == b.photos and len(a.photos) == 12
        np.testing.assert_array_equal(a.sources, b.sources)
        rows = np.arange(len(a))
        np.testing.assert_array_equal(np.asarray(a.images[rows]), b.images[rows])
        np.testing.assert_array_equal(a.embeddings, b.embeddings)

    # Process 1 of 2 reads a cache built in 4 shards: shards 1 and 3 are its own.
    quad = tmp_path / "quad"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # broken.jpg, named above
        for index in range(4):
            TrainingData(photos, *key, quad, views_per_image=2, verbose=False, shard=(index, 4))
        mine = TrainingData(photos, *key, quad, views_per_image=2, verbose=False, shard=(1, 2))
        whole = TrainingData(photos, *key, tmp_path / "whole", views_per_image=2, verbose=False)
    with mine, whole:
        own = [p for p in whole.store.photos if shard_of(os.path.basename(p), 2) == 1]
        assert mine.store.photos == own
        rows = np.flatnonzero(
            np.isin(whole.store.sources, [whole.store.photos.index(p) for p in own])
        )
        np.testing.assert_array_equal(mine.store.embeddings, whole.store.embeddings[rows])
    assert len(list(quad.glob("*.h5"))) == 4  # nothing was built again

    # A shard that goes missing, or goes stale, is named.
    first = next(shared.glob("*-shard-0-of-2.h5"))
    first.rename(tmp_path / "aside.h5")
    with pytest.raises(ValueError, match=r"shard 0/2 is missing: .*--shard 0/2"):
        TrainingData(photos, *key, shared, views_per_image=2, verbose=False)
    (tmp_path / "aside.h5").rename(first)
    _photos(photos, count=14)  # two more photos
    with pytest.raises(ValueError, match=r"shard [01]/2 is stale"):
        TrainingData(photos, *key, shared, views_per_image=2, verbose=False)
    with pytest.raises(ValueError, match="shard=3"):
        TrainingData(photos, *key, shared, shard=3)


def test_cache_command_refuses_a_bad_shard(tmp_path):
    photos = _photos(tmp_path / "photos", count=2)
    result = _cli("cache", photos, "--shard", "2/2")
    assert result.returncode == 2 and "must be I/N with 0 <= I < N, got 2/2" in result.stderr


def test_multi_worker_mirrored_strategy_is_refused_with_what_to_use(tmp_path):
    tf = pytest.importorskip("tensorflow")
    from deepkoala import Colorizer

    colorizer = Colorizer(backbone=TINY_BACKBONE, backbone_weights=None, **TINY_SIZES)
    with pytest.raises(ValueError, match=r"MultiWorkerMirroredStrategy.*KERAS_BACKEND=jax"):
        colorizer.fit(
            np.asarray(striped_images(4)),
            distribution=tf.distribute.MultiWorkerMirroredStrategy(),
            verbose=0,
        )
