"""Train the bundled demo preset on the set made by tools/make_demo_dataset.py.

Usage:
    python tools/make_demo_dataset.py /work/demo_data
    python tools/train_demo_preset.py /work/demo_data --epochs 60 --out-dir release/

Trains a half-width Deep Koalarization head on the EfficientNet-Lite0 backbone
(the one ImageNet classifier whose weights can be had offline, shipped with
deepkoala), with random crops and flips, evaluates it on the held-out part
beside the gray baseline, and exports the float16 preset file with its
registry lines (tools/export_preset.py). Settings, times and scores are
written to `<out-dir>/demo-training.json`.
"""

import argparse
import json
import os
import sys
import time

import keras

from deepkoala import Colorizer
from deepkoala.evaluation import evaluate, format_report

# Half the paper's widths: 1.7 M head parameters, so that head + backbone in
# float16 stay under 16 MB.
DEMO_CONFIG = {
    "backbone": "efficientnet_lite0",
    "image_size": 192,
    "encoder_filters": (32, 64, 64, 128, 128, 256, 256, 128),
    "fusion_filters": 128,
    "decoder_filters": (64, 32, 32, 16),
}
STORED_SIZE = 224


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="the folder made by tools/make_demo_dataset.py")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--out-dir", default="release")
    parser.add_argument("--checkpoint-dir", default=None)
    args = parser.parse_args(argv)

    os.makedirs(args.out_dir, exist_ok=True)
    keras.utils.set_random_seed(0)
    colorizer = Colorizer(backbone_weights="imagenet", **DEMO_CONFIG)
    head_parameters = colorizer.model.get_layer("head").count_params()
    started = time.time()
    history = colorizer.fit(
        os.path.join(args.data, "train"),
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        stored_size=STORED_SIZE,
        checkpoint_dir=args.checkpoint_dir,
        seed=0,
        verbose=2,
    )
    training_seconds = time.time() - started
    model_path = os.path.join(args.out_dir, "demo.keras")
    colorizer.save(model_path)

    report = evaluate(colorizer, os.path.join(args.data, "heldout"), verbose=0)
    print(format_report(report))
    report_path = os.path.join(args.out_dir, "demo-heldout.json")
    with open(report_path, "w") as file:
        json.dump(report, file, indent=1)
    with open(os.path.join(args.out_dir, "demo-training.json"), "w") as file:
        record = {
            "config": DEMO_CONFIG,
            "stored_size": STORED_SIZE,
            "head_parameters": head_parameters,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "learning_rate": args.learning_rate,
            "training_seconds": round(training_seconds),
            "final_loss": history.history["loss"][-1],
            "keras_backend": keras.backend.backend(),
            "heldout": report,
        }
        json.dump(record, file, indent=1)
    print(f"Trained in {training_seconds / 60:.1f} min; saved {model_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
