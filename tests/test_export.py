"""Export for deployment: ONNX run in onnxruntime, and a TF SavedModel."""

import runpy
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_onnx_matches_keras_and_the_numpy_only_example(tmp_path, monkeypatch, tiny_colorizer):
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    path = tmp_path / "tiny.onnx"
    tiny_colorizer.export(path, format="onnx")  # float32, whatever the colorizer's precision
    tiny_colorizer.set_precision("float32")  # the reference
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for shape in [(2, 32, 32, 1), (1, 40, 64, 1)]:
        lightness = np.random.default_rng(0).uniform(-1, 1, shape).astype("float32")
        onnx_output = session.run(None, {session.get_inputs()[0].name: lightness})[0]
        expected = np.asarray(tiny_colorizer(lightness))
        assert np.abs(onnx_output - expected).max() < 1e-4

    sample = EXAMPLES / "sample_gray.jpg"
    output = tmp_path / "onnx.png"
    monkeypatch.setattr(
        sys, "argv", ["colorize_onnx.py", str(path), str(sample), str(output), "--size", "32"]
    )
    runpy.run_path(str(EXAMPLES / "colorize_onnx.py"), run_name="__main__")
    with_onnx = np.asarray(Image.open(output), dtype=int)
    with_keras = np.asarray(tiny_colorizer.colorize(sample), dtype=int)
    assert with_onnx.shape == with_keras.shape
    assert np.abs(with_onnx - with_keras).max() <= 2


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="SavedModel needs TF")
def test_tf_saved_model_serves_the_same_output(tmp_path, tiny_colorizer):
    import tensorflow as tf

    folder = tmp_path / "saved"
    tiny_colorizer.export(folder, format="tf_saved_model")
    served = tf.saved_model.load(str(folder))
    lightness = np.random.default_rng(1).uniform(-1, 1, (1, 32, 32, 1)).astype("float32")
    with tiny_colorizer.training_precision():  # what export runs in: float32
        expected = np.asarray(tiny_colorizer(lightness))
    assert np.abs(np.asarray(served.serve(lightness)) - expected).max() < 1e-5


def test_unknown_export_format(tiny_colorizer, tmp_path):
    with pytest.raises(ValueError, match="format"):
        tiny_colorizer.export(tmp_path / "x", format="tflite")
