"""The registry of named, trained colorizers.

A preset is a folder in the same format as `Colorizer.save_to_preset`
writes (keras-hub's layout): `config.json` (the `Colorizer`'s Keras config),
`metadata.json`, `head.weights.h5` and, when the backbone's weights are not
its published ImageNet ones, `backbone.weights.h5`; a released preset also
carries `training.json`, its training record. A registered preset names its
files and their sha256: shipped ones are used in place from the package
data, others are downloaded once into `$DEEPKOALA_HOME/weights/<name>/`.
A user's own saved folder (or `.keras` file) can be registered too.
"""

import dataclasses
import json
import os

from deepkoala.weights import PACKAGE_DATA, weights_dir, weights_file

# The preset used wherever none is named (the command line, the README).
DEFAULT_PRESET = "koala-lite0"
# The command line's preset when hints or a reference are given and none is named:
# DEFAULT_PRESET's head with a learned guide block (the same colors without guidance).
GUIDED_PRESET = "koala-lite0-guided"

# Files of a preset folder.
CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
HEAD_WEIGHTS_FILE = "head.weights.h5"
BACKBONE_WEIGHTS_FILE = "backbone.weights.h5"
TRAINING_RECORD_FILE = "training.json"

# Settings files are a few kilobytes; a larger one is not ours.
MAX_SETTINGS_BYTES = 1 << 20


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named, trained colorizer.

    Attributes:
        name: the registry name, as passed to `Colorizer.from_preset`.
        description: one line for listings.
        files: {file name: sha256} of a released preset folder; empty for
            a `location` on disk.
        location: a preset folder or `.keras` file on disk (your own
            presets); "" for released ones (package data or download).
        trained_on: the training data, its size and the training time.
        scores: measured figures (e.g. {"psnr": ..., "gray_psnr": ...}).

    Example:
    >>> register_preset(Preset("mine", "my cats", location="mine_preset/"))  # doctest: +SKIP
    >>> Colorizer.from_preset("mine")  # doctest: +SKIP
    """

    name: str
    description: str
    files: dict = dataclasses.field(default_factory=dict)
    location: str = ""
    trained_on: str = ""
    scores: dict = dataclasses.field(default_factory=dict)

    def path(self, verbose=True):
        """The local folder (or `.keras` file), every file fetched and checked.

        Example:
        >>> get_preset(DEFAULT_PRESET).path()  # doctest: +SKIP
        '.../deepkoala/data/koala-lite0'
        """
        if self.location:
            return self.location
        paths = [
            weights_file(f"{self.name}/{name}", sha256, verbose=verbose)
            for name, sha256 in sorted(self.files.items())
        ]
        return os.path.dirname(paths[0])

    def _local_json(self, file_name):
        """A JSON file of the preset if it is on disk already (nothing is downloaded)."""
        if self.location:
            folders = [self.location]
        else:
            folders = [os.path.join(place, self.name) for place in (PACKAGE_DATA, weights_dir())]
        for folder in folders:
            path = os.path.join(folder, file_name)
            if os.path.isfile(path):
                return read_json(path)
        return {}

    def config(self):
        """The `Colorizer` arguments, when the preset is on disk; else {}.

        Example:
        >>> get_preset(DEFAULT_PRESET).config()["backbone"]  # doctest: +SKIP
        'efficientnet_lite0'
        """
        return self._local_json(CONFIG_FILE).get("config", {})

    def training_record(self):
        """The training record, when it is on disk; else {}.

        Example:
        >>> get_preset(DEFAULT_PRESET).training_record()["views_per_image"]  # doctest: +SKIP
        8
        """
        return self._local_json(TRAINING_RECORD_FILE)


def parse_settings(data, source):
    """A small JSON object from the bytes `data` (read from `source`); `ValueError` otherwise.

    Example:
    >>> parse_settings(b'{"image_size": 224}', "config.json")
    {'image_size': 224}
    """
    if len(data) > MAX_SETTINGS_BYTES:
        raise ValueError(f"{source} is too large to be a deepkoala settings file.")
    try:
        value = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{source} is not a JSON file ({error}).") from error
    if not isinstance(value, dict):
        raise ValueError(f"{source} does not hold a JSON object.")
    return value


def read_json(path):
    """`parse_settings` of a file, whose size is checked before it is read.

    Example:
    >>> read_json("mine_preset/config.json")  # doctest: +SKIP
    """
    if os.path.getsize(path) > MAX_SETTINGS_BYTES:
        raise ValueError(f"{path} is too large to be a deepkoala settings file.")
    with open(path, "rb") as file:
        return parse_settings(file.read(), path)


_PRESETS = {}
# Names that users may know from earlier releases.
_ALIASES = {}


def register_preset(preset):
    """Add a `Preset` to the registry, replacing one of the same name.

    Example:
    >>> register_preset(Preset("mine", "my own", location="mine_preset/"))
    >>> unregister_preset("mine")
    """
    if not isinstance(preset, Preset):
        raise ValueError(f"Expected a `Preset`, received preset={preset!r}")
    if not preset.files and not preset.location:
        raise ValueError(f"A preset needs `files` or a `location`. Received: preset={preset!r}")
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


# `deepkoala evaluate` of the float16 koala-lite0 on the 52 held-out photos of
# tools/make_demo_dataset.py's set (--max-short-side 768), with deepkoala 0.6.2's
# edge-aware upsampling (0.6 and 0.6.1 scored PSNR 21.6068, SSIM 0.9085 and
# colorfulness 26.3975); koala-lite0-guided colorizes exactly as it does without
# guidance, so it scores the same.
_KOALA_LITE0_SCORES = {
    "images": 52,
    "psnr": 21.6104,
    "gray_psnr": 20.308,
    "ssim": 0.9086,
    "gray_ssim": 0.9064,
    "auc": 0.8751,
    "gray_auc": 0.8521,
    "colorfulness": 26.3844,
    "gray_colorfulness": 0.0,
    "original_colorfulness": 48.3059,
    # benchmarks/precision.py: the PSNR change in bfloat16, the whole network and the
    # head alone ("auto" keeps the backbone in float32), and on the OpenVINO engine in
    # its own precision (bfloat16 there): docs/performance.md.
    "bfloat16_network_psnr_change": 0.1299,
    "bfloat16_head_psnr_change": 0.0002,
    "openvino_network_psnr_change": 0.0408,
}

# Released by tools/export_preset.py (its training record: data/koala-lite0/training.json);
# the scores are above. Its recipe (dropout 0.3 on the embedding, weight decay 0.5) was
# chosen on the leave-one-source-out table, its weights and decoding among those that
# pass that table's bars on the validation photos (docs/quality.md, "Across sources").
register_preset(
    Preset(
        name="koala-lite0",
        description=(
            "Half-width head on EfficientNet-Lite0 with its mid-level features fused, "
            "classifying a*b* (annealed mean), chroma upsampled edge-aware; trained on 297 "
            "openly licensed photos with dropout and weight decay, stopped by validation, "
            "weights averaged; ships with deepkoala, works offline"
        ),
        files={
            "config.json": "97ea11200a1d5fc0254bc4b36a13b0b6f56e34514f81778445f7611c296e4c64",
            "head.weights.h5": "77767474265a206c30c1a753bd91b848eb75f98c3871d423af2ae7d9724d2e53",
            "metadata.json": "44b99c32562d8de56adae02d4ca95510d3cde4dfe3d43dc6339799eea2a99c36",
            "training.json": "780ef0089c9c8be23faf0c04f89535e36b35404bd238575df73c7497d9532a84",
        },
        trained_on=(
            "297 photos from Debian packages and scikit-image samples "
            "(tools/make_demo_dataset.py --max-short-side 768; 33 more set aside by subject "
            "to validate), 8 views each, 894 steps of 16 (6 epochs, the best of 8 by "
            "validation loss), Adam 1e-3 with decoupled weight decay 0.5, dropout 0.3 on the "
            "embedding and the mid-level map, 192x192 crops of 224; the weights are their "
            "moving average (0.99), chosen on the validation photos; 11 min on 2 CPU cores"
        ),
        scores=dict(_KOALA_LITE0_SCORES),
    )
)
_ALIASES["demo"] = "koala-lite0"

# Released by tools/export_preset.py from `tools/train_preset.py --guided-from koala-lite0`
# (its training record: data/koala-lite0-guided/training.json). Without guidance it
# colorizes exactly as koala-lite0 (the same scores); what its guidance brings is
# measured in docs/guided.md.
register_preset(
    Preset(
        name="koala-lite0-guided",
        description=(
            "koala-lite0 with a learned guide block: hints and a reference photo's colors "
            "turned into per-pixel color priors on its a*b* bins (docs/guided.md); the same "
            "colors as koala-lite0 without guidance; ships with deepkoala, works offline"
        ),
        files={
            "config.json": "4b9aca087fb52ad32c0b5b5fbea2fab958abe78f3c073a2753421bbca6cb999d",
            "head.weights.h5": "d30a734816927ab1457f0b8e81447f72e51bc1f3f6e0f7cbd1fda65a738d6abf",
            "metadata.json": "44b99c32562d8de56adae02d4ca95510d3cde4dfe3d43dc6339799eea2a99c36",
            "training.json": "2c464d2778db4cbe30c97944951d5c6657138af590bfb23ec7e8bdf96f904396",
        },
        trained_on=(
            "koala-lite0's head, frozen, and its 297 training photos (33 set aside by "
            "subject to validate), 8 views each, with hints (none for a quarter of the "
            "views, else a geometric number, mean 8) and histograms of a random part of "
            "the view (half of them) drawn from the truth; the guide block alone trained, "
            "Adam 1e-3, 900 steps of 16 in 22 min on 2 CPU cores, the weights of step 745 "
            "kept (5 epochs, the best of 7 by validation loss)"
        ),
        scores=dict(_KOALA_LITE0_SCORES),
    )
)
