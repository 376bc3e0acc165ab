"""Make the gallery image: gray input, deepkoala, original, for held-out photos.

Usage:
    python tools/make_gallery.py /work/demo_data/heldout docs/gallery.jpg --preset demo

Takes `--count` photos (default 8) spread evenly over the folder's sorted
files, so that the choice is reproducible and not hand-picked.
"""

import argparse
import os
import sys

import numpy as np
from PIL import Image, ImageDraw

from deepkoala import Colorizer
from deepkoala.dataset import find_images
from deepkoala.evaluation import gray_baseline
from deepkoala.images import read_rgb_uint8

TILE = 256
LABEL_HEIGHT = 22


def _tile(image):
    image = Image.fromarray(image) if isinstance(image, np.ndarray) else image
    image = image.copy()
    image.thumbnail((TILE, TILE), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (TILE, TILE), "white")
    canvas.paste(image, ((TILE - image.width) // 2, (TILE - image.height) // 2))
    return canvas


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="held-out color photos")
    parser.add_argument("output", help="the gallery image to write")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--preset")
    source.add_argument("--weights")
    parser.add_argument("--count", type=int, default=8)
    args = parser.parse_args(argv)

    paths = find_images(args.folder)
    chosen = [paths[int(i)] for i in np.linspace(0, len(paths) - 1, args.count)]
    colorizer = Colorizer.from_preset(args.preset or args.weights)
    originals = [read_rgb_uint8(path) for path in chosen]
    colorized = colorizer.colorize(originals, verbose=0)

    columns = ("gray input", "deepkoala", "original")
    gallery = Image.new("RGB", (TILE * 3, LABEL_HEIGHT + TILE * len(chosen)), "white")
    draw = ImageDraw.Draw(gallery)
    for column, label in enumerate(columns):
        draw.text((column * TILE + 8, 5), label, fill="black")
    for row, (original, output) in enumerate(zip(originals, colorized, strict=True)):
        top = LABEL_HEIGHT + row * TILE
        for column, image in enumerate((gray_baseline(original), output, original)):
            gallery.paste(_tile(image), (column * TILE, top))
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    gallery.save(args.output, quality=88)
    print(f"Wrote {args.output}: " + ", ".join(os.path.basename(p) for p in chosen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
