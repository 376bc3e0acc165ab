"""Colorizing speed and memory; prints one JSON object per figure.

    python benchmarks/colorize.py                 # images/s, end to end vs bare forward
    python benchmarks/colorize.py --big           # peak RSS and time for one 6000x4000 photo
    python benchmarks/colorize.py --big --dtype-policy bfloat16   # ... weights in bfloat16
    python benchmarks/colorize.py --big-folder 8  # peak RSS of the CLI on 8 of them
    python benchmarks/colorize.py --cold          # a cold `deepkoala colorize photo.jpg`
    python benchmarks/colorize.py --preset koala-lite0  # images/s of a preset (its decoding)

`--precision` (default auto, what a user gets) picks the network's compute
precision; each figure names it and the CPU's bfloat16 units.

End to end, four ways, on 640x480 JPEG files: `colorize(paths)` returning
PIL images (decode, lightness, resize, network, chroma upsampling and merge);
the same followed by a PNG encode of each result (compress_level=1), one
after the other; and `deepkoala colorize FOLDER -o OUT`, which writes the
files from worker threads, as JPEG (its default for JPEG photos) and with
`--format png`. Bare forward:
`model.predict_on_batch` on a batch already in memory, the same model, in the
same run. Backbones are built with random weights: speed does not depend on
their values. `--preset` measures a preset instead, with its own decoding
(the bundled ones merge edge-aware, which costs more per photo).
"""

import argparse
import contextlib
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from unittest import mock

import keras
import numpy as np
from PIL import Image

from deepkoala import Colorizer, cli
from deepkoala.precision import cpu_bfloat16_units


def _photos(folder, count, size):
    """`count` JPEG photos of (size[0] x size[1]) made from the bundled examples."""
    examples = os.path.join(os.path.dirname(__file__), "..", "examples", "photos")
    sources = [Image.open(os.path.join(examples, name)).convert("RGB") for name in
               sorted(os.listdir(examples))]  # fmt: skip
    paths = []
    for index in range(count):
        image = sources[index % len(sources)].resize(size, Image.Resampling.BILINEAR)
        paths.append(os.path.join(folder, f"photo{index:03d}.jpg"))
        image.save(paths[-1], quality=90)
    return paths


def best_rate(run, images, repeats):
    """`images` / the best wall time of `repeats` calls of `run`."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return images / best


def _machine(colorizer):
    """The precision a figure ran in, and the CPU's bfloat16 units."""
    return {
        "precision": colorizer.compute_precision()[0],
        "cpu_bfloat16_units": cpu_bfloat16_units()[0],
    }


def throughput(backbone, batch_size, count, repeats, precision, preset=None):
    if preset:
        colorizer = Colorizer.from_preset(preset).set_precision(precision)
        backbone = colorizer.get_config()["backbone"]
    else:
        colorizer = Colorizer(backbone=backbone, backbone_weights=None).set_precision(precision)
    size = colorizer.image_size
    with tempfile.TemporaryDirectory() as folder:
        photos = os.path.join(folder, "photos")
        os.makedirs(photos)
        paths = _photos(photos, count, (640, 480))

        def to_images():
            colorizer.colorize(paths, batch_size=batch_size, verbose=0)

        def then_png():
            for image in colorizer.colorize(paths, batch_size=batch_size, verbose=0):
                image.save(io.BytesIO(), format="PNG", compress_level=1)

        def command_line(photo_format):
            output = os.path.join(folder, "colorized")
            shutil.rmtree(output, ignore_errors=True)
            with (
                contextlib.redirect_stdout(io.StringIO()),
                contextlib.redirect_stderr(io.StringIO()),
            ):
                cli.main(["colorize", photos, "-o", output, "--batch-size", str(batch_size),
                          "--format", photo_format, "--precision", precision])  # fmt: skip

        lightness = np.random.default_rng(0).uniform(0, 100, (batch_size, size, size))
        lightness = lightness.astype("float32")

        def forward():
            for _ in range(count // batch_size):
                # The network alone, in the colorizer's precision.
                colorizer.predict_chroma(lightness)

        forward()  # warm-up: tracing and compilation
        to_images()
        forward_rate = best_rate(forward, count // batch_size * batch_size, repeats)
        images_rate = best_rate(to_images, count, repeats)
        png_rate = best_rate(then_png, count, repeats)
        # The command line on the folder, with this colorizer instead of a
        # loaded preset: the model's loading is not timed.
        with mock.patch.object(Colorizer, "from_preset", return_value=colorizer):
            cli_rate = best_rate(lambda: command_line("auto"), count, repeats)
            cli_png_rate = best_rate(lambda: command_line("png"), count, repeats)
    return {
        "benchmark": "colorize",
        "backend": keras.backend.backend(),
        "backbone": backbone,
        "preset": preset,
        "edge_aware_chroma": colorizer.get_config()["edge_aware_chroma"],
        **_machine(colorizer),
        "image_size": size,
        "batch_size": batch_size,
        "input": "640x480 JPEG",
        "forward_images_per_s": round(forward_rate, 3),
        "list_images_per_s": round(images_rate, 3),
        "list_png_images_per_s": round(png_rate, 3),
        "cli_images_per_s": round(cli_rate, 3),
        "cli_png_images_per_s": round(cli_png_rate, 3),
        "list_fraction_of_forward": round(images_rate / forward_rate, 3),
        "list_png_fraction_of_forward": round(png_rate / forward_rate, 3),
        "cli_fraction_of_forward": round(cli_rate / forward_rate, 3),
        "cli_png_fraction_of_forward": round(cli_png_rate / forward_rate, 3),
    }


def _peak_rss_mb():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _make_big_photos(paths):
    """6000x4000 JPEGs at `paths`, made in a child process and copied.

    Made in a child process: the 96 MB of making one would otherwise stay in
    this process' heap and count towards the peak of a user's process.
    """
    subprocess.run([sys.executable, __file__, "--make-big-photo", paths[0]], check=True)
    for path in paths[1:]:
        shutil.copyfile(paths[0], path)


def _timed_with_peak(colorizer, run):
    """(seconds, peak RSS before, peak RSS after) of `run()`, the colorizer warmed up first."""
    # Warm-up outside the timing: the first call runs eagerly, the second traces.
    for _ in range(2):
        colorizer.colorize(np.zeros((64, 64), np.uint8))
    rss_before = _peak_rss_mb()
    started = time.perf_counter()
    run()
    return round(time.perf_counter() - started, 2), rss_before, _peak_rss_mb()


def big_photo(backbone, precision, dtype_policy=None):
    colorizer = Colorizer(backbone=backbone, backbone_weights=None, dtype_policy=dtype_policy)
    colorizer.set_precision(precision)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "big.jpg")
        _make_big_photos([path])

        def run():
            colorizer.colorize(path).save(os.path.join(folder, "big.png"), compress_level=1)

        seconds, rss_before, peak = _timed_with_peak(colorizer, run)
    return {
        "benchmark": "colorize_big",
        "backend": keras.backend.backend(),
        "backbone": backbone,
        "dtype_policy": dtype_policy,
        **_machine(colorizer),
        "input": "6000x4000 JPEG",
        "seconds": seconds,
        "peak_rss_mb_before": rss_before,
        "peak_rss_mb": peak,
        "photo_own_mb": round(peak - rss_before, 1),
    }


def big_folder(backbone, count, batch_size, precision):
    """Peak RSS of `deepkoala colorize FOLDER` on `count` 6000x4000 photos."""
    colorizer = Colorizer(backbone=backbone, backbone_weights=None).set_precision(precision)
    codes = []
    with tempfile.TemporaryDirectory() as folder:
        photos = os.path.join(folder, "photos")
        os.makedirs(photos)
        _make_big_photos([os.path.join(photos, f"big{index}.jpg") for index in range(count)])

        def run():
            with (
                mock.patch.object(Colorizer, "from_preset", return_value=colorizer),
                contextlib.redirect_stdout(io.StringIO()),
            ):
                codes.append(cli.main(["colorize", photos, "-o", os.path.join(folder, "out"),
                                       "--batch-size", str(batch_size),
                                       "--precision", precision]))  # fmt: skip

        seconds, rss_before, peak = _timed_with_peak(colorizer, run)
    return {
        "benchmark": "colorize_big_folder",
        "backend": keras.backend.backend(),
        "backbone": backbone,
        **_machine(colorizer),
        "input": f"{count} x 6000x4000 JPEG, deepkoala colorize FOLDER",
        "batch_size": batch_size,
        "exit_code": codes[0],
        "seconds": seconds,
        "peak_rss_mb_before": rss_before,
        "peak_rss_mb": peak,
    }


def _wall_seconds(command, runs):
    """The median wall time of `runs` fresh runs of `command` (each must succeed)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return round(float(np.median(times)), 2)


def cold(runs, precision):
    """A cold `deepkoala colorize photo.jpg` against a bare `import tensorflow`, step by step."""
    examples = os.path.join(os.path.dirname(__file__), "..", "examples", "photos")
    with tempfile.TemporaryDirectory() as folder:
        photo = shutil.copy(os.path.join(examples, "astronaut.jpg"), folder)
        command = [sys.executable, "-m", "deepkoala.cli", "colorize", photo, "--overwrite",
                   "--precision", precision]  # fmt: skip
        python_s = _wall_seconds([sys.executable, "-c", "pass"], runs)
        tensorflow_s = _wall_seconds([sys.executable, "-c", "import tensorflow"], runs)
        colorize_s = _wall_seconds(command, runs)
        # One more run, timed step by step from the inside.
        worker = subprocess.run(
            [sys.executable, os.path.join(os.path.dirname(__file__), "cold_worker.py"), photo,
             precision],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
    steps = json.loads(worker.stdout.strip().splitlines()[-1])
    return {
        "benchmark": "colorize_cold",
        "backend": keras.backend.backend(),
        "cpu_bfloat16_units": cpu_bfloat16_units()[0],
        "input": "examples/photos/astronaut.jpg (512x512), the bundled koala-lite0",
        "runs": runs,
        "python_s": python_s,
        "import_tensorflow_s": tensorflow_s,
        "deepkoala_colorize_s": colorize_s,
        "over_import_tensorflow_s": round(colorize_s - tensorflow_s, 2),
        "steps": steps,
    }


def make_big_photo(path):
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (400, 600, 3), dtype=np.uint8)
    Image.fromarray(small).resize((6000, 4000), Image.Resampling.BILINEAR).save(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", action="store_true", help="one 6000x4000 photo instead")
    parser.add_argument(
        "--big-folder", type=int, metavar="N", help="the CLI on N 6000x4000 photos instead"
    )
    parser.add_argument(
        "--backbones", nargs="+", default=["inception_resnet_v2", "efficientnet_lite0"]
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--precision", default="auto", choices=("auto", "float32", "bfloat16", "float16")
    )
    parser.add_argument("--cold", action="store_true", help="a cold deepkoala colorize photo.jpg")
    parser.add_argument("--preset", help="images/s of this preset instead of random backbones")
    parser.add_argument(
        "--dtype-policy", choices=("bfloat16", "float16"),
        help="--big: build the colorizer with its weights in this precision",
    )  # fmt: skip
    parser.add_argument("--runs", type=int, default=3, help="--cold: fresh runs of each command")
    parser.add_argument("--make-big-photo", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.make_big_photo:
        make_big_photo(args.make_big_photo)
        return 0
    if args.cold:
        print(json.dumps(cold(args.runs, args.precision)), flush=True)
        return 0
    if args.preset and (args.big or args.big_folder):
        parser.error("--preset measures images/s only (not with --big or --big-folder)")
    if args.dtype_policy and not args.big:
        parser.error("--dtype-policy goes with --big")
    big = ["--big"] if args.big else ["--big-folder", str(args.big_folder)]
    if (args.big or args.big_folder) and len(args.backbones) > 1:
        # Peak RSS is per process: measure each backbone in a fresh one.
        for backbone in args.backbones:
            policy = ["--dtype-policy", args.dtype_policy] if args.dtype_policy else []
            command = [sys.executable, __file__, *big, "--batch-size", str(args.batch_size),
                       "--precision", args.precision, *policy]  # fmt: skip
            subprocess.run([*command, "--backbones", backbone], check=True)
        return 0
    for backbone in [None] if args.preset else args.backbones:
        if args.big:
            figures = big_photo(backbone, args.precision, args.dtype_policy)
        elif args.big_folder:
            figures = big_folder(backbone, args.big_folder, args.batch_size, args.precision)
        else:
            figures = throughput(
                backbone, args.batch_size, args.images, args.repeats, args.precision, args.preset
            )
        print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
