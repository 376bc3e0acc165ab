"""Weights on first use, against an HTTP server on 127.0.0.1 that each test starts."""

import hashlib
import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from deepkoala import Colorizer, cli
from deepkoala.download import WeightsHashError, WeightsUnavailableError, fetch
from deepkoala.presets import Preset, register_preset, unregister_preset
from tests.helpers import TINY_BACKBONE, TINY_SIZES


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        server = self.server
        name = self.path.lstrip("/").split("/")[-1]
        server.requests.append(self.path)
        data = server.files.get(name)
        if data is None:
            self.send_error(404, "Not Found")
            return
        if server.barrier is not None:
            server.barrier.wait()  # hold each transfer until all clients have asked
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if server.truncate:
            self.wfile.write(data[: len(data) // 2])  # then the connection closes
            return
        for start in range(0, len(data), server.chunk):
            self.wfile.write(data[start : start + server.chunk])
            time.sleep(server.delay)

    def log_message(self, *args):
        pass


class _Server:
    def __init__(self):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.files, self.httpd.requests = {}, []
        self.httpd.truncate, self.httpd.chunk, self.httpd.delay = False, 1 << 20, 0.0
        self.httpd.barrier = None
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self):
        if self._thread.is_alive():
            self.httpd.shutdown()
            self.httpd.server_close()
            self._thread.join()


@pytest.fixture
def server():
    running = _Server()
    yield running
    running.stop()


@pytest.fixture
def home(tmp_path, monkeypatch, server):
    monkeypatch.setenv("DEEPKOALA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DEEPKOALA_WEIGHTS_URL", f"{server.url}/mirror")
    monkeypatch.delenv("DEEPKOALA_OFFLINE", raising=False)
    return tmp_path / "home"


@pytest.fixture
def tiny_preset(tmp_path, server, tiny_colorizer):
    folder = tmp_path / "tiny-preset"
    tiny_colorizer.save_to_preset(folder)
    files = {}
    for path in sorted(folder.iterdir()):
        data = path.read_bytes()
        server.httpd.files[path.name] = data
        files[path.name] = hashlib.sha256(data).hexdigest()
    preset = Preset(
        name="tiny-test",
        description="a tiny preset for tests",
        files=files,
        trained_on="nothing",
        scores={"psnr": 1.0},
    )
    register_preset(preset)
    yield preset
    unregister_preset(preset.name)


def _files(folder):
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_first_use_downloads_then_the_cache_serves(home, server, tiny_preset, tiny_colorizer):
    lightness = np.random.default_rng(0).uniform(-1, 1, (1, 32, 32, 1)).astype("float32")
    expected = np.asarray(tiny_colorizer(lightness))
    first = Colorizer.from_preset("tiny-test", verbose=False)
    np.testing.assert_allclose(np.asarray(first(lightness)), expected, atol=1e-6)
    # The mirror was used, for each file of the preset folder.
    names = sorted(tiny_preset.files)
    assert names == ["backbone.weights.h5", "config.json", "head.weights.h5", "metadata.json"]
    assert server.httpd.requests == [f"/mirror/tiny-test/{name}" for name in names]
    assert _files(home) == names
    server.stop()
    second = Colorizer.from_preset("tiny-test", verbose=False)
    np.testing.assert_allclose(np.asarray(second(lightness)), expected, atol=1e-6)
    assert "tiny-test" in Colorizer.presets()


def test_wrong_hash_names_both_hashes_and_keeps_nothing(home, server, tmp_path):
    server.httpd.files["w.h5"] = b"some bytes"
    actual = hashlib.sha256(b"some bytes").hexdigest()
    target = home / "weights" / "w.h5"
    with pytest.raises(WeightsHashError) as error:
        fetch(f"{server.url}/w.h5", target, sha256="ab" * 32, verbose=False)
    assert "ab" * 32 in str(error.value) and actual in str(error.value)
    assert _files(home) == []


def test_cut_transfer_keeps_nothing_and_the_next_call_succeeds(home, server):
    data = os.urandom(300_000)
    server.httpd.files["w.h5"] = data
    server.httpd.truncate = True
    target = home / "weights" / "w.h5"
    digest = hashlib.sha256(data).hexdigest()
    with pytest.raises(WeightsUnavailableError, match="w.h5"):
        fetch(f"{server.url}/w.h5", target, sha256=digest, verbose=False)
    assert _files(home) == []
    server.httpd.truncate = False
    assert fetch(f"{server.url}/w.h5", target, sha256=digest, verbose=False) == str(target)
    assert target.read_bytes() == data


def test_404_and_refused_connection_say_what_to_do(home, server):
    target = home / "weights" / "missing.h5"
    url = f"{server.url}/missing.h5"
    with pytest.raises(WeightsUnavailableError) as error:
        fetch(url, target, sha256="cd" * 32, verbose=False)
    message = str(error.value)
    assert url in message and str(target) in message and "by hand" in message and "404" in message
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    refused = f"http://127.0.0.1:{closed_port}/w.h5"
    with pytest.raises(WeightsUnavailableError) as error:
        fetch(refused, target, sha256="cd" * 32, verbose=False)
    assert refused in str(error.value) and str(target) in str(error.value)
    assert _files(home) == []


def test_offline_fetches_nothing(home, server, tiny_preset, monkeypatch):
    monkeypatch.setenv("DEEPKOALA_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError) as error:
        Colorizer.from_preset("tiny-test", verbose=False)
    message = str(error.value)
    assert "DEEPKOALA_OFFLINE" in message
    assert f"{server.url}/mirror/tiny-test/backbone.weights.h5" in message
    assert str(home / "weights" / "tiny-test" / "backbone.weights.h5") in message
    assert server.httpd.requests == []


def test_a_corrupt_cached_file_is_replaced(home, server, tiny_preset):
    cached = home / "weights" / "tiny-test" / "head.weights.h5"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"damaged")
    Colorizer.from_preset("tiny-test", verbose=False)
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == tiny_preset.files[cached.name]


def test_two_processes_fetching_at_once_both_get_the_valid_file(home, server):
    data = os.urandom(2_000_000)
    server.httpd.files["big.h5"] = data
    server.httpd.chunk, server.httpd.delay = 100_000, 0.01
    server.httpd.barrier = threading.Barrier(2, timeout=120)  # both transfers overlap
    digest = hashlib.sha256(data).hexdigest()
    target = home / "weights" / "big.h5"
    code = (
        "import sys; from deepkoala.download import fetch; "
        "fetch(sys.argv[1], sys.argv[2], sys.argv[3], verbose=False)"
    )
    url = f"{server.url}/big.h5"
    processes = [
        subprocess.Popen([sys.executable, "-c", code, url, str(target), digest]) for _ in range(2)
    ]
    assert [p.wait(timeout=120) for p in processes] == [0, 0]
    assert len(server.httpd.requests) == 2
    assert hashlib.sha256(target.read_bytes()).hexdigest() == digest
    assert _files(home) == ["big.h5"]


def test_unknown_preset_lists_the_known_ones(tiny_preset):
    with pytest.raises(ValueError, match="Known presets: .*tiny-test"):
        Colorizer.from_preset("no-such-preset")
    with pytest.raises(FileNotFoundError):
        Colorizer.from_preset("/no/such/model.keras")


def test_from_preset_takes_a_local_keras_file_or_a_url(home, server, tmp_path, tiny_colorizer):
    path = tmp_path / "mine.keras"
    tiny_colorizer.save(path)
    assert Colorizer.from_preset(str(path)).get_config()["backbone"] == TINY_BACKBONE
    server.httpd.files["mine.keras"] = path.read_bytes()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    remote = Colorizer.from_preset(f"{server.url}/models/mine.keras", sha256=digest, verbose=False)
    assert remote.image_size == TINY_SIZES["image_size"]


def test_presets_command_lists_presets(home, tiny_preset, capsys):
    assert cli.main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "tiny-test: a tiny preset for tests" in out
    assert "downloaded on first use (backbone.weights.h5, config.json" in out
    assert "psnr 1.0" in out
    # The bundled preset's record: its recipe's leave-one-source-out figures.
    assert "across sources (each left out in turn, dB over gray): gcompris +0.96" in out
    Colorizer.from_preset("tiny-test", verbose=False)
    assert cli.main(["presets"]) == 0
    assert f"backbone {TINY_BACKBONE}, working size 32" in capsys.readouterr().out


def test_a_saved_folder_or_file_can_be_registered_as_a_preset(tmp_path, tiny_colorizer):
    folder, file = tmp_path / "mine", tmp_path / "mine.keras"
    tiny_colorizer.save_to_preset(folder)
    tiny_colorizer.save(file)
    lightness = np.random.default_rng(0).uniform(-1, 1, (1, 32, 32, 1)).astype("float32")
    for location in (folder, file):
        register_preset(Preset("mine-test", "my own", location=str(location)))
        try:
            loaded = Colorizer.from_preset("mine-test")
        finally:
            unregister_preset("mine-test")
        np.testing.assert_allclose(
            np.asarray(loaded(lightness)), np.asarray(tiny_colorizer(lightness)), atol=1e-6
        )
    with pytest.raises(FileExistsError, match="nothing was written"):
        tiny_colorizer.save_to_preset(folder)


def test_efficientnet_weights_are_fetched_when_not_shipped(home, server, tmp_path, monkeypatch):
    from deepkoala import weights
    from deepkoala.backbones import get_backbone
    from deepkoala.efficientnet_lite import efficientnet_lite0

    bundled = Path(weights.PACKAGE_DATA) / weights.EFFICIENTNET_LITE0_FILE
    server.httpd.files[bundled.name] = bundled.read_bytes()
    monkeypatch.setattr(weights, "PACKAGE_DATA", str(tmp_path / "absent"))
    model = get_backbone("efficientnet_lite0").build("imagenet")
    assert _files(home) == [bundled.name]
    assert server.httpd.requests == [f"/mirror/{bundled.name}"]
    reference = efficientnet_lite0(weights=str(bundled))
    probe = np.random.default_rng(0).uniform(-1, 1, (1, 224, 224, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(model(probe)), np.asarray(reference(probe)))


def test_a_url_download_is_kept_only_if_it_loads_as_a_colorizer(
    home, server, tmp_path, tiny_colorizer
):
    url = f"{server.url}/models/mine.keras"
    server.httpd.files["mine.keras"] = b"<html>Service Unavailable</html>"
    with pytest.raises(ValueError, match="not kept"):
        Colorizer.from_preset(url, verbose=False)
    assert _files(home) == []  # the error page was not kept
    path = tmp_path / "mine.keras"
    tiny_colorizer.save(path)
    server.httpd.files["mine.keras"] = path.read_bytes()  # the server recovers
    assert Colorizer.from_preset(url, verbose=False).image_size == TINY_SIZES["image_size"]
    assert _files(home) == ["mine.keras"]


def test_a_cached_url_file_that_does_not_load_is_fetched_again(
    home, server, tmp_path, tiny_colorizer
):
    url = f"{server.url}/models/mine.keras"
    path = tmp_path / "mine.keras"
    tiny_colorizer.save(path)
    server.httpd.files["mine.keras"] = path.read_bytes()
    Colorizer.from_preset(url, verbose=False)
    (cached,) = [p for p in home.rglob("mine.keras")]
    cached.write_bytes(b"random bytes left by an older release")
    requests = len(server.httpd.requests)
    assert Colorizer.from_preset(url, verbose=False).image_size == TINY_SIZES["image_size"]
    assert len(server.httpd.requests) == requests + 1
    assert cached.read_bytes() == path.read_bytes()


def test_a_trickling_server_hits_the_overall_deadline(home, server, tmp_path):
    server.httpd.files["slow.weights.h5"] = b"x" * 64
    server.httpd.chunk, server.httpd.delay = 1, 0.2  # a byte every 0.2 s: 13 s in all
    started = time.monotonic()
    with pytest.raises(WeightsUnavailableError, match="took more than"):
        fetch(f"{server.url}/slow.weights.h5", tmp_path / "slow.weights.h5", deadline=1.0)
    assert time.monotonic() - started < 5
    assert _files(tmp_path) == []
