"""The one way deepkoala writes files: a partial beside the target, renamed when complete."""

import os
import sys

import pytest

from deepkoala.atomic import atomic_write, partial_path, remove_abandoned_partials


def test_a_complete_write_lands_under_the_final_name_only(tmp_path):
    target = tmp_path / "out" / "photo.v2.png"
    with atomic_write(target) as partial:
        name = os.path.basename(partial)
        # Hidden, and the extensions kept (Keras and FFmpeg choose by them).
        assert name.startswith(".photo.partial-") and name.endswith(".v2.png")
        with open(partial, "wb") as file:
            file.write(b"pixels")
    assert target.read_bytes() == b"pixels"
    assert os.listdir(target.parent) == ["photo.v2.png"]


def test_a_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "model.keras"
    target.write_bytes(b"old")
    with pytest.raises(OSError, match="disk full"):
        with atomic_write(target) as partial:
            with open(partial, "wb") as file:
                file.write(b"half")
            raise OSError("disk full")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["model.keras"]


def test_a_folder_is_written_whole_or_not_at_all(tmp_path):
    target = tmp_path / "preset"
    target.mkdir()  # an empty folder is replaced
    with atomic_write(target, folder=True) as partial:
        (tmp_path / partial / "config.json").write_text("{}")
    assert os.listdir(target) == ["config.json"]
    with pytest.raises(ValueError):
        with atomic_write(tmp_path / "other", folder=True) as partial:
            (tmp_path / partial / "config.json").write_text("{}")
            raise ValueError("interrupted")
    assert sorted(os.listdir(tmp_path)) == ["preset"]


def test_partial_names_are_unique():
    assert partial_path("a/b.h5") != partial_path("a/b.h5")


@pytest.mark.skipif(sys.platform == "win32", reason="advisory locks are POSIX")
def test_cleanup_removes_abandoned_partials_but_not_a_live_locked_write(tmp_path):
    abandoned = partial_path(tmp_path / "old.h5")
    with open(abandoned, "wb") as file:
        file.write(b"left by a killed build")
    unrelated = tmp_path / "kept.h5"
    unrelated.write_bytes(b"a finished cache")
    with atomic_write(tmp_path / "new.h5", locked=True) as live:
        with open(live, "wb") as file:
            file.write(b"being written")
        remove_abandoned_partials(tmp_path)
        assert os.path.exists(live) and not os.path.exists(abandoned)
    assert sorted(os.listdir(tmp_path)) == ["kept.h5", "new.h5"]
