"""Does fine-tuning help a user's own photos? Prints one JSON object per archive size.

    python benchmarks/fine_tune.py DATA --preset MODEL [--source gcompris-qt-data]
        [--sizes 10 20 50] [--test 100] [--epochs 20] [--learning-rate 3e-4]

DATA is the folder of tools/make_demo_dataset.py; MODEL a colorizer that never
saw `--source` (for the figures in docs/fine-tuning.md: the gcompris fold of
tools/leave_one_source_out.py). That source stands for the user's archive, in
a fixed split by a hash of the file names: the first `--test` photos score,
and the first 10, 20, 50 of the rest are the photos the user fine-tunes on,
with `Colorizer.fit`'s defaults (its automatic holdout among them). For each
size it prints the preset's and the fine-tuned colorizer's PSNR on the test
photos (and gray's), the holdout's before/after, and the seconds the fine-tune
took (cache, training and holdout scoring). Targets (issue 20): +0.5 dB at
50 photos, never below the preset by more than 0.1 dB at 20, under 5 minutes
each on 2 CPU cores.
"""

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time

from deepkoala import Colorizer
from deepkoala.evaluation import evaluate

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))

from demo_dataset.sources import RESERVED_PACKAGES  # noqa: E402
from leave_one_source_out import read_manifest  # noqa: E402


def _archive(data, source):
    if source in RESERVED_PACKAGES:
        raise SystemExit("the packages reserved for independent evaluation must not be used")
    rows = read_manifest(data)  # refuses a set that holds any of them
    paths = [os.path.join(data, row["path"]) for row in rows if row["package"] == source]
    if not paths:
        raise SystemExit(f"no photos of {source} in {data}")
    return sorted(paths, key=lambda path: hashlib.sha256(os.path.basename(path).encode()).digest())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--preset", required=True, help="a colorizer that never saw --source")
    parser.add_argument("--source", default="gcompris-qt-data")
    parser.add_argument("--sizes", type=int, nargs="*", default=[10, 20, 50])
    parser.add_argument("--test", type=int, default=100, help="photos that score")
    parser.add_argument("--epochs", type=int, help="default: the command line's")
    parser.add_argument("--learning-rate", type=float, help="default: fit's")
    parser.add_argument("--views", type=int, help="views per photo; default: the command line's")
    parser.add_argument("--stored-size", type=int, help="default: the command line's")
    parser.add_argument("--keep-last", action="store_true")
    parser.add_argument(
        "--no-holdout",
        action="store_true",
        help="train blindly on every photo (as before the holdout)",
    )
    parser.add_argument("--frozen", nargs="*", default=[], choices=["encoder", "fusion"])
    args = parser.parse_args(argv)
    paths = _archive(args.data, args.source)
    test, pool = paths[: args.test], paths[args.test :]
    if max(args.sizes) > len(pool):
        raise SystemExit(f"{args.source} has {len(paths)} photos: too few for {args.sizes}")
    # The defaults a user of the command line gets.
    from deepkoala.cli import build_parser

    defaults = build_parser().parse_args(["train", "DIR"])
    epochs = args.epochs or defaults.epochs
    learning_rate = args.learning_rate or defaults.learning_rate
    views = args.views or defaults.views_per_image
    stored_size = args.stored_size or defaults.stored_size
    preset = evaluate(Colorizer.load(args.preset), test, verbose=0)
    for size in args.sizes:
        colorizer = Colorizer.load(args.preset)
        for block in args.frozen:
            getattr(colorizer.head, block).trainable = False
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as cache:
            history = colorizer.fit(
                pool[:size], epochs=epochs, learning_rate=learning_rate, cache_dir=cache,
                batch_size=defaults.batch_size, verbose=0, keep_last=args.keep_last,
                views_per_image=views, stored_size=stored_size,
                holdout=None if args.no_holdout else "auto",
            )  # fmt: skip
        seconds = time.perf_counter() - started
        tuned = evaluate(colorizer, test, verbose=0)
        holdout = history.holdout
        row = {
            "photos": size,
            "test_photos": len(test),
            "gray_psnr": round(preset["gray"]["psnr"], 3),
            "preset_psnr": round(preset["deepkoala"]["psnr"], 3),
            "tuned_psnr": round(tuned["deepkoala"]["psnr"], 3),
            "gain_db": round(tuned["deepkoala"]["psnr"] - preset["deepkoala"]["psnr"], 3),
            "preset_colorfulness": round(preset["deepkoala"]["colorfulness"], 4),
            "tuned_colorfulness": round(tuned["deepkoala"]["colorfulness"], 4),
            "epochs_run": len(history.history["loss"]),
            "holdout": holdout
            and {
                "photos": holdout["photos"],
                "before": round(holdout["before"]["psnr"], 3),
                "after": round(holdout["after"]["psnr"], 3),
                "kept_epoch": holdout["kept_epoch"],
            },
            "seconds": round(seconds, 1),
            "epochs": epochs,
            "learning_rate": learning_rate,
            "views": views,
            "stored_size": stored_size,
            "frozen": args.frozen,
            "holdout_on": not args.no_holdout,
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
