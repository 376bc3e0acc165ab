"""colorize_stream: order, failures, bounded read-ahead and `finish`."""

import threading

import numpy as np
import pytest

from deepkoala.pipeline import colorize_stream


def _fake_network(calls):
    def predict(lightness):
        calls.append(len(lightness))
        return np.zeros(lightness.shape + (2,), np.float32)

    return predict


def test_results_keep_input_order_with_failures_between(tmp_path):
    photo = np.full((20, 30), 128, np.uint8)
    sources = [photo, str(tmp_path / "missing.jpg"), photo, "not/here.png", photo]
    calls = []
    results = list(colorize_stream(_fake_network(calls), sources, batch_size=2, image_size=8))
    assert [index for index, _, _ in results] == [0, 1, 2, 3, 4]
    assert [error is None for _, _, error in results] == [True, False, True, False, True]
    assert isinstance(results[1][2], FileNotFoundError) and "missing.jpg" in str(results[1][2])
    assert results[0][1].size == (30, 20)
    assert calls == [1, 1, 1]  # the failing items never reach the network


def test_finish_runs_in_workers_and_its_errors_name_the_item():
    threads = set()

    def finish(index, image):
        threads.add(threading.current_thread().name)
        if index == 2:
            raise OSError("disk full")
        return index * 10

    sources = [np.zeros((9, 9), np.uint8)] * 4
    results = list(colorize_stream(_fake_network([]), sources, 2, 8, finish=finish))
    assert [output for _, output, _ in results] == [0, 10, None, 30]
    assert "disk full" in str(results[2][2])
    assert threading.current_thread().name not in threads


def test_a_generator_is_read_at_most_two_batches_ahead_of_the_network():
    pulled = []

    def frames():  # like the frames of a video: no length, produced on demand
        for index in range(40):
            pulled.append(index)
            yield np.zeros((9, 9), np.uint8)

    pulled_at_call = []

    def predict(lightness):
        pulled_at_call.append(len(pulled))
        return np.zeros(lightness.shape + (2,), np.float32)

    results = list(colorize_stream(predict, frames(), batch_size=4, image_size=8))
    assert [index for index, _, _ in results] == list(range(40))
    assert pulled_at_call[0] <= 3 * 4  # the batch in the network and two more
    assert len(pulled_at_call) == 10


def test_an_error_of_the_network_propagates_and_stops_the_workers():
    def broken(lightness):
        raise FloatingPointError("not finite")

    with pytest.raises(FloatingPointError):
        list(colorize_stream(broken, [np.zeros((9, 9), np.uint8)] * 6, 2, 8))


def test_large_photos_are_read_and_batched_a_few_at_a_time(monkeypatch):
    from deepkoala import pipeline

    # As if each photo had 24 megapixels, with a budget of 32.
    monkeypatch.setattr(pipeline, "PIXEL_BUDGET", 800)
    pulled, pulled_at_call, calls = [], [], []

    def photos():
        for index in range(6):
            pulled.append(index)
            yield np.zeros((20, 30), np.uint8)  # 600 pixels

    def predict(lightness):
        calls.append(len(lightness))
        pulled_at_call.append(len(pulled))
        return np.zeros(lightness.shape + (2,), np.float32)

    results = list(colorize_stream(predict, photos(), batch_size=4, image_size=8))
    assert [error for _, _, error in results] == [None] * 6
    assert calls == [1] * 6  # two would exceed the budget
    # Pulled at each network call: the photo in the network, the one read
    # ahead, and one pulled but waiting for room (not two batches: 8).
    ahead = [count - done for done, count in enumerate(pulled_at_call)]
    assert ahead == [3, 3, 3, 3, 2, 1]
    # Small photos still go two batches ahead, in full batches.
    calls.clear()
    small = [np.zeros((10, 10), np.uint8)] * 8  # 100 pixels each
    assert len(list(colorize_stream(predict, small, batch_size=4, image_size=8))) == 8
    assert calls == [4, 4]


def test_a_large_photo_is_kept_as_decoded_and_merged_with_the_same_colors(monkeypatch, tmp_path):
    from PIL import Image

    from deepkoala import pipeline

    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    photo = Image.fromarray(small).resize((160, 120), Image.Resampling.BILINEAR)
    path = str(tmp_path / "photo.png")
    photo.save(path)
    kept = photo.copy()

    def predict(lightness):  # colors that depend on the working copy
        return np.stack([lightness - 50.0, 50.0 - lightness], axis=-1).astype(np.float32)

    def outputs(sources):
        return [np.asarray(out) for _, out, _ in colorize_stream(predict, sources, 2, 32)]

    expected = outputs([path, photo])
    monkeypatch.setattr(pipeline, "KEEP_PHOTO_PIXELS", 1000)  # as for 24 megapixels
    prepared = pipeline._prepare(path, 32, None, 8)
    assert isinstance(prepared[0], pipeline._Photo) and prepared[0].overwrite
    assert not pipeline._prepare(photo, 32, None, 8)[0].overwrite  # the caller's image
    for got, want in zip(outputs([path, photo]), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.asarray(photo), np.asarray(kept))
