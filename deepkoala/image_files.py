"""Finding the image files of a folder, for the command line, `evaluate` and training.

Whether a file is an image is decided when it is read (any format Pillow
reads is accepted, and a broken file is reported, not ignored), so these
functions list files; `warn_skipped` names the ones that could not be read.
"""

import os
import stat
import warnings

# What a path that is not a regular file is, for the messages that skip it.
_SPECIAL_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def special_file_kind(path):
    """What `path` is if it exists but is not a regular file ("a FIFO (named pipe)", ...), else "".

    Reading a FIFO or a device as a photo would block or never end, so such
    paths are named and skipped before anything opens them. A missing path
    gives "" (it is reported as missing where it is read).

    Example:
    >>> special_file_kind("/dev/zero")
    'a character device'
    """
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return ""
    if stat.S_ISREG(mode):
        return ""
    return next((kind for test, kind in _SPECIAL_KINDS if test(mode)), "not a regular file")


def find_images(folder):
    """Every non-hidden file under `folder`, recursively, in a stable order.

    Whether a file is an image is decided when it is read, so that any format
    Pillow reads is accepted and a broken file is reported, not ignored.
    Links to folders are followed only into folders inside `folder` not seen
    yet (so link loops end and nothing outside is read); a link to a file is
    taken (someone put it there), and each real file is listed once. A
    dangling link is listed, to be reported when it cannot be read.

    Example:
    >>> find_images("examples/photos")  # doctest: +SKIP
    ['examples/photos/chelsea.png', ...]
    """
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"No such folder: {folder}")
    top = os.path.realpath(folder)
    visited, seen_files, paths = {top}, set(), []
    for root, dirs, files in os.walk(folder, followlinks=True):
        kept = []
        for name in sorted(d for d in dirs if not d.startswith(".")):
            real = os.path.realpath(os.path.join(root, name))
            inside = real == top or real.startswith(top + os.sep)
            if inside and real not in visited:
                visited.add(real)
                kept.append(name)
        dirs[:] = kept
        for name in sorted(f for f in files if not f.startswith(".")):
            path = os.path.join(root, name)
            real = os.path.realpath(path)
            if real not in seen_files:
                seen_files.add(real)
                paths.append(path)
    return paths


def resolve_image_paths(data):
    """Paths of the training images in `data`: a folder, a file, or a list of files.

    Raises:
        FileNotFoundError: naming the first path that does not exist.
        ValueError: if there is nothing to train on.
    """
    if isinstance(data, (str, os.PathLike)) and os.path.isdir(data):
        # A folder's dangling links are kept: reading them fails, and they
        # are skipped and named like any unreadable file.
        paths = find_images(os.fspath(data))
    else:
        paths = [os.fspath(data)] if isinstance(data, (str, os.PathLike)) else data
        paths = [os.fspath(p) for p in paths]
        for path in paths:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"No such image file: {path}")
    if not paths:
        raise ValueError(f"No files to train on in {data!r}.")
    return [os.path.abspath(p) for p in paths]


def warn_skipped(skipped):
    """One warning that counts and names the files that could not be read."""
    if skipped:
        warnings.warn(
            f"Skipped {len(skipped)} file(s) that are not readable images: " + ", ".join(skipped),
            stacklevel=3,
        )
