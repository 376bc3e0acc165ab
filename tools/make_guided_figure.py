"""Draw the guided-colors figure of docs/guided.md from held-out photos.

Usage:
    python tools/make_guided_figure.py DATA/heldout docs/guided.jpg \\
        --photos NAME.jpg NAME.jpg --hints 10

One row per photo with hints: gray | automatic | the hints, drawn as dots on
the gray photo | the result | the truth; then one row per photo with a
reference (a mirrored, cropped copy of the truth): gray | automatic | the
reference | the result | the truth. Hints are drawn as
benchmarks/guided.py draws them (random points, the truth's 3x3 mean color).
"""

import argparse
import os
import sys

from PIL import Image, ImageDraw

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
from guided import _hints, _mirrored_crop  # noqa: E402
from make_gallery import TILE, tile  # noqa: E402

from deepkoala import Colorizer  # noqa: E402
from deepkoala.evaluation import gray_baseline  # noqa: E402
from deepkoala.images import read_rgb_uint8  # noqa: E402


def _dots(gray, hints):
    image = Image.fromarray(gray).convert("RGB")
    draw = ImageDraw.Draw(image)
    radius = max(3, round(max(image.size) / 80))
    for x, y, color in hints:
        box = (x - radius, y - radius, x + radius, y + radius)
        draw.ellipse(box, fill=color, outline="white", width=max(1, radius // 3))
    return image


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="the held-out photos")
    parser.add_argument("out", help="the figure (JPEG)")
    parser.add_argument("--photos", nargs="+", required=True, help="file names in the folder")
    parser.add_argument("--hints", type=int, default=10)
    parser.add_argument("--weights", default="koala-lite0")
    args = parser.parse_args(argv)
    colorizer = Colorizer.from_preset(args.weights).set_precision("float32")  # as the gallery
    rows = []
    truths = [read_rgb_uint8(os.path.join(args.folder, name)) for name in args.photos]
    for index, truth in enumerate(truths):
        gray = gray_baseline(truth)
        hints = _hints(truth, args.hints, index)
        rows.append([gray, colorizer.colorize(gray), _dots(gray, hints),
                     colorizer.colorize(gray, hints=hints), truth])  # fmt: skip
    for truth in truths:
        gray, reference = gray_baseline(truth), _mirrored_crop(truth)
        rows.append([gray, colorizer.colorize(gray), reference,
                     colorizer.colorize(gray, reference=reference), truth])  # fmt: skip
    figure = Image.new("RGB", (5 * TILE, len(rows) * TILE), "white")
    for row, images in enumerate(rows):
        for column, image in enumerate(images):
            figure.paste(tile(image), (column * TILE, row * TILE))
    figure.save(args.out, quality=88)
    print(f"Wrote {args.out} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
