"""Train a tiny colorizer as one of several processes (or alone), print its losses as JSON.

Run by tests/test_multi_process.py, one subprocess per process:
    KERAS_BACKEND=jax python multi_process_training.py PHOTOS OUT CACHE EPOCHS [PORT N I]
Without PORT N I, it trains alone with the same global batch. PHOTOS is a
folder, or a .json list of photo paths (trained in that order). Process 0
(or the lone process) saves the model to OUT.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402

from deepkoala import Colorizer, multi_process  # noqa: E402
from tests.helpers import TINY_BACKBONE, TINY_SIZES  # noqa: E402

if __name__ == "__main__":
    photos, out, cache, epochs, *cluster = sys.argv[1:]
    if photos.endswith(".json"):
        with open(photos) as file:
            photos = json.load(file)
    distribution = None
    if cluster:
        port, count, index = cluster
        distribution = multi_process.initialize(f"127.0.0.1:{port}", int(count), int(index))
    keras.utils.set_random_seed(0)
    colorizer = Colorizer(backbone=TINY_BACKBONE, backbone_weights=None, **TINY_SIZES)
    history = colorizer.fit(
        photos,
        epochs=int(epochs),
        batch_size=8,
        learning_rate=1e-3,
        shuffle=False,
        augment=False,
        cache_dir=cache,
        distribution=distribution,
        verbose=0,
    )
    if multi_process.is_writer():
        colorizer.save(out)
    weights_sum = float(sum(abs(w).sum() for w in colorizer.head.get_weights()))
    print(json.dumps({"loss": history.history["loss"], "weights_sum": weights_sum}), flush=True)
