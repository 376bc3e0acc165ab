"""Turn a trained `.keras` colorizer into a preset folder and its registry lines.

Usage:
    python tools/export_preset.py mine.keras --name koala-lite0 \\
        --description "..." --trained-on "..." [--report evaluate.json] \\
        [--record training.json] [--cross-source loso.json] [--out-dir deepkoala/data]

It writes `<out-dir>/<name>/` with `Colorizer.save_to_preset(float16=True)`
(config.json, metadata.json, head.weights.h5; the backbone's ImageNet
weights are not copied, they ship with deepkoala or come from Keras) plus the
training record as training.json, checks that the float16 preset's output
stays within 2 a*b* units (out of 128) of the float32 model's, and prints
each file's sha256 and the `Preset(...)` lines to paste into
`deepkoala/presets.py`. `--report` takes the JSON printed by
`deepkoala evaluate --json` and records its figures as the preset's scores.
`--cross-source` takes the table of tools/leave_one_source_out.py for the
preset's recipe and adds it to the training record as "cross_source".
"""

import argparse
import json
import os
import shutil

import numpy as np

from deepkoala import Colorizer, guided_head
from deepkoala.download import file_sha256


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


def _released(trained):
    """The colorizer to release: the trained head on the published ImageNet backbone.

    When the trained backbone is not that one (a random or custom backbone),
    the trained colorizer itself, whose preset folder then keeps its weights.
    """
    released = Colorizer.from_config(dict(trained.get_config(), backbone_weights="imagenet"))
    for built, saved in zip(released.embedding.weights, trained.embedding.weights, strict=True):
        if not np.array_equal(np.asarray(built), np.asarray(saved)):
            print(f"The backbone is not its ImageNet one ({saved.path}); its weights are kept.")
            return trained
    released.head.set_weights(trained.head.get_weights())
    return released


def add_cross_source(record_path, table_path):
    """Add a leave-one-source-out table to a training record (made if missing)."""
    record = {}
    if os.path.exists(record_path):
        with open(record_path) as file:
            record = json.load(file)
    with open(table_path) as file:
        record["cross_source"] = json.load(file)
    with open(record_path, "w") as file:
        json.dump(record, file, indent=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a .keras file saved by deepkoala")
    parser.add_argument("--name", required=True)
    parser.add_argument("--description", default="")
    parser.add_argument("--trained-on", default="")
    parser.add_argument("--report", help="JSON from `deepkoala evaluate --json`")
    parser.add_argument("--record", help="the training record (tools/train_preset.py)")
    parser.add_argument("--cross-source", help="tools/leave_one_source_out.py's table")
    parser.add_argument("--out-dir", default=".")
    args = parser.parse_args(argv)

    trained = Colorizer.load(args.model)
    folder = os.path.join(args.out_dir, args.name)
    _released(trained).save_to_preset(folder, float16=True)
    if args.record:
        shutil.copy(args.record, os.path.join(folder, "training.json"))
    if args.cross_source:
        add_cross_source(os.path.join(folder, "training.json"), args.cross_source)

    reloaded = Colorizer.from_preset(folder)
    size, rng = trained.image_size, np.random.default_rng(0)
    probe = rng.uniform(-1, 1, (2, size, size, 1)).astype("float32")
    if trained.get_config()["guided"]:
        # A guided head's other inputs: hints and histograms drawn from random pictures.
        views = rng.integers(0, 256, (2, size, size, 3), dtype=np.uint8)
        sampled = guided_head.sample_guidance(views, rng)
        probe = [probe, sampled["hints"], sampled["color_histogram"]]
    # predict_on_batch runs in inference mode.
    change = reloaded.predict_on_batch(probe) - trained.predict_on_batch(probe)
    difference = 128 * float(np.abs(change).max())
    if difference > 2.0:
        shutil.rmtree(folder)
        raise SystemExit(f"float16 weights change the output by {difference:.3f} a*b* units")

    files = {name: file_sha256(os.path.join(folder, name)) for name in sorted(os.listdir(folder))}
    size_mb = sum(os.path.getsize(os.path.join(folder, name)) for name in files) / 1e6
    print(f"Wrote {folder}: {size_mb:.2f} MB")
    print(f"float16 vs float32 output: max difference {difference:.4f} a*b* units")
    print("Registry lines for deepkoala/presets.py:\n")
    file_lines = "".join(f"            {name!r}: {digest!r},\n" for name, digest in files.items())
    print(
        "register_preset(\n"
        "    Preset(\n"
        f"        name={args.name!r},\n"
        f"        description={args.description!r},\n"
        "        files={\n"
        f"{file_lines}"
        "        },\n"
        f"        trained_on={args.trained_on!r},\n"
        f"        scores={_scores(args.report)!r},\n"
        "    )\n"
        ")"
    )


if __name__ == "__main__":
    main()
