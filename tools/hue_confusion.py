"""Which hues go wrong on photos from unseen sources: a hue-family confusion table.

Usage:
    python tools/hue_confusion.py DATA --loso-dir runs/loso [--uncertainty-fade K]
        [--saturation S] [--out confusion.json]

For each fold of tools/leave_one_source_out.py (its models in LOSO_DIR), the
fold's model colorizes every photo of the source it never saw (edge-aware
chroma, as shipped), and `deepkoala.metrics.hue_confusion` counts, pixel by
pixel, the true hue family against the colorized one. The table, summed over
the folds and normalized by row (the true family), is printed with the
figures that matter: green colorized orange or yellow (tan leaves), gray
colorized blue (blue dusk skies and snow), and how much of the colored truth
gets a hue of another family at all.
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from leave_one_source_out import FOLDS, read_manifest  # noqa: E402

from deepkoala import Colorizer, metrics  # noqa: E402
from deepkoala.images import read_rgb_uint8  # noqa: E402


def summary(counts):
    """The headline shares of a confusion table (rows: truth)."""
    names = metrics.hue_family_names()
    index = {name: number for number, name in enumerate(names)}
    rows = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    colored = counts[1:]
    other_hue = colored[:, 1:].sum() - np.trace(counts[1:, 1:])
    return {
        "green_as_orange_or_yellow": float(
            rows[index["green"], [index["orange"], index["yellow"]]].sum()
        ),
        "green_kept_green": float(rows[index["green"], index["green"]]),
        "gray_as_blue": float(rows[index["gray"], index["blue"]]),
        "gray_kept_gray": float(rows[index["gray"], index["gray"]]),
        "colored_given_another_hue": float(other_hue / max(colored.sum(), 1)),
        "colored_given_gray": float(colored[:, 0].sum() / max(colored.sum(), 1)),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="the folder made by tools/make_demo_dataset.py")
    parser.add_argument("--loso-dir", required=True, help="tools/leave_one_source_out.py's OUT_DIR")
    parser.add_argument("--folds", nargs="*", choices=sorted(FOLDS), default=sorted(FOLDS))
    parser.add_argument("--uncertainty-fade", type=float, default=0.0)
    parser.add_argument("--saturation", type=float, default=1.0)
    parser.add_argument("--out", help="write the table and figures here (JSON)")
    args = parser.parse_args(argv)
    rows = read_manifest(args.data)
    names = metrics.hue_family_names()
    total = np.zeros((len(names), len(names)), np.int64)
    per_fold = {}
    for fold in args.folds:
        colorizer = Colorizer.load(os.path.join(args.loso_dir, fold, f"{fold}.keras"))
        colorizer.set_precision("float32")
        colorizer.set_decoding(
            edge_aware_chroma=True,
            uncertainty_fade=args.uncertainty_fade,
            saturation=args.saturation,
        )
        counts = np.zeros_like(total)
        photos = [os.path.join(args.data, r["path"]) for r in rows if r["package"] in FOLDS[fold]]
        for number, path in enumerate(photos, start=1):
            original = read_rgb_uint8(path)
            output = np.asarray(colorizer.colorize(original, verbose=0))
            counts += metrics.hue_confusion(original, output)
            print(f"\r{fold}: {number}/{len(photos)}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        per_fold[fold] = summary(counts)
        total += counts
    shares = total / np.maximum(total.sum(axis=1, keepdims=True), 1)
    print("truth \\ colorized " + " ".join(f"{name:>7}" for name in names))
    for name, row, count in zip(names, shares, total.sum(axis=1), strict=True):
        print(f"{name:<10}{count:>8} " + " ".join(f"{share:>7.1%}" for share in row))
    figures = summary(total)
    print(json.dumps({key: round(value, 4) for key, value in figures.items()}))
    if args.out:
        with open(args.out, "w") as file:
            json.dump(
                {"families": names, "counts": total.tolist(), "figures": figures,
                 "per_fold": per_fold, "uncertainty_fade": args.uncertainty_fade,
                 "saturation": args.saturation},
                file, indent=1,
            )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
