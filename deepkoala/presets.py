"""The registry of named, trained colorizers and of the weight files they use.

Each preset names a weights file (HDF5, never a pickle), where to download it,
its sha256, the `Colorizer` settings it was trained with, what it was trained
on and its measured scores. Files are kept in `$DEEPKOALA_HOME/weights`
after the first download; files that ship inside the package are used in
place.
"""

import dataclasses
import json
import os
import tempfile

import h5py
import numpy as np

from deepkoala.download import fetch
from deepkoala.paths import deepkoala_home

# Where released weight files live; `$DEEPKOALA_WEIGHTS_URL` replaces it (a mirror).
DEFAULT_WEIGHTS_URL = "https://github.com/deepkoala/deepkoala/releases/download/weights-v1"

# The preset used wherever none is named (the command line, the README).
DEFAULT_PRESET = "koala-lite0"

_PACKAGE_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named, trained colorizer.

    Attributes:
        name: the registry name, as passed to `Colorizer.from_preset`.
        file_name: the HDF5 weights file of the whole model.
        sha256: that file's sha256 hex digest.
        config: the `Colorizer` arguments (backbone, image_size, widths).
        description: one line for listings.
        trained_on: the training data, its size and the training time.
        scores: measured figures (e.g. {"psnr": ..., "gray_psnr": ...}).
        record: the training record (JSON) shipped in the package data, or
            "": source packages, photos and their licences, views, loss,
            steps, time and held-out figures.
    """

    name: str
    file_name: str
    sha256: str
    config: dict
    description: str
    trained_on: str = ""
    scores: dict = dataclasses.field(default_factory=dict)
    record: str = ""

    def training_record(self):
        """The training record as a dict, or {} when none ships with the package.

        Example:
        >>> get_preset(DEFAULT_PRESET).training_record()["views_per_image"]  # doctest: +SKIP
        8
        """
        path = os.path.join(_PACKAGE_DATA, self.record) if self.record else ""
        if not os.path.isfile(path):
            return {}
        with open(path, encoding="utf-8") as file:
            return json.load(file)


_PRESETS = {}
# Names that users may know from earlier releases.
_ALIASES = {}


def register_preset(preset):
    """Add a `Preset` to the registry, replacing one of the same name.

    Example:
    >>> register_preset(Preset("mine", "mine.weights.h5", "0" * 64, {}, "my own"))
    """
    if not isinstance(preset, Preset):
        raise ValueError(f"Expected a `Preset`, received preset={preset!r}")
    _PRESETS[preset.name] = preset


def unregister_preset(name):
    """Remove a preset from the registry (no error if it is absent)."""
    _PRESETS.pop(name, None)


def get_preset(name):
    """The `Preset` called `name` (or an earlier name); a `ValueError` lists the known ones."""
    name = _ALIASES.get(name, name)
    if name not in _PRESETS:
        known = ", ".join(available_presets()) or "none are registered yet"
        raise ValueError(f"Unknown preset={name!r}. Known presets: {known}")
    return _PRESETS[name]


def is_preset_name(name):
    """Whether `name` names a registered preset (or an earlier name of one)."""
    return _ALIASES.get(name, name) in _PRESETS


def available_presets():
    """The names of the registered presets, sorted."""
    return sorted(_PRESETS)


def weights_url(file_name):
    """The download URL of a weights file, honouring `$DEEPKOALA_WEIGHTS_URL`.

    Example:
    >>> weights_url("demo.weights.h5").endswith("/demo.weights.h5")
    True
    """
    base = os.environ.get("DEEPKOALA_WEIGHTS_URL") or DEFAULT_WEIGHTS_URL
    return f"{base.rstrip('/')}/{file_name}"


def weights_dir():
    """Where downloaded weight files are kept: `$DEEPKOALA_HOME/weights`."""
    return os.path.join(deepkoala_home(), "weights")


def weights_file(file_name, sha256, verbose=True):
    """The local path of a weights file: shipped in the package, cached, or downloaded.

    Example:
    >>> path = weights_file(preset.file_name, preset.sha256)  # doctest: +SKIP
    """
    bundled = os.path.join(_PACKAGE_DATA, file_name)
    if os.path.isfile(bundled):
        # Shipped files are checked like downloads: a damaged install must not
        # load silently.
        return fetch(weights_url(file_name), bundled, sha256, verbose=verbose)
    return fetch(weights_url(file_name), os.path.join(weights_dir(), file_name), sha256, verbose)


def save_float16_weights(model, path):
    """Save `model`'s weights as a Keras `.weights.h5` file with float16 arrays.

    Halves the file; Keras casts the arrays back to the variables' float32
    when loading with `model.load_weights(path)`.

    Example:
    >>> save_float16_weights(colorizer.model, "demo.weights.h5")  # doctest: +SKIP
    """
    path = os.fspath(path)
    if not path.endswith(".weights.h5"):
        raise ValueError(f"The file name must end in .weights.h5. Received: path={path!r}")
    with tempfile.TemporaryDirectory() as scratch:
        full = os.path.join(scratch, "full.weights.h5")
        model.save_weights(full)
        with h5py.File(full, "r") as source, h5py.File(path, "w") as target:
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


# Trained by tools/train_preset.py (record: data/koala-lite0_TRAINING.json); the
# scores are `deepkoala evaluate` of this float16 file on the 52 held-out photos of
# tools/make_demo_dataset.py's set (--max-short-side 768).
register_preset(
    Preset(
        name="koala-lite0",
        file_name="koala-lite0.weights.h5",
        sha256="f28f5a37998874070f20552098f35aa0ca570fcc88d0d29c65d286aac940c161",
        config={
            "backbone": "efficientnet_lite0",
            "image_size": 192,
            "encoder_filters": (32, 64, 64, 128, 128, 256, 256, 128),
            "fusion_filters": 128,
            "decoder_filters": (64, 32, 32, 16),
            "loss": "classification",
            "temperature": 0.38,
        },
        description=(
            "Half-width head on EfficientNet-Lite0 that classifies a*b* (annealed mean), "
            "trained on 332 openly licensed photos; ships with deepkoala, works offline"
        ),
        trained_on=(
            "332 photos from Debian packages and scikit-learn/scikit-image samples "
            "(tools/make_demo_dataset.py --max-short-side 768), 8 views each, 4291 steps "
            "of 16 (26 epochs), Adam 1e-3 with cosine decay, 192x192 crops of 224, "
            "75 min on 2 CPU cores"
        ),
        scores={
            "images": 52,
            "psnr": 20.5361,
            "gray_psnr": 20.308,
            "ssim": 0.9007,
            "gray_ssim": 0.9064,
            "auc": 0.8612,
            "gray_auc": 0.8521,
            "colorfulness": 29.5631,
            "gray_colorfulness": 0.0,
            "original_colorfulness": 48.3059,
        },
        record="koala-lite0_TRAINING.json",
    )
)
_ALIASES["demo"] = "koala-lite0"
