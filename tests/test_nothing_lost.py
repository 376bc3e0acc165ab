"""Nothing lost, round 2: full disks, two writers in one folder, names by case, special files."""

import contextlib
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from PIL import Image

from deepkoala import atomic, cli, output_files
from deepkoala.atomic import atomic_write, write_bytes
from deepkoala.images import open_image
from tests.helpers import striped_images

# The deepkoala command in a process of its own that knows the tests' tiny backbone.
_CLI = [
    sys.executable, "-c",
    "import sys, tests.helpers; from deepkoala import cli; sys.exit(cli.main(sys.argv[1:]))",
]  # fmt: skip
_REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cli_process(*args):
    return subprocess.Popen(
        [*_CLI, *args], cwd=_REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _photo(path, seed=0, size=32, format=None):
    Image.fromarray(striped_images(1, size=size, seed=seed)[0]).save(path, format=format)
    return path


@contextlib.contextmanager
def _nearly_full_disk(folder, free_bytes):
    """A 256 KB tmpfs at `folder` with only `free_bytes` left (needs root to mount)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        stats = os.statvfs(folder)
        (folder / "filler").write_bytes(b"\0" * (stats.f_bavail * stats.f_frsize - free_bytes))
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_is_a_one_line_error_naming_the_file_and_no_output(
    tmp_path, saved_tiny_model, capsys
):
    # Pillow's JPEG encoder writes a small JPEG in one call and ignores a short write:
    # before the fix this left a 4096-byte JPEG under its final name, counted as done.
    photo = _photo(tmp_path / "photo.jpg", size=256, format="JPEG")
    with _nearly_full_disk(tmp_path / "disk", free_bytes=4096) as disk:
        code = cli.main(
            ["colorize", str(photo), "-o", str(disk / "out"), "--weights", str(saved_tiny_model)]
        )
        captured = capsys.readouterr()
        assert code == 1
        assert f"cannot write {disk / 'out' / 'photo.jpg'}: No space left on device" in captured.err
        assert "Colorized 0 file(s)" in captured.out
        assert os.listdir(disk / "out") == []


def test_a_short_write_is_refused_before_the_rename(tmp_path, monkeypatch):
    # The same check without a full disk: a file object that writes half of what it is given.
    class HalfWriter:
        def __init__(self, path, mode):
            self.file = open(path, mode)  # noqa: SIM115 (closed in __exit__)

        def write(self, data):
            return self.file.write(data[: len(data) // 2])

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

    monkeypatch.setattr(atomic, "open", HalfWriter, raising=False)
    target = tmp_path / "photo.jpg"
    with pytest.raises(OSError, match="only 50 of 100 bytes could be written"):
        write_bytes(target, b"x" * 100)
    assert os.listdir(tmp_path) == []


def test_an_exclusive_write_never_replaces_a_file_that_appeared_meanwhile(tmp_path):
    target = tmp_path / "x0.jpg"
    with pytest.raises(FileExistsError), atomic_write(target, exclusive=True) as partial:
        Image.new("RGB", (4, 4)).save(partial)
        target.write_bytes(b"the other writer's photo")
    assert target.read_bytes() == b"the other writer's photo"
    assert os.listdir(tmp_path) == ["x0.jpg"]  # no partial left behind
    with (
        pytest.raises(ValueError, match="files only"),
        atomic_write(tmp_path / "f", True, False, True),
    ):
        pass


def test_writers_racing_for_the_same_names_keep_every_file(tmp_path):
    # Two "runs" of six photos each into one folder, at once: twelve files, none lost.
    def run(label):
        for index in range(6):
            output_files.save_atomically(
                Image.new("RGB", (4, 4), label), str(tmp_path / f"x{index}.png"), overwrite=False
            )

    threads = [threading.Thread(target=run, args=(color,)) for color in ("red", "blue")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 12
    colors = sorted(Image.open(tmp_path / name).getpixel((0, 0)) for name in names)
    assert colors == [(0, 0, 255)] * 6 + [(255, 0, 0)] * 6


def test_two_processes_into_one_folder_lose_nothing(tmp_path, saved_tiny_model):
    folders = []
    for run in range(2):
        folder = tmp_path / f"in{run}"
        folder.mkdir()
        for index in range(6):
            # Noise, so that every input (and so every output) is distinct.
            noise = np.random.default_rng(10 * run + index).integers(0, 256, (32, 32, 3))
            Image.fromarray(noise.astype(np.uint8)).save(folder / f"x{index}.png")
        folders.append(folder)
    shared = tmp_path / "shared_out"
    options = ["-o", str(shared), "--weights", str(saved_tiny_model), "--size", "32"]
    runs = [_cli_process("colorize", str(folder), *options) for folder in folders]
    results = [run.communicate(timeout=300) for run in runs]
    written = [name for name in os.listdir(shared) if not name.startswith(".")]
    # A photo is either written under a name of its own or named as skipped:
    # whichever run reached a name first, nothing is overwritten silently.
    skipped = sum(err.count("deepkoala: skipped:") for _, err in results)
    assert len(written) + skipped == 12
    assert len({Image.open(shared / name).tobytes() for name in written}) == len(written)


def test_names_that_differ_only_by_case_get_distinct_outputs(tmp_path, saved_tiny_model):
    folder = tmp_path / "in"
    folder.mkdir()
    _photo(folder / "A.PNG", seed=1)
    _photo(folder / "a.png", seed=2)
    out = tmp_path / "out"
    code = cli.main(["colorize", str(folder), "-o", str(out), "--weights", str(saved_tiny_model)])
    assert code == 0
    names = os.listdir(out)
    assert len(names) == 2 and len({name.casefold() for name in names}) == 2


def test_a_fifo_or_a_device_is_named_as_not_a_regular_file_and_skipped(tmp_path, saved_tiny_model):
    folder = tmp_path / "in"
    folder.mkdir()
    _photo(folder / "good.png")
    os.mkfifo(folder / "pipe.jpg")
    out = tmp_path / "out"
    # A subprocess with a timeout: reading the FIFO would block forever.
    run = _cli_process(
        "colorize", str(folder), "/dev/zero", "-o", str(out), "--weights", str(saved_tiny_model)
    )
    _, errors = run.communicate(timeout=300)
    assert run.returncode == 1
    assert f"{folder / 'pipe.jpg'}: not a regular file but a FIFO (named pipe)" in errors
    assert "/dev/zero: not a regular file but a character device" in errors
    assert "no such file" not in errors
    assert os.listdir(out) == ["good.png"]
    with pytest.raises(ValueError, match="not a regular file but a FIFO"):
        open_image(folder / "pipe.jpg")
    assert np.asarray(open_image(folder / "good.png")).shape == (32, 32, 3)


def _train_process(home, photos, out, check_space=True):
    """`deepkoala train` on the tiny backbone with its cache under `home`, in a process."""
    patch = "" if check_space else "deepkoala.embedding_cache.require_free_space = print; "
    code = (
        "import sys, tests.helpers, deepkoala.embedding_cache; " + patch + "from deepkoala "
        "import cli; sys.exit(cli.main(sys.argv[1:]))"
    )
    arguments = ["train", str(photos), "--backbone", "tiny_test_backbone", "--size", "32"]
    arguments += ["--backbone-weights", "none", "--stored-size", "64", "--views-per-image", "2"]
    return subprocess.run(
        [sys.executable, "-c", code, *arguments, "--epochs", "1", "--out", str(out)],
        cwd=_REPOSITORY,
        env={**os.environ, "DEEPKOALA_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _noise_photos(folder, count, size=64):
    folder.mkdir()
    for index in range(count):
        noise = np.random.default_rng(index).integers(0, 256, (size, size, 3))
        Image.fromarray(noise.astype(np.uint8)).save(folder / f"{index}.png")
    return folder


@pytest.mark.parametrize("check_space", [True, False], ids=["checked first", "in the build"])
def test_a_full_disk_during_the_cache_build_is_one_line_and_exit_1(tmp_path, check_space):
    # 16 photos x 2 views of 64x64: 393 KB of images for about 200 KB free. Before the
    # fix h5py printed its error over several lines and the process died (exit 139).
    photos = _noise_photos(tmp_path / "photos", 16)
    with _nearly_full_disk(tmp_path / "home", free_bytes=200_000) as home:
        run = _train_process(home, photos, tmp_path / "model.keras", check_space)
        errors = [line for line in run.stderr.splitlines() if "deepkoala" in line]
        assert run.returncode == 1, run.stderr[-2000:]
        assert len(errors) == 1 and "Traceback" not in run.stderr and "Exception" not in run.stderr
        assert "cannot write the embedding cache" in errors[0] and str(home / "cache") in errors[0]
        assert "No space left on device" in errors[0]
        assert os.listdir(home / "cache") == []
    assert not (tmp_path / "model.keras").exists()


def test_a_full_disk_at_out_names_the_file(tmp_path):
    photos = _noise_photos(tmp_path / "photos", 4)
    with _nearly_full_disk(tmp_path / "disk", free_bytes=4096) as disk:
        run = _train_process(tmp_path / "home", photos, disk / "model.keras")
        assert run.returncode == 1
        error = f"deepkoala: error: cannot write {disk / 'model.keras'}: No space left on device"
        assert error in run.stderr
        assert sorted(os.listdir(disk)) == ["filler"]


def test_a_photo_deleted_or_replaced_after_listing_is_skipped_and_named(
    tmp_path, saved_tiny_model, monkeypatch, capsys
):
    from deepkoala import image_files

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        _photo(folder / name)
    listed = image_files.find_images

    def find_then_change(path):
        found = listed(path)
        (folder / "b.png").unlink()  # deleted after the folder was listed
        (folder / "c.png").write_bytes(b"replaced by something that is not an image")
        return found

    monkeypatch.setattr(image_files, "find_images", find_then_change)
    out = tmp_path / "out"
    code = cli.main(["colorize", str(folder), "-o", str(out), "--weights", str(saved_tiny_model)])
    errors = capsys.readouterr().err
    assert code == 1 and os.listdir(out) == ["a.png"]
    assert f"skipped: No such image file: {folder / 'b.png'}" in errors
    assert f"skipped: Cannot read {folder / 'c.png'} as an image" in errors


def test_a_full_disk_while_writing_a_video_names_the_output(tmp_path, saved_tiny_model, capsys):
    pytest.importorskip("av")
    from tests.helpers import make_clip

    clip = make_clip(tmp_path / "reel.mp4", frames=48, size=(192, 128))
    with _nearly_full_disk(tmp_path / "disk", free_bytes=8192) as disk:
        out = disk / "out"
        code = cli.main(["colorize", str(clip), "-o", str(out), "--weights", str(saved_tiny_model)])
        errors = capsys.readouterr().err
        assert code == 1
        assert f"cannot write {out / 'reel.mp4'}: No space left on device" in errors
        assert ".partial-" not in errors and os.listdir(out) == []


@pytest.mark.parametrize("float16", [False, True], ids=["float32", "float16"])
def test_a_full_disk_while_saving_a_preset_folder_is_an_error_naming_it(tmp_path, float16):
    # In a process of its own: before the fix, HDF5 failed to close the weights file it
    # could not flush, and the process died at exit (a segmentation fault).
    code = (
        "import sys, tests.helpers\n"
        "from tests.helpers import TINY_BACKBONE, TINY_SIZES\n"
        "from deepkoala import Colorizer\n"
        "colorizer = Colorizer(backbone=TINY_BACKBONE, backbone_weights=None, **TINY_SIZES)\n"
        "try:\n"
        "    colorizer.save_to_preset(sys.argv[1], float16=sys.argv[2] == '1')\n"
        "except OSError as error:\n"
        "    print(error)\n"
    )
    with _nearly_full_disk(tmp_path / "disk", free_bytes=16384) as disk:
        run = subprocess.run(
            [sys.executable, "-c", code, str(disk / "preset"), str(int(float16))],
            cwd=_REPOSITORY, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-2000:]
        assert f"cannot write {disk / 'preset'}" in run.stdout
        assert "No space left on device" in run.stdout and "Exception ignored" not in run.stderr
        assert sorted(os.listdir(disk)) == ["filler"]


def test_a_full_disk_while_checkpointing_is_one_line_naming_the_checkpoint(tmp_path):
    photos = _noise_photos(tmp_path / "photos", 4)
    with _nearly_full_disk(tmp_path / "disk", free_bytes=16384) as disk:
        run = subprocess.run(
            [*_CLI, "train", str(photos), "--backbone", "tiny_test_backbone", "--size", "32",
             "--backbone-weights", "none", "--epochs", "2", "--checkpoint-dir",
             str(disk / "checkpoints"), "--out", str(tmp_path / "model.keras")],
            cwd=_REPOSITORY, env={**os.environ, "DEEPKOALA_HOME": str(tmp_path / "home")},
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert run.returncode == 1, run.stderr[-2000:]
        checkpoint = disk / "checkpoints" / "latest.weights.h5"
        assert f"cannot write {checkpoint}: No space left on device" in run.stderr
        assert "Exception ignored" not in run.stderr
        assert os.listdir(disk / "checkpoints") == []
