"""Writing files and folders atomically: a partial beside the target, renamed when complete.

Every file deepkoala writes (colorized photos and videos, `.keras` files,
preset folders, weights, downloads, embedding caches) is written to a
partial path in the target's own folder and renamed onto the target only
when complete: one step on one file system, so a crash, a kill or a full
disk never leaves a half-written file under the final name. A partial that
fails is removed.

One naming rule: the partial of `folder/name.ext` is
`folder/.name.partial-<pid>-<random>.ext`. It is hidden (so image folders
scanned for photos skip it), it keeps the target's extensions (Keras and
FFmpeg choose the format by them), and `remove_abandoned_partials` finds
every partial by it.

A write that must not replace anything (`exclusive=True`) claims the final
name with a hard link, which fails if the name exists, so two processes
writing into one folder never overwrite each other's files.

Example:
>>> with atomic_write("out/photo.png") as partial:  # doctest: +SKIP
...     image.save(partial, format="PNG")
"""

import contextlib
import errno
import glob
import os
import shutil
import uuid

try:  # advisory file locks, to tell a live writer from an abandoned partial
    import fcntl
except ImportError:  # Windows
    fcntl = None

_MARK = ".partial-"
_LOCK_SUFFIX = ".lock"


def partial_path(path):
    """Where the partial of `path` is written (see the naming rule above).

    Args:
        path (str | os.PathLike): the target.

    Returns:
        str: a new, unique path beside `path`.

    Example:
    >>> name = os.path.basename(partial_path("out/head.weights.h5"))
    >>> name.startswith(".head.partial-") and name.endswith(".weights.h5")
    True
    """
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    stem, dot, extensions = name.lstrip(".").partition(".")
    token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    return os.path.join(folder, f".{stem}{_MARK}{token}{dot}{extensions}")


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


@contextlib.contextmanager
def _holding_lock(partial):
    """An exclusive lock on `<partial>.lock` while the partial is written."""
    lock_path = partial + _LOCK_SUFFIX
    with open(lock_path, "a") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.remove(lock_path)


def _claim(partial, path):
    """Move `partial` to `path` unless `path` exists (`FileExistsError`), in one step."""
    try:
        os.link(partial, path)
    except FileExistsError:
        raise
    except OSError:
        # No hard links on this file system (FAT, some network shares):
        # create the name exclusively, then replace the empty file.
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        os.replace(partial, path)
    else:
        os.remove(partial)


@contextlib.contextmanager
def atomic_write(path, folder=False, locked=False, exclusive=False):
    """Yield a partial path for `path`; rename it onto `path` if the block completes.

    If the block raises, the partial is removed and `path` is untouched.
    The target's folder is created if needed.

    Args:
        path (str | os.PathLike): the file (or folder) to write.
        folder (bool): the target is a folder: the partial is created, empty,
            before the block; an empty folder at `path` is replaced.
        locked (bool): hold an advisory lock on `<partial>.lock` while
            writing, so that `remove_abandoned_partials` (in another process,
            even another container sharing the folder) can tell this live
            write from one whose writer was killed. For long writes into a
            shared folder, such as the embedding cache.
        exclusive (bool): never replace an existing `path`: if one appears
            while the block runs (another process wrote it), `FileExistsError`
            is raised and the partial removed. Files only.

    Raises:
        FileExistsError: with `exclusive`, if `path` exists when the block ends.

    Yields:
        str: the partial path to write.

    Example:
    >>> with atomic_write("mine.keras") as partial:  # doctest: +SKIP
    ...     keras.saving.save_model(model, partial)
    """
    if folder and exclusive:
        raise ValueError("`exclusive` writes files only. Received: folder=True, exclusive=True")
    path = os.path.abspath(os.fspath(path))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    partial = partial_path(path)
    lock = _holding_lock(partial) if locked else contextlib.nullcontext()
    try:
        with lock:
            if folder:
                # Not mkdtemp: the folder gets the usual permissions (umask), not 0700.
                os.mkdir(partial)
            yield partial
            if exclusive:
                _claim(partial, path)
            else:
                if folder and os.path.isdir(path) and not os.listdir(path):
                    os.rmdir(path)
                os.replace(partial, path)
    finally:
        if os.path.lexists(partial):
            _remove(partial)


def write_bytes(path, data, exclusive=False):
    """Write `data` to `path` atomically, proven complete before it is renamed into place.

    Some encoders (Pillow's JPEG writer among them) do not notice a short
    write on a full disk; encoding to memory first and writing here turns a
    full disk into an error instead of a truncated file under the final name.

    Args:
        path (str | os.PathLike): the target.
        data (bytes): the whole file.
        exclusive (bool): as for `atomic_write`.

    Raises:
        OSError: the disk is full (`errno.ENOSPC`) or the write fails otherwise.

    Example:
    >>> write_bytes("out/photo.jpg", encoded)  # doctest: +SKIP
    """
    with atomic_write(path, exclusive=exclusive) as partial:
        with open(partial, "wb") as file:
            file.write(data)
        written = os.path.getsize(partial)
        if written != len(data):
            raise OSError(
                errno.ENOSPC, f"only {written} of {len(data)} bytes could be written", partial
            )


def require_free_space(folder, needed, what):
    """Refuse a write that cannot fit in `folder`, before any work goes into it.

    Args:
        folder (str): where the write goes.
        needed (int): its size in bytes, estimated.
        what (str): what is written, for the message.

    Raises:
        OSError: `errno.ENOSPC`, naming `what`, the size and the free space.

    Example:
    >>> require_free_space("/tmp", 1024, "a note")  # doctest: +SKIP
    """
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise OSError(
            errno.ENOSPC,
            f"No space left on device: {what} needs about {needed / 1e6:.1f} MB and {folder} "
            f"has {free / 1e6:.1f} MB free",
        )


def remove_abandoned_partials(folder):
    """Delete the partials in `folder` whose writer is gone.

    For folders whose writers all lock (`atomic_write(..., locked=True)`):
    a live writer holds an exclusive lock on `<partial>.lock`, so a partial
    whose lock can be taken (or that has no lock file) has no writer left.
    Locks are seen by every process on the machine, whatever its process-id
    namespace (two containers sharing a volume), where process ids are not.

    Args:
        folder (str | os.PathLike): the folder to clean.

    Example:
    >>> remove_abandoned_partials("cache/")  # doctest: +SKIP
    """
    if fcntl is None:  # no advisory locks (Windows): keep everything
        return
    found = glob.glob(os.path.join(glob.escape(os.fspath(folder)), f".*{_MARK}*"))
    partials = {path.removesuffix(_LOCK_SUFFIX) for path in found}
    for partial in sorted(partials):
        lock_path = partial + _LOCK_SUFFIX
        try:
            lock = open(lock_path, "a")
        except OSError:
            continue
        with lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its writer is still writing
            for path in (partial, lock_path):
                with contextlib.suppress(OSError):
                    _remove(path)
