"""Steer the colors: color hints at points of the photo, or a reference photo to borrow from.

Usage:
    python examples/colorize_guided.py examples/sample_gray.jpg hinted.png \
        --hint 120,80,#b22222 --hint 400,30,#faa03c
    python examples/colorize_guided.py examples/sample_gray.jpg referenced.png \
        --reference examples/photos/coffee.jpg
"""

import argparse

from deepkoala import Colorizer
from deepkoala.guidance import Hint
from deepkoala.presets import GUIDED_PRESET


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", help="the photograph to colorize")
    parser.add_argument("output", help="where to write the colorized PNG")
    parser.add_argument(
        "--hint",
        type=Hint.from_text,
        action="append",
        help="X,Y,#rrggbb (the photo's pixels); repeat",
    )
    parser.add_argument("--reference", help="a color photo whose colors to borrow")
    parser.add_argument("--weights", help="a .keras file or preset (default: koala-lite0-guided)")
    args = parser.parse_args(argv)

    colorizer = Colorizer.from_preset(args.weights or GUIDED_PRESET)
    automatic = colorizer.colorize(args.image)
    guided = colorizer.colorize(args.image, hints=args.hint, reference=args.reference)
    guided.save(args.output)
    changed = sum(a != b for a, b in zip(automatic.tobytes(), guided.tobytes(), strict=True))
    print(f"Wrote {args.output}: {changed / len(guided.tobytes()):.0%} of the values steered")


if __name__ == "__main__":
    main()
