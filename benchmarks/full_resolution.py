"""The work around the network for one photo, step by step; prints one JSON object.

    python benchmarks/full_resolution.py                # a 640x480 JPEG
    python benchmarks/full_resolution.py --size 6000 4000

Each step of `deepkoala.full_resolution` on one thread, the best of 5 rounds
of several calls: reading the JPEG, its lightness (from the decoded array,
and from the decoded PIL image as the colorizing pipeline reads it), and merging a 192x192
a*b* (the bundled preset's working size) bilinearly and edge-aware (the
guided filter's coefficients on their own too).
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
from PIL import Image

from deepkoala import full_resolution, images


def best_milliseconds(step, calls, rounds=5):
    """The best mean time of one call of `step` over `rounds` rounds of `calls` calls."""
    for _ in range(2):
        step()
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            step()
        best = min(best, (time.perf_counter() - started) / calls)
    return round(best * 1000, 2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=2, default=(640, 480), metavar=("W", "H"))
    parser.add_argument("--calls", type=int, default=8, help="calls per round")
    args = parser.parse_args(argv)
    examples = os.path.join(os.path.dirname(__file__), "..", "examples", "photos")
    source = Image.open(os.path.join(examples, "astronaut.jpg")).convert("RGB")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "photo.jpg")
        source.resize(tuple(args.size), Image.Resampling.BILINEAR).save(path, quality=90)
        pixels, _ = images.read_photo(path)
        photo, _ = images.read_photo(path, as_image=True)  # as the pipeline reads it
        lightness = full_resolution.lightness(pixels)
        guide = images.resize_channel(lightness, *full_resolution._guide_shape(*lightness.shape))
        chroma = np.random.default_rng(0).uniform(-30, 30, (192, 192, 2)).astype(np.float32)
        steps = {
            "read_photo": lambda: images.read_photo(path),
            "lightness": lambda: full_resolution.lightness(pixels),
            "lightness_of_pil_image": lambda: full_resolution.lightness(photo),
            "merge_bilinear": lambda: full_resolution.merge(lightness, chroma),
            "guided_coefficients": lambda: full_resolution._guided_coefficients(guide, chroma),
            "merge_edge_aware": lambda: full_resolution.merge(lightness, chroma, edge_aware=True),
        }
        figures = {name: best_milliseconds(step, args.calls) for name, step in steps.items()}
    print(json.dumps({
        "benchmark": "full_resolution",
        "input": f"{args.size[0]}x{args.size[1]} JPEG, a*b* 192x192",
        "milliseconds": figures,
    }), flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
