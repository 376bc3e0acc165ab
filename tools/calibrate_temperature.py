"""Choose a classifying colorizer's temperature on validation photos, never the held-out ones.

Usage:
    python tools/calibrate_temperature.py release/koala.keras /work/data \\
        --validation-percent 10 --out release/koala-temperature.json

The annealed mean's temperature trades vividness for accuracy: lower is more
colorful and riskier. This scores the model at each `--temperatures` value on
the validation photos that `tools/train_preset.py --validation-percent` set
aside (the same whole subjects, chosen by a hash of their names, and not
trained on), beside the gray baseline, and picks the most colorful
temperature whose PSNR is at least gray + `--min-psnr-gain` dB and whose SSIM
is not below gray's (the quality bars of the bundled preset); if none
qualifies, the one with the best PSNR. The held-out photos are not read.
"""

import argparse
import json
import os
import sys

from train_preset import split_off_validation, training_files

from deepkoala import Colorizer
from deepkoala.evaluation import evaluate


def with_temperature(colorizer, temperature):
    """A copy of `colorizer` whose annealed mean uses `temperature`."""
    copy = Colorizer.from_config({**colorizer.get_config(), "temperature": temperature})
    copy.set_weights(colorizer.get_weights())
    return copy


def choose(rows, min_psnr_gain):
    """The most colorful row that meets the bars, else the one with the best PSNR."""
    passing = [
        row
        for row in rows
        if row["psnr"] >= row["gray_psnr"] + min_psnr_gain and row["ssim"] >= row["gray_ssim"]
    ]
    if passing:
        return max(passing, key=lambda row: row["colorfulness"])
    return max(rows, key=lambda row: row["psnr"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a .keras file saved by tools/train_preset.py")
    parser.add_argument("data", help="the folder made by tools/make_demo_dataset.py")
    parser.add_argument("--validation-percent", type=float, default=10.0)
    parser.add_argument(
        "--temperatures", type=float, nargs="+", default=[0.26, 0.30, 0.34, 0.38, 0.42, 0.46]
    )
    parser.add_argument("--min-psnr-gain", type=float, default=1.0)
    parser.add_argument("--out", help="write the table and the choice here (JSON)")
    args = parser.parse_args(argv)

    paths, rows = training_files(args.data, None)
    paths, rows, count = split_off_validation(paths, rows, args.validation_percent)
    if not count:
        raise SystemExit("--validation-percent must set some photos aside")
    validation = paths[-count:]
    colorizer = Colorizer.load(args.model)
    table = []
    for temperature in args.temperatures:
        report = evaluate(with_temperature(colorizer, temperature), validation, verbose=0)
        ours, gray = report["deepkoala"], report["gray"]
        table.append(
            {
                "temperature": temperature,
                **{key: round(ours[key], 4) for key in ("psnr", "ssim", "auc", "colorfulness")},
                "gray_psnr": round(gray["psnr"], 4),
                "gray_ssim": round(gray["ssim"], 4),
                "colorfulness_share": round(
                    ours["colorfulness"] / report["original"]["colorfulness"], 3
                ),
            }
        )
        print(json.dumps(table[-1]), flush=True)
    chosen = choose(table, args.min_psnr_gain)
    print(f"chosen temperature: {chosen['temperature']} (on {count} validation photos)")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as file:
            record = {
                "model": os.path.basename(args.model),
                "validation_photos": count,
                "rule": f"most colorful with PSNR >= gray + {args.min_psnr_gain} dB and "
                "SSIM >= gray, on the validation photos",
                "table": table,
                "chosen": chosen["temperature"],
            }
            json.dump(record, file, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
