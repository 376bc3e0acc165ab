"""Colorizing uploads for a server: models loaded once, a bounded queue, limits on input.

`ColorizeService` is what `deepkoala serve`'s page and HTTP API share. It
holds the colorizers, loaded at start and never from a request; at most
`concurrency` photos are colorized at once (each slot has its own copy of the
models, so a request's decoding settings never leak into another's), at most
`queue` more wait, and the next one is refused at once (`ServiceError` 503,
with a retry delay) instead of piling up memory. Uploads are read from
memory: nothing is written to disk.
"""

import contextlib
import io
import math
import queue as queue_module
import threading
import time

from PIL import Image, UnidentifiedImageError

from deepkoala import output_files
from deepkoala.argument_checks import check_positive_int
from deepkoala.guidance import parse_hints

# Uploads: the largest photo, in pixels (Pillow's own bomb check stops twice
# its limit), and the formats a browser or a script sends.
MAX_PIXELS = 40_000_000
FORMATS = {"png": ("PNG", "image/png"), "jpeg": ("JPEG", "image/jpeg")}
# The decoding settings a request may set for itself.
REQUEST_DECODING = ("saturation", "uncertainty_fade")


class ServiceError(Exception):
    """A request the service refuses: an HTTP status, a one-line reason, extra headers.

    Example:
    >>> ServiceError(415, "not an image").status
    415
    """

    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def open_upload(data, max_pixels, what="the upload"):
    """A decoded PIL image from uploaded bytes, or `ServiceError` 413/415/422.

    The size is read from the header and checked before any pixel is decoded.

    Example:
    >>> open_upload(b"not an image", 100).size  # doctest: +SKIP
    """
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ServiceError(415, f"{what} is not an image Pillow can read") from None
    except Image.DecompressionBombError as error:
        raise ServiceError(413, f"{what} is too large: {error}") from None
    width, height = image.size
    if width * height > max_pixels:
        raise ServiceError(
            413,
            f"{what} has {width}x{height} = {width * height:,} pixels; the limit is "
            f"{max_pixels:,} (--max-pixels)",
        )
    try:
        image.load()
    except (OSError, ValueError, SyntaxError) as error:
        raise ServiceError(422, f"{what} cannot be decoded: {error}") from None
    return image


class ColorizeService:
    """Colorizers for a server, with bounded concurrency and queue.

    Args:
        load_models (callable): `load_models()` -> {name: Colorizer}, called
            once per slot at start (the first name is the default).
        concurrency (int): colorizations at once (one model copy each).
        queue (int): requests that may wait for a slot; more get 503.
        max_pixels (int): the largest photo, in pixels (413 beyond).

    Example:
    >>> service = ColorizeService(lambda: {"koala": Colorizer.from_preset("koala-lite0")})
    ... # doctest: +SKIP
    >>> png, media_type = service.colorize(open("old.jpg", "rb").read())  # doctest: +SKIP
    """

    def __init__(self, load_models, concurrency=1, queue=8, max_pixels=MAX_PIXELS):
        check_positive_int("concurrency", concurrency)
        if not isinstance(queue, int) or isinstance(queue, bool) or queue < 0:
            raise ValueError(f"`queue` must be an integer >= 0. Received: queue={queue!r}")
        check_positive_int("max_pixels", max_pixels)
        self.concurrency, self.queue_size, self.max_pixels = concurrency, queue, max_pixels
        self._slots = queue_module.Queue()
        for _ in range(concurrency):
            self._slots.put(load_models())
        first = self._slots.queue[0]
        self.model_names = list(first)
        self.guided = {name: colorizer.get_config()["guided"] for name, colorizer in first.items()}
        # The models' own decoding settings, which a request may change for itself.
        self.decoding = {
            name: {key: colorizer.get_config()[key] for key in REQUEST_DECODING}
            for name, colorizer in first.items()
        }
        self._lock = threading.Lock()
        self._waiting = 0
        self._busy = 0
        self._seconds = 1.0  # a running mean of one colorization, for Retry-After

    def health(self):
        """What `GET /api/health` answers: models, and how busy the service is."""
        with self._lock:
            return {
                "status": "ok",
                "models": self.model_names,
                "busy": self._busy,
                "waiting": self._waiting,
                "concurrency": self.concurrency,
                "queue": self.queue_size,
            }

    def colorize(
        self, image_bytes, hints=None, reference_bytes=None, preset=None, saturation=None,
        output_format="png", uncertainty_fade=None,
    ):  # fmt: skip
        """Colorize one uploaded photo; (encoded bytes, media type) at the photo's size.

        Args:
            image_bytes (bytes): the photo (any format Pillow reads; a color
                photo is made gray first, as the command line does).
            hints (str | bytes | list | None): JSON in `--hints`' format, or hints.
            reference_bytes (bytes | None): a color photo lending its colors.
            preset (str | None): one of `model_names` (default the first).
            saturation (float | None): scales the colors (default the model's).
            output_format (str): "png" or "jpeg".
            uncertainty_fade (float | None): fades torn colors (default the model's).

        Raises:
            ServiceError: 413, 415 or 422 for bad input, 503 when the queue is full.
        """
        if output_format not in FORMATS:
            raise ServiceError(422, f"format must be png or jpeg, got {output_format!r}")
        result = self._colorized(
            image_bytes, hints, reference_bytes, preset, saturation, uncertainty_fade
        )
        pillow_format, media_type = FORMATS[output_format]
        # As `deepkoala colorize` writes files: the photo's EXIF, ICC profile and alpha kept.
        return output_files.encode_result(result, pillow_format), media_type

    def colorize_image(
        self, image_bytes, hints=None, reference_bytes=None, preset=None, saturation=None,
        uncertainty_fade=None,
    ):  # fmt: skip
        """`colorize`'s result as an RGB PIL image, not encoded (the page shows it).

        Example:
        >>> service.colorize_image(open("old.jpg", "rb").read()).size  # doctest: +SKIP
        """
        return self._colorized(
            image_bytes, hints, reference_bytes, preset, saturation, uncertainty_fade
        ).convert("RGB")

    def _colorized(self, image_bytes, hints, reference_bytes, preset, saturation, uncertainty_fade):
        """The colorizer's result, with the photo's metadata and alpha (`Colorizer.colorize`)."""
        name = preset or self.model_names[0]
        if name not in self.model_names:
            raise ServiceError(422, f"no model {name!r} here; this server has {self.model_names}")
        if saturation is not None and not (0 < saturation <= 4 and math.isfinite(saturation)):
            raise ServiceError(422, f"saturation must be in (0, 4], got {saturation}")
        if uncertainty_fade is not None and not 0 <= uncertainty_fade <= 4:
            raise ServiceError(422, f"uncertainty_fade must be in [0, 4], got {uncertainty_fade}")
        decoding = dict(self.decoding[name])
        decoding.update(
            (key, value)
            for key, value in (("saturation", saturation), ("uncertainty_fade", uncertainty_fade))
            if value is not None
        )
        if isinstance(hints, (str, bytes)):
            try:
                hints = parse_hints(hints) if hints.strip() else None
            except ValueError as error:
                raise ServiceError(422, str(error)) from None
        image = open_upload(image_bytes, self.max_pixels)
        reference = None
        if reference_bytes:
            reference = open_upload(reference_bytes, self.max_pixels, "the reference")
        with self._slot() as models:
            colorizer = models[name]
            # Only what differs from the slot's copy: a new fade retraces the network.
            config = colorizer.get_config()
            changed = {key: value for key, value in decoding.items() if config[key] != value}
            if changed:
                colorizer.set_decoding(**changed)
            try:
                result = colorizer.colorize(image, hints=hints or None, reference=reference)
            except ValueError as error:  # a hint outside the photo, a gray reference
                raise ServiceError(422, str(error)) from None
        return result

    @contextlib.contextmanager
    def _slot(self):
        """A slot's models, waited for in the queue; 503 when the queue is full."""
        with self._lock:
            if self._slots.empty() and self._waiting >= self.queue_size:
                rounds = math.ceil((self._waiting + 1) / self.concurrency)
                raise ServiceError(
                    503,
                    f"busy: {self._busy} photo(s) being colorized and {self._waiting} "
                    f"waiting (--queue {self.queue_size})",
                    {"Retry-After": str(max(1, math.ceil(rounds * self._seconds)))},
                )
            self._waiting += 1
        try:
            models = self._slots.get()
        finally:
            with self._lock:
                self._waiting -= 1
        with self._lock:
            self._busy += 1
        started = time.perf_counter()
        try:
            yield models
        finally:
            with self._lock:
                self._busy -= 1
                self._seconds = 0.8 * self._seconds + 0.2 * (time.perf_counter() - started)
            self._slots.put(models)
