"""Saving and loading colorizers: `.keras` files, preset folders, URLs and 0.1's files.

Every function that makes a colorizer is handed the class to make (`cls`),
as keras-hub's preset loaders are, so this module never imports
`deepkoala.colorizer`. Saved settings are checked (`checked_settings`)
before Keras builds anything from them; files are written atomically
(`deepkoala.atomic`).

Example:
>>> colorizer = load(Colorizer, "mine.keras")  # doctest: +SKIP
"""

import hashlib
import json
import os
import urllib.parse
import zipfile

import keras
import numpy as np

from deepkoala import guided_head
from deepkoala.atomic import atomic_write
from deepkoala.download import fetch
from deepkoala.presets import (
    BACKBONE_WEIGHTS_FILE,
    CONFIG_FILE,
    HEAD_WEIGHTS_FILE,
    MAX_SETTINGS_BYTES,
    METADATA_FILE,
    get_preset,
    is_preset_name,
    parse_settings,
    read_json,
)
from deepkoala.settings import checked_config
from deepkoala.version import __version__
from deepkoala.weights import save_weights, weights_dir

# Files saved by releases before 0.8 held the settings in this extra archive entry.
_LEGACY_CONFIG_ENTRY = "deepkoala.json"


def checked_settings(cls, serialized, source):
    """The config of Keras' serialized form of a `cls`, checked without building it.

    Args:
        cls (type): the class the file must describe.
        serialized (dict): `keras.saving.serialize_keras_object`'s output.
        source (str): where it was read, for the error message.

    Returns:
        dict: the config.

    Raises:
        ValueError: it describes another class, or its settings are invalid.

    Example:
    >>> checked_settings(Colorizer, read_json("mine/config.json"), "mine")  # doctest: +SKIP
    """
    config = serialized.get("config")
    if serialized.get("class_name") != cls.__name__ or not isinstance(config, dict):
        raise ValueError(f"{source} does not describe a deepkoala {cls.__name__}.")
    try:
        checked_config(**{k: v for k, v in config.items() if k not in ("name", "trainable")})
    except (TypeError, ValueError) as error:
        raise ValueError(f"{source} holds invalid settings: {error}") from error
    return config


def save_keras_file(colorizer, filepath, overwrite=True, **kwargs):
    """Save `colorizer` to a `.keras` file with Keras' own machinery, atomically.

    Args:
        colorizer (keras.Model): the colorizer.
        filepath (str | os.PathLike): a name ending in `.keras`.
        overwrite (bool): replace an existing file.
        **kwargs (Any): passed to `keras.saving.save_model`.

    Example:
    >>> save_keras_file(colorizer, "mine.keras")  # doctest: +SKIP
    """
    path = os.fspath(filepath)
    if not path.endswith(".keras"):
        raise ValueError(f"The file name must end in .keras. Received: path={path!r}")
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists already; nothing was written.")
    with atomic_write(path) as partial:
        keras.saving.save_model(colorizer, partial, **kwargs)


def export(colorizer, path, format="onnx"):
    """Export the network for serving without Keras.

    The exported model maps scaled lightness (L / 50 - 1, shape
    (batch, H, W, 1), H and W multiples of 8) to a*b* / 128; resizing and
    merging with the full-resolution L stay with the caller (see
    `examples/colorize_onnx.py`, which needs only onnxruntime, numpy and
    Pillow).

    Args:
        colorizer (keras.Model): the colorizer.
        path (str | os.PathLike): the output file (ONNX) or folder (SavedModel).
        format (str): "onnx" (needs `pip install deepkoala[export]`) or
            "tf_saved_model".

    Example:
    >>> export(colorizer, "deepkoala.onnx")  # doctest: +SKIP
    """
    if format not in ("onnx", "tf_saved_model"):
        raise ValueError(
            f'`format` must be "onnx" or "tf_saved_model". Received: format={format!r}'
        )
    size = colorizer.image_size
    # Keras exports only models that have been called once (a guided one with its three inputs).
    dummies = [np.zeros((1, size, size, 1), dtype=np.float32)]
    if colorizer.get_config()["guided"]:
        dummies += guided_head.network_inputs(None, np.zeros((1, size, size)))
    colorizer(dummies if len(dummies) > 1 else dummies[0])
    try:
        keras.Model.export(colorizer, os.fspath(path), format=format, verbose=False)
    except ImportError as error:
        raise ImportError(
            f"Exporting to {format} needs extra packages: pip install deepkoala[export] ({error})"
        ) from error


def save_to_preset(colorizer, folder, float16=False, copy_backbone=True):
    """Write `colorizer` as a preset folder (see `Colorizer.save_to_preset`).

    Args:
        colorizer (keras.Model): the colorizer.
        folder (str | os.PathLike): a new (or empty) folder.
        float16 (bool): store the weights in float16.
        copy_backbone (bool): also write the backbone's weights (False when
            they are its published ImageNet ones, fetched on load).

    Example:
    >>> save_to_preset(colorizer, "my_preset")  # doctest: +SKIP
    """
    folder = os.path.abspath(os.fspath(folder))
    if os.path.exists(folder) and not (os.path.isdir(folder) and not os.listdir(folder)):
        raise FileExistsError(f"{folder} exists and is not an empty folder; nothing was written.")
    with atomic_write(folder, folder=True) as partial:
        with open(os.path.join(partial, CONFIG_FILE), "w", encoding="utf-8") as file:
            json.dump(keras.saving.serialize_keras_object(colorizer), file, indent=1)
        with open(os.path.join(partial, METADATA_FILE), "w", encoding="utf-8") as file:
            metadata = {"deepkoala_version": __version__, "keras_version": keras.__version__}
            json.dump(metadata, file, indent=1)
        parts = [(colorizer.head, HEAD_WEIGHTS_FILE)]
        if copy_backbone:
            parts.append((colorizer.embedding, BACKBONE_WEIGHTS_FILE))
        for part, file_name in parts:
            try:
                save_weights(part, os.path.join(partial, file_name), float16=float16)
            except OSError as error:
                # Named by the folder the user asked for, not its hidden partial.
                raise OSError(
                    error.errno,
                    f"cannot write {os.path.join(folder, file_name)}: "
                    f"{os.strerror(error.errno) if error.errno else error}",
                ) from None


def load_preset_folder(cls, folder, dtype_policy=None):
    """A `cls` from a folder written by `save_to_preset`.

    Args:
        cls (type): the colorizer class.
        folder (str): the preset folder.
        dtype_policy (str | None): build it with this `dtype_policy` instead of
            the saved one (e.g. "bfloat16": the weights in half precision).

    Returns:
        keras.Model: the loaded colorizer.

    Example:
    >>> colorizer = load_preset_folder(Colorizer, "my_preset")  # doctest: +SKIP
    """
    config_path = os.path.join(folder, CONFIG_FILE)
    if not os.path.isfile(config_path):
        raise ValueError(
            f"{folder} is not a deepkoala preset folder: it has no {CONFIG_FILE} "
            "(Colorizer.save_to_preset writes one)."
        )
    config = checked_settings(cls, read_json(config_path), config_path)
    backbone_path = os.path.join(folder, BACKBONE_WEIGHTS_FILE)
    # Without a backbone file, the backbone is its published ImageNet one.
    imagenet = not os.path.isfile(backbone_path)
    config = {**config, **({"dtype_policy": dtype_policy} if dtype_policy else {})}
    colorizer = cls.from_config({**config, "backbone_weights": "imagenet" if imagenet else None})
    colorizer.head.load_weights(os.path.join(folder, HEAD_WEIGHTS_FILE))
    if not imagenet:
        colorizer.embedding.load_weights(backbone_path)
    return colorizer


def load(cls, path):
    """A `cls` saved by `save` (a `.keras` file) or `save_to_preset` (a folder).

    Keras' safe mode: no pickled code runs. Settings are read with bounded
    reads and checked before Keras builds the colorizer; files saved by
    deepkoala 0.1 (settings in an extra `deepkoala.json` entry) load too.

    Args:
        cls (type): the colorizer class.
        path (str | os.PathLike): the file or folder.

    Returns:
        keras.Model: the loaded colorizer.

    Example:
    >>> colorizer = load(Colorizer, "mine.keras")  # doctest: +SKIP
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        return load_preset_folder(cls, path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such file: {path}")
    not_ours = f"{path} is not a deepkoala .keras file (saved by Colorizer.save)."
    try:
        with zipfile.ZipFile(path) as archive:
            # Settings are a few kilobytes, read before Keras builds anything from them.
            entries = {}
            for name in ("config.json", _LEGACY_CONFIG_ENTRY):
                if name not in archive.namelist():
                    continue
                if archive.getinfo(name).file_size > MAX_SETTINGS_BYTES:
                    raise ValueError(f"{not_ours} Its {name} is too large.")
                entries[name] = parse_settings(archive.read(name), f"{path} ({name})")
    except zipfile.BadZipFile as error:
        raise ValueError(not_ours) from error
    if _LEGACY_CONFIG_ENTRY in entries:
        return _load_legacy_file(cls, path, entries[_LEGACY_CONFIG_ENTRY])
    if "config.json" not in entries:
        raise ValueError(not_ours)
    checked_settings(cls, entries["config.json"], path)
    try:
        colorizer = keras.saving.load_model(path, compile=False)
    except (TypeError, ValueError, KeyError) as error:
        raise ValueError(f"{path} could not be loaded: {error}") from error
    if not isinstance(colorizer, cls):
        raise ValueError(not_ours)
    return colorizer


def _load_legacy_file(cls, path, settings):
    """A file of deepkoala 0.1: a plain functional model plus a settings entry."""
    # 0.1 wrote every setting; a missing one means another file.
    missing = sorted({"backbone", "image_size", "encoder_filters"} - set(settings))
    try:
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        colorizer = cls(**{**settings, "backbone_weights": None})
        network = keras.saving.load_model(path, compile=False)
        for part in (colorizer.head, colorizer.embedding):
            part.set_weights(network.get_layer(part.name).get_weights())
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path} holds invalid settings: {error}") from error
    return colorizer


def from_preset(cls, preset, sha256=None, verbose=True, dtype_policy=None):
    """A `cls` from a preset name, a preset folder, a `.keras` file or a URL.

    See `Colorizer.from_preset`.

    Args:
        cls (type): the colorizer class.
        preset (str | os.PathLike): a registered name, a folder, a file or a URL.
        sha256 (str | None): the expected digest of a file given by URL.
        verbose (bool): show a progress bar while downloading.
        dtype_policy (str | None): build a name's or a folder's colorizer with
            this `dtype_policy` instead of the saved one.

    Returns:
        keras.Model: the loaded colorizer.

    Example:
    >>> colorizer = from_preset(Colorizer, "koala-lite0")  # doctest: +SKIP
    """
    preset = os.fspath(preset)
    if is_preset_name(preset):
        preset = get_preset(preset).path(verbose=verbose)
    elif dtype_policy and not os.path.isdir(preset):
        raise ValueError(
            "`dtype_policy` applies to preset names and folders: a .keras file keeps the "
            f"policy it was saved with. Received: preset={preset!r}, dtype_policy={dtype_policy!r}"
        )
    elif preset.startswith(("http://", "https://")):
        return _from_url(cls, preset, sha256, verbose)
    if os.path.isdir(preset):
        return load_preset_folder(cls, preset, dtype_policy)
    if os.path.isfile(preset) or preset.endswith(".keras") or os.sep in preset:
        return load(cls, preset)
    get_preset(preset)  # raises the error that lists the known presets


def _from_url(cls, url, sha256, verbose):
    """Load a `.keras` file from `url`, kept in `$DEEPKOALA_HOME` once it loads."""
    url_id = hashlib.sha256(url.encode()).hexdigest()[:16]
    file_name = os.path.basename(urllib.parse.urlparse(url).path) or "model.keras"
    local = os.path.join(weights_dir(), "from-url", url_id, file_name)
    if os.path.isfile(local):
        try:
            return load(cls, fetch(url, local, sha256, verbose=verbose))
        except ValueError:
            # A cached file that does not load (kept by an older release,
            # or damaged since) is fetched again, once.
            os.remove(local)
    # Only a download that loads as a colorizer is renamed into place; the
    # check's colorizer is the one returned (loaded once).
    loaded = []
    fetch(url, local, sha256, verbose=verbose, validate=lambda p: loaded.append(load(cls, p)))
    return loaded[0]
