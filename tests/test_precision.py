"""The inference precision: "auto" per machine, switched in place, training untouched."""

import warnings

import keras
import numpy as np
import pytest

from deepkoala import Colorizer, cli
from deepkoala import precision as precision_module
from tests.helpers import TINY_BACKBONE, TINY_SIZES, striped_images

CONFIG = {"backbone": TINY_BACKBONE, "backbone_weights": None, **TINY_SIZES}
CLASSIFYING = {**CONFIG, "loss": "classification", "mid_level_features": True}


@pytest.fixture
def machine(monkeypatch):
    """Pretend to be a machine with the given bfloat16 units (None: none) and GPU."""

    def pretend(units, gpu=False):
        how = "a test's CPU" if units else "no bfloat16 CPU flag"
        monkeypatch.setattr(precision_module, "cpu_bfloat16_units", lambda: (units, how))
        monkeypatch.setattr(precision_module, "has_gpu", lambda: gpu)
        monkeypatch.setattr(precision_module, "_WARNED", set())

    return pretend


def test_cpu_flags_name_the_units():
    assert precision_module.units_from_flags("flags\t: fpu avx2 amx_bf16 avx512_bf16")[0] == "AMX"
    assert precision_module.units_from_flags("flags : avx512f avx512_bf16")[0] == "AVX512_BF16"
    units, how = precision_module.units_from_flags("flags : fpu sse2 avx2 fma")
    assert units is None and "no bfloat16" in how
    units, how = precision_module.cpu_bfloat16_units()  # this machine: any answer, with a reason
    assert units in (None, "AMX", "AVX512_BF16") and how


def test_auto_per_machine(machine):
    machine("AVX512_BF16")
    assert precision_module.resolve("auto")[:2] == ("bfloat16", "network")
    # Where the backbone's half precision moved a model's colors, it stays float32...
    changes = {"bfloat16": {"network": 0.13, "head": 0.0002}}
    precision, part, why = precision_module.resolve("auto", changes)
    assert (precision, part) == ("bfloat16", "head") and "+0.13 dB" in why
    # ... and where the head's did too, the whole network does.
    changes = {"bfloat16": {"network": 0.13, "head": -0.06}}
    precision, part, why = precision_module.resolve("auto", changes)
    assert (precision, part) == ("float32", None) and "0.05 dB" in why
    # What was asked for is what runs.
    assert precision_module.resolve("bfloat16", changes) == ("bfloat16", "network", "asked for")
    machine(None)
    assert precision_module.resolve("auto") == ("float32", None, "no bfloat16 CPU flag")
    machine(None, gpu=True)
    assert precision_module.resolve("auto") == ("float16", "network", "a GPU")
    with pytest.raises(ValueError, match="precision='half'"):
        precision_module.resolve("half")


def test_precision_switches_in_place_like_a_mixed_build(machine):
    machine("AVX512_BF16")
    keras.utils.set_random_seed(0)
    colorizer = Colorizer(**CLASSIFYING)
    assert colorizer.precision == "auto"
    assert colorizer.compute_precision()[0] == "bfloat16"
    mixed = Colorizer(**CLASSIFYING, dtype_policy="mixed_bfloat16")
    mixed.set_weights(colorizer.get_weights())
    lightness = np.random.default_rng(0).uniform(0, 100, (2, 32, 32)).astype("float32")
    variables = [id(v) for v in colorizer.weights]
    config = colorizer.get_config()

    full = colorizer.set_precision("float32").predict_chroma(lightness)
    half = colorizer.set_precision("bfloat16").predict_chroma(lightness)
    # The same numbers as a colorizer built for bfloat16, without a rebuild.
    np.testing.assert_array_equal(half, mixed.predict_chroma(lightness))
    assert 0 < np.abs(half - full).max() < 5.0
    assert colorizer.head.encoder.get_layer("encoder_conv1").compute_dtype == "bfloat16"
    for name in ("decoder_logits",):
        assert colorizer.head.decoder.get_layer(name).compute_dtype == "float32"
    assert colorizer.embedding.get_layer("embedding_gray").compute_dtype == "float32"
    assert [id(v) for v in colorizer.weights] == variables
    assert all(v.dtype == "float32" for v in colorizer.weights)
    assert colorizer.get_config() == config
    again = colorizer.set_precision("float32").predict_chroma(lightness)
    np.testing.assert_array_equal(again, full)
    with pytest.raises(ValueError, match="precision"):
        colorizer.set_precision("int8")
    # "auto" on a model whose backbone drifted in half precision: the head alone in it.
    colorizer._untracked.runner.psnr_changes = {"bfloat16": {"network": 0.2, "head": 0.0}}
    head_only = colorizer.set_precision("auto").predict_chroma(lightness)
    assert colorizer.embedding.get_layer("embedding_resize").compute_dtype == "float32"
    assert colorizer.head.encoder.get_layer("encoder_conv1").compute_dtype == "bfloat16"
    assert 0 < np.abs(head_only - full).max() and np.abs(head_only - half).max() > 0
    # A colorizer built for mixed precision colorizes in it under "auto".
    assert mixed.compute_precision()[0] == "bfloat16"


def test_training_keeps_its_policy_while_colorizing_uses_half(machine, tmp_path):
    machine("AVX512_BF16")
    colorizer = Colorizer(**CONFIG).set_precision("bfloat16")
    colorizer.colorize(striped_images(1)[0])
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(colorizer.head.encoder.get_layer("encoder_conv1").compute_dtype)

    colorizer.fit(
        striped_images(4), epochs=1, batch_size=2, verbose=0, callbacks=[Record()],
        cache_dir=tmp_path,
    )  # fmt: skip
    assert set(seen) == {"float32"}
    colorizer.colorize(striped_images(1)[0])
    assert colorizer.head.encoder.get_layer("encoder_conv1").compute_dtype == "bfloat16"
    # The cache's embeddings are the training precision's, and colorizing stays in half.
    reference = Colorizer(**CONFIG).set_precision("float32")
    reference.set_weights(colorizer.get_weights())
    views = np.stack(striped_images(2))
    np.testing.assert_array_equal(colorizer.embed(views), reference.embed(views))
    assert colorizer.head.encoder.get_layer("encoder_conv1").compute_dtype == "bfloat16"
    # Keras' own calls run in the colorizer's precision too.
    scaled = np.zeros((1, 32, 32, 1), "float32")
    assert keras.ops.convert_to_numpy(colorizer(scaled)).dtype == np.float32


def test_half_precision_without_units_works_with_one_warning(machine):
    machine(None)
    with pytest.warns(UserWarning, match="without bfloat16 units") as caught:
        colorizer = Colorizer(**CONFIG).set_precision("bfloat16")
    assert caught[0].filename == __file__  # it names the caller's line
    first = colorizer.colorize(striped_images(1)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Colorizer(**CONFIG).set_precision("bfloat16").colorize(striped_images(1)[0])
    assert first.size == (32, 32)


def test_compare_reports_the_change_and_restores_the_precision(machine):
    machine("AVX512_BF16")
    colorizer = Colorizer(**CONFIG).set_precision("auto")
    report = precision_module.compare(colorizer, striped_images(3), "bfloat16", batch_size=2)
    assert report["photos"] == 3 and report["precision"] == "bfloat16"
    assert report["part"] == "network"
    head = precision_module.compare(colorizer, striped_images(3), "bfloat16", part="head")
    assert head["psnr_float32"] == report["psnr_float32"] and head["part"] == "head"
    assert report["psnr_change"] == pytest.approx(report["psnr"] - report["psnr_float32"])
    assert report["largest_ab_difference"] >= report["mean_ab_difference"] >= 0
    assert report["within_tolerance"] == (abs(report["psnr_change"]) <= 0.05)
    assert colorizer.precision == "auto"
    assert colorizer.compute_precision()[0] == "bfloat16"
    with pytest.raises(ValueError, match="float32"):
        precision_module.compare(colorizer, striped_images(1), "float32")
    with pytest.raises(ValueError, match="part"):
        precision_module.compare(colorizer, striped_images(1), "bfloat16", part="encoder")


def test_command_line_precision(machine, tmp_path, saved_tiny_model, capsys):
    machine(None)
    photo = tmp_path / "photo.png"
    keras.utils.save_img(photo, striped_images(1)[0])
    code = cli.main(
        ["colorize", str(photo), "-o", str(tmp_path / "out"), "--weights",
         str(saved_tiny_model), "--precision", "bfloat16"]
    )  # fmt: skip
    assert code == 0 and (tmp_path / "out" / "photo.png").exists()
    notes = [line for line in capsys.readouterr().err.splitlines() if "bfloat16" in line]
    assert notes == [
        "deepkoala: note: bfloat16 was asked for on a CPU without bfloat16 units (no bfloat16 "
        "CPU flag): it works, and is slower than float32"
    ]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["colorize", str(photo), "--precision", "half"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'half'" in capsys.readouterr().err


def test_switching_back_reuses_the_traced_prediction(machine):
    machine("AVX512_BF16")
    colorizer = Colorizer(**CLASSIFYING).set_precision("float32")
    lightness = np.full((1, 32, 32), 50.0, "float32")
    for _ in range(2):  # eager, then traced
        colorizer.predict_chroma(lightness)
    traced = colorizer.predict_function
    assert traced is not None
    colorizer.set_precision("bfloat16").predict_chroma(lightness)
    assert colorizer.predict_function is not traced
    colorizer.set_precision("float32")
    assert colorizer.predict_function is traced
    # New decoding settings are constants of a trace: every kept trace is dropped.
    colorizer.set_decoding(temperature=0.5)
    colorizer.set_precision("bfloat16").set_precision("float32")
    assert colorizer.predict_function is not traced


def test_half_precision_weights_colorize_as_a_mixed_build_and_only_that_way():
    reference = Colorizer(**CONFIG)
    half = Colorizer(**CONFIG, dtype_policy="bfloat16")
    mixed = Colorizer(**CONFIG, dtype_policy="mixed_bfloat16").set_precision("bfloat16")
    for colorizer in (half, mixed):
        colorizer.set_weights(reference.get_weights())
    dtypes = {w.path: w.dtype for w in half.weights}
    assert {dtypes[w.path] for w in half.embedding.weights} == {"bfloat16"}
    # The layers made to stay float32 (the decoder's output) keep float32 weights.
    assert dtypes["decoder_conv4/kernel"] == "bfloat16"
    assert dtypes["decoder_conv5/kernel"] == "float32"
    images = striped_images(2, 32)
    # The weights the mixed build casts at every call are the ones held here.
    np.testing.assert_array_equal(
        np.asarray(half.colorize(images[0])), np.asarray(mixed.colorize(images[0]))
    )
    assert half.compute_precision()[0] == "bfloat16"
    half.set_precision("auto")  # what it is already
    with pytest.raises(ValueError, match="dtype_policy='bfloat16'.*precision='float32'"):
        half.set_precision("float32")
    with pytest.raises(ValueError, match="cannot train"):
        half.fit(images, epochs=1)
    with pytest.raises(ValueError, match="cannot make training embeddings"):
        half.embed(images)
    rebuilt = Colorizer.from_config(half.get_config())
    assert {w.dtype for w in rebuilt.embedding.weights} == {"bfloat16"}


def test_a_preset_folder_loads_with_its_weights_in_half_precision(tmp_path):
    reference = Colorizer(**CONFIG)
    folder = tmp_path / "preset"
    reference.save_to_preset(folder)
    half = Colorizer.from_preset(folder, dtype_policy="bfloat16")
    assert {w.dtype for w in half.embedding.weights} == {"bfloat16"}
    image = striped_images(1, 32)[0]
    difference = np.abs(
        np.asarray(half.colorize(image)).astype(int)
        - np.asarray(reference.set_precision("float32").colorize(image)).astype(int)
    )
    assert difference.max() <= 3
    assert {w.dtype for w in Colorizer.from_preset(folder).weights} == {"float32"}
    reference.save(tmp_path / "mine.keras")
    with pytest.raises(ValueError, match="preset names and folders"):
        Colorizer.from_preset(tmp_path / "mine.keras", dtype_policy="bfloat16")
