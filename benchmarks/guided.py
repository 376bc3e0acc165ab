"""Guided colors: what hints and a reference photo bring; prints one JSON object per figure.

    python benchmarks/guided.py DATA/heldout            # the held-out photos
    python benchmarks/guided.py DATA --validation       # the validation photos of DATA/train
    python benchmarks/guided.py --speed                 # 12 MP with and without 10 hints,
                                                        # and peak RSS for a 24 MP photo

Each photo is made gray (the truth's lightness) and colorized by the bundled
preset (or `--weights`) with: no guidance; 1, 3, 10 and 30 hints at random
positions (a fixed seed; the first k of the same 30 points), each the mean
color of the truth's 3x3 pixels there, spread as colors ("absolute") and as
their difference from the automatic colors ("relative"); a mirrored, cropped
copy of the truth as reference (the same scene, no pixel-for-pixel match);
and another photo of the set as reference. A guided colorizer (`Colorizer(guided=True)`)
is also scored with its learned use of the guidance alone ("learned": without
the propagation layer after it). Scores: PSNR, SSIM and
colorfulness against the truth, beside the gray photo, averaged over the
photos, and per source package (manifest.csv) when the folder has one. For
one hint, also the photo that loses most against its automatic result.
"""

import argparse
import csv
import json
import os
import sys
import time

import numpy as np

from deepkoala import Colorizer, guidance, guided_head, metrics
from deepkoala.evaluation import gray_baseline
from deepkoala.image_files import find_images
from deepkoala.images import read_rgb_uint8

HINT_COUNTS = (1, 3, 10, 30)


def _hints(truth, count, seed):
    """`count` hints at random points of `truth`, each its 3x3 mean color."""
    height, width = truth.shape[:2]
    rng = np.random.default_rng(seed)
    points = np.stack([rng.integers(0, width, count), rng.integers(0, height, count)], axis=1)
    hints = []
    for x, y in points:
        patch = truth[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2].reshape(-1, 3)
        mean = np.round(patch.mean(axis=0)).astype(np.uint8)
        hints.append((int(x), int(y), "#" + bytes(mean).hex()))
    return hints


def _mirrored_crop(truth):
    """The truth mirrored left-right, a tenth cut off each side: the scene, not its pixels."""
    height, width = truth.shape[:2]
    dy, dx = height // 10, width // 10
    return np.ascontiguousarray(truth[dy : height - dy, ::-1][:, dx : width - dx])


def _scores(truth, output):
    output = np.asarray(output)
    return (metrics.psnr(truth, output), metrics.ssim(truth, output), metrics.colorfulness(output))


def _sources(folder, paths):
    """The source package of each photo, from the set's manifest.csv, else "all"."""
    for manifest in (
        os.path.join(folder, "manifest.csv"),
        os.path.join(folder, "..", "manifest.csv"),
    ):
        if os.path.isfile(manifest):
            with open(manifest, newline="", encoding="utf-8") as file:
                package = {
                    os.path.basename(row["path"]): row.get("package", "all")
                    for row in csv.DictReader(file)
                }
            return [package.get(os.path.basename(path), "all") for path in paths]
    return ["all"] * len(paths)


def _validation_photos(data):
    """The validation photos of `tools/train_preset.py --validation-percent 10`."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
    from train_preset import split_off_validation, training_files

    paths, rows = training_files(data, None)
    paths, rows, count = split_off_validation(paths, rows, 10.0)
    return paths[-count:], [row.get("package", "all") for row in rows[-count:]]


def _conditions(guided):
    """(name, relative hints, propagation after a guided head, hint count or reference kind)."""
    conditions = [("none", False, True, None)]
    modes = [("absolute", False, True), ("relative", True, True)]
    if guided:
        # The guided head's own use of the guidance, without the propagation layer.
        modes.append(("learned", False, False))
    for mode, relative, spread in modes:
        conditions += [(f"{mode} {count} hints", relative, spread, count) for count in HINT_COUNTS]
    for prefix, spread in [("", True)] + ([("learned ", False)] if guided else []):
        conditions += [
            (f"{prefix}reference: mirrored crop of the truth", False, spread, "mirrored"),
            (f"{prefix}reference: another photo", False, spread, "another"),
        ]
    return conditions


def measure(colorizer, paths, sources, seed=0):
    """{condition: (N, 3) scores} and the gray scores (N, 3)."""
    table = {}
    gray_scores = []
    conditions = _conditions(colorizer.get_config()["guided"])
    truths = [read_rgb_uint8(path) for path in paths]
    defaults = guidance.RELATIVE_HINTS, guided_head.SPREAD_AFTER
    for index, truth in enumerate(truths):
        gray = gray_baseline(truth)
        gray_scores.append(_scores(truth, gray))
        points = _hints(truth, max(HINT_COUNTS), seed + index)
        references = {
            "mirrored": _mirrored_crop(truth),
            "another": truths[(index + 1) % len(truths)],
        }
        for name, relative, spread, guide in conditions:
            guidance.RELATIVE_HINTS, guided_head.SPREAD_AFTER = relative, spread
            if guide is None:
                output = colorizer.colorize(gray)
            elif isinstance(guide, int):
                output = colorizer.colorize(gray, hints=points[:guide])
            else:
                output = colorizer.colorize(gray, reference=references[guide])
            table.setdefault(name, []).append(_scores(truth, output))
        guidance.RELATIVE_HINTS, guided_head.SPREAD_AFTER = defaults
        print(f"photo {index + 1}/{len(truths)}", file=sys.stderr, flush=True)
    return {name: np.array(rows) for name, rows in table.items()}, np.array(gray_scores)


def report(table, gray, sources, label):
    groups = {"all": np.ones(len(gray), bool)}
    if len(set(sources)) > 1:
        groups.update({source: np.array(sources) == source for source in sorted(set(sources))})
    for group, chosen in groups.items():
        base = gray[chosen].mean(axis=0)
        automatic = table["none"][chosen]
        for name, rows in table.items():
            mean = rows[chosen].mean(axis=0)
            figures = {
                "benchmark": "guided",
                "photos": label,
                "source": group,
                "images": int(chosen.sum()),
                "guidance": name,
                "psnr": round(float(mean[0]), 3),
                "psnr_over_gray": round(float(mean[0] - base[0]), 3),
                "psnr_over_automatic": round(float(mean[0] - automatic[:, 0].mean()), 3),
                "ssim": round(float(mean[1]), 4),
                "gray_ssim": round(float(base[1]), 4),
                "colorfulness": round(float(mean[2]), 2),
            }
            if name.endswith(" 1 hints"):
                figures["worst_photo_psnr_vs_automatic"] = round(
                    float((rows[chosen, 0] - automatic[:, 0]).min()), 3
                )
            print(json.dumps(figures), flush=True)


def speed(colorizer, repeats=3):
    """Seconds for one 12-megapixel photo, without and with 10 hints."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (300, 400), dtype=np.uint8)
    from PIL import Image

    photo = np.asarray(Image.fromarray(small).resize((4000, 3000), Image.Resampling.BILINEAR))
    hints = [
        (int(x), int(y), "#b22222")
        for x, y in zip(rng.integers(0, 4000, 10), rng.integers(0, 3000, 10), strict=True)
    ]
    colorizer.colorize(photo, hints=hints)  # warm-up: tracing, the trust filter's peak
    times = {}
    for name, kwargs in (("without hints", {}), ("10 hints", {"hints": hints})):
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            colorizer.colorize(photo, **kwargs)
            best = min(best, time.perf_counter() - started)
        times[name] = round(best, 3)
    print(json.dumps({
        "benchmark": "guided_speed", "input": "4000x3000 gray array", **times,
        "ratio": round(times["10 hints"] / times["without hints"], 3),
    }), flush=True)  # fmt: skip


def _big_memory_child(with_hints, weights):
    """Peak RSS (MB) of colorizing one 6000x4000 photo, in this fresh process."""
    import resource

    from PIL import Image

    colorizer = Colorizer.from_preset(weights)
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (400, 600), dtype=np.uint8)
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"guided-big-{os.getpid()}.jpg")
    Image.fromarray(small).resize((6000, 4000), Image.Resampling.BILINEAR).save(path)
    hints = _hints(np.zeros((4000, 6000, 3), np.uint8) + 128, 10, 0) if with_hints else None
    try:
        colorizer.colorize(path, hints=hints)
    finally:
        os.remove(path)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def big_memory(weights):
    import subprocess

    peaks = {}
    for name, flag in (("without hints", "0"), ("10 hints", "1")):
        result = subprocess.run(
            [sys.executable, __file__, "--rss-child", flag, "--weights", weights],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        peaks[name] = float(result.stdout.strip().splitlines()[-1])
    print(json.dumps({"benchmark": "guided_memory", "input": "6000x4000 JPEG",
                      "weights": weights, "peak_rss_mb": peaks}), flush=True)  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "photos", nargs="?", help="a folder of color photos, or DATA with --validation"
    )
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    parser.add_argument(
        "--validation",
        action="store_true",
        help="the validation photos of DATA/train (to tune on; never the held-out ones)",
    )
    parser.add_argument("--weights", default="koala-lite0", help="a preset, folder or .keras file")
    parser.add_argument("--limit", type=int, help="the first N photos only")
    parser.add_argument("--speed", action="store_true", help="the 12 MP timing instead")
    parser.add_argument(
        "--precision",
        default="float32",
        choices=("auto", "float32", "bfloat16", "float16"),
        help="the scores' precision (default float32: the same figures on every machine)",
    )
    args = parser.parse_args(argv)
    if args.rss_child is not None:
        print(_big_memory_child(args.rss_child == "1", args.weights))
        return 0
    colorizer = Colorizer.from_preset(args.weights).set_precision(args.precision)
    if args.speed:
        speed(colorizer)
        big_memory(args.weights)
        return 0
    if args.photos is None:
        parser.error("give a folder of photos (or --speed)")
    if args.validation:
        paths, sources = _validation_photos(args.photos)
        label = "validation"
    else:
        paths = find_images(args.photos)
        sources = _sources(args.photos, paths)
        label = os.path.basename(os.path.normpath(args.photos))
    paths, sources = paths[: args.limit], sources[: args.limit]
    table, gray = measure(colorizer, paths, sources)
    report(table, gray, sources, label)
    return 0


if __name__ == "__main__":
    sys.exit(main())
