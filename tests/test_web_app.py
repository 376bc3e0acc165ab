"""`deepkoala serve`: the API's answers and limits, a real server, the page in a browser."""

import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the app's packages: pip install deepkoala[app]")
pytest.importorskip("gradio", reason="the app's packages: pip install deepkoala[app]")

from fastapi.testclient import TestClient  # noqa: E402

from deepkoala import Colorizer, cli  # noqa: E402
from deepkoala.colorize_service import ColorizeService  # noqa: E402
from deepkoala.web_app import create_app  # noqa: E402

PHOTO = sorted((Path(__file__).parent.parent / "examples" / "photos").glob("*.jpg"))[0]


def _png(image):
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def service(saved_tiny_model):
    return ColorizeService(lambda: {"tiny": Colorizer.load(saved_tiny_model)}, queue=1)


@pytest.fixture
def client(service):
    return TestClient(create_app(service, max_upload_mb=2, page=False))


def _colorize(client, data, **fields):
    files = {"image": ("photo", data)}
    if "reference" in fields:
        files["reference"] = ("reference", fields.pop("reference"))
    return client.post("/api/colorize", files=files, data=fields)


def test_the_api_colorizes_at_the_photos_size_and_lists_its_models(client):
    assert client.get("/api/health").json() == {
        "status": "ok", "models": ["tiny"], "busy": 0, "waiting": 0, "concurrency": 1, "queue": 1,
    }  # fmt: skip
    assert client.get("/api/presets").json() == [{"name": "tiny", "default": True, "guided": False}]
    gray = Image.open(PHOTO).convert("L").resize((90, 60))
    answer = _colorize(client, _png(gray))
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    result = Image.open(io.BytesIO(answer.content))
    assert result.size == (90, 60) and result.mode == "RGB"
    for jpeg in (
        client.post("/api/colorize?format=jpeg", files={"image": ("p", _png(gray))}),
        _colorize(
            client,
            _png(gray),
            format="jpeg",
            saturation="1.5",
            uncertainty_fade="1",
            preset="tiny",
        ),  # fmt: skip
    ):
        assert jpeg.status_code == 200 and jpeg.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(jpeg.content)).format == "JPEG"


def test_the_api_keeps_the_photos_exif_and_alpha_as_the_command_line_does(client):
    gray = Image.open(PHOTO).convert("L").resize((64, 48)).convert("LA")
    gray.putalpha(Image.linear_gradient("L").resize((64, 48)))
    exif = Image.Exif()
    exif[0x010E] = "grandmother's garden, 1952"  # ImageDescription
    upload = io.BytesIO()
    gray.save(upload, "PNG", exif=exif)
    answer = _colorize(client, upload.getvalue())
    assert answer.status_code == 200
    result = Image.open(io.BytesIO(answer.content))
    assert result.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(result)[..., 3], np.asarray(gray)[..., 1])
    assert result.getexif()[0x010E] == "grandmother's garden, 1952"
    jpeg = Image.open(io.BytesIO(_colorize(client, upload.getvalue(), format="jpeg").content))
    assert jpeg.mode == "RGB" and jpeg.getexif()[0x010E] == "grandmother's garden, 1952"


def test_hints_and_a_reference_steer_the_colors(client):
    gray = _png(Image.open(PHOTO).convert("L").resize((64, 64)))
    plain = np.asarray(Image.open(io.BytesIO(_colorize(client, gray).content)), "float32")
    hints = json.dumps([{"x": 32, "y": 32, "color": "#00c000"}])
    hinted = _colorize(client, gray, hints=hints)
    assert hinted.status_code == 200
    steered = np.asarray(Image.open(io.BytesIO(hinted.content)), "float32")
    green = np.array([0, 192, 0], "float32")
    assert np.abs(steered[32, 32] - green).sum() < np.abs(plain[32, 32] - green).sum()
    reference = _png(Image.new("RGB", (40, 40), (200, 40, 40)))
    assert _colorize(client, gray, reference=reference).status_code == 200


@pytest.mark.parametrize(
    "data, fields, status, reason",
    [
        (b"hello, not a photo", {}, 415, "not an image"),
        ("truncated", {}, 422, "cannot be decoded"),
        ("photo", {"hints": "{not json"}, 422, "Cannot read the hints"),
        ("photo", {"hints": '[{"x": 900, "y": 1, "color": "#ff0000"}]'}, 422, "outside the photo"),
        ("photo", {"hints": '{"x": 1}'}, 422, "JSON list"),
        ("photo", {"preset": "other"}, 422, "no model 'other'"),
        ("photo", {"format": "gif"}, 422, "png or jpeg"),
        ("photo", {"saturation": "-1"}, 422, "saturation"),
        ("photo", {"uncertainty_fade": "-1"}, 422, "uncertainty_fade"),
        ("photo", {"reference": b"nope"}, 415, "the reference is not an image"),
    ],
)
def test_bad_input_gets_its_status_and_a_one_line_reason_and_the_server_goes_on(
    client, data, fields, status, reason
):
    photo = _png(Image.open(PHOTO).convert("L").resize((50, 40)))
    if data == "photo":
        data = photo
    elif data == "truncated":
        data = PHOTO.read_bytes()[:2000]
    answer = _colorize(client, data, **fields)
    assert answer.status_code == status and reason in answer.json()["detail"]
    assert _colorize(client, photo).status_code == 200  # still serving


def test_too_large_uploads_are_refused_with_the_limit_named(saved_tiny_model):
    service = ColorizeService(lambda: {"tiny": Colorizer.load(saved_tiny_model)}, max_pixels=1000)
    client = TestClient(create_app(service, max_upload_mb=0.05, page=False))
    big = _colorize(client, os.urandom(60_000))
    assert big.status_code == 413 and "larger than 0.05 MB" in big.json()["detail"]
    wide = _colorize(client, _png(Image.new("L", (100, 20))))
    assert wide.status_code == 413 and "2,000 pixels; the limit is 1,000" in wide.json()["detail"]
    assert _colorize(client, _png(Image.new("L", (30, 30)))).status_code == 200


def test_a_full_queue_answers_503_with_retry_after(service, client):
    photo = _png(Image.new("L", (32, 32), 120))
    started, release = threading.Event(), threading.Event()

    def hold_the_slot():
        with service._slot():
            started.set()
            release.wait(30)

    holder = threading.Thread(target=hold_the_slot)
    holder.start()
    started.wait(10)
    waiting = threading.Thread(target=lambda: _colorize(client, photo))  # fills the queue of 1
    waiting.start()
    deadline = time.time() + 10
    while service.health()["waiting"] < 1 and time.time() < deadline:
        time.sleep(0.01)
    refused = _colorize(client, photo)
    release.set()
    holder.join()
    waiting.join()
    assert refused.status_code == 503 and int(refused.headers["retry-after"]) >= 1
    assert "waiting (--queue 1)" in refused.json()["detail"]
    assert _colorize(client, photo).status_code == 200


def test_serve_without_the_app_packages_names_the_extra(monkeypatch, capsys):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "gradio" else real_find_spec(name, *a),
    )
    assert cli.main(["serve"]) == 1
    assert "pip install deepkoala[app]" in capsys.readouterr().err


def test_serving_beyond_this_machine_warns(monkeypatch, saved_tiny_model, capsys):
    import uvicorn

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **kwargs: served.append(host))
    arguments = ["serve", "--model", str(saved_tiny_model)]
    assert cli.main(arguments) == 0 and served == ["127.0.0.1"]
    assert "warning" not in capsys.readouterr().err
    assert cli.main([*arguments, "--host", "0.0.0.0"]) == 0 and served[-1] == "0.0.0.0"
    assert "reachable from the network" in capsys.readouterr().err


def test_the_library_alone_never_imports_the_apps_packages():
    code = (
        "import sys, deepkoala, deepkoala.cli; deepkoala.cli.build_parser(); "
        "print(sorted(m for m in ('gradio', 'fastapi', 'uvicorn') if m in sys.modules))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(url, seconds=90):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return json.loads(answer.read())
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(url)


def test_the_real_server_process_on_127_0_0_1(tmp_path, saved_tiny_model):
    port = _free_port()
    # The command line, in a process of its own; the tiny test backbone registered first.
    command = (
        "import sys, tests.helpers; from deepkoala.cli import main; "
        f"sys.exit(main(['serve', '--model', {str(saved_tiny_model)!r}, '--port', '{port}']))"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", command], cwd=Path(__file__).parent.parent,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        try:
            health = _wait_for(f"http://127.0.0.1:{port}/api/health")
        except TimeoutError:
            server.kill()
            pytest.fail(f"the server did not start: {server.communicate()[1][-2000:]}")
        assert health["models"] == ["tiny"]
        body, boundary = _multipart(_png(Image.new("L", (48, 36), 100)))
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/colorize",
            data=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            assert Image.open(io.BytesIO(answer.read())).size == (48, 36)
    finally:
        server.terminate()
        server.wait(30)


def _multipart(data):
    boundary = "deepkoala-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="p.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, boundary


CHROMIUM = next((path for path in ("/usr/bin/chromium", "/usr/bin/chromium-browser")
                 if os.path.exists(path)), None)  # fmt: skip


@pytest.fixture
def live_server(service):
    """The app on a free port of 127.0.0.1 (with DEEPKOALA_SCREENSHOT=PATH: the bundled
    guided preset, for the screenshot of docs/app.md)."""
    import uvicorn

    if os.environ.get("DEEPKOALA_SCREENSHOT"):
        from deepkoala.presets import GUIDED_PRESET

        service = ColorizeService(lambda: {GUIDED_PRESET: Colorizer.from_preset(GUIDED_PRESET)})

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    _wait_for(f"http://127.0.0.1:{port}/api/health")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


def test_the_page_in_a_real_browser_colorizes_steers_and_downloads_offline(tmp_path, live_server):
    playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    if CHROMIUM is None:
        pytest.skip("no browser: apt-get install chromium")
    photo = tmp_path / "gray.png"
    Image.open(PHOTO).convert("L").resize((320, 240)).save(photo)
    screenshot = os.environ.get("DEEPKOALA_SCREENSHOT")
    if screenshot:  # a real photo for the docs
        photo = tmp_path / "gray.jpg"
        Image.open(PHOTO).convert("L").resize((480, 360)).save(photo)
    requests = []
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("request", lambda request: requests.append(request.url))
        page.goto(live_server)
        # Not an image: a one-line message, and the page goes on.
        text = tmp_path / "notes.png"
        text.write_text("not a photo")
        page.set_input_files("#upload input[type=file]", str(text))
        page.wait_for_selector("text=the upload is not an image", timeout=60_000)
        page.click("#upload button[aria-label='Clear']")
        page.set_input_files("#upload input[type=file]", str(photo))
        page.wait_for_selector("#download", state="visible", timeout=60_000)
        first = _download(page, tmp_path / "first.png")
        width, height = Image.open(photo).size
        assert first.size == (width, height) and first.mode == "RGB"
        # A blue hint: click the photo at its center; the color there moves toward blue.
        page.click("#color button")  # Gradio's color dialog, with a hex field
        page.fill("#color input[type=text]", "#2060e0")
        page.press("#color input[type=text]", "Enter")
        page.keyboard.press("Escape")
        box = page.locator("#photo img").first.bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_function(
            "document.querySelector('#hints textarea').value.includes('#2060e0')"
        )
        hints = json.loads(page.input_value("#hints textarea"))
        center = (width // 2, height // 2)
        assert len(hints) == 1 and abs(hints[0]["x"] - center[0]) <= 2
        assert abs(hints[0]["y"] - center[1]) <= 2
        second = first
        deadline = time.time() + 60
        while np.array_equal(np.asarray(second), np.asarray(first)) and time.time() < deadline:
            time.sleep(0.5)
            second = _download(page, tmp_path / "second.png")
        x, y = hints[0]["x"], hints[0]["y"]
        blue = _chroma(np.array([[[0x20, 0x60, 0xE0]]], "uint8"))[0, 0]
        before = np.linalg.norm(_chroma(first)[y - 1 : y + 2, x - 1 : x + 2].mean((0, 1)) - blue)
        after = np.linalg.norm(_chroma(second)[y - 1 : y + 2, x - 1 : x + 2].mean((0, 1)) - blue)
        assert after < before - 5  # a*b* units
        if screenshot:
            # Without the bad upload's message, which Gradio keeps on screen for a while.
            page.evaluate(
                "document.querySelectorAll('[class*=toast]').forEach(node => node.remove())"
            )
            page.screenshot(path=screenshot)
        browser.close()
    elsewhere = [url for url in requests if not url.startswith(live_server)]
    assert not elsewhere, f"the page asked other hosts: {elsewhere[:5]}"
    # Gradio's file route serves its own cache, never a path a client names.
    for path in ("/etc/passwd", str(photo)):
        try:
            with urllib.request.urlopen(f"{live_server}/gradio_api/file={path}") as answer:
                status = answer.status
        except urllib.error.HTTPError as error:
            status = error.code
        assert status in (403, 404), (path, status)


def _chroma(image):
    from deepkoala import color

    rgb = np.asarray(image, "float32") / 255.0
    return np.asarray(color.rgb_to_lab(rgb))[..., 1:]


def _download(page, path):
    with page.expect_download() as download:
        page.click("#download")
    download.value.save_as(path)
    return Image.open(path)


def test_the_page_shows_big_photos_smaller_and_maps_clicks_back_to_their_pixels():
    from deepkoala.web_page import DISPLAY_SIDE, _for_display, photo_pixel

    big = Image.new("RGB", (4 * DISPLAY_SIDE, 2 * DISPLAY_SIDE))
    assert _for_display(big).size == (DISPLAY_SIDE, DISPLAY_SIDE // 2)
    assert photo_pixel((DISPLAY_SIDE - 1, 10), big.size) == (4 * DISPLAY_SIDE - 4, 40)
    assert photo_pixel((DISPLAY_SIDE, DISPLAY_SIDE), big.size) == (6399, 3199)  # clipped
    small = Image.new("RGB", (320, 240))
    assert _for_display(small) is small and photo_pixel((160, 120), small.size) == (160, 120)
