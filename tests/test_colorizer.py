"""Colorizer.colorize and Colorizer.fit on tiny models."""

import os
import time
import warnings

import keras
import numpy as np
import pytest
from PIL import Image
from skimage import color as skcolor
from skimage import data

from deepkoala import Colorizer
from tests.helpers import LEARNING_SIZES, TINY_BACKBONE, TINY_SIZES, striped_images


def _saturate(colorizer, a=3.0, b=-3.0):
    """Push the output to extreme a*b* so that gamut handling is exercised."""
    last = colorizer.head.decoder.get_layer("decoder_conv5")
    kernel, _ = last.get_weights()
    last.set_weights([np.zeros_like(kernel), np.array([a, b], dtype="float32")])


def _lightness_of(image):
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
    return skcolor.rgb2lab(rgb)[..., 0]


# colorize


def test_colorize_keeps_size_for_every_kind_of_input(tmp_path, tiny_colorizer):
    path = tmp_path / "photo.png"
    Image.fromarray(data.coffee()[:50, :70]).save(path)
    sources = [
        str(path),
        path,
        Image.open(path),
        data.coffee()[:33, :41],
        data.camera()[:20, :90],
        data.camera()[:20, :90, None].astype("float32") / 255,
        np.zeros((1, 1), np.uint8),
    ]
    expected = [(70, 50), (70, 50), (70, 50), (41, 33), (90, 20), (90, 20), (1, 1)]
    results = tiny_colorizer.colorize(sources)
    assert isinstance(results, list)
    assert [image.size for image in results] == expected
    assert all(image.mode == "RGB" for image in results)
    single = tiny_colorizer.colorize(str(path))
    assert isinstance(single, Image.Image)
    np.testing.assert_array_equal(np.asarray(single), np.asarray(results[0]))


def test_colorize_never_changes_lightness(tiny_colorizer):
    _saturate(tiny_colorizer)
    gray = data.camera()[::4, ::4]
    color_input = data.astronaut()[::3, ::3]
    gray_out, color_out = tiny_colorizer.colorize([gray, color_input])
    assert np.abs(np.asarray(color_out, dtype=int) - np.asarray(color_out)[..., :1]).max() > 30
    gray_lightness = skcolor.rgb2lab(np.repeat(gray[..., None], 3, axis=-1))[..., 0]
    assert np.abs(_lightness_of(gray_out) - gray_lightness).max() < 1.0
    color_lightness = skcolor.rgb2lab(color_input)[..., 0]
    assert np.abs(_lightness_of(color_out) - color_lightness).max() < 1.0


def test_colorize_upsamples_only_chroma(tiny_colorizer):
    # A fine checkerboard survives at full resolution: the lightness is not
    # taken from the network's 32x32 working size.
    board = (np.indices((96, 96)).sum(axis=0) % 2 * 255).astype(np.uint8)
    out = np.asarray(tiny_colorizer.colorize(board).convert("L"), dtype=int)
    assert np.abs(out[::2, ::2] - out[1::2, ::2]).mean() > 200


def test_colorize_of_rgba_palette_cmyk_and_16_bit_files(tmp_path, tiny_colorizer):
    base = Image.fromarray(data.coffee()[:40, :60])
    paths = []
    for name, image in [
        ("alpha.png", base.convert("RGBA")),
        ("palette.gif", base.convert("P")),
        ("print.jpg", base.convert("CMYK")),
        ("deep.png", Image.fromarray(np.asarray(base.convert("L"), np.uint16) * 257)),
        ("gray.jpg", base.convert("L")),
    ]:
        paths.append(tmp_path / name)
        image.save(paths[-1])
    assert [image.size for image in tiny_colorizer.colorize(paths)] == [(60, 40)] * 5


def test_colorize_runs_lists_in_batches(monkeypatch, tiny_colorizer):
    sizes = []
    original = tiny_colorizer.predict_chroma

    def spy(images):
        sizes.append(len(images))
        return original(images)

    monkeypatch.setattr(tiny_colorizer, "predict_chroma", spy)
    tiny_colorizer.colorize([data.camera()[:16, :16]] * 5, batch_size=2)
    assert sizes == [2, 2, 1]


def test_colorize_errors_name_the_problem(tmp_path, tiny_colorizer):
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        tiny_colorizer.colorize(str(tmp_path / "missing.jpg"))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="broken.png"):
        tiny_colorizer.colorize([data.camera(), broken])
    with pytest.raises(ValueError, match="batch_size"):
        tiny_colorizer.colorize(data.camera(), batch_size=0)
    with pytest.raises(ValueError, match="image_size"):
        tiny_colorizer.colorize(data.camera(), image_size=30)


# fit


def _write_photos(folder, count, start=0):
    os.makedirs(folder, exist_ok=True)
    paths = []
    for index, image in enumerate(striped_images(count, size=40, seed=start), start=start):
        paths.append(os.path.join(folder, f"photo{index:03d}.png"))
        Image.fromarray(image).save(paths[-1])
    return paths


class _CountingEmbed:
    def __init__(self, colorizer):
        self.calls = 0
        self._embed = colorizer.embed

    def __call__(self, batch):
        self.calls += 1
        return self._embed(batch)


def test_fit_on_a_folder_builds_the_cache_once(tmp_path, monkeypatch, tiny_colorizer):
    photos = tmp_path / "photos"
    _write_photos(photos / "nested", 6)
    counter = _CountingEmbed(tiny_colorizer)
    monkeypatch.setattr(tiny_colorizer, "embed", counter)
    cache = tmp_path / "cache"

    history = tiny_colorizer.fit(photos, epochs=3, batch_size=4, cache_dir=cache, verbose=0)
    assert len(history.history["loss"]) == 3
    calls_after_first_fit = counter.calls
    assert calls_after_first_fit >= 1  # the cache was built: the backbone ran
    assert len(os.listdir(cache)) == 1

    # Epochs 2 and 3 above and a second fit on the same folder never run it.
    tiny_colorizer.fit(photos, epochs=2, batch_size=4, cache_dir=cache, verbose=0)
    assert counter.calls == calls_after_first_fit
    backbone = tiny_colorizer.embedding
    assert all(layer is not backbone for layer in tiny_colorizer.training_model().layers)

    # A changed folder rebuilds the cache.
    time.sleep(0.01)
    _write_photos(photos, 1, start=100)
    tiny_colorizer.fit(photos, epochs=1, batch_size=4, cache_dir=cache, verbose=0)
    assert counter.calls > calls_after_first_fit


def test_a_changed_backbone_rebuilds_the_cache(tmp_path, monkeypatch, tiny_colorizer):
    photos = tmp_path / "photos"
    _write_photos(photos, 4)
    cache = tmp_path / "cache"
    tiny_colorizer.fit(photos, epochs=1, batch_size=4, cache_dir=cache, verbose=0)
    embedding = tiny_colorizer.embedding
    embedding.set_weights([w * 2 for w in embedding.get_weights()])
    counter = _CountingEmbed(tiny_colorizer)
    monkeypatch.setattr(tiny_colorizer, "embed", counter)
    tiny_colorizer.fit(photos, epochs=1, batch_size=4, cache_dir=cache, verbose=0)
    assert counter.calls >= 1


def test_embedding_dropout_and_weight_decay_act_in_training_only(tmp_path, tiny_colorizer):
    photos = tmp_path / "photos"
    _write_photos(photos, 4)
    before = [np.array(w) for w in tiny_colorizer.head.get_weights()]
    tiny_colorizer.fit(
        photos, epochs=1, batch_size=4, cache_dir=tmp_path / "cache", verbose=0,
        learning_rate=1e-6, weight_decay=1e5,
    )  # fmt: skip
    # Adam's steps (1e-6) are negligible; the decay takes a tenth of each weight.
    after = tiny_colorizer.head.get_weights()
    kernels = [(b, a) for b, a in zip(before, after, strict=True) if b.ndim == 4]
    assert all(np.linalg.norm(a) < 0.95 * np.linalg.norm(b) for b, a in kernels)
    trainer = tiny_colorizer.training_model()
    assert not any("dropout" in layer.name for layer in trainer.layers)
    tiny_colorizer.fit(
        photos, epochs=1, batch_size=4, cache_dir=tmp_path / "cache", verbose=0,
        embedding_dropout=0.5,
    )  # fmt: skip
    trainer = tiny_colorizer._trainer()._model
    assert {"Dropout"} <= {type(layer).__name__ for layer in trainer.layers}
    # The colorizer itself has no dropout: colorizing stays deterministic.
    assert not any("dropout" in layer.name for layer in tiny_colorizer.head.layers)
    with pytest.raises(ValueError, match="embedding_dropout=1.0"):
        tiny_colorizer.fit(photos, embedding_dropout=1.0, verbose=0)
    with pytest.raises(ValueError, match="weight_decay=-1"):
        tiny_colorizer.fit(photos, weight_decay=-1, verbose=0)


def test_fit_skips_bad_files_with_one_warning(tmp_path, tiny_colorizer):
    photos = tmp_path / "photos"
    _write_photos(photos, 3)
    (photos / "notes.txt").write_text("not an image")
    (photos / "truncated.jpg").write_bytes(b"\xff\xd8\xff\xe0")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = tiny_colorizer.fit(
            photos, epochs=1, batch_size=2, cache_dir=tmp_path / "cache", verbose=0
        )
    skip_warnings = [w for w in caught if "Skipped" in str(w.message)]
    assert len(skip_warnings) == 1
    message = str(skip_warnings[0].message)
    assert "2 file(s)" in message and "notes.txt" in message and "truncated.jpg" in message
    assert np.isfinite(history.history["loss"][0])


def test_fit_on_empty_or_all_bad_folder_is_a_clear_error(tmp_path, tiny_colorizer):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="No files"):
        tiny_colorizer.fit(empty, cache_dir=tmp_path / "cache", verbose=0)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"nope")
    with pytest.raises(ValueError, match="None of the 1 training file"):
        tiny_colorizer.fit(bad, cache_dir=tmp_path / "cache", verbose=0)
    assert os.listdir(tmp_path / "cache") == []  # no half-written cache left behind
    with pytest.raises(FileNotFoundError, match="missing"):
        tiny_colorizer.fit(tmp_path / "missing", verbose=0)


def test_fit_on_a_list_of_paths_and_callbacks(tmp_path, tiny_colorizer):
    paths = _write_photos(tmp_path / "photos", 4)
    seen = []
    callback = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
    history = tiny_colorizer.fit(
        paths,
        epochs=2,
        batch_size=2,
        validation_split=0.5,
        callbacks=[callback],
        cache_dir=tmp_path / "cache",
        verbose=0,
    )
    assert seen == [0, 1]
    assert len(history.history["val_loss"]) == 2


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("epochs", 0),
        ("batch_size", -2),
        ("validation_split", 1.0),
        ("learning_rate", 0),
        ("ema_momentum", 1.0),
    ],
)
def test_fit_rejects_bad_arguments(argument, value, tiny_colorizer):
    with pytest.raises(ValueError, match=argument):
        tiny_colorizer.fit(striped_images(2), **{argument: value})


def test_fit_with_a_moving_average_ends_with_the_average_even_when_stopped_early(tmp_path):
    keras.utils.set_random_seed(0)
    colorizer = Colorizer(backbone=TINY_BACKBONE, backbone_weights=None, **TINY_SIZES)
    last_step, validated, epoch_end = [], [], []

    class StopAfterFirstEpoch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            last_step[:] = [np.array(w) for w in colorizer.head.get_weights()]

        def on_test_end(self, logs=None):
            validated[:] = [np.array(w) for w in colorizer.head.get_weights()]

        def on_epoch_end(self, epoch, logs=None):
            epoch_end[:] = [np.array(w) for w in colorizer.head.get_weights()]
            self.model.stop_training = True

    history = colorizer.fit(
        striped_images(8),
        epochs=3,
        batch_size=2,
        validation_split=0.25,
        learning_rate=1e-2,
        ema_momentum=0.5,
        callbacks=[StopAfterFirstEpoch()],
        verbose=0,
    )
    assert len(history.history["loss"]) == 1
    final = colorizer.head.get_weights()
    # Validation and the callbacks saw the average, the colorizer keeps it, and it is not
    # the last step's weights (Keras' SwapEMAWeights would leave those here).
    for kept, seen, checked in zip(final, epoch_end, validated, strict=True):
        np.testing.assert_array_equal(kept, seen)
        np.testing.assert_array_equal(kept, checked)
    assert any(not np.array_equal(k, s) for k, s in zip(final, last_step, strict=True))
    # A later fit without averaging trains on from the kept weights.
    colorizer.fit(striped_images(4), epochs=1, batch_size=2, verbose=0)


def test_it_learns_colors_that_follow_from_gray_patterns():
    """The proof that training is real: far below the gray baseline in seconds."""
    from deepkoala import color

    keras.utils.set_random_seed(0)
    colorizer = Colorizer(backbone=TINY_BACKBONE, backbone_weights=None, **LEARNING_SIZES)
    images = striped_images(240)
    chroma = np.asarray(color.rgb_to_lab(images[180:]))[..., 1:] / color.AB_SCALE
    gray_baseline_mse = float(np.mean(chroma**2))

    started = time.process_time()
    history = colorizer.fit(
        images,
        epochs=12,
        batch_size=16,
        validation_split=0.25,
        learning_rate=3e-3,
        seed=0,
        verbose=0,
    )
    cpu_seconds = time.process_time() - started
    best = min(history.history["val_loss"])
    print(f"gray baseline {gray_baseline_mse:.4f}, best val MSE {best:.4f}, {cpu_seconds:.1f}s CPU")
    assert best < 0.2 * gray_baseline_mse
    assert cpu_seconds < 60


def test_random_crops_from_larger_stored_images():
    from deepkoala.embedding_cache import ImageStore
    from deepkoala.training_data import TrainingBatches

    images = np.arange(4 * 12 * 12 * 3, dtype=np.uint32).reshape(4, 12, 12, 3).astype(np.uint8)
    store = ImageStore(images, np.zeros((4, 6), np.float32))
    training = TrainingBatches(store, np.arange(4), 4, crop_size=8, augment=True, seed=0)
    (inputs, targets) = training[0]
    assert inputs["rgb"].shape == (4, 8, 8, 3)
    np.testing.assert_array_equal(inputs["rgb"], targets)
    seen = {inputs["rgb"].tobytes()}
    for _ in range(5):
        training.on_epoch_end()
        seen.add(training[0][0]["rgb"].tobytes())
    assert len(seen) > 1  # crops and flips differ between epochs
    validation = TrainingBatches(store, np.arange(4), 4, crop_size=8, shuffle=False, augment=False)
    np.testing.assert_array_equal(validation[0][0]["rgb"], images[:, 2:10, 2:10])


def test_fit_with_a_larger_stored_size(tmp_path, tiny_colorizer):
    history = tiny_colorizer.fit(
        striped_images(4, size=48), epochs=1, batch_size=2, stored_size=40, verbose=0
    )
    assert np.isfinite(history.history["loss"][0])
    with pytest.raises(ValueError, match="stored_size"):
        tiny_colorizer.fit(striped_images(2), stored_size=16, verbose=0)


def test_fit_caches_several_views_per_photo_and_validates_on_whole_photos(
    tmp_path, monkeypatch, tiny_colorizer
):
    from deepkoala import embedding_cache

    photos = tmp_path / "photos"
    _write_photos(photos, 5)
    seen = {}
    original_split = embedding_cache.ImageStore.split

    def recording_split(store, validation_split):
        seen["sources"] = store.sources.copy()
        seen["split"] = original_split(store, validation_split)
        return seen["split"]

    monkeypatch.setattr(embedding_cache.ImageStore, "split", recording_split)
    history = tiny_colorizer.fit(
        photos,
        epochs=1,
        batch_size=4,
        validation_split=0.2,
        views_per_image=3,
        cache_dir=tmp_path / "cache",
        verbose=0,
    )
    assert "val_loss" in history.history
    np.testing.assert_array_equal(seen["sources"], np.repeat(np.arange(5), 3))
    train, validation = seen["split"]
    assert train.tolist() == list(range(12)) and validation.tolist() == [12, 13, 14]
    # Another number of views is another cache.
    tiny_colorizer.fit(photos, epochs=1, batch_size=4, cache_dir=tmp_path / "cache", verbose=0)
    assert len(os.listdir(tmp_path / "cache")) == 2
    with pytest.raises(ValueError, match="views_per_image"):
        tiny_colorizer.fit(photos, views_per_image=0, verbose=0)
