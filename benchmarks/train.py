"""Training speed from the HDF5 cache against two references; prints JSON objects.

    python benchmarks/train.py [--backbone inception_resnet_v2] [--images 64]

Three figures, in one run, for the same head and batch size:
- cache: `Colorizer.fit` reading images and embeddings from the HDF5 cache;
- naive: the same training step with the frozen backbone run on every batch
  (what training without the cache would do);
- in_memory: `train_on_batch` on tensors already in memory (no input pipeline).
Targets (issue): cache >= 1.5x naive, and >= 90% of in_memory.

`fit` already prefetches: on TensorFlow, Keras feeds the `PyDataset` through
`tf.data` with `prefetch(AUTOTUNE)`, so the next batch is read from the HDF5
file while the step runs. `--pydataset-workers N` (N >= 2) also sets the
`PyDataset`'s `workers`, so that Keras' own thread pool reads batches ahead
(augmentation is then no longer reproducible from the seed: this is a
measurement, not a setting of `fit`).
"""

import argparse
import json
import os
import sys
import tempfile
import time
from unittest import mock

import keras
import numpy as np
from PIL import Image

from deepkoala import Colorizer
from deepkoala.layers import LightnessFromRGB
from deepkoala.losses import chroma_mse
from deepkoala.training_data import TrainingData


def _photo_folder(folder, count, size):
    examples = os.path.join(os.path.dirname(__file__), "..", "examples", "photos")
    sources = [Image.open(os.path.join(examples, name)).convert("RGB") for name in
               sorted(os.listdir(examples))]  # fmt: skip
    for index in range(count):
        image = sources[index % len(sources)].resize((size, size), Image.Resampling.BILINEAR)
        image.save(os.path.join(folder, f"photo{index:03d}.jpg"), quality=90)


class _EpochTimer(keras.callbacks.Callback):
    """Wall time of each epoch: reading the cache and training, no fit set-up."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._started)


def _rate(images, run):
    started = time.perf_counter()
    run()
    return images / (time.perf_counter() - started)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="inception_resnet_v2")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--dtype-policy")
    parser.add_argument("--pydataset-workers", type=int, default=0)
    args = parser.parse_args(argv)
    make_batches = TrainingData.batches

    def batches_with_workers(self, *batch_args, **batch_kwargs):
        batches = make_batches(self, *batch_args, **batch_kwargs)
        if batches is not None and args.pydataset_workers:
            batches.workers = args.pydataset_workers
        return batches

    keras.utils.set_random_seed(0)
    colorizer = Colorizer(
        backbone=args.backbone, backbone_weights=None, dtype_policy=args.dtype_policy
    )
    size, batch = colorizer.image_size, args.batch_size
    steps = args.images // batch
    with tempfile.TemporaryDirectory() as folder:
        photos = os.path.join(folder, "photos")
        os.makedirs(photos)
        _photo_folder(photos, args.images, size)
        cache = os.path.join(folder, "cache")
        started = time.perf_counter()
        colorizer.fit(photos, epochs=1, batch_size=batch, cache_dir=cache, verbose=0)
        first_fit = time.perf_counter() - started  # cache build + compile + one epoch
        timer = _EpochTimer()
        with mock.patch.object(TrainingData, "batches", batches_with_workers):
            colorizer.fit(
                photos,
                epochs=args.epochs,
                batch_size=batch,
                cache_dir=cache,
                callbacks=[timer],
                verbose=0,
            )
        cache_rate = args.images / min(timer.seconds)

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
    vectors = rng.normal(size=(batch, colorizer.embedding.output_shape[-1]))
    trainer = colorizer.training_model(1e-3)
    inputs = {"rgb": rgb, "embedding": vectors.astype("float32")}
    trainer.train_on_batch(inputs, rgb)  # warm-up
    in_memory_rate = _rate(
        steps * batch, lambda: [trainer.train_on_batch(inputs, rgb) for _ in range(steps)]
    )

    # The same step without XLA, to see whether jit_compile pays (Keras' "auto"
    # turns it on for this model on TensorFlow and JAX).
    eager_graph = keras.Model(trainer.inputs, trainer.outputs)
    eager_graph.compile(optimizer=keras.optimizers.Adam(1e-3), loss=chroma_mse, jit_compile=False)
    eager_graph.train_on_batch(inputs, rgb)  # warm-up
    no_jit_rate = _rate(
        steps * batch, lambda: [eager_graph.train_on_batch(inputs, rgb) for _ in range(steps)]
    )

    # Without the cache, every step runs the frozen backbone on the batch.
    rgb_input = keras.Input((size, size, 3), dtype="uint8")
    naive = keras.Model(rgb_input, colorizer(LightnessFromRGB()(rgb_input)))
    naive.compile(optimizer=keras.optimizers.Adam(1e-3), loss=chroma_mse)
    naive.train_on_batch(rgb, rgb)  # warm-up
    naive_rate = _rate(
        steps * batch, lambda: [naive.train_on_batch(rgb, rgb) for _ in range(steps)]
    )

    print(
        json.dumps(
            {
                "benchmark": "train",
                "backend": keras.backend.backend(),
                "backbone": args.backbone,
                "dtype_policy": args.dtype_policy or "float32",
                "pydataset_workers": args.pydataset_workers,
                "image_size": size,
                "batch_size": batch,
                "images": args.images,
                "first_fit_seconds_with_cache_build": round(first_fit, 2),
                "cache_images_per_s": round(cache_rate, 3),
                "naive_backbone_every_step_images_per_s": round(naive_rate, 3),
                "in_memory_train_on_batch_images_per_s": round(in_memory_rate, 3),
                "trainer_jit_compile": bool(trainer.jit_compile),
                "in_memory_without_jit_images_per_s": round(no_jit_rate, 3),
                "cache_vs_naive": round(cache_rate / naive_rate, 3),
                "cache_vs_in_memory": round(cache_rate / in_memory_rate, 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
