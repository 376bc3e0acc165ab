"""deepkoala: colorize grayscale photographs with Deep Koalarization in Keras 3.

Attributes are imported on first use, so that `import deepkoala` (and the
command line's `--help`) stays fast and does not start a Keras backend.

Example:
>>> from deepkoala import Colorizer
>>> colorizer = Colorizer(backbone_weights=None)  # doctest: +SKIP
>>> colorizer.colorize("old_photo.jpg").save("colorized.png")  # doctest: +SKIP
"""

import importlib

from deepkoala.version import __version__

_LAZY_ATTRIBUTES = {
    "Colorizer": "deepkoala.colorizer",
    "colorization_head": "deepkoala.model",
    "deep_koalarization": "deepkoala.model",
    "decoder": "deepkoala.blocks",
    "embedding": "deepkoala.blocks",
    "encoder": "deepkoala.blocks",
    "evaluate": "deepkoala.evaluation",
    "fusion": "deepkoala.blocks",
}

__all__ = [*_LAZY_ATTRIBUTES, "__version__"]


def __getattr__(name):
    if name in _LAZY_ATTRIBUTES:
        return getattr(importlib.import_module(_LAZY_ATTRIBUTES[name]), name)
    raise AttributeError(f"module 'deepkoala' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
