"""Choose how a colorizer decodes its colors on validation photos, never the held-out ones.

Usage:
    python tools/calibrate_decoding.py release/koala.keras /work/data \\
        --validation-percent 10 --saturations 1.0 1.1 1.2 --edge-aware \\
        --out release/koala-decoding.json

Two settings change how vivid the output is without retraining: the annealed
mean's `temperature` (classifying heads; lower is more vivid) and
`saturation` (the predicted a*b* is scaled by it). This scores the model at
every pair of `--temperatures` and `--saturations` on the validation photos
that `tools/train_preset.py --validation-percent` set aside (the same whole
subjects, chosen by a hash of their names, and not trained on), photo by
photo, beside the gray baseline, and picks the setting most likely to meet
the bundled preset's bars on photos like these: PSNR at least gray +
`--min-psnr-gain` dB, SSIM not below gray's, and colorfulness at least
`--min-colorfulness` of the originals'. "Most likely" is the share of
bootstrap resamples of the validation photos (the same resamples for every
setting) in which the setting meets all three bars; settings within two
Monte Carlo standard errors of the best share are ties, and ties go to the
more colorful. A small validation set makes thin margins a coin toss; this
prefers the setting whose margins its noise does not erase. The held-out
photos are not read.
"""

import argparse
import json
import math
import os
import sys

import numpy as np
from train_preset import split_off_validation, training_files

from deepkoala import Colorizer, metrics
from deepkoala.evaluation import gray_baseline
from deepkoala.images import read_rgb_uint8


def bar_odds(scores, gray, original, min_psnr_gain, min_colorfulness, resamples, seed=0):
    """Share of bootstrap resamples of the photos in which the three bars hold.

    Args:
        scores: (N, 3) PSNR, SSIM and colorfulness of the outputs, photo by photo.
        gray: (N, 2) PSNR and SSIM of the gray baseline.
        original: (N,) colorfulness of the originals.
    """
    picks = np.random.default_rng(seed).integers(0, len(original), (resamples, len(original)))
    ours, base = scores[picks].mean(axis=1), gray[picks].mean(axis=1)
    meets = (
        (ours[:, 0] >= base[:, 0] + min_psnr_gain)
        & (ours[:, 1] >= base[:, 1])
        & (ours[:, 2] >= min_colorfulness * original[picks].mean(axis=1))
    )
    return float(meets.mean())


def choose(table, resamples):
    """The most colorful row among those whose odds tie with the best (see the module doc)."""
    best = max(row["odds_of_meeting_the_bars"] for row in table)
    tolerance = 2.0 * math.sqrt(best * (1.0 - best) / resamples)
    ties = [row for row in table if row["odds_of_meeting_the_bars"] >= best - tolerance]
    return max(ties, key=lambda row: row["colorfulness_share"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a .keras file saved by tools/train_preset.py")
    parser.add_argument("data", help="the folder made by tools/make_demo_dataset.py")
    parser.add_argument("--validation-percent", type=float, default=10.0)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.38])
    parser.add_argument("--saturations", type=float, nargs="+", default=[1.0])
    parser.add_argument(
        "--edge-aware", action="store_true", help="score with edge-aware chroma upsampling"
    )
    parser.add_argument("--min-psnr-gain", type=float, default=1.0)
    parser.add_argument("--min-colorfulness", type=float, default=0.6)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--out", help="write the table and the choice here (JSON)")
    args = parser.parse_args(argv)

    paths, rows = training_files(args.data, None)
    paths, rows, count = split_off_validation(paths, rows, args.validation_percent)
    if not count:
        raise SystemExit("--validation-percent must set some photos aside")
    photos = [read_rgb_uint8(path) for path in paths[-count:]]
    gray = np.array(
        [(metrics.psnr(p, gray_baseline(p)), metrics.ssim(p, gray_baseline(p))) for p in photos]
    )
    original = np.array([metrics.colorfulness(photo) for photo in photos])
    colorizer = Colorizer.load(args.model).set_precision("float32")  # machine-independent
    if args.edge_aware:
        colorizer.set_decoding(edge_aware_chroma=True)
    table = []
    for temperature in args.temperatures:
        for saturation in args.saturations:
            # In place: one copy of the weights, whatever the number of settings.
            colorizer.set_decoding(temperature=temperature, saturation=saturation)
            outputs = [np.asarray(image) for image in colorizer.colorize(photos, verbose=0)]
            scores = np.array(
                [
                    (metrics.psnr(p, o), metrics.ssim(p, o), metrics.colorfulness(o))
                    for p, o in zip(photos, outputs, strict=True)
                ]
            )
            odds = bar_odds(
                scores, gray, original, args.min_psnr_gain, args.min_colorfulness, args.resamples
            )
            table.append(
                {
                    "temperature": temperature,
                    "saturation": saturation,
                    "psnr": round(float(scores[:, 0].mean()), 4),
                    "ssim": round(float(scores[:, 1].mean()), 4),
                    "colorfulness_share": round(float(scores[:, 2].mean() / original.mean()), 3),
                    "gray_psnr": round(float(gray[:, 0].mean()), 4),
                    "gray_ssim": round(float(gray[:, 1].mean()), 4),
                    "odds_of_meeting_the_bars": round(odds, 3),
                }
            )
            print(json.dumps(table[-1]), flush=True)
    chosen = choose(table, args.resamples)
    print(
        f"chosen: temperature {chosen['temperature']}, saturation {chosen['saturation']} "
        f"(on {count} validation photos)"
    )
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as file:
            record = {
                "model": os.path.basename(args.model),
                "validation_photos": count,
                "edge_aware": args.edge_aware,
                "rule": (
                    f"highest share of {args.resamples} bootstrap resamples of the validation "
                    f"photos with PSNR >= gray + {args.min_psnr_gain} dB, SSIM >= gray and "
                    f"colorfulness >= {args.min_colorfulness:.0%} of the originals'; shares "
                    "within two Monte Carlo standard errors of the best tie, and ties go to "
                    "the more colorful"
                ),
                "table": table,
                "chosen": {key: chosen[key] for key in ("temperature", "saturation")},
            }
            json.dump(record, file, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
