"""Qt resource (.rcc) files: the parser that finds GCompris's photos inside them."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

try:  # optional: Qt 6 may compress resources with zstd
    import zstandard
except ImportError:  # pragma: no cover - depends on the environment
    zstandard = None


RCC_COMPRESSED_ZLIB = 0x01
RCC_DIRECTORY = 0x02
RCC_COMPRESSED_ZSTD = 0x04


class RccError(ValueError):
    """The bytes are not a Qt binary resource file this parser understands."""


@dataclass
class RccEntry:
    """One file inside a .rcc: its resource path and its (decompressed) bytes.

    `data` is None when the entry could not be decompressed (zstd without the
    `zstandard` module); `error` then says why.
    """

    path: str
    flags: int
    data: bytes | None
    error: str = ""


def qt_hash(name: str) -> int:
    """Qt's qt_hash() of a resource name, as stored next to each name in a .rcc."""
    h = 0
    for (unit,) in struct.iter_unpack(">H", name.encode("utf-16-be")):
        h = ((h << 4) + unit) & 0xFFFFFFFF
        h ^= (h & 0xF0000000) >> 23
        h &= 0x0FFFFFFF
    return h


def parse_rcc(buf: bytes) -> list[RccEntry]:
    """Return every file in a Qt binary resource (.rcc) file, depth first.

    Format (Qt's rcc, versions 1-3, all integers big-endian): the header is
    b"qres", version, offset of the tree, offset of the data, offset of the
    names (and, from version 3, a flags word). The tree is an array of nodes of
    14 bytes (22 from version 2: 8 more bytes of modification time), node 0
    being the root directory. A node is name offset (4), flags (2), then for a
    directory (flag 2) the child count (4) and the index of the first child
    (4), otherwise country (2), language (2) and data offset (4). A name is its
    length in UTF-16 units (2), its qt_hash (4) and the UTF-16BE text. A data
    blob is its length (4) and the bytes; with flag 1 they are a 4-byte
    uncompressed length and a zlib stream, with flag 4 a zstd frame.
    """
    if len(buf) < 20 or buf[:4] != b"qres":
        raise RccError("not a Qt resource file (no 'qres' magic)")
    version, tree_off, data_off, names_off = struct.unpack_from(">4I", buf, 4)
    if version not in (1, 2, 3):
        raise RccError(f"unsupported .rcc format version {version}")
    node_size = 14 if version == 1 else 22
    for what, off in (("tree", tree_off), ("data", data_off), ("names", names_off)):
        if off >= len(buf):
            raise RccError(f"{what} offset {off} is past the end of the file ({len(buf)} bytes)")

    def u16(off: int) -> int:
        if off + 2 > len(buf):
            raise RccError(f"truncated .rcc file (read at {off})")
        return struct.unpack_from(">H", buf, off)[0]

    def u32(off: int) -> int:
        if off + 4 > len(buf):
            raise RccError(f"truncated .rcc file (read at {off})")
        return struct.unpack_from(">I", buf, off)[0]

    def name_at(rel: int) -> str:
        off = names_off + rel
        length = u16(off)
        raw = buf[off + 6 : off + 6 + 2 * length]
        if len(raw) != 2 * length:
            raise RccError(f"truncated name at {off}")
        return raw.decode("utf-16-be")

    entries: list[RccEntry] = []
    seen: set[int] = set()
    stack: list[tuple[int, str]] = [(0, "")]
    while stack:
        index, parent = stack.pop()
        if index in seen:
            raise RccError(f"tree node {index} is reached twice (corrupt tree)")
        seen.add(index)
        node = tree_off + index * node_size
        flags = u16(node + 4)
        path = parent + "/" + name_at(u32(node)) if index else ""
        if flags & RCC_DIRECTORY:
            count, first = u32(node + 6), u32(node + 10)
            # Reverse so that the stack pops children in their stored order.
            stack.extend((child, path) for child in reversed(range(first, first + count)))
            continue
        blob_off = data_off + u32(node + 10)
        size = u32(blob_off)
        blob = buf[blob_off + 4 : blob_off + 4 + size]
        if len(blob) != size:
            raise RccError(f"truncated data for {path}")
        entries.append(_decode_rcc_blob(path, flags, blob))
    return entries


def _decode_rcc_blob(path: str, flags: int, blob: bytes) -> RccEntry:
    if flags & RCC_COMPRESSED_ZLIB:
        if len(blob) < 4:
            raise RccError(f"compressed entry {path} is shorter than its length header")
        expected = struct.unpack_from(">I", blob)[0]
        try:
            data = zlib.decompress(blob[4:])
        except zlib.error as exc:
            raise RccError(f"bad zlib stream in {path}: {exc}") from exc
        if len(data) != expected:
            raise RccError(f"{path}: zlib gave {len(data)} bytes, header says {expected}")
        return RccEntry(path, flags, data)
    if flags & RCC_COMPRESSED_ZSTD:
        if zstandard is None:
            return RccEntry(path, flags, None, "zstd-compressed, zstandard module not installed")
        try:
            data = zstandard.ZstdDecompressor().decompressobj().decompress(blob)
        except zstandard.ZstdError as exc:
            raise RccError(f"bad zstd frame in {path}: {exc}") from exc
        return RccEntry(path, flags, data)
    return RccEntry(path, flags, blob)
