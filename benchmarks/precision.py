"""What half precision does to the colors of the bundled presets; prints one JSON object each.

    python benchmarks/precision.py DATA/heldout [--presets koala-lite0 koala-lite0-guided]
    python benchmarks/precision.py DATA/heldout --presets koala-lite0 --openvino

Each preset colorizes the color photos of the folder in float32, in bfloat16
and with only its head in bfloat16 (`deepkoala.precision.compare`): the mean
PSNR against the originals in each, its change, and the largest and mean
a*b* difference from float32. `precision="auto"` runs in half precision the
largest part whose change is within `PSNR_TOLERANCE` (0.05 dB): the figures
go into the preset's registry scores as `bfloat16_network_psnr_change` and
`bfloat16_head_psnr_change`. bfloat16 runs on any CPU; without bfloat16
units it is only slower.

`--openvino` also runs the preset on the OpenVINO engine
(`Colorizer.set_engine("openvino")`, `pip install deepkoala[openvino]`), with
OpenVINO's own choice of precision and with float32, and reports the same
figures against Keras' float32: the first goes into the registry scores as
`openvino_network_psnr_change`.
"""

import argparse
import json
import sys

import numpy as np

from deepkoala import Colorizer, color, metrics
from deepkoala.image_files import resolve_image_paths
from deepkoala.images import read_each, read_rgb_uint8
from deepkoala.precision import PSNR_TOLERANCE, compare, cpu_bfloat16_units


def _differences(photos, reference, outputs):
    """compare()'s figures for `outputs` against `reference` (lists of uint8 RGB)."""
    psnr = [np.mean([metrics.psnr(p, o) for p, o in zip(photos, x, strict=True)])
            for x in (reference, outputs)]  # fmt: skip
    largest, total, count = 0.0, 0.0, 0
    for full, other in zip(reference, outputs, strict=True):
        difference = np.abs(
            color.rgb_to_lab(full.astype(np.float32) / 255.0)[..., 1:]
            - color.rgb_to_lab(other.astype(np.float32) / 255.0)[..., 1:]
        )
        largest = max(largest, float(difference.max()))
        total, count = total + float(difference.sum()), count + difference.size
    return {
        "psnr_float32": float(psnr[0]),
        "psnr": float(psnr[1]),
        "psnr_change": float(psnr[1] - psnr[0]),
        "largest_ab_difference": largest,
        "mean_ab_difference": total / count,
        "within_tolerance": bool(abs(psnr[1] - psnr[0]) <= PSNR_TOLERANCE),
    }


def openvino_rows(colorizer, photos):
    """The preset on the OpenVINO engine (its own choice, then float32), against Keras float32."""
    reference = [np.asarray(image) for image in
                 colorizer.set_precision("float32").colorize(photos, verbose=0)]  # fmt: skip
    rows = []
    for name, precision in (("openvino", "auto"), ("openvino-float32", "float32")):
        # "auto" on a colorizer without the preset's record: OpenVINO's own choice.
        colorizer.set_precision(precision).set_engine("openvino")
        colorizer._untracked.runner.psnr_changes = None
        outputs = [np.asarray(image) for image in colorizer.colorize(photos, verbose=0)]
        inference_precision = colorizer._untracked.runner.engine_runner.precision
        colorizer.set_engine("keras")
        rows.append({"engine": name, "inference_precision": inference_precision,
                     **_differences(photos, reference, outputs)})  # fmt: skip
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="color photos, e.g. the held-out split")
    parser.add_argument("--presets", nargs="+", default=["koala-lite0", "koala-lite0-guided"])
    parser.add_argument("--precision", default="bfloat16", choices=("bfloat16", "float16"))
    parser.add_argument("--openvino", action="store_true", help="also OpenVINO's outputs")
    args = parser.parse_args(argv)
    paths = resolve_image_paths(args.folder)
    photos, failures = read_each(paths, read_rgb_uint8)
    photos = [photo for photo in photos if photo is not None]
    common = {
        "skipped": sum(failure is not None for failure in failures),
        "tolerance_db": PSNR_TOLERANCE,
        "cpu_bfloat16_units": cpu_bfloat16_units()[0],
    }
    for preset in args.presets:
        colorizer = Colorizer.from_preset(preset)
        for part in ("network", "head"):
            report = compare(colorizer, photos, args.precision, part=part)
            print(json.dumps({**report, "preset": preset, **common}), flush=True)
        if args.openvino:
            for row in openvino_rows(colorizer, photos):
                print(json.dumps({**row, "photos": len(photos), "preset": preset, **common}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
