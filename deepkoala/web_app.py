"""The web app of `deepkoala serve`: an HTTP API and a page, in one FastAPI app.

Routes (documented with `curl` examples in docs/app.md):

- `POST /api/colorize`: multipart `image`, optional `hints` (the JSON of
  `--hints`), `reference` (a second photo), `preset`, `saturation`,
  `uncertainty_fade`, `format` (png or jpeg; also a query parameter); answers
  the colorized photo.
- `GET /api/presets`, `GET /api/health`.
- `/`: the page (`deepkoala.web_page`, Gradio), unless `page=False`.

Errors are JSON `{"detail": "one line"}` with the status of
`colorize_service.ServiceError`; a body over the upload limit is refused
with 413 before it is read whole. Needs `pip install deepkoala[app]`.
"""

import json
from typing import Annotated

from fastapi import FastAPI, File, Form, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from deepkoala.colorize_service import ServiceError

# The largest request body, by default (--max-upload-mb).
MAX_UPLOAD_MB = 25


class BodyLimit:
    """ASGI middleware: 413 for a request body over `max_megabytes`, by header or as it streams.

    Example:
    >>> app.add_middleware(BodyLimit, max_megabytes=25)  # doctest: +SKIP
    """

    def __init__(self, app, max_megabytes):
        self.app = app
        self.max_megabytes = max_megabytes
        self.max_bytes = int(max_megabytes * 2**20)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self._refuse(send)
        received = 0
        started = False

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send):
        limit = f"{self.max_megabytes:g} MB"
        body = json.dumps({"detail": f"the upload is larger than {limit} (--max-upload-mb)"})
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body.encode()})


class _TooLarge(Exception):
    pass


def create_app(service, max_upload_mb=MAX_UPLOAD_MB, page=True):
    """The FastAPI app: the API routes on `service`, and the page at "/".

    Args:
        service (deepkoala.colorize_service.ColorizeService): the models and limits.
        max_upload_mb (float): the largest request body, in MB (413 beyond).
        page (bool): mount the Gradio page at "/".

    Returns:
        fastapi.FastAPI: serve it with uvicorn (`deepkoala serve` does).

    Example:
    >>> app = create_app(ColorizeService(load_models))  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=7860)  # doctest: +SKIP
    """
    if not (isinstance(max_upload_mb, (int, float)) and max_upload_mb > 0):
        raise ValueError(
            f"`max_upload_mb` must be a positive number. Received: max_upload_mb={max_upload_mb!r}"
        )
    # No OpenAPI pages: they load their scripts from a CDN, and docs/app.md documents the API.
    app = FastAPI(title="deepkoala", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodyLimit, max_megabytes=max_upload_mb)

    @app.exception_handler(ServiceError)
    async def refused(request, error):
        return JSONResponse({"detail": error.message}, error.status, headers=error.headers)

    @app.get("/api/health")
    async def health():
        return service.health()

    @app.get("/api/presets")
    async def presets():
        return [
            {"name": name, "default": number == 0, "guided": service.guided[name]}
            for number, name in enumerate(service.model_names)
        ]

    @app.post("/api/colorize")
    async def colorize(
        image: Annotated[UploadFile, File()],
        hints: Annotated[str | None, Form()] = None,
        reference: Annotated[UploadFile | None, File()] = None,
        preset: Annotated[str | None, Form()] = None,
        saturation: Annotated[float | None, Form()] = None,
        uncertainty_fade: Annotated[float | None, Form()] = None,
        format: Annotated[str | None, Form()] = None,
        format_query: Annotated[str | None, Query(alias="format")] = None,
    ):
        image_bytes = await image.read()
        reference_bytes = await reference.read() if reference is not None else None
        await image.close()
        if reference is not None:
            await reference.close()
        output_format = (format or format_query or "png").lower()
        encoded, media_type = await run_in_threadpool(
            service.colorize, image_bytes, hints, reference_bytes, preset, saturation,
            output_format, uncertainty_fade,
        )  # fmt: skip
        return Response(encoded, media_type=media_type)

    if page:
        from deepkoala.web_page import mount_page

        app = mount_page(app, service, max_upload_mb)
    return app
