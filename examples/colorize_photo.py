"""Colorize one photograph with the bundled preset or a saved deepkoala model.

Usage:
    python examples/colorize_photo.py examples/sample_gray.jpg colorized.png
    python examples/colorize_photo.py examples/sample_gray.jpg colorized.png \
        --weights mine.keras
"""

import argparse

from deepkoala import Colorizer
from deepkoala.presets import DEFAULT_PRESET


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", help="the photograph to colorize")
    parser.add_argument("output", help="where to write the colorized PNG")
    parser.add_argument(
        "--weights", help="a .keras file from Colorizer.save (default: the bundled preset)"
    )
    args = parser.parse_args(argv)

    colorizer = Colorizer.from_preset(args.weights or DEFAULT_PRESET)
    colorized = colorizer.colorize(args.image)  # a PIL.Image of the input's size
    colorized.save(args.output)
    print(f"Wrote {args.output} ({colorized.width}x{colorized.height})")


if __name__ == "__main__":
    main()
