"""Fetch weight files on first use, and never trust a partial or corrupt one.

A download streams into a partial file in the target's own folder
(`deepkoala.atomic`), is checked against its sha256, and only then is
renamed into place (an atomic step on one file system). Two processes
fetching the same file at once both end with the one valid file.
"""

import hashlib
import http.client
import os
import time
import urllib.error
import urllib.request

from deepkoala.atomic import atomic_write

_CHUNK_BYTES = 1 << 20
# Seconds one read may wait, and a whole download may take.
_READ_TIMEOUT = 60
DOWNLOAD_DEADLINE = 30 * 60


class WeightsUnavailableError(OSError):
    """A weights file is missing and could not be downloaded."""


class WeightsHashError(ValueError):
    """A weights file does not have the sha256 it must have."""


def offline():
    """True when `$DEEPKOALA_OFFLINE` forbids downloads (1, true, yes)."""
    return os.environ.get("DEEPKOALA_OFFLINE", "").strip().lower() in ("1", "true", "yes")


def file_sha256(path):
    """The sha256 hex digest of a file, read in chunks.

    Example:
    >>> file_sha256("LICENSE")  # doctest: +SKIP
    'cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _by_hand(url, path, sha256):
    check = f" and check that its sha256 is {sha256}" if sha256 else ""
    return f"To install it by hand, download {url} and save it as {path}{check}."


def fetch(url, path, sha256=None, verbose=True, validate=None, deadline=None):
    """Return `path`, downloading `url` there first if it is missing or wrong.

    Args:
        url (str): where the file can be downloaded.
        path (str | os.PathLike): where it is kept.
        sha256 (str | None): the expected hex digest; a file with another digest is never
            kept. None accepts any complete download.
        verbose (bool): show a progress bar while downloading.
        validate (callable | None): None, or `validate(path)` that raises `ValueError` when a
            downloaded file is not what it must be (e.g. not loadable); it
            runs before the file is renamed into place, so a rejected
            download is never kept.
        deadline (float | None): seconds the whole download may take (default
            `DOWNLOAD_DEADLINE`); a server that trickles bytes does not hold
            the call for ever.

    Raises:
        WeightsUnavailableError: the file is missing and cannot be fetched
            (no network, `$DEEPKOALA_OFFLINE`, a 404, a cut transfer); the
            message names the URL, the path and how to place the file by hand.
        WeightsHashError: the download has the wrong sha256; nothing is kept.
        ValueError: `validate` rejected the download; nothing is kept.

    Example:
    >>> fetch("https://example.org/w.weights.h5", "/tmp/w.weights.h5")  # doctest: +SKIP
    '/tmp/w.weights.h5'
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.isfile(path):
        actual = file_sha256(path) if sha256 else None
        if actual == sha256:
            return path
        if offline():
            raise WeightsHashError(
                f"{path} has sha256 {actual}, but {sha256} was expected. "
                "Delete it or replace it with the right file. " + _by_hand(url, path, sha256)
            )
    if offline():
        raise WeightsUnavailableError(
            f"{path} is missing and DEEPKOALA_OFFLINE is set. " + _by_hand(url, path, sha256)
        )
    try:
        with atomic_write(path) as partial:
            with open(partial, "wb") as file:
                actual = _stream(url, file, verbose, deadline or DOWNLOAD_DEADLINE)
            if sha256 and actual != sha256:
                raise WeightsHashError(
                    f"The file downloaded from {url} has sha256 {actual}, but {sha256} was "
                    "expected; it was not kept. The server or a mirror may hold a different or "
                    "damaged file."
                )
            if validate is not None:
                try:
                    validate(partial)
                except ValueError as error:
                    raise ValueError(
                        f"The file downloaded from {url} was not kept: {error}"
                    ) from error
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        if isinstance(error, WeightsUnavailableError):
            raise
        raise WeightsUnavailableError(
            f"Could not download {url} to {path}: {error}. " + _by_hand(url, path, sha256)
        ) from error
    return path


def _stream(url, file, verbose, deadline):
    """Copy `url` into `file`; return the sha256. Raises on a cut or slow transfer."""
    digest = hashlib.sha256()
    give_up = time.monotonic() + deadline
    with urllib.request.urlopen(url, timeout=_READ_TIMEOUT) as response:
        expected = response.headers.get("Content-Length")
        expected = int(expected) if expected and expected.isdigit() else None
        # Keras is imported here, not at the top: the command line reads the
        # preset registry before it starts a backend.
        import keras

        progress = keras.utils.Progbar(expected, unit_name="byte") if verbose else None
        received = 0
        # read1 returns what has arrived, so the deadline is checked even
        # when the server sends a byte at a time.
        for chunk in iter(lambda: response.read1(_CHUNK_BYTES), b""):
            if time.monotonic() > give_up:
                raise TimeoutError(f"the download took more than {deadline:.0f} s")
            file.write(chunk)
            digest.update(chunk)
            received += len(chunk)
            if progress is not None:
                progress.update(received)
    if expected is not None and received != expected:
        raise http.client.IncompleteRead(b"", expected - received)
    return digest.hexdigest()
