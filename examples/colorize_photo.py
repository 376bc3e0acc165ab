"""Colorize one photograph with a saved deepkoala model.

Usage:
    python examples/colorize_photo.py --weights deepkoala.keras \
        examples/sample_gray.jpg colorized.png
"""

import argparse

from deepkoala import Colorizer


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", help="the photograph to colorize")
    parser.add_argument("output", help="where to write the colorized PNG")
    parser.add_argument("--weights", required=True, help="a .keras file from Colorizer.save")
    args = parser.parse_args(argv)

    colorizer = Colorizer.load(args.weights)
    colorized = colorizer.colorize(args.image)  # a PIL.Image of the input's size
    colorized.save(args.output)
    print(f"Wrote {args.output} ({colorized.width}x{colorized.height})")


if __name__ == "__main__":
    main()
