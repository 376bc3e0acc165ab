"""Colorizing an archive: photos per second on Ray Data with 1 and 2 local workers, beside the CLI.

    python benchmarks/archive.py [--photos 64] [--megapixels 1] [--preset NAME]

Writes `--photos` gray JPEGs of `--megapixels` (cut from the example photos)
into a temporary folder, then colorizes the folder three ways, each into a
fresh output folder and timed from the start of its process or call to the
last file written: `deepkoala colorize` (one process), and
`deepkoala.archive.colorize_archive` on a local Ray cluster with 1 and with
2 workers (one CPU each; the time includes starting the workers, which load
the colorizer once each). Prints one JSON object with photos per second and
the CPU count and flags; compare figures within one run only.
"""

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time

from PIL import Image

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples", "photos")


def _write_photos(folder, count, megapixels):
    names = sorted(name for name in os.listdir(EXAMPLES) if name.endswith(".jpg"))
    width = int(round((megapixels * 1e6 * 4 / 3) ** 0.5))
    height = int(round(width * 3 / 4))
    for number in range(count):
        source = Image.open(os.path.join(EXAMPLES, names[number % len(names)])).convert("L")
        # A different crop of each, so that no two photos are the same.
        left = number % 7 * source.width // 40
        crop = source.crop((left, 0, source.width - left, source.height))
        buffer = io.BytesIO()
        crop.resize((width, height), Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)
        with open(os.path.join(folder, f"scan{number:04d}.jpg"), "wb") as file:
            file.write(buffer.getvalue())


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as file:
            flags = next(line for line in file if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return []
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
    return [flag for flag in wanted if flag in flags]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=64)
    parser.add_argument("--megapixels", type=float, default=1.0)
    parser.add_argument("--preset", default="koala-lite0")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args(argv)

    import ray

    from deepkoala.archive import colorize_archive

    figures = {"photos": args.photos, "megapixels": args.megapixels, "preset": args.preset}
    with tempfile.TemporaryDirectory() as scratch:
        photos = os.path.join(scratch, "scans")
        os.makedirs(photos)
        _write_photos(photos, args.photos, args.megapixels)
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "deepkoala.cli", "colorize", photos, "-o",
             os.path.join(scratch, "cli"), "--preset", args.preset,
             "--batch-size", str(args.batch_size)],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        figures["cli_photos_per_second"] = round(args.photos / (time.perf_counter() - started), 2)
        for workers in (1, 2):
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            started = time.perf_counter()
            report = colorize_archive(
                photos, os.path.join(scratch, f"ray{workers}"), model=args.preset,
                workers=workers, batch_size=args.batch_size, verbose=False,
            )  # fmt: skip
            seconds = time.perf_counter() - started
            ray.shutdown()
            assert len(report["written"]) == args.photos, report["failed"]
            figures[f"ray_{workers}_workers_photos_per_second"] = round(args.photos / seconds, 2)
    figures["cpus"] = os.cpu_count()
    figures["cpu_flags"] = _cpu_flags()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
