"""Train a preset on the photo set made by tools/make_demo_dataset.py.

Usage:
    python tools/make_demo_dataset.py /work/data --max-short-side 768
    python tools/train_preset.py /work/data --name koala-lite0 --loss classification \\
        --views 8 --steps 20000 --out-dir release/

Trains a Deep Koalarization head on a frozen ImageNet backbone (by default
the half-width head on EfficientNet-Lite0, whose weights ship with deepkoala)
from the photos in `<data>/train`, evaluates it on `<data>/heldout` beside the
gray baseline, and saves `<out-dir>/<name>.keras` and the training record
`<out-dir>/<name>-training.json`: settings, source packages and each training
photo's licence (from the set's manifest.csv), loss history, time, and the
held-out figures. `--steps` bounds the training by batches, so runs that
compare one setting each see the same number of images. Export the result
with tools/export_preset.py.
"""

import argparse
import collections
import csv
import hashlib
import json
import math
import os
import sys
import time

import keras

from deepkoala import Colorizer, multi_process
from deepkoala.evaluation import evaluate, format_report
from deepkoala.guided_head import guided_copy
from deepkoala.settings import DECODER_FILTERS, ENCODER_FILTERS, FUSION_FILTERS, LOSSES

# The paper's widths, and half of them (a quarter of the cost).
WIDTHS = {
    "full": {
        "encoder_filters": ENCODER_FILTERS,
        "fusion_filters": FUSION_FILTERS,
        "decoder_filters": DECODER_FILTERS,
    },
    "half": {
        "encoder_filters": tuple(width // 2 for width in ENCODER_FILTERS),
        "fusion_filters": FUSION_FILTERS // 2,
        "decoder_filters": tuple(width // 2 for width in DECODER_FILTERS),
    },
}


class StepBudget(keras.callbacks.Callback):
    """Stop training after `steps` batches, or once `minutes` have passed."""

    def __init__(self, steps, minutes=None):
        super().__init__()
        self.steps = steps
        self.deadline = None if minutes is None else time.time() + 60 * minutes
        self.done = 0

    def on_train_batch_end(self, batch, logs=None):
        self.done += 1
        late = self.deadline is not None and time.time() > self.deadline
        if self.done >= self.steps or late:
            self.model.stop_training = True


def training_files(data, packages):
    """The training photos, all or only those of `packages` (manifest.csv), and their rows."""
    with open(os.path.join(data, "manifest.csv"), newline="", encoding="utf-8") as file:
        rows = [row for row in csv.DictReader(file) if row["split"] == "train"]
    if packages:
        rows = [row for row in rows if row["package"] in packages]
    if not rows:
        raise SystemExit(f"No training photos in {data} for packages {packages}")
    return [os.path.join(data, row["path"]) for row in rows], rows


def split_off_validation(paths, rows, percent):
    """Reorder (paths, rows) so the validation photos come last; also returns their count.

    Whole subjects (manifest.csv's `subject`, or the file name where there is
    none) are set aside in the order of a hash of their name, until about
    `percent` of the photos are: the same set for every run, chosen without
    looking at any score, and never sharing a subject with the training part.
    """
    if not percent:
        return paths, rows, 0
    subjects = [row.get("subject") or row["path"] for row in rows]
    by_hash = sorted(
        set(subjects), key=lambda s: hashlib.sha256(b"validation:" + s.encode()).digest()
    )
    wanted, chosen = round(len(rows) * percent / 100), set()
    for subject in by_hash:
        if len(chosen) and sum(s in chosen for s in subjects) >= wanted:
            break
        chosen.add(subject)
    order = sorted(range(len(rows)), key=lambda i: subjects[i] in chosen)
    validation = sum(subjects[i] in chosen for i in order)
    if validation == len(rows):
        raise SystemExit(f"--validation-percent {percent} leaves no photo for training")
    return [paths[i] for i in order], [rows[i] for i in order], validation


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="the folder made by tools/make_demo_dataset.py")
    parser.add_argument("--name", default="koala")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument(
        "--backbone-weights",
        default="imagenet",
        help='"imagenet", or a weights file (e.g. EfficientNet-Lite2\'s, converted by '
        "tools/convert_efficientnet_lite0.py --variant lite2)",
    )
    parser.add_argument("--width", choices=sorted(WIDTHS), default="half")
    parser.add_argument("--loss", choices=LOSSES, default="mse")
    parser.add_argument("--temperature", type=float, default=0.38)
    parser.add_argument(
        "--mid-level-features",
        action="store_true",
        help="also fuse the backbone's mid-level feature map (Colorizer(mid_level_features=True))",
    )
    parser.add_argument("--image-size", type=int, default=192)
    parser.add_argument("--stored-size", type=int, default=224)
    parser.add_argument("--views", type=int, default=1, help="cached views per photo")
    parser.add_argument("--packages", nargs="*", help="train only on these source packages")
    parser.add_argument("--steps", type=int, default=20000, help="training batches in all")
    parser.add_argument(
        "--max-minutes", type=float, help="stop earlier, after this much training time"
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument(
        "--cosine-decay",
        action="store_true",
        help="lower the learning rate along a cosine, epoch by epoch, to a tenth at the end",
    )
    parser.add_argument(
        "--validation-percent",
        type=float,
        default=0.0,
        help="set aside about this share of the training photos, whole subjects, to validate",
    )
    parser.add_argument(
        "--early-stopping",
        type=int,
        metavar="EPOCHS",
        help="stop once the validation loss has not improved for EPOCHS epochs, and keep "
        "the weights of its best epoch (needs --validation-percent)",
    )
    parser.add_argument(
        "--ema-momentum",
        type=float,
        default=None,
        help="keep a moving average of the weights with this momentum, validate and "
        "finish with it (Colorizer.fit(ema_momentum=...))",
    )
    parser.add_argument("--out-dir", default="release")
    parser.add_argument("--checkpoint-dir", default=None)
    parser.add_argument("--initial-weights", help="a .keras file to start from")
    parser.add_argument(
        "--guided-from",
        metavar="PRESET",
        help="train the guide block of a guided head (hints and a reference's colors, "
        "deepkoala.guided_head) on this preset's frozen weights and settings; the "
        "architecture options are then the preset's",
    )
    parser.add_argument(
        "--balance-sources",
        type=float,
        default=0.0,
        metavar="POWER",
        help="draw each photo in proportion to 1 / (photos of its package)**POWER: 1 gives "
        "every package the same share of the steps, 0 (default) every photo",
    )
    parser.add_argument(
        "--degrade-lightness",
        action="store_true",
        help="blur, noise or JPEG on half the views' lightness input (Colorizer.fit's)",
    )
    parser.add_argument(
        "--embedding-dropout",
        type=float,
        default=0.0,
        help="dropout on the embedding and the mid-level map's channels (Colorizer.fit's)",
    )
    parser.add_argument(
        "--weight-decay", type=float, help="Adam's decoupled weight decay (Colorizer.fit's)"
    )
    parser.add_argument(
        "--coordinator",
        metavar="HOST:PORT",
        help="train as one of several processes (KERAS_BACKEND=jax; docs/distributed.md)",
    )
    parser.add_argument("--num-processes", type=int)
    parser.add_argument("--process-id", type=int)
    args = parser.parse_args(argv)
    if args.early_stopping is not None and not args.validation_percent:
        parser.error("--early-stopping needs --validation-percent")
    if args.coordinator and args.max_minutes:
        # Processes would stop after different steps, and wait for each other forever.
        parser.error("--max-minutes cannot stop several processes together: use --steps")
    distribution = None
    if args.coordinator:
        distribution = multi_process.initialize(
            args.coordinator, args.num_processes, args.process_id
        )

    os.makedirs(args.out_dir, exist_ok=True)
    keras.utils.set_random_seed(0)
    config = {
        "backbone": args.backbone,
        "image_size": args.image_size,
        **WIDTHS[args.width],
        "loss": args.loss,
        "temperature": args.temperature,
        "mid_level_features": args.mid_level_features,
    }
    if args.guided_from:
        colorizer = guided_copy(Colorizer.from_preset(args.guided_from))
        kept = ("backbone", "image_size", *WIDTHS["full"], "loss", "temperature")
        config = {name: colorizer.get_config()[name] for name in kept}
        config.update(mid_level_features=colorizer.get_config()["mid_level_features"], guided=True)
    else:
        colorizer = Colorizer(backbone_weights=args.backbone_weights, **config)
    if args.initial_weights:
        colorizer.set_weights(Colorizer.load(args.initial_weights).get_weights())
    paths, rows = training_files(args.data, args.packages)
    paths, rows, validation_photos = split_off_validation(paths, rows, args.validation_percent)
    # fit keeps int(photos * split) photos for validation: the half keeps that exact.
    validation_split = (validation_photos + 0.5) / len(paths) if validation_photos else 0.0
    budget = StepBudget(args.steps, args.max_minutes)
    callbacks = [budget]
    if args.early_stopping is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                patience=args.early_stopping, restore_best_weights=True, verbose=1
            )
        )
    if args.cosine_decay:
        steps_per_epoch = math.ceil(len(paths) * args.views / args.batch_size)
        planned_epochs = max(1, math.ceil(args.steps / steps_per_epoch))

        def cosine(epoch, _rate):
            progress = min(epoch / planned_epochs, 1.0)
            return args.learning_rate * (0.1 + 0.45 * (1.0 + math.cos(math.pi * progress)))

        callbacks.append(keras.callbacks.LearningRateScheduler(cosine))
    photo_weights = None
    if args.balance_sources:
        per_package = collections.Counter(row["package"] for row in rows)
        weight_of = {
            os.path.abspath(path): per_package[row["package"]] ** -args.balance_sources
            for path, row in zip(paths, rows, strict=True)
        }
        photo_weights = weight_of.__getitem__
    # Enough epochs for the step budget even from one view per photo.
    epochs = math.ceil(args.steps / math.ceil(len(paths) / args.batch_size))
    started = time.time()
    history = colorizer.fit(
        paths,
        epochs=epochs,
        batch_size=args.batch_size,
        validation_split=validation_split,
        learning_rate=args.learning_rate,
        stored_size=args.stored_size,
        views_per_image=args.views,
        ema_momentum=args.ema_momentum,
        checkpoint_dir=args.checkpoint_dir,
        callbacks=callbacks,
        seed=0,
        verbose=2,
        photo_weights=photo_weights,
        degrade_lightness=args.degrade_lightness,
        embedding_dropout=args.embedding_dropout,
        weight_decay=args.weight_decay,
        distribution=distribution,
    )
    training_seconds = time.time() - started
    if not multi_process.is_writer():
        return 0
    model_path = os.path.join(args.out_dir, f"{args.name}.keras")
    colorizer.save(model_path)

    # float32: the record's figures are the same on every machine.
    colorizer.set_precision("float32")
    report = evaluate(colorizer, os.path.join(args.data, "heldout"), verbose=0)
    print(format_report(report))
    with open(os.path.join(args.out_dir, f"{args.name}-heldout.json"), "w") as file:
        json.dump(report, file, indent=1)
    record = {
        "name": args.name,
        "config": config,
        "stored_size": args.stored_size,
        "views_per_image": args.views,
        "training_photos": len(paths) - validation_photos,
        "validation_photos": validation_photos,
        "source_packages": sorted({row["package"] for row in rows}),
        "head_parameters": colorizer.head.count_params(),
        "steps": budget.done,
        "epochs": len(history.history["loss"]),
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "cosine_decay": args.cosine_decay,
        "ema_momentum": args.ema_momentum,
        "balance_sources": args.balance_sources,
        "degrade_lightness": args.degrade_lightness,
        "embedding_dropout": args.embedding_dropout,
        "weight_decay": args.weight_decay,
        "training_seconds": round(training_seconds),
        "loss_history": [round(value, 5) for value in history.history["loss"]],
        "validation_loss_history": [
            round(value, 5) for value in history.history.get("val_loss", [])
        ],
        "early_stopping_patience": args.early_stopping,
        "keras_backend": keras.backend.backend(),
        "backbone_weights": args.backbone_weights,
        "guided_from": args.guided_from,
        "heldout": report,
        "photos": [
            {key: row[key] for key in ("path", "package", "licence", "copyright")} for row in rows
        ],
    }
    with open(os.path.join(args.out_dir, f"{args.name}-training.json"), "w") as file:
        json.dump(record, file, indent=1)
    print(f"Trained {budget.done} steps in {training_seconds / 60:.1f} min; saved {model_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
