"""Weight files: where they come from, where they are kept, and how they are checked.

The architecture modules know no files; the backbone registry and the
presets name a released file and its sha256, and this module turns that
into a local, checked path. A file that ships inside the package is used
in place (and checked, so a damaged install does not load silently); any
other is downloaded once into `$DEEPKOALA_HOME/weights` from
`$DEEPKOALA_WEIGHTS_URL` (default: the project's releases). It also writes
weight files safely, in float32 or float16 (`save_weights`).
"""

import os
import shutil
import tempfile

import h5py
import numpy as np

from deepkoala.atomic import atomic_write, require_free_space
from deepkoala.download import fetch
from deepkoala.paths import deepkoala_home

# Where released weight files live; `$DEEPKOALA_WEIGHTS_URL` replaces it (a mirror).
DEFAULT_WEIGHTS_URL = "https://github.com/deepkoala/deepkoala/releases/download/weights-v1"

PACKAGE_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")

# EfficientNet-Lite0's ImageNet weights, ported by tools/convert_efficientnet_lite0.py
# (a Keras `.weights.h5` file, float16; see data/efficientnet_lite0_CONVERSION.md).
EFFICIENTNET_LITE0_FILE = "efficientnet_lite0_imagenet.weights.h5"
EFFICIENTNET_LITE0_SHA256 = "87ecd1e2fc8fb5e7f1f8851be08fcd3185aa2a2d625ab4d3a5535080a221453f"


def weights_url(file_name):
    """The download URL of a weights file, honouring `$DEEPKOALA_WEIGHTS_URL`.

    Example:
    >>> weights_url("koala-lite0/head.weights.h5").endswith("/koala-lite0/head.weights.h5")
    True
    """
    base = os.environ.get("DEEPKOALA_WEIGHTS_URL") or DEFAULT_WEIGHTS_URL
    return f"{base.rstrip('/')}/{file_name}"


def weights_dir():
    """Where downloaded weight files are kept: `$DEEPKOALA_HOME/weights`."""
    return os.path.join(deepkoala_home(), "weights")


def weights_file(file_name, sha256, verbose=True):
    """The local path of a weights file: shipped in the package, cached, or downloaded.

    `file_name` is relative to the package data and to the download URL
    (e.g. "koala-lite0/head.weights.h5").

    Example:
    >>> path = weights_file(EFFICIENTNET_LITE0_FILE, EFFICIENTNET_LITE0_SHA256)  # doctest: +SKIP
    """
    bundled = os.path.join(PACKAGE_DATA, file_name)
    if os.path.isfile(bundled):
        return fetch(weights_url(file_name), bundled, sha256, verbose=verbose)
    return fetch(weights_url(file_name), os.path.join(weights_dir(), file_name), sha256, verbose)


def save_weights(model, path, float16=False):
    """Save `model`'s weights as a Keras `.weights.h5` file, atomically, safe on a full disk.

    HDF5 cannot close a file whose writes failed, and the process then dies
    at exit with a segmentation fault; so the file is written whole in a
    temporary folder (whose free space is checked first) and copied into
    place with plain, checked writes (`deepkoala.atomic`). With `float16`,
    the arrays are stored as float16, halving the file; Keras casts them
    back to the variables' float32 when loading with `model.load_weights(path)`.

    Raises:
        OSError: a disk is full (`errno.ENOSPC`), naming the file.

    Example:
    >>> save_weights(colorizer.head, "head.weights.h5", float16=True)  # doctest: +SKIP
    """
    path = os.fspath(path)
    if not path.endswith(".weights.h5"):
        raise ValueError(f"The file name must end in .weights.h5. Received: path={path!r}")
    with tempfile.TemporaryDirectory() as scratch:
        full = os.path.join(scratch, "full.weights.h5")
        # Room for the arrays twice (the float16 copy) and HDF5's own records.
        needed = 2 * sum(int(np.prod(w.shape)) * 4 for w in model.weights) + (1 << 20)
        require_free_space(scratch, needed, f"writing {path} (through the temporary folder)")
        model.save_weights(full)
        if float16:
            half = os.path.join(scratch, "half.weights.h5")
            _halve(full, half)
            full = half
        try:
            with atomic_write(path) as partial:
                shutil.copyfile(full, partial)
        except OSError as error:
            raise OSError(error.errno, f"cannot write {path}: {error.strerror}") from None


def _halve(full, half):
    """Copy a `.weights.h5` file with its float32 arrays as float16."""
    with h5py.File(full, "r") as source, h5py.File(half, "w") as target:
        target.attrs.update(source.attrs)

        def copy(name, item):
            if isinstance(item, h5py.Group):
                target.require_group(name).attrs.update(item.attrs)
                return
            data = item[()]
            if data.dtype == np.float32:
                if data.size and np.abs(data).max() > np.finfo(np.float16).max:
                    raise ValueError(f"Weight {name} does not fit in float16.")
                data = data.astype(np.float16)
            target.create_dataset(name, data=data).attrs.update(item.attrs)

        source.visititems(copy)
