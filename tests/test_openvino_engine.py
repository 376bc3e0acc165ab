"""The optional OpenVINO engine: the same colors, converted once, a clear error without it."""

import builtins

import numpy as np
import pytest
from PIL import Image

from deepkoala import Colorizer, cli, openvino_engine
from tests.helpers import TINY_BACKBONE, TINY_SIZES, striped_images

pytest.importorskip("openvino")
pytest.importorskip("tensorflow")  # the network is exported through a TensorFlow SavedModel

CONFIG = {
    "backbone": TINY_BACKBONE, "backbone_weights": None, **TINY_SIZES,
    "loss": "classification", "mid_level_features": True,
}  # fmt: skip


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPKOALA_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.mark.parametrize("guided", [False, True])
def test_openvino_colors_as_keras_does(guided):
    colorizer = Colorizer(**CONFIG, guided=guided).set_precision("float32")
    photo = striped_images(1)[0]
    hints = [(5, 5, "#c03020")] if guided else None
    keras_output = np.asarray(colorizer.colorize(photo, hints=hints), int)
    assert colorizer.set_engine("openvino").engine == "openvino"
    openvino_output = np.asarray(colorizer.colorize(photo, hints=hints), int)
    assert np.abs(openvino_output - keras_output).max() <= 1
    assert colorizer._untracked.runner.engine_runner.precision.endswith("'float32'>")


def test_the_converted_model_is_cached_by_weights_and_settings(home, monkeypatch):
    colorizer = Colorizer(**CONFIG).set_engine("openvino")
    lightness = np.full((1, 32, 32), 50.0, "float32")
    colorizer.predict_chroma(lightness)
    (first,) = (home / "openvino").iterdir()
    exports = []
    with monkeypatch.context() as patch:
        patch.setattr(Colorizer, "export", lambda *args, **kwargs: exports.append(args))
        # Another colorizer with the same weights (another process alike) exports nothing.
        twin = Colorizer(**CONFIG).set_engine("openvino")
        twin.set_weights(colorizer.get_weights())
        twin.predict_chroma(lightness)
    assert exports == [] and twin._untracked.runner.engine_runner.path == str(first / "model.xml")
    # A new decoding setting is part of the exported graph: a new model.
    colorizer.set_decoding(temperature=0.5).predict_chroma(lightness)
    assert len(list((home / "openvino").iterdir())) == 2


def test_training_scores_on_keras_and_the_engine_follows_the_new_weights(tmp_path):
    colorizer = Colorizer(**CONFIG).set_engine("openvino")
    lightness = np.full((1, 32, 32), 50.0, "float32")
    before = colorizer.predict_chroma(lightness)
    colorizer.fit(striped_images(4), epochs=1, batch_size=2, verbose=0, cache_dir=tmp_path)
    after = colorizer.predict_chroma(lightness)
    with colorizer.training_precision():  # the Keras network's own answer
        expected = colorizer.predict_chroma(lightness)
    assert np.abs(after - before).max() > 0
    np.testing.assert_allclose(after, expected, atol=0.05)


def test_missing_openvino_is_one_clear_error(monkeypatch, tmp_path, saved_tiny_model, capsys):
    real_import = builtins.__import__

    def no_openvino(name, *args, **kwargs):
        if name == "openvino" or name.startswith("openvino."):
            raise ImportError("No module named 'openvino'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_openvino)
    with pytest.raises(ImportError, match=r"pip install deepkoala\[openvino\]"):
        Colorizer(**CONFIG).set_engine("openvino")
    photo = tmp_path / "photo.png"
    Image.fromarray(striped_images(1)[0]).save(photo)
    code = cli.main(
        ["colorize", str(photo), "--weights", str(saved_tiny_model), "--engine", "openvino"]
    )
    assert code == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "deepkoala: error: The openvino engine needs OpenVINO: pip install deepkoala[openvino]"
    )
    with pytest.raises(ValueError, match="engine='onnx'"):
        openvino_engine.check_engine("onnx")
