"""Leave-one-source-out: train without a photo source, score on it, for each source in turn.

Usage:
    python tools/leave_one_source_out.py DATA --out-dir runs/loso [--steps 450]
        [--folds gcompris scratch ...] [TRAIN_PRESET OPTIONS ...]
    python tools/leave_one_source_out.py DATA --out-dir runs/loso --score-only \
        --uncertainty-fade 1 [--saturation 1.1] --table loso-fade1.json

DATA is the folder of tools/make_demo_dataset.py. For each fold, a head is
trained by tools/train_preset.py on the training photos of every other
source (the options after the known ones go to it: the recipe), and scored
by `deepkoala.evaluation.evaluate` on all the photos of the left-out source
(training and held-out split alike: none of them was seen), beside gray. The
table, one row per source and their mean, is printed and written to
`OUT_DIR/leave-one-source-out.json`; each fold's model, training record and
report stay in `OUT_DIR/<fold>/`. Sources with too few photos to score
alone always train. The reserved evaluation packages must not be in DATA.

`--score-only` scores the fold models already in OUT_DIR again, with other
decoding settings (`--uncertainty-fade`, `--saturation`, `--temperature`):
levers of decoding need no retraining.
"""

import argparse
import csv
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import train_preset  # noqa: E402
from demo_dataset.sources import RESERVED_PACKAGES  # noqa: E402

from deepkoala import Colorizer  # noqa: E402
from deepkoala.evaluation import evaluate  # noqa: E402

# The folds: sources (Debian packages) with enough photos to score alone, the
# wallpaper packages together.
FOLDS = {
    "gcompris": ("gcompris-qt-data",),
    "scratch": ("scratch",),
    "kphotoalbum": ("kphotoalbum",),
    "tuxpaint": ("tuxpaint-data",),
    "wallpapers": ("lomiri-wallpapers-16.04", "plasma-workspace-wallpapers", "lxqt-themes"),
}


def read_manifest(data):
    """The rows of DATA/manifest.csv; exits when it holds a package kept for evaluation."""
    with open(os.path.join(data, "manifest.csv"), newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    reserved = sorted({row["package"] for row in rows} & set(RESERVED_PACKAGES))
    if reserved:
        raise SystemExit(f"{data} holds photos of the reserved packages {reserved}")
    return rows


def _row(fold, packages, report):
    ours, gray = report["deepkoala"], report["gray"]
    return {
        "fold": fold,
        "packages": list(packages),
        "photos": report["images"],
        "psnr": round(ours["psnr"], 3),
        "gray_psnr": round(gray["psnr"], 3),
        "psnr_over_gray": round(ours["psnr"] - gray["psnr"], 3),
        "ssim": round(ours["ssim"], 4),
        "gray_ssim": round(gray["ssim"], 4),
        "colorfulness_share": round(ours["colorfulness"] / report["original"]["colorfulness"], 3),
    }


def _summary(rows):
    """The mean over sources (each counts once) and over photos."""
    photos = sum(row["photos"] for row in rows)
    summary = {}
    for key in ("psnr_over_gray", "ssim", "gray_ssim", "colorfulness_share"):
        summary[f"mean_{key}"] = round(sum(row[key] for row in rows) / len(rows), 4)
        weighted = sum(row[key] * row["photos"] for row in rows) / photos
        summary[f"photo_weighted_{key}"] = round(weighted, 4)
    summary["worst_source"] = min(rows, key=lambda row: row["psnr_over_gray"])["fold"]
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="the folder made by tools/make_demo_dataset.py")
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--steps", type=int, default=450, help="training batches per fold")
    parser.add_argument("--folds", nargs="*", choices=sorted(FOLDS), default=sorted(FOLDS))
    parser.add_argument(
        "--edge-aware",
        action="store_true",
        help="score with edge-aware chroma upsampling (the bundled preset's decoding)",
    )
    parser.add_argument("--score-only", action="store_true", help="score the fold models again")
    parser.add_argument("--uncertainty-fade", type=float, help="score with this decoding")
    parser.add_argument("--saturation", type=float, help="score with this decoding")
    parser.add_argument(
        "--table", default="leave-one-source-out.json", help="the table's file in OUT_DIR"
    )
    args, recipe = parser.parse_known_args(argv)
    decoding = {"edge_aware_chroma": True} if args.edge_aware else {}
    for name in ("uncertainty_fade", "saturation"):
        if getattr(args, name) is not None:
            decoding[name] = getattr(args, name)
    if args.score_only and "--temperature" in recipe:
        decoding["temperature"] = float(recipe[recipe.index("--temperature") + 1])
    rows = read_manifest(args.data)
    training_packages = {row["package"] for row in rows if row["split"] == "train"}
    table = []
    for number, fold in enumerate(args.folds, start=1):
        left_out = FOLDS[fold]
        print(f"fold {number}/{len(args.folds)}: {fold} left out", flush=True)
        folder = os.path.join(args.out_dir, fold)
        if not args.score_only:
            train_preset.main(
                [args.data, "--name", fold, "--out-dir", folder, "--steps", str(args.steps),
                 "--packages", *sorted(training_packages - set(left_out)), *recipe]
            )  # fmt: skip
        colorizer = Colorizer.load(os.path.join(folder, f"{fold}.keras")).set_precision("float32")
        colorizer.set_decoding(**decoding)
        photos = [
            os.path.join(args.data, row["path"]) for row in rows if row["package"] in left_out
        ]
        report = evaluate(colorizer, photos, verbose=0)
        report_name = f"{fold}-left-out.json"
        if args.score_only:
            report_name = f"{fold}-left-out-{os.path.splitext(args.table)[0]}.json"
        with open(os.path.join(folder, report_name), "w") as file:
            json.dump(report, file, indent=1)
        table.append(_row(fold, left_out, report))
        print(json.dumps(table[-1]), flush=True)
    result = {"steps": args.steps, "recipe": recipe, "decoding": decoding}
    result.update(rows=table, **_summary(table))
    with open(os.path.join(args.out_dir, args.table), "w") as file:
        json.dump(result, file, indent=1)
    print(json.dumps({key: value for key, value in result.items() if key != "rows"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
