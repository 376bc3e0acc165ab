"""The page of `deepkoala serve` (Gradio): drop a photo, see it in color, steer it, download.

The page calls the same `ColorizeService` as the HTTP API, so it shares its
models, queue and limits. Clicking the photo places a hint of the chosen
color there; a reference photo lends its colors; each change colorizes
again. It is built to work offline: no analytics, fonts served by the
server itself, no run history kept, and uploads removed from Gradio's cache
within minutes.
"""

import io
import json
import os
import tempfile
import time
import uuid

import gradio as gr
from PIL import Image, ImageOps

from deepkoala.colorize_service import ServiceError

# Gradio keeps uploads and results in its cache: checked every minute, files
# older than five minutes removed (and all of them at shutdown).
CACHE_LIFETIME = (60, 300)
# The largest side of the images the page shows (the download is full size).
DISPLAY_SIDE = 1600


def _bytes(path):
    with open(path, "rb") as file:
        return file.read()


def _result_file(image, folder):
    """The full-resolution result as a PNG for the download button; older ones removed."""
    now = time.time()
    for entry in os.scandir(folder):
        if now - entry.stat().st_mtime > CACHE_LIFETIME[1]:
            os.remove(entry.path)
    path = os.path.join(folder, f"colorized-{uuid.uuid4().hex[:12]}.png")
    image.save(path, compress_level=1)
    return path


def build_page(service):
    """The Gradio `Blocks` of the page, on `service`.

    Example:
    >>> page = build_page(service)  # doctest: +SKIP
    """

    # Removed with the page (at the latest when the server stops).
    results = tempfile.TemporaryDirectory(prefix="deepkoala-results-")

    def colorize(upload, hints_text, reference, preset, saturation, fade):
        if upload is None:
            return None, None, gr.update(value=None, visible=False), None
        photo_bytes = _bytes(upload)
        try:
            result = service.colorize_image(
                photo_bytes,
                hints_text,
                _bytes(reference) if reference else None,
                preset,
                saturation,
                uncertainty_fade=fade,
            )
        except ServiceError as error:
            raise gr.Error(error.message) from None
        download = _result_file(result, results.name)
        # The browser gets at most DISPLAY_SIDE pixels a side; hints and the download
        # are in the photo's own pixels.
        before = ImageOps.exif_transpose(Image.open(io.BytesIO(photo_bytes))).convert("L")
        shown, shown_result = _for_display(before.convert("RGB")), _for_display(result)
        return (
            shown,
            (shown, shown_result),
            gr.update(value=download, visible=True),
            result.size,
        )

    def add_hint(hints_text, hint_color, size, event: gr.SelectData):
        try:
            hints = json.loads(hints_text) if hints_text.strip() else []
        except json.JSONDecodeError:
            hints = []
        x, y = photo_pixel(event.index, size)
        hints.append({"x": x, "y": y, "color": _hex(hint_color)})
        return json.dumps(hints)

    with gr.Blocks(title="deepkoala", analytics_enabled=False, delete_cache=CACHE_LIFETIME) as page:
        gr.Markdown(
            "# deepkoala\nDrop a gray (or color) photo. Click the photo to place a hint of "
            "the chosen color there; a reference photo lends its colors."
        )
        with gr.Row():
            with gr.Column():
                upload = gr.File(
                    label="Photo: drop or pick one (JPEG, PNG, WebP, TIFF, ...)",
                    file_types=["image"], elem_id="upload",
                )  # fmt: skip
                photo = gr.Image(
                    label="Click the photo to place a hint", type="pil", interactive=False,
                    elem_id="photo",
                )  # fmt: skip
                with gr.Row():
                    hint_color = gr.ColorPicker("#b22222", label="Hint color", elem_id="color")
                    clear = gr.Button("Clear hints", elem_id="clear")
                hints = gr.Textbox(
                    label='Hints (JSON: [{"x": 120, "y": 80, "color": "#b22222"}])',
                    elem_id="hints",
                )
                reference = gr.File(
                    label="Reference photo (optional)", file_types=["image"], elem_id="reference"
                )
                preset = gr.Dropdown(
                    service.model_names, value=service.model_names[0], label="Model",
                    elem_id="preset",
                )  # fmt: skip
                own = service.decoding[service.model_names[0]]
                saturation = gr.Slider(
                    0.5, 2.0, value=own["saturation"], step=0.05, label="Saturation",
                    elem_id="saturation",
                )  # fmt: skip
                fade = gr.Slider(
                    0.0, 2.0, value=own["uncertainty_fade"], step=0.05,
                    label="Fade colors the model is unsure of", elem_id="fade",
                )  # fmt: skip
            with gr.Column():
                slider = gr.ImageSlider(
                    label="Before / after", type="pil", interactive=False, elem_id="result"
                )
                download = gr.DownloadButton(
                    "Download (full resolution)", visible=False, elem_id="download"
                )
        size = gr.State()  # the photo's own (width, height)
        inputs = [upload, hints, reference, preset, saturation, fade]
        outputs = [photo, slider, download, size]
        upload.upload(lambda: "", outputs=hints).then(colorize, inputs, outputs)
        upload.clear(lambda: "", outputs=hints).then(colorize, inputs, outputs)
        photo.select(add_hint, [hints, hint_color, size], hints).then(colorize, inputs, outputs)
        clear.click(lambda: "", outputs=hints).then(colorize, inputs, outputs)
        hints.submit(colorize, inputs, outputs)
        for control in (reference, preset, saturation, fade):
            control.change(colorize, inputs, outputs)
    page.deepkoala_results = results  # kept as long as the page
    return page


def _for_display(image):
    if max(image.size) <= DISPLAY_SIDE:
        return image
    shown = image.copy()
    shown.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE), Image.Resampling.LANCZOS)
    return shown


def photo_pixel(shown_pixel, size):
    """The photo's own pixel (x, y) under a click at `shown_pixel` of its display copy.

    Example:
    >>> photo_pixel((800, 300), (4000, 3000))  # shown at 1600x1200
    (2000, 750)
    """
    width, height = size
    scale = max(width, height) / min(max(width, height), DISPLAY_SIDE)
    x, y = (round(value * scale) for value in shown_pixel)
    return min(max(x, 0), width - 1), min(max(y, 0), height - 1)


def _hex(picked):
    """A color picker's value ("#rrggbb", or "rgba(r, g, b, a)") as "#rrggbb"."""
    if picked.startswith("rgb"):
        channels = picked[picked.index("(") + 1 : picked.index(")")].split(",")[:3]
        return "#" + "".join(f"{round(float(value)):02x}" for value in channels)
    return picked


def mount_page(app, service, max_upload_mb):
    """Mount the page at "/" of `app` (FastAPI), offline, uploads limited; returns the app.

    Example:
    >>> app = mount_page(FastAPI(), service, 25)  # doctest: +SKIP
    """
    # No usage reports from the server either (Gradio reads this when a page is built).
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    # No footer: its links lead off this machine.
    return gr.mount_gradio_app(
        app,
        build_page(service),
        path="/",
        footer_links=[],
        run_history=False,
        max_file_size=f"{int(max_upload_mb * 1024)}kb",
        theme=gr.themes.Default(
            font=["ui-sans-serif", "system-ui", "sans-serif"],
            font_mono=["ui-monospace", "monospace"],
        ),
    )
