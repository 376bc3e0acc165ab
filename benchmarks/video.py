"""Video colorizing: frames/s, flicker with and without stabilization, memory; prints JSON.

    python benchmarks/video.py                # frames/s at 480p and 720p, and flicker
    python benchmarks/video.py --memory       # peak RSS: a 10-second and a 1-minute 720p clip
    python benchmarks/video.py --strip docs/video-strip.jpg   # before/after frames for the docs

Clips are made in a temporary folder from the example photos by the test
suite's `make_clip` (gray frames, pans, a still shot with film grain, an AAC
tone), 24 frames/s, and colorized with the bundled preset (offline).
Flicker is the mean |delta a*b*| (CIE Lab units) between consecutive frames
of the output file, decoded: what a viewer sees, video coding included.
Needs PyAV (`pip install deepkoala[video]`).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from deepkoala import Colorizer, color  # noqa: E402
from tests.helpers import make_clip  # noqa: E402


def flicker(path):
    """Mean |delta a*b*| between consecutive decoded frames of `path`."""
    import av

    previous, changes = None, []
    with av.open(path) as container:
        for frame in container.decode(video=0):
            chroma = np.asarray(color.rgb_to_lab(frame.to_ndarray(format="rgb24")))[..., 1:]
            if previous is not None:
                changes.append(float(np.abs(chroma - previous).mean()))
            previous = chroma
    return float(np.mean(changes))


def speed(colorizer, folder, width, height, seconds):
    source = make_clip(
        os.path.join(folder, f"speed-{height}.mp4"), frames=24 * seconds, size=(width, height),
        shots=("pan", "zoom"),
    )  # fmt: skip
    report = colorizer.colorize_video(source, os.path.join(folder, "out.mp4"), verbose=0)
    return {
        "benchmark": "video_speed",
        "input": f"{width}x{height}, {report['frames']} frames, H.264 + AAC",
        "frames_per_s": round(report["frames"] / report["seconds"], 2),
    }


def steadiness(colorizer, folder, shot):
    source = make_clip(
        os.path.join(folder, f"{shot}.mp4"), frames=72, size=(640, 480), shots=(shot,),
        grain=8.0 if shot == "still" else 0.0,
    )  # fmt: skip
    figures = {"benchmark": "video_flicker", "shot": shot, "frames": 72, "size": "640x480"}
    for smoothing in (0.0, 0.7):
        out = os.path.join(folder, f"{shot}-{smoothing}.mp4")
        colorizer.colorize_video(source, out, smoothing=smoothing, verbose=0)
        figures[f"flicker_smoothing_{smoothing}"] = round(flicker(out), 3)
    return figures


def strip(colorizer, path):
    """Four frames of a pan, gray above and colorized below, as one JPEG."""
    import av
    from PIL import Image

    with tempfile.TemporaryDirectory() as folder:
        source = make_clip(
            os.path.join(folder, "pan.mp4"), frames=48, size=(320, 240), shots=("pan", "zoom")
        )
        out = os.path.join(folder, "out.mp4")
        colorizer.colorize_video(source, out, verbose=0)
        rows = []
        for video in (source, out):
            with av.open(video) as container:
                frames = [f.to_image() for f in container.decode(video=0)]
            rows.append([frames[index] for index in (0, 16, 30, 46)])
    sheet = Image.new("RGB", (4 * 320, 2 * 240))
    for row, images in enumerate(rows):
        for column, image in enumerate(images):
            sheet.paste(image, (column * 320, row * 240))
    sheet.save(path, quality=88)
    return {"benchmark": "video_strip", "path": path}


def memory(seconds):
    """Runs in a fresh process: peak RSS colorizing a 720p clip of `seconds`."""
    colorizer = Colorizer.from_preset("koala-lite0", verbose=False)
    with tempfile.TemporaryDirectory() as folder:
        source = make_clip(
            os.path.join(folder, "clip.mp4"), frames=24 * seconds, size=(1280, 720),
            shots=("pan", "zoom", "still"), grain=4.0,
        )  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        report = colorizer.colorize_video(source, os.path.join(folder, "out.mp4"), verbose=0)
    return {
        "benchmark": "video_memory",
        "input": f"1280x720, {seconds} s, {report['frames']} frames",
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb_before": round(before),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--memory-worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=int, default=10, help="length of the speed clips")
    parser.add_argument("--strip", help="write the docs' before/after frames here instead")
    args = parser.parse_args(argv)
    if args.memory_worker:
        print(json.dumps(memory(args.memory_worker)), flush=True)
        return 0
    if args.memory:
        for seconds in (10, 60):
            subprocess.run([sys.executable, __file__, "--memory-worker", str(seconds)], check=True)
        return 0
    colorizer = Colorizer.from_preset("koala-lite0", verbose=False)
    if args.strip:
        print(json.dumps(strip(colorizer, args.strip)))
        return 0
    # Warm-up outside the timing: the network is traced for batches of 8.
    colorizer.colorize([np.zeros((64, 64), np.uint8)] * 8, batch_size=8)
    with tempfile.TemporaryDirectory() as folder:
        for width, height in ((854, 480), (1280, 720)):
            print(json.dumps(speed(colorizer, folder, width, height, args.seconds)), flush=True)
        for shot in ("still", "pan"):
            print(json.dumps(steadiness(colorizer, folder, shot)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
