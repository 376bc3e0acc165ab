"""Train a tiny colorizer on one device and on two, print both loss histories as JSON.

Run by tests/test_distribution.py in a subprocess, because the number of
devices must be fixed before the backend starts:
    KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=2 python ...
    KERAS_BACKEND=tensorflow python ...   (this script makes 2 logical CPUs)
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402

if keras.backend.backend() == "tensorflow":
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from deepkoala import Colorizer  # noqa: E402
from tests.helpers import TINY_BACKBONE, TINY_SIZES, striped_images  # noqa: E402


def _distribution():
    if keras.backend.backend() == "jax":
        import jax

        assert len(jax.devices()) == 2, jax.devices()
        return keras.distribution.DataParallel(devices=jax.devices())
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def _train(distribution):
    keras.utils.set_random_seed(0)
    colorizer = Colorizer(backbone=TINY_BACKBONE, backbone_weights=None, **TINY_SIZES)
    history = colorizer.fit(
        striped_images(16),
        epochs=3,
        batch_size=8,
        shuffle=False,
        augment=False,
        distribution=distribution,
        verbose=0,
    )
    return history.history["loss"]


if __name__ == "__main__":
    print(json.dumps({"single": _train(None), "parallel": _train(_distribution())}))
