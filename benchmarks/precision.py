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

from deepkoala import Colorizer
from deepkoala.image_files import resolve_image_paths
from deepkoala.images import read_each, read_rgb_uint8
from deepkoala.precision import PSNR_TOLERANCE, compare, cpu_bfloat16_units, differences


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
                     **differences(photos, reference, outputs)})  # fmt: skip
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
