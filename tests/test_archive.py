"""Colorizing an archive on a local Ray cluster with 2 workers (deepkoala.archive)."""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepkoala import Colorizer
from tests.helpers import striped_images

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def local_ray():
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level="warning",
        log_to_driver=False,
        # The workers import the tests' tiny backbone, as this process did.
        runtime_env={
            "env_vars": {
                "PYTHONPATH": str(ROOT),
                "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow"),
            },
            "worker_process_setup_hook": "tests.helpers.register_tiny_backbone",
        },
    )
    # Both workers up before the first batch, so that both take part.
    context = ray.data.DataContext.get_current()
    context.wait_for_min_actors_s = 600
    yield
    context.wait_for_min_actors_s = -1
    ray.shutdown()


def test_an_archive_on_two_workers_equals_colorize_and_a_rerun_does_nothing(
    tmp_path, local_ray, saved_tiny_model
):
    from deepkoala.archive import colorize_archive

    photos = tmp_path / "scans"
    (photos / "box2").mkdir(parents=True)
    for index, image in enumerate(striped_images(40, size=48)):
        Image.fromarray(image).save(photos / ("box2" if index % 2 else "") / f"scan{index:02d}.png")
    (photos / "torn.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    out = tmp_path / "colorized"

    report = colorize_archive(photos, out, model=saved_tiny_model, workers=2, verbose=False)

    assert len(report["written"]) == 40 and report["done_before"] == 0
    assert report["workers"] == 2
    assert list(report["failed"]) == [str(photos / "torn.png")]
    assert not (out / "torn.png").exists()
    sources = sorted(photos.rglob("scan*.png"))
    expected = Colorizer.load(saved_tiny_model).colorize([str(p) for p in sources])
    for source, image in zip(sources, expected, strict=True):
        written = np.asarray(Image.open(out / source.relative_to(photos)), dtype=int)
        assert np.abs(written - np.asarray(image, dtype=int)).max() <= 1, source

    modified = {path: path.stat().st_mtime_ns for path in out.rglob("*.png")}
    again = colorize_archive(photos, out, model=saved_tiny_model, workers=2, verbose=False)
    assert again["written"] == [] and again["done_before"] == 40
    assert {path: path.stat().st_mtime_ns for path in out.rglob("*.png")} == modified


def test_archive_inputs_it_cannot_read_are_named(tmp_path):
    from deepkoala.archive import colorize_archive

    with pytest.raises(ValueError, match="s3://bucket/scans"):
        colorize_archive("s3://bucket/scans")
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        colorize_archive(tmp_path / "missing")
    with pytest.raises(ValueError, match="workers=0"):
        colorize_archive(tmp_path, workers=0)
