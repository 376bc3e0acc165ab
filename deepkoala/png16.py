"""16-bit PNG files, which Pillow cannot write for color images.

Pillow holds color at 8 bits a channel, so a 16-bit colorized scan
(`full_resolution.merge(..., depth=16)`) is written here: the PNG format
itself (a signature and length-type-data-CRC chunks, rows zlib-compressed),
with the photo's EXIF in an `eXIf` chunk.
"""

import struct
import zlib

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG color types by channel count: RGB, RGBA.
_COLOR_TYPES = {3: 2, 4: 6}


def _chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def encode(pixels, exif=None, level=1):
    """The bytes of a 16-bit PNG of `pixels`.

    Args:
        pixels (numpy.ndarray): uint16 (H, W, 3) RGB or (H, W, 4) RGBA, sRGB.
        exif (bytes | None): an EXIF block (`photo_metadata.PhotoMetadata.exif`).
        level (int): zlib's compression level (1: fast, files a little larger).

    Returns:
        bytes: the file.

    Example:
    >>> encode(np.zeros((2, 3, 3), "uint16"))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint16 or pixels.ndim != 3 or pixels.shape[-1] not in _COLOR_TYPES:
        raise ValueError(
            "A 16-bit PNG needs uint16 pixels of shape (H, W, 3) or (H, W, 4). "
            f"Received: dtype={pixels.dtype}, shape={pixels.shape}"
        )
    height, width, channels = pixels.shape
    header = struct.pack(">IIBBBBB", width, height, 16, _COLOR_TYPES[channels], 0, 0, 0)
    # Each row: filter type 0 (none), then big-endian samples.
    rows = pixels.astype(">u2").reshape(height, width * channels).view(np.uint8)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1)
    chunks = [_chunk(b"IHDR", header), _chunk(b"sRGB", b"\x00")]
    if exif:
        # The eXIf chunk holds the TIFF-structured data, without JPEG's "Exif\0\0".
        chunks.append(_chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif))
    chunks.append(_chunk(b"IDAT", zlib.compress(raw.tobytes(), level)))
    chunks.append(_chunk(b"IEND", b""))
    return _SIGNATURE + b"".join(chunks)
