"""Mixed precision: bfloat16 compute, float32 color math and outputs."""

import keras
import numpy as np
import pytest
from skimage import color as skcolor
from skimage import data

from deepkoala import Colorizer
from tests.helpers import TINY_BACKBONE, striped_images

CONFIG = {
    "backbone": TINY_BACKBONE,
    "backbone_weights": None,
    "image_size": 32,
    "encoder_filters": (16,) * 8,
    "fusion_filters": 16,
    "decoder_filters": (16,) * 4,
}


def test_policy_reaches_the_layers_but_not_color_math_or_outputs(tmp_path):
    colorizer = Colorizer(**CONFIG, dtype_policy="mixed_bfloat16")
    model = colorizer
    encoder = model.head.encoder
    assert encoder.get_layer("encoder_conv1").compute_dtype == "bfloat16"
    decoder = model.head.decoder
    assert decoder.get_layer("decoder_conv5").compute_dtype == "float32"
    assert model.embedding.get_layer("embedding_gray").compute_dtype == "float32"
    assert model.output.dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"  # the global policy is untouched
    history = colorizer.fit(striped_images(4), epochs=1, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    path = tmp_path / "mixed.keras"
    colorizer.save(path)
    loaded = Colorizer.load(path)
    assert loaded.get_config()["dtype_policy"] == "mixed_bfloat16"
    loaded_conv = loaded.head.encoder.get_layer("encoder_conv1")
    assert loaded_conv.compute_dtype == "bfloat16"


def test_bfloat16_output_stays_within_2_lab_units_of_float32():
    keras.utils.set_random_seed(0)
    reference = Colorizer(**CONFIG).set_precision("float32")
    reference.fit(
        striped_images(120), epochs=6, batch_size=16, learning_rate=3e-3, seed=0, verbose=0
    )
    mixed = Colorizer(**CONFIG, dtype_policy="mixed_bfloat16")
    mixed.set_weights(reference.get_weights())
    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    for full, fast in zip(reference.colorize(photos), mixed.colorize(photos), strict=True):
        difference = np.abs(skcolor.rgb2lab(np.asarray(full)) - skcolor.rgb2lab(np.asarray(fast)))
        assert difference.max() < 2.0


def test_unknown_policy_is_rejected():
    with pytest.raises(ValueError, match="dtype_policy"):
        Colorizer(**CONFIG, dtype_policy="int8")
