"""deepkoala: colorize grayscale photographs with Deep Koalarization in Keras 3.

Example:
>>> from deepkoala import Colorizer
>>> colorizer = Colorizer(backbone_weights=None)  # doctest: +SKIP
>>> colorizer.colorize("old_photo.jpg").save("colorized.png")  # doctest: +SKIP
"""

from deepkoala.blocks import decoder, embedding, encoder, fusion
from deepkoala.colorizer import Colorizer
from deepkoala.model import colorization_head, deep_koalarization
from deepkoala.version import __version__

__all__ = [
    "Colorizer",
    "colorization_head",
    "decoder",
    "deep_koalarization",
    "embedding",
    "encoder",
    "fusion",
    "__version__",
]
