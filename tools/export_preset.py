"""Turn a trained `.keras` colorizer into a preset: float16 weights and registry lines.

Usage:
    python tools/export_preset.py mine.keras --name demo \\
        --description "..." --trained-on "..." [--report evaluate.json] [--out-dir .]

It writes `<out-dir>/<name>.weights.h5` (float16), checks that the float16
model's output stays within 2 a*b* units (out of 128) of the float32 model's on
a test image, and prints the file's size and sha256 and the `Preset(...)` lines
to paste into `deepkoala/presets.py`. `--report` takes the JSON printed by
`deepkoala evaluate --json` and records its figures as the preset's scores.
"""

import argparse
import json
import os

import numpy as np

from deepkoala import Colorizer
from deepkoala.download import file_sha256
from deepkoala.presets import save_float16_weights


def _scores(report_path):
    if not report_path:
        return {}
    with open(report_path) as file:
        report = json.load(file)
    scores = {"images": report["images"]}
    for metric in ("psnr", "ssim", "auc", "colorfulness"):
        scores[metric] = round(report["deepkoala"][metric], 4)
        scores[f"gray_{metric}"] = round(report["gray"][metric], 4)
    scores["original_colorfulness"] = round(report["original"]["colorfulness"], 4)
    return scores


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a .keras file saved by deepkoala")
    parser.add_argument("--name", required=True)
    parser.add_argument("--description", default="")
    parser.add_argument("--trained-on", default="")
    parser.add_argument("--report", help="JSON from `deepkoala evaluate --json`")
    parser.add_argument("--out-dir", default=".")
    args = parser.parse_args(argv)

    colorizer = Colorizer.load(args.model)
    os.makedirs(args.out_dir, exist_ok=True)
    path = os.path.join(args.out_dir, f"{args.name}.weights.h5")
    save_float16_weights(colorizer.model, path)

    config = {k: v for k, v in colorizer.get_config().items() if k != "backbone_weights"}
    reloaded = Colorizer(**config, backbone_weights=None)
    reloaded.model.load_weights(path)
    size = colorizer.image_size
    probe = np.random.default_rng(0).uniform(-1, 1, (2, size, size, 1)).astype("float32")
    # predict_on_batch runs in inference mode whatever graph the file holds.
    difference = 128 * float(
        np.abs(
            reloaded.model.predict_on_batch(probe) - colorizer.model.predict_on_batch(probe)
        ).max()
    )
    if difference > 2.0:
        raise SystemExit(f"float16 weights change the output by {difference:.3f} a*b* units")

    digest = file_sha256(path)
    print(f"Wrote {path}: {os.path.getsize(path) / 1e6:.2f} MB, sha256 {digest}")
    print(f"float16 vs float32 output: max difference {difference:.4f} a*b* units")
    print("Registry lines for deepkoala/presets.py:\n")
    print(
        "register_preset(\n"
        "    Preset(\n"
        f"        name={args.name!r},\n"
        f"        file_name={os.path.basename(path)!r},\n"
        f"        sha256={digest!r},\n"
        f"        config={config!r},\n"
        f"        description={args.description!r},\n"
        f"        trained_on={args.trained_on!r},\n"
        f"        scores={_scores(args.report)!r},\n"
        "    )\n"
        ")"
    )


if __name__ == "__main__":
    main()
