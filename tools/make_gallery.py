"""Make the gallery image: gray input, one column per colorizer, original.

Usage:
    python tools/make_gallery.py DATA/heldout docs/gallery.jpg --model koala-lite0
    python tools/make_gallery.py DATA/heldout docs/compare.jpg --model old.keras koala-lite0 \
        --include skimage-chelsea.jpg

Takes `--count` photos (default 8) spread evenly over the folder's sorted
files, so that the choice is reproducible and not hand-picked, plus the files
named by `--include`. `--model` takes preset names or `.keras` paths; each
gets a column, labelled by its name. A model may carry decoding settings
after an "@": `koala-lite0@uncertainty_fade=0.5,saturation=1.05`.
"""

import argparse
import os
import sys

import numpy as np
from PIL import Image, ImageDraw

from deepkoala import Colorizer
from deepkoala.evaluation import gray_baseline
from deepkoala.image_files import find_images
from deepkoala.images import read_rgb_uint8

TILE = 256
LABEL_HEIGHT = 22


def tile(image):
    """`image` fitted into a white TILE x TILE square (also used by make_guided_figure.py)."""
    image = Image.fromarray(image) if isinstance(image, np.ndarray) else image
    image = image.copy()
    image.thumbnail((TILE, TILE), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (TILE, TILE), "white")
    canvas.paste(image, ((TILE - image.width) // 2, (TILE - image.height) // 2))
    return canvas


def _colorizer(spec):
    """A colorizer from "MODEL" or "MODEL@name=value,..." (decoding settings)."""
    model, _, settings = spec.partition("@")
    # float32: the same picture on every machine.
    colorizer = Colorizer.from_preset(model).set_precision("float32")
    decoding = dict(item.split("=", 1) for item in settings.split(",") if item)
    values = {"true": True, "false": False}
    colorizer.set_decoding(
        **{name: values[text] if text in values else float(text)
           for name, text in decoding.items()}
    )  # fmt: skip
    return colorizer


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="held-out color photos")
    parser.add_argument("output", help="the gallery image to write")
    parser.add_argument("--model", nargs="+", required=True, help="preset names or .keras files")
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--include", nargs="*", default=[], help="file names to add")
    parser.add_argument("--labels", nargs="*", help="the models' column labels")
    args = parser.parse_args(argv)
    if args.labels and len(args.labels) != len(args.model):
        parser.error("--labels needs one label per --model")

    paths = find_images(args.folder)
    chosen = [paths[int(i)] for i in np.linspace(0, len(paths) - 1, args.count)]
    chosen += [os.path.join(args.folder, name) for name in args.include]
    originals = [read_rgb_uint8(path) for path in chosen]
    outputs = [_colorizer(model).colorize(originals, verbose=0) for model in args.model]

    names = args.labels or [os.path.basename(model) for model in args.model]
    labels = ["gray input", *names, "original"]
    gallery = Image.new("RGB", (TILE * len(labels), LABEL_HEIGHT + TILE * len(chosen)), "white")
    draw = ImageDraw.Draw(gallery)
    for column, label in enumerate(labels):
        draw.text((column * TILE + 8, 5), label, fill="black")
    for row, original in enumerate(originals):
        top = LABEL_HEIGHT + row * TILE
        row_images = [gray_baseline(original), *(output[row] for output in outputs), original]
        for column, image in enumerate(row_images):
            gallery.paste(tile(image), (column * TILE, top))
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    gallery.save(args.output, quality=88)
    print(f"Wrote {args.output}: " + ", ".join(os.path.basename(p) for p in chosen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
