"""Rebuild a small, openly licensed set of colour photographs from Debian packages.

The set is meant for training and checking a small demo colorizer. Nearly
everything comes from packages in the Debian archive, so anyone with `apt-get`
can rebuild exactly the same files, and each file's licence is the one stated in
the package's own `/usr/share/doc/<package>/copyright` file; the sample photos
of two Python packages (scikit-learn, scikit-image) are added when installed.

Usage:
    python tools/make_demo_dataset.py OUTDIR [--debs DIR] [--heldout-percent 10]
                                      [--max-short-side 512]
                                      [--accept-opencv-catch-all]
                                      [--accept-tuxtype-commons]

for example `python tools/make_demo_dataset.py ~/demo_data --debs ~/debs` (a few
minutes and about 370 MB of downloads; OUTDIR gets about 36 MB at the default
--max-short-side 512).

Never taken, whatever else changes here: mate-backgrounds, darknet,
enlightenment-data and lomiri-wallpapers-20.04 (RESERVED_PACKAGES). Their photos
are kept apart for an independent evaluation of models trained on this set.

Needs `apt-get` and `dpkg` (any Debian or Ubuntu system) plus numpy and Pillow
(with WebP support). The optional `zstandard` module lets it read Qt resources
compressed with zstd; without it such entries are skipped and counted.

Sources (the .deb files are fetched with `apt-get download` into a temporary
folder, or into --debs DIR, where a package_*.deb already there is reused; each
is unpacked with `dpkg -x` into a temporary folder):

    gcompris-qt-data          photos inside the Qt resource files
                              /usr/share/gcompris-qt/rcc/<activity>.rcc of the
                              activities categorization, explore_monuments,
                              explore_world_animals, explore_farm_animals,
                              explore_world_music, erase and clickgame. The .rcc
                              files are parsed here (see `parse_rcc`).
    tuxpaint-data             the photo templates in /usr/share/tuxpaint/templates.
    lomiri-wallpapers-16.04   the wallpapers in /usr/share/backgrounds.
    opencv-doc                sample images in /usr/share/doc/opencv-doc/examples,
                              but only those that a specific paragraph of the
                              copyright file covers: the sample photos are only
                              covered by the catch-all "Files: *" paragraph meant
                              for OpenCV's own code, many are third-party test
                              images of unclear origin (Debian already strips the
                              "Lena" image for licence reasons), so they are
                              dropped ("licence unclear") unless
                              --accept-opencv-catch-all is given.
    scratch                   the photo backgrounds in
                              /usr/share/scratch/Media/Backgrounds (CC-BY-SA-3.0,
                              paragraph "Media/*"), less the drawings listed in
                              SCRATCH_DRAWINGS; the costumes are cut-outs.
    kphotoalbum               the demo photos /usr/share/kphotoalbum/demo/*.jpg (not
                              CategoryImages/), turned by the "angle" that the
                              demo's index.xml gives. The copyright file is not
                              machine-readable: its single licence, GPL-2+, is
                              written here (KPHOTOALBUM_LICENCE, "explicit").
    tuxtype-data              photos in /usr/share/tuxtype/images (kcas*.jpg,
                              hidden.jpg, backgrounds/*.jpg; images/cities/ holds
                              drawn sprites only). The package's README_IMAGES.TXT
                              calls them Wikimedia Commons featured pictures,
                              with no author or licence per file, so they are
                              dropped ("licence unclear") unless
                              --accept-tuxtype-commons is given.
    plasma-workspace-wallpapers
                              the wallpapers in PLASMA_PHOTOS (the photos among
                              the renders), one image each: the largest in
                              <wallpaper>/contents/images. Copyright file: GPL-2+
                              ("Files: *"); each metadata.json names the author
                              and another licence (mostly LGPLv3), recorded as
                              upstream_*.
    lxqt-themes               the photos in /usr/share/lxqt/wallpapers listed in
                              LXQT_PHOTOS (those credited to one photographer in
                              wallpapers/License). Copyright file: LGPL-2.1+
                              ("Files: *"); wallpapers/License says CC-BY-SA-3.0,
                              recorded as upstream_*.
    palapeli-data             the puzzle photos in /usr/share/palapeli/collection.
                              Copyright file: GPL-2+ ("Files: *"); each puzzle's
                              .desktop file names the author, source page and
                              licence (public domain, GFDL), recorded as upstream_*.
    libjxl-testdata           the three CC0 photos external/wesaturate/500px/
                              *_srgb8.png (the rest are 64 px crops and grey or
                              alpha variants of these).
    puzzle-jigsaw             /usr/share/puzzle-jigsaw/samples (CC0-1.0).

Sources that are installed Python packages (read where Python imports them
from; a package that is not installed is skipped with a warning). Their
licences are written here ("explicit", with a note saying where they are
stated):

    scikit-learn              china.jpg and flower.jpg in sklearn/datasets/images
                              (CC-BY-2.0 per the README.txt there, copied to
                              licenses/scikit-learn.README.txt).
    scikit-image              the public-domain and CC0 colour photos in
                              skimage/data (SKIMAGE_PHOTOS; licences from the
                              docstrings of the skimage.data functions).

The allow-lists and exclude lists (SCRATCH_DRAWINGS, PLASMA_PHOTOS, LXQT_PHOTOS,
the `only` patterns in `package_specs`) were checked by eye on contact sheets;
the files they leave out are in dropped.csv with the reason.

Licences: the copyright file (machine-readable DEP-5 format) is parsed and the
last "Files:" paragraph whose pattern matches the file's path in the upstream
source tree gives the licence. GCompris converts its photos to .webp at build
time while the copyright file still names the original .jpg/.png, so for it the
original extensions are tried too; `licence_match` in the manifest tells whether
the licence came from a paragraph naming the file ("file"), from one naming its
original before the .webp conversion ("file-before-webp"), from a directory
pattern ("pattern"), only from the catch-all "Files: *" ("catch-all"), or is
written in this script ("explicit", explained in `licence_note`). For GCompris
the upstream README next to the photos (shipped in the same .rcc) is read too
and its licence, author and source URL are recorded as `upstream_*`, as are
those that Plasma, LXQt and Palapeli state next to their photos; they often
differ from the copyright file (which for GCompris still describes older photos
for many of these files), so check both before redistributing.

Photo filter (documented thresholds, see `PhotoFilter`): an image is kept only if

    * it is a raster image that Pillow decodes (an SVG is a drawing by construction);
    * it is not a cut-out: no more than 1% of its pixels are (partly) transparent;
    * its short side is at least 128 px;
    * it is colourful: the Hasler-Suesstrunk colourfulness M is at least 12
      (grey images score 0; M < 15 is "not colourful" in their scale);
    * it does not look like a drawing or a synthetic image. On a copy whose long
      side is at most 256 px:
        - `unique`, the number of distinct colours (5 bits per channel) in a
          64x64 copy divided by 4096, is at least 0.025 (line drawings, logos);
        - `top8`, the share of pixels taken by the 8 most frequent exact
          colours, is below 0.85 (flat-colour drawings, diagrams, and product
          shots that are mostly an empty white background);
        - `edges`, the fraction of pixels where a neighbour differs by more
          than 24 levels in some channel, is between 0.005 (below: smooth
          computer-made gradients, abstract wallpapers) and 0.90 (above:
          synthetic noise patterns).
      Drawings with smooth shading (3-D renders, gradient-filled cartoons) are
      not reliably caught by these statistics; none is left in the default
      sources (checked by eye on contact sheets), but they are among the
      opencv-doc samples that --accept-opencv-catch-all would add.

Output, in OUTDIR (earlier *.jpg files in train/ and heldout/ are removed first):

    train/*.jpg, heldout/*.jpg   RGB JPEG, quality 95, short side at most
                                 --max-short-side (512) px (never upscaled), named
                                 <source>-<activity or folder>-<name>.jpg
    manifest.csv                 one row per kept image: path, split, subject,
                                 package, version, original_path (in the
                                 package), resource_path (in the .rcc), licence,
                                 licence_match and copyright (from the copyright
                                 file), upstream_licence, upstream_copyright,
                                 upstream_source (what upstream states next to
                                 the photo), licence_note, width, height
    dropped.csv                  every image file not kept, with the reason and
                                 the filter statistics
    licenses/<package>.copyright the copyright files the licences come from (and
                                 licenses/scikit-learn.README.txt)

Held-out split: about --heldout-percent (10) percent of the SUBJECTS go to
heldout/. The subject of an image is its file name without extension, without a
"_by_<author>" suffix, lower-cased, with digits and non-letters removed (so
bear1.jpg, bear2.jpg and Bear.webp in any folder or package share the subject
"bear"; a Plasma wallpaper's subject is its name, not that of its image file,
which is its size). Subjects where one is a prefix (of at least 5 letters) of the other
("greatpyramid" / "greatpyramidofgiza") or that are listed in SUBJECT_ALIASES
(spelling variants) are merged; merging is conservative (it may join unrelated
subjects such as "dragon" and "dragonfly", which only coarsens the split). A
subject is held out when the first 8 hex digits of sha256("deepkoala-demo:" +
subject), as an integer, modulo 1000 are below 10 * percent, which is
deterministic and never splits a subject. The subjects of the repository's
example photos (EXAMPLE_SUBJECTS: astronaut, chelsea, coffee, rocket) are always
held out, so the examples show photos no preset saw. Because subjects differ in size (27
fish photos share the subject "fish"), the held-out share of IMAGES can differ
from the share of subjects; the script prints both.
"""

from __future__ import annotations

import argparse
import collections
import csv
import fnmatch
import glob
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps

try:  # optional: Qt 6 may compress resources with zstd
    import zstandard
except ImportError:  # pragma: no cover - depends on the environment
    zstandard = None

GCOMPRIS_ACTIVITIES = (
    "categorization",
    "explore_monuments",
    "explore_world_animals",
    "explore_farm_animals",
    "explore_world_music",
    "erase",
    "clickgame",
)
RASTER_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
VECTOR_EXTENSIONS = (".svg", ".svgz")
IMAGE_EXTENSIONS = RASTER_EXTENSIONS + VECTOR_EXTENSIONS
# Original extensions tried when GCompris's copyright file names a photo before
# its conversion to .webp.
PRE_WEBP_EXTENSIONS = (".jpg", ".jpeg", ".JPG", ".png", ".PNG")
MAX_SHORT_SIDE = 512  # default of --max-short-side
JPEG_QUALITY = 95
SPLIT_SALT = "deepkoala-demo:"
# Different spellings of one subject (merged for the held-out split).
SUBJECT_ALIASES = {
    "qutubminar": "kutubminar",
    "chamaeleon": "chameleon",
}
MIN_PREFIX_MERGE = 5
# Subjects of the repository's example photos (examples/): always held out, so
# that the examples and the README show photos no preset was trained on.
EXAMPLE_SUBJECTS = frozenset({"astronaut", "chelsea", "coffee", "rocket"})
# Never taken: their photos are kept apart for an independent evaluation.
RESERVED_PACKAGES = (
    "mate-backgrounds",
    "darknet",
    "enlightenment-data",
    "lomiri-wallpapers-20.04",
)


# --------------------------------------------------------------------------- #
# Qt resource (.rcc) files
# --------------------------------------------------------------------------- #

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


# --------------------------------------------------------------------------- #
# Debian copyright files (DEP-5) and GCompris README files
# --------------------------------------------------------------------------- #


@dataclass
class CopyrightParagraph:
    patterns: list[str]
    licence: str
    copyright: str = ""


@dataclass
class LicenceInfo:
    """A file's licence and copyright as a copyright file or README states them.

    `match` tells how the copyright file's paragraph was found: "file" (it names
    the file), "file-before-webp" (it names the file's original before GCompris
    converted it to .webp), "pattern" (a wildcard pattern of a folder),
    "catch-all" (only "Files: *") or "none"; "explicit" when the licence is
    written in this script because the copyright file is not machine-readable
    or there is none (then `note` says where it comes from).
    """

    licence: str = ""
    match: str = "none"
    copyright: str = ""
    source: str = ""
    note: str = ""


def parse_dep5(text: str) -> list[CopyrightParagraph]:
    """The "Files:" paragraphs of a machine-readable Debian copyright file, in order."""
    paragraphs = []
    for block in re.split(r"\n[ \t]*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line.startswith("#"):
                continue
            if line[:1] in (" ", "\t"):
                if key is not None:
                    fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
        if "files" in fields and "license" in fields:
            licence = fields["license"].splitlines()[0].strip()
            holders = [h.strip() for h in fields.get("copyright", "").splitlines() if h.strip()]
            paragraphs.append(
                CopyrightParagraph(fields["files"].split(), licence, "; ".join(holders))
            )
    return paragraphs


def dep5_match(
    paragraphs: list[CopyrightParagraph], path: str
) -> tuple[CopyrightParagraph, str] | None:
    """(paragraph, pattern) of the last paragraph matching `path`, per DEP-5 rules."""
    found = None
    for para in paragraphs:
        for pattern in para.patterns:
            if fnmatch.fnmatchcase(path, pattern):
                found = (para, pattern)
    return found


def find_licence(
    paragraphs: list[CopyrightParagraph], source_path: str, try_pre_webp: bool = False
) -> LicenceInfo:
    """The licence of `source_path` (a path in the upstream source tree).

    A paragraph naming the file itself wins; with `try_pre_webp`, a .webp file
    is also looked up under its original names (.jpg, .png, ...) before the
    wildcard paragraphs that match it.
    """

    def info(found: tuple[CopyrightParagraph, str], path: str, exact: str) -> LicenceInfo:
        para, pattern = found
        if pattern == "*":
            how = "catch-all"
        else:
            how = exact if pattern == path else "pattern"
        return LicenceInfo(para.licence, how, para.copyright)

    direct = dep5_match(paragraphs, source_path)
    if direct and direct[1] == source_path:
        return info(direct, source_path, "file")
    stems = []
    if try_pre_webp and source_path.lower().endswith(".webp"):
        stems = [source_path[: -len(".webp")] + ext for ext in PRE_WEBP_EXTENSIONS]
    for old in stems:
        found = dep5_match(paragraphs, old)
        if found and found[1] == old:
            return info(found, old, "file-before-webp")
    if direct:
        return info(direct, source_path, "file")
    return LicenceInfo()


def parse_readme_licences(text: str, folder: str) -> dict[str, LicenceInfo]:
    """Map "folder/file" -> licence, copyright and source URL from a GCompris README.

    Those READMEs are blocks of "Copyright:", "Source:", "License:", "Files:"
    lines separated by blank lines; file names follow "Files:" on the same line
    or on the next lines.
    """
    result = {}
    for block in re.split(r"\n[ \t]*\n", text):
        fields: dict[str, str] = {}
        files: list[str] = []
        key = None
        for line in block.splitlines():
            match = re.match(r"^([A-Za-z]+):\s*(.*)$", line.strip())
            if match:
                key, value = match.group(1).lower(), match.group(2).strip()
                if key == "files":
                    files.extend(value.split())
                else:
                    fields[key] = value
            elif key == "files":
                files.extend(line.split())
        info = LicenceInfo(
            fields.get("license", ""),
            "readme",
            fields.get("copyright", ""),
            fields.get("source", ""),
        )
        for name in files:
            result[folder.rstrip("/") + "/" + name] = info
    return result


# --------------------------------------------------------------------------- #
# Photo / drawing filter
# --------------------------------------------------------------------------- #


@dataclass
class PhotoStats:
    width: int
    height: int
    transparent: float = 0.0
    colorfulness: float = 0.0
    unique: float = 0.0
    top8: float = 0.0
    edges: float = 0.0

    def as_dict(self) -> dict[str, str]:
        return {
            "src_width": str(self.width),
            "src_height": str(self.height),
            "transparent": f"{self.transparent:.3f}",
            "colorfulness": f"{self.colorfulness:.1f}",
            "unique": f"{self.unique:.3f}",
            "top8": f"{self.top8:.3f}",
            "edges": f"{self.edges:.4f}",
        }


@dataclass
class PhotoFilter:
    """Thresholds that tell colour photographs from drawings (see module docstring).

    All statistics but `unique` use a copy whose long side is at most 256 px
    (box filter), so they do not depend much on the source resolution.
    """

    min_short_side: int = 128
    max_transparent: float = 0.01
    min_colorfulness: float = 12.0
    min_unique: float = 0.025
    max_top8: float = 0.85
    min_edges: float = 0.005
    max_edges: float = 0.90
    edge_step: int = 24

    def stats(self, image: Image.Image) -> PhotoStats:
        stats = PhotoStats(*image.size)
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            alpha = np.asarray(image.convert("RGBA").getchannel("A"))
            stats.transparent = float(np.mean(alpha < 250))
        rgb = image.convert("RGB")
        work = rgb.copy()
        work.thumbnail((256, 256), Image.Resampling.BOX)
        arr = np.asarray(work, dtype=np.int16)
        stats.colorfulness = colorfulness(arr)
        small = np.asarray(rgb.resize((64, 64), Image.Resampling.BOX), dtype=np.int32) >> 3
        codes = (small[..., 0] << 10) | (small[..., 1] << 5) | small[..., 2]
        stats.unique = len(np.unique(codes)) / codes.size
        stats.top8 = top_colours_share(arr, 8)
        stats.edges = edge_fraction(arr, self.edge_step)
        return stats

    def reason(self, stats: PhotoStats) -> str:
        """Why the image is not a colour photo, or "" if it looks like one."""
        if stats.transparent > self.max_transparent:
            return f"transparent cut-out ({stats.transparent:.0%} of pixels)"
        if min(stats.width, stats.height) < self.min_short_side:
            return f"too small ({stats.width}x{stats.height} < {self.min_short_side} px)"
        if stats.colorfulness < self.min_colorfulness:
            return f"near-gray (colorfulness {stats.colorfulness:.1f} < {self.min_colorfulness})"
        if stats.unique < self.min_unique:
            return f"drawing: few colours (unique {stats.unique:.3f} < {self.min_unique})"
        if stats.top8 >= self.max_top8:
            return (
                f"drawing or blank background: flat colours (8 colours cover "
                f"{stats.top8:.0%} >= {self.max_top8:.0%})"
            )
        if stats.edges < self.min_edges:
            return f"synthetic gradient: no edges (edges {stats.edges:.4f} < {self.min_edges})"
        if stats.edges > self.max_edges:
            return (
                f"synthetic pattern: edges everywhere (edges {stats.edges:.3f} > {self.max_edges})"
            )
        return ""


def colorfulness(arr: np.ndarray) -> float:
    """Hasler & Suesstrunk (2003) colourfulness M of an RGB array (0 for gray)."""
    arr = arr.astype(np.float64)
    rg = arr[..., 0] - arr[..., 1]
    yb = 0.5 * (arr[..., 0] + arr[..., 1]) - arr[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def top_colours_share(arr: np.ndarray, count: int = 8) -> float:
    """Share of the pixels taken by the `count` most frequent exact RGB colours."""
    arr = arr.astype(np.int32)
    codes = (arr[..., 0] << 16) | (arr[..., 1] << 8) | arr[..., 2]
    _, counts = np.unique(codes, return_counts=True)
    return float(np.sort(counts)[::-1][:count].sum() / codes.size)


def edge_fraction(arr: np.ndarray, step: int = 24) -> float:
    """Fraction of pixels where a right or lower neighbour differs by more than `step`."""
    arr = arr.astype(np.int16)
    dx = np.abs(np.diff(arr, axis=1)).max(axis=2)[:-1, :]
    dy = np.abs(np.diff(arr, axis=0)).max(axis=2)[:, :-1]
    return float(np.mean(np.maximum(dx, dy) > step))


# --------------------------------------------------------------------------- #
# Subjects and the held-out split
# --------------------------------------------------------------------------- #


def subject_name(filename: str) -> str:
    """Subject key of a file: "Bear_2.jpg" -> "bear", "x_by_Someone.jpg" -> "x"."""
    stem = os.path.splitext(os.path.basename(filename))[0]
    stem = re.sub(r"_by_.*$", "", stem, flags=re.IGNORECASE)
    key = re.sub(r"[^a-z]", "", stem.lower())
    return SUBJECT_ALIASES.get(key, key) or "unnamed"


def merge_subjects(keys: Iterable[str]) -> dict[str, str]:
    """Map each key to its merged subject (prefix rule of >= MIN_PREFIX_MERGE letters)."""
    keys = sorted(set(keys))
    parent = {k: k for k in keys}

    def root(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for a in keys:
        if len(a) < MIN_PREFIX_MERGE:
            continue
        for b in keys:
            if b != a and b.startswith(a):
                ra, rb = root(a), root(b)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
    return {k: root(k) for k in keys}


def split_of(subject: str, heldout_percent: float = 10.0) -> str:
    """Return "heldout" or "train" from a hash of the subject alone (deterministic)."""
    digest = hashlib.sha256((SPLIT_SALT + subject).encode("utf-8")).hexdigest()
    return "heldout" if int(digest[:8], 16) % 1000 < heldout_percent * 10 else "train"


# --------------------------------------------------------------------------- #
# Packages
# --------------------------------------------------------------------------- #


@dataclass
class Candidate:
    """One image file found in a package."""

    package: str
    original_path: str  # path inside the package (the .rcc for GCompris)
    resource_path: str  # path inside the .rcc, else ""
    out_stem: str  # output name without ".jpg"
    data: bytes | None = None
    file: str = ""
    licence: LicenceInfo = field(default_factory=LicenceInfo)
    # What upstream states next to the photo (GCompris README, Plasma metadata.json, ...).
    upstream: LicenceInfo = field(default_factory=LicenceInfo)
    error: str = ""
    subject: str = ""  # name the subject is taken from, when not the file's own name
    rotate: int = 0  # degrees clockwise, applied after the EXIF orientation


@dataclass
class PackageResult:
    name: str
    version: str = ""
    kept: int = 0
    dropped: int = 0
    reasons: collections.Counter = field(default_factory=collections.Counter)


def slug(text: str) -> str:
    """File-name part: "eiffelTower" -> "eiffel_tower", "Picture 1A" -> "picture_1a"."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "x"


def read_copyright(root: str, package: str) -> tuple[str, list[CopyrightParagraph]]:
    path = os.path.join(root, "usr/share/doc", package, "copyright")
    if not os.path.isfile(path):
        raise SystemExit(f"error: {package} has no /usr/share/doc/{package}/copyright file")
    with open(path, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    return path, parse_dep5(text)


def image_files(folder: str) -> list[str]:
    out = []
    for base, _dirs, files in os.walk(folder):
        for name in files:
            if name.lower().endswith(IMAGE_EXTENSIONS):
                out.append(os.path.join(base, name))
    return sorted(out)


def gcompris_candidates(root: str, package: str) -> Iterator[Candidate]:
    _, paragraphs = read_copyright(root, package)
    rcc_dir = os.path.join(root, "usr/share/gcompris-qt/rcc")
    if not os.path.isdir(rcc_dir):
        raise SystemExit(f"error: {package} has no /usr/share/gcompris-qt/rcc folder")
    for activity in GCOMPRIS_ACTIVITIES:
        rcc_file = os.path.join(rcc_dir, activity + ".rcc")
        original = os.path.relpath(rcc_file, root)
        if not os.path.isfile(rcc_file):
            print(f"warning: {original} is missing, skipping {activity}", file=sys.stderr)
            continue
        with open(rcc_file, "rb") as fh:
            try:
                entries = parse_rcc(fh.read())
            except RccError as exc:
                raise SystemExit(f"error: cannot parse {original}: {exc}") from exc
        readme = {}
        for entry in entries:
            if entry.path.endswith("/README") and entry.data is not None:
                folder = entry.path.rsplit("/", 1)[0]
                readme.update(parse_readme_licences(entry.data.decode("utf-8", "replace"), folder))
        marker = f"/activities/{activity}/"
        for entry in entries:
            if not entry.path.lower().endswith(IMAGE_EXTENSIONS):
                continue
            if marker not in entry.path:
                # Shared files of other activities, if any: not part of this one.
                continue
            source = entry.path.split("/gcompris/", 1)[-1].lstrip("/")
            inner = entry.path.split(marker, 1)[1]
            parts = [p for p in inner.split("/")[:-1] if p not in ("resource", "images")]
            stem = os.path.splitext(inner.split("/")[-1])[0]
            yield Candidate(
                package=package,
                original_path=original,
                resource_path=entry.path,
                out_stem="-".join(["gcompris", activity, *map(slug, parts), slug(stem)]),
                data=entry.data,
                licence=find_licence(paragraphs, source, try_pre_webp=True),
                upstream=readme.get(entry.path, LicenceInfo()),
                error=entry.error,
            )


NOT_SELECTED = "not selected (not in the allow-list, checked by eye)"
NOT_SELECTED_RENDER = "render or drawing (not in the allow-list, checked by eye)"
EXCLUDED = "drawing (in the exclude list, checked by eye)"


def path_matches(path: str, pattern: str) -> bool:
    """fnmatch per path component: "*.jpg" matches "a.jpg" but not "sub/a.jpg"."""
    parts, pats = path.split("/"), pattern.split("/")
    return len(parts) == len(pats) and all(map(fnmatch.fnmatchcase, parts, pats))


def folder_candidates(
    root: str,
    package: str,
    folder: str,
    prefix: str,
    source_path: Callable[[str], str],
    only: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    licence: LicenceInfo | None = None,
    upstream: Callable[[str], LicenceInfo] | None = None,
) -> Iterator[Candidate]:
    """Image files under `folder` of an unpacked package; licence via `source_path`.

    With `only` (patterns of paths inside `folder`, see `path_matches`), other
    files are dropped as not photos; files matching `exclude` are dropped as
    drawings. Both lists were checked by eye on contact sheets. `licence`
    replaces the copyright file lookup (for copyright files that are not
    machine-readable); `upstream(path)` gives what upstream states for a file.
    """
    _, paragraphs = read_copyright(root, package)
    base = os.path.join(root, folder)
    if not os.path.isdir(base):
        raise SystemExit(f"error: {package} has no /{folder} folder")
    for path in image_files(base):
        rel = os.path.relpath(path, root)
        inner = os.path.relpath(path, base).replace(os.sep, "/")
        parts = [slug(p) for p in inner.split("/")[:-1]]
        stem = slug(os.path.splitext(os.path.basename(inner))[0])
        error = ""
        if only and not any(path_matches(inner, pattern) for pattern in only):
            error = NOT_SELECTED
        elif any(path_matches(inner, pattern) for pattern in exclude):
            error = EXCLUDED
        yield Candidate(
            package=package,
            original_path=rel,
            resource_path="",
            out_stem="-".join([prefix, *parts, stem]),
            file=path,
            licence=licence or find_licence(paragraphs, source_path(inner)),
            upstream=upstream(path) if upstream else LicenceInfo(),
            error=error,
        )


def image_area(path: str) -> int:
    """Pixel count from a "<width>x<height>.<ext>" name, else the file size."""
    match = re.match(r"^(\d+)x(\d+)\.", os.path.basename(path))
    return int(match.group(1)) * int(match.group(2)) if match else os.path.getsize(path)


def plasma_candidates(root: str, package: str, photos: tuple[str, ...]) -> Iterator[Candidate]:
    """One image per Plasma wallpaper (the largest in contents/images/, not images_dark/).

    Wallpapers not named in `photos` are renders or drawings (checked by eye).
    The author and licence in the wallpaper's metadata.json are recorded as
    `upstream_*`.
    """
    _, paragraphs = read_copyright(root, package)
    base = os.path.join(root, "usr/share/wallpapers")
    if not os.path.isdir(base):
        raise SystemExit(f"error: {package} has no /usr/share/wallpapers folder")
    for name in sorted(os.listdir(base)):
        images = image_files(os.path.join(base, name, "contents", "images"))
        if not images:
            continue
        path = max(images, key=image_area)
        inner = os.path.relpath(path, base).replace(os.sep, "/")
        upstream = LicenceInfo()
        meta = os.path.join(base, name, "metadata.json")
        if os.path.isfile(meta):
            with open(meta, encoding="utf-8") as fh:
                plugin = json.load(fh).get("KPlugin", {})
            authors = [a.get("Name", "") for a in plugin.get("Authors", [])]
            upstream = LicenceInfo(
                plugin.get("License", ""), "readme", "; ".join(authors), f"{name}/metadata.json"
            )
        yield Candidate(
            package=package,
            original_path=os.path.relpath(path, root),
            resource_path="",
            out_stem="plasma-" + slug(name),
            file=path,
            licence=find_licence(paragraphs, inner),
            upstream=upstream,
            error="" if name in photos else NOT_SELECTED_RENDER,
            subject=name,
        )


def kphotoalbum_candidates(root: str, package: str) -> Iterator[Candidate]:
    """The KPhotoAlbum demo photos, turned as the demo's index.xml says ("angle")."""
    folder = "usr/share/kphotoalbum/demo"
    angles = {}
    index = os.path.join(root, folder, "index.xml")
    if os.path.isfile(index):
        for image in ET.parse(index).iter("image"):
            angles[image.get("file")] = int(image.get("angle", "0"))
    for cand in folder_candidates(
        root,
        package,
        folder,
        "kphotoalbum",
        lambda inner: "demo/" + inner,
        only=("*.jpg",),
        licence=KPHOTOALBUM_LICENCE,
    ):
        cand.rotate = angles.get(os.path.basename(cand.file), 0)
        yield cand


def desktop_licence(image: str) -> LicenceInfo:
    """Author, licence and source page in the Palapeli puzzle's .desktop file."""
    desktop = os.path.splitext(image)[0] + ".desktop"
    if not os.path.isfile(desktop):
        return LicenceInfo()
    fields = {}
    with open(desktop, encoding="utf-8") as fh:
        for line in fh:
            key, sep, value = line.partition("=")
            if sep and key.startswith("X-KDE-PluginInfo-"):
                fields[key[len("X-KDE-PluginInfo-") :]] = value.strip()
    return LicenceInfo(
        fields.get("License", ""), "readme", fields.get("Author", ""), fields.get("Website", "")
    )


@dataclass
class BundledPhoto:
    """A sample photo shipped inside a Python package, with the licence its authors state."""

    path: str  # inside the package
    licence: str
    author: str
    source: str
    note: str


def python_candidates(
    root: str, package: str, prefix: str, photos: list[BundledPhoto]
) -> Iterator[Candidate]:
    for photo in photos:
        path = os.path.join(root, photo.path)
        stem = slug(os.path.splitext(os.path.basename(photo.path))[0])
        yield Candidate(
            package=package,
            original_path=photo.path,
            resource_path="",
            out_stem=f"{prefix}-{stem}",
            file=path,
            licence=LicenceInfo(photo.licence, "explicit", photo.author, photo.source, photo.note),
            upstream=LicenceInfo(photo.licence, "readme", photo.author, photo.source),
            error="" if os.path.isfile(path) else f"missing from the installed {package}",
        )


SCRATCH_DRAWINGS = (
    "Indoors/party-room.jpg",
    "Indoors/room1.jpg",
    "Indoors/room2.jpg",
    "Indoors/room3.jpg",
    "Indoors/spotlight-stage.jpg",
    "Indoors/bedroom1.gif",
    "Indoors/bedroom2.gif",
    "Nature/desert.gif",
    "Nature/stars.gif",
    "Nature/underwater.gif",
    "Nature/woods.gif",
    "Nature/woods-and-bench.jpg",
    "Outdoors/night-city.gif",
    "Outdoors/night-city-with-street.gif",
    "Outdoors/school1.gif",
    "Outdoors/school2.jpg",
    "Outdoors/train-tracks3.gif",
    "Sports/basketball-court2.png",
    "xy-grid.gif",
)
PLASMA_PHOTOS = (
    "BytheWater",
    "ColdRipple",
    "ColorfulCups",
    "DarkestHour",
    "EveningGlow",
    "FallenLeaf",
    "Grey",
    "OneStandsOut",
    "Path",
    "summer_1am",
)
# The photos that wallpapers/License credits to stefonarch.
LXQT_PHOTOS = (
    "after-the-rain.jpg",
    "appleflower.png",
    "beam.png",
    "butterfly.png",
    "drop.png",
    "flowers.png",
    "fog.jpg",
    "this-is-not-windows.jpg",
)
LXQT_UPSTREAM = LicenceInfo(
    "CC-BY-SA-3.0",
    "readme",
    "2022 LXQt Project Team; photos by stefonarch (standreas@riseup.net)",
    "usr/share/lxqt/wallpapers/License",
)
KPHOTOALBUM_LICENCE = LicenceInfo(
    "GPL-2+",
    "explicit",
    "2003-2014 Jesper K. Pedersen and others, see licenses/kphotoalbum.copyright",
    note="the copyright file is not machine-readable; its only License section "
    "(GPL version 2 or later) covers the whole package, demo photos included",
)
TUXTYPE_LICENCE = LicenceInfo(
    "unclear (Wikimedia Commons featured pictures)",
    "explicit",
    note="images/README_IMAGES.TXT: 'the remainder of the images are featured images from "
    "Wikimedia Commons', no author or licence per file; the copyright file still quotes "
    "an older README naming public-domain NOAA/FWS photos kcas*.gif that are no longer shipped",
)
SKLEARN_NOTE = "sklearn/datasets/images/README.txt"
SKLEARN_PHOTOS = [
    BundledPhoto(
        "datasets/images/china.jpg",
        "CC-BY-2.0",
        "danielbuechele (Flickr)",
        "https://www.flickr.com/photos/danielbuechele/6061409035/",
        SKLEARN_NOTE,
    ),
    BundledPhoto(
        "datasets/images/flower.jpg",
        "CC-BY-2.0",
        "vultilion (Flickr)",
        "https://www.flickr.com/photos/vultilion/6056698931/",
        SKLEARN_NOTE + " (its attribution line says danielbuechele, its source link is "
        "vultilion's photo)",
    ),
]
SKIMAGE_PHOTOS = [
    BundledPhoto(
        "data/astronaut.png",
        "public domain",
        "NASA (Eileen Collins)",
        "https://flic.kr/p/r9qvLn",
        "docstring of skimage.data.astronaut",
    ),
    BundledPhoto(
        "data/chelsea.png",
        "CC0",
        "Stefan van der Walt",
        "",
        "docstring of skimage.data.chelsea",
    ),
    BundledPhoto(
        "data/coffee.png",
        "CC0",
        "Rachel Michetti, courtesy of Pikolo Espresso Bar",
        "",
        "docstring of skimage.data.coffee",
    ),
    BundledPhoto(
        "data/rocket.jpg",
        "public domain",
        "SpaceX",
        "https://www.flickr.com/photos/spacexphotos/16511594820/",
        "docstring of skimage.data.rocket",
    ),
    BundledPhoto(
        "data/hubble_deep_field.jpg",
        "public domain",
        "NASA",
        "http://hubblesite.org/newscenter/archive/releases/2012/37/image/a/",
        "docstring of skimage.data.hubble_deep_field",
    ),
]


@dataclass
class PackageSpec:
    name: str
    candidates: Callable[[str], Iterator[Candidate]]
    # Only keep files whose licence comes from a paragraph more specific than "Files: *".
    require_specific_licence: bool = False
    # Drop every file as "licence unclear" (see `note`).
    licence_unclear: bool = False
    note: str = ""
    # Set for an installed Python package (its import name) instead of a .deb;
    # `licence_file` (inside the package) is then copied to licenses/.
    module: str = ""
    licence_file: str = ""


def package_specs(
    accept_opencv_catch_all: bool = False, accept_tuxtype_commons: bool = False
) -> list[PackageSpec]:
    def folder(package: str, path: str, prefix: str, source: str, **kw) -> PackageSpec:
        """A package whose photos are in one folder; `source` is that folder upstream."""
        return PackageSpec(
            package,
            lambda root: folder_candidates(
                root, package, path, prefix, lambda inner: source + inner, **kw
            ),
        )

    return [
        PackageSpec("gcompris-qt-data", lambda root: gcompris_candidates(root, "gcompris-qt-data")),
        PackageSpec(
            "tuxpaint-data",
            lambda root: folder_candidates(
                root,
                "tuxpaint-data",
                "usr/share/tuxpaint/templates",
                "tuxpaint-templates",
                lambda inner: "templates/" + inner,
            ),
        ),
        PackageSpec(
            "lomiri-wallpapers-16.04",
            lambda root: folder_candidates(
                root,
                "lomiri-wallpapers-16.04",
                "usr/share/backgrounds",
                "lomiri",
                # The source tree keeps these wallpapers in 16.04/.
                lambda inner: "16.04/" + inner,
            ),
        ),
        PackageSpec(
            "opencv-doc",
            lambda root: folder_candidates(
                root,
                "opencv-doc",
                "usr/share/doc/opencv-doc/examples",
                "opencv",
                # Installed examples/ is samples/ in the source tree.
                lambda inner: "samples/" + inner,
            ),
            require_specific_licence=not accept_opencv_catch_all,
            note="sample photos only covered by the catch-all 'Files: *' paragraph",
        ),
        # Installed Media/ is Media/ in the source tree; costumes are cut-outs.
        folder(
            "scratch",
            "usr/share/scratch/Media/Backgrounds",
            "scratch",
            "Media/Backgrounds/",
            exclude=SCRATCH_DRAWINGS,
        ),
        PackageSpec("kphotoalbum", lambda root: kphotoalbum_candidates(root, "kphotoalbum")),
        PackageSpec(
            "tuxtype-data",
            lambda root: folder_candidates(
                root,
                "tuxtype-data",
                "usr/share/tuxtype/images",
                "tuxtype",
                lambda inner: "data/images/" + inner,
                only=("kcas*.jpg", "hidden.jpg", "backgrounds/*.jpg"),
                licence=TUXTYPE_LICENCE,
            ),
            licence_unclear=not accept_tuxtype_commons,
            note="Wikimedia Commons featured pictures without author or licence per file",
        ),
        PackageSpec(
            "plasma-workspace-wallpapers",
            lambda root: plasma_candidates(root, "plasma-workspace-wallpapers", PLASMA_PHOTOS),
        ),
        folder(
            "lxqt-themes",
            "usr/share/lxqt/wallpapers",
            "lxqt",
            "wallpapers/",
            only=LXQT_PHOTOS,
            upstream=lambda path: LXQT_UPSTREAM,
        ),
        folder(
            "palapeli-data",
            "usr/share/palapeli/collection",
            "palapeli",
            "puzzles/",
            upstream=desktop_licence,
        ),
        # The package installs the libjxl testdata repository as it is. The other
        # photos there are 64 px crops, or grey/alpha variants of these three.
        folder(
            "libjxl-testdata",
            "usr/share/libjxl-testdata/external/wesaturate/500px",
            "libjxl-wesaturate",
            "external/wesaturate/500px/",
            only=("*_srgb8.png",),
        ),
        folder("puzzle-jigsaw", "usr/share/puzzle-jigsaw/samples", "puzzle_jigsaw", "samples/"),
        PackageSpec(
            "scikit-learn",
            lambda root: python_candidates(root, "scikit-learn", "sklearn", SKLEARN_PHOTOS),
            module="sklearn",
            licence_file="datasets/images/README.txt",
        ),
        PackageSpec(
            "scikit-image",
            lambda root: python_candidates(root, "scikit-image", "skimage", SKIMAGE_PHOTOS),
            module="skimage",
        ),
    ]


# --------------------------------------------------------------------------- #
# apt / dpkg
# --------------------------------------------------------------------------- #


def require_tools() -> None:
    """Fail early, with a clear message, when dpkg is missing (apt-get is checked on use)."""
    missing = [tool for tool in ("dpkg", "dpkg-deb") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(
            "error: this script needs "
            + " and ".join(missing)
            + " to unpack the .deb files: run it on Debian or Ubuntu (or a container of one)"
        )


def fetch_deb(package: str, debs: str) -> str:
    """Path of package_*.deb in `debs`, downloading it with apt-get if needed."""
    pattern = os.path.join(debs, glob.escape(package) + "_*.deb")
    found = sorted(glob.glob(pattern), key=os.path.getmtime)
    if not found:
        if shutil.which("apt-get") is None:
            raise SystemExit(
                f"error: {package}_*.deb is not in {debs} and apt-get is missing: run this on "
                "Debian or Ubuntu, or put the .deb files in a folder and pass it with --debs"
            )
        print(f"downloading {package} with apt-get download ...", file=sys.stderr)
        proc = subprocess.run(
            ["apt-get", "download", package], cwd=debs, capture_output=True, text=True
        )
        found = sorted(glob.glob(pattern), key=os.path.getmtime)
        if proc.returncode != 0 or not found:
            hint = ""
            if "Unable to locate package" in proc.stderr or "has no installation" in proc.stderr:
                hint = (
                    "\nhint: run 'apt-get update' first; if the package was renamed in this "
                    f"release, look for it with: apt-cache search {package.split('-')[0]}"
                )
            raise SystemExit(
                f"error: 'apt-get download {package}' failed (exit {proc.returncode}):\n"
                + (proc.stderr.strip() or proc.stdout.strip())
                + hint
            )
    if len(found) > 1:
        print(f"warning: several .deb files for {package}, using {found[-1]}", file=sys.stderr)
    return found[-1]


def deb_version(deb: str) -> str:
    proc = subprocess.run(["dpkg-deb", "-f", deb, "Version"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"error: cannot read the version of {deb}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def unpack_deb(deb: str, dest: str) -> None:
    proc = subprocess.run(["dpkg", "-x", deb, dest], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"error: 'dpkg -x {deb}' failed: {proc.stderr.strip()}")


# --------------------------------------------------------------------------- #
# Main
# --------------------------------------------------------------------------- #


class Progress:
    """A one-line progress counter on stderr (a line every 10% when not a terminal)."""

    def __init__(self, label: str, total: int):
        self.label, self.total, self.tty = label, max(total, 1), sys.stderr.isatty()
        self.step = max(1, math.ceil(self.total / 10))

    def update(self, done: int) -> None:
        if self.tty:
            print(f"\r  {self.label}: {done}/{self.total}", end="", file=sys.stderr, flush=True)
        elif done % self.step == 0 or done == self.total:
            print(f"  {self.label}: {done}/{self.total}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.tty:
            print(file=sys.stderr)


def load_image(cand: Candidate) -> Image.Image:
    source = io.BytesIO(cand.data) if cand.data is not None else cand.file
    image = Image.open(source)
    image.load()
    image = ImageOps.exif_transpose(image)
    return image.rotate(-cand.rotate, expand=True) if cand.rotate else image


def output_size(width: int, height: int, max_short: int = MAX_SHORT_SIDE) -> tuple[int, int]:
    """Size with the short side at most `max_short` (never enlarged), aspect kept."""
    short = min(width, height)
    if short <= max_short:
        return width, height
    scale = max_short / short
    if width <= height:
        return max_short, max(1, round(height * scale))
    return max(1, round(width * scale)), max_short


def encode_jpeg(
    image: Image.Image, max_short: int = MAX_SHORT_SIDE
) -> tuple[bytes, tuple[int, int]]:
    """The image as an RGB JPEG (quality 95), downscaled per `output_size`, and its size."""
    image = image.convert("RGB")
    size = output_size(*image.size, max_short)
    if size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=JPEG_QUALITY)
    return buf.getvalue(), size


def holders(info: LicenceInfo, package: str) -> str:
    """Copyright holders for the manifest (long catch-all lists point to the file)."""
    names = [h for h in info.copyright.split("; ") if h]
    if len(names) > 3:
        return f"{len(names)} holders, see licenses/{package}.copyright"
    return "; ".join(names)


MANIFEST_FIELDS = [
    "path",
    "split",
    "subject",
    "package",
    "version",
    "original_path",
    "resource_path",
    "licence",
    "licence_match",
    "copyright",
    "upstream_licence",
    "upstream_copyright",
    "upstream_source",
    "licence_note",
    "width",
    "height",
]
DROPPED_FIELDS = [
    "package",
    "version",
    "original_path",
    "resource_path",
    "reason",
    "licence",
    "licence_match",
    "src_width",
    "src_height",
    "transparent",
    "colorfulness",
    "unique",
    "top8",
    "edges",
]


@dataclass
class Kept:
    cand: Candidate
    result: PackageResult
    jpeg: bytes
    width: int
    height: int


def drop_reason_before_decoding(cand: Candidate, spec: PackageSpec) -> str:
    if cand.error:
        return cand.error
    if (cand.resource_path or cand.original_path).lower().endswith(VECTOR_EXTENSIONS):
        return "vector drawing (svg)"
    if not cand.licence.licence:
        return "no licence found in the copyright file"
    if spec.require_specific_licence and cand.licence.match == "catch-all":
        return f"licence unclear: {spec.note} ({cand.licence.licence})"
    if spec.licence_unclear:
        return f"licence unclear: {spec.note}"
    return ""


def open_deb(spec: PackageSpec, debs: str, tmp: str, outdir: str) -> tuple[str, str]:
    """Unpack the package's .deb; return the folder and the version."""
    deb = fetch_deb(spec.name, debs)
    version = deb_version(deb)
    root = os.path.join(tmp, spec.name)
    print(f"{spec.name} {version}: unpacking {os.path.basename(deb)}", file=sys.stderr)
    unpack_deb(deb, root)
    shutil.copyfile(
        os.path.join(root, "usr/share/doc", spec.name, "copyright"),
        os.path.join(outdir, "licenses", spec.name + ".copyright"),
    )
    return root, version


def open_python_package(spec: PackageSpec, outdir: str) -> tuple[str, str] | None:
    """The folder and version of an installed Python package, or None if it is missing."""
    found = importlib.util.find_spec(spec.module)
    if found is None or not found.submodule_search_locations:
        print(
            f"warning: {spec.name} is not installed (pip install {spec.name}), skipping it",
            file=sys.stderr,
        )
        return None
    root = list(found.submodule_search_locations)[0]
    version = importlib.metadata.version(spec.name)
    print(f"{spec.name} {version}: reading {root}", file=sys.stderr)
    if spec.licence_file:
        shutil.copyfile(
            os.path.join(root, spec.licence_file),
            os.path.join(outdir, "licenses", f"{spec.name}.{os.path.basename(spec.licence_file)}"),
        )
    return root, version


def process_package(
    spec: PackageSpec,
    debs: str,
    tmp: str,
    outdir: str,
    photo_filter: PhotoFilter,
    kept: list[Kept],
    dropped_rows: list[dict[str, str]],
    max_short: int = MAX_SHORT_SIDE,
) -> PackageResult:
    if spec.module:
        opened = open_python_package(spec, outdir)
        if opened is None:
            return PackageResult(spec.name, "not installed")
        root, version = opened
    else:
        root, version = open_deb(spec, debs, tmp, outdir)
    result = PackageResult(spec.name, version)
    candidates = list(spec.candidates(root))
    progress = Progress(f"{spec.name} images", len(candidates))
    for done, cand in enumerate(candidates, 1):
        progress.update(done)
        stats = None
        reason = drop_reason_before_decoding(cand, spec)
        if not reason:
            try:
                image = load_image(cand)
                stats = photo_filter.stats(image)
                reason = photo_filter.reason(stats)
            except (OSError, ValueError, Image.DecompressionBombError) as exc:
                reason = f"cannot decode: {exc}"
        if not reason:
            jpeg, (width, height) = encode_jpeg(image, max_short)
            kept.append(Kept(cand, result, jpeg, width, height))
            continue
        result.dropped += 1
        result.reasons[re.split(r" \(|:", reason, maxsplit=1)[0]] += 1
        row = {
            "package": spec.name,
            "version": result.version,
            "original_path": cand.original_path,
            "resource_path": cand.resource_path,
            "reason": reason,
            "licence": cand.licence.licence,
            "licence_match": cand.licence.match,
        }
        row.update(stats.as_dict() if stats else {})
        dropped_rows.append(row)
    progress.close()
    return result


def write_split(kept: list[Kept], outdir: str, heldout_percent: float) -> list[dict[str, str]]:
    """Assign subjects and splits, write the JPEGs and return the manifest rows."""
    names = [
        subject_name(k.cand.subject or k.cand.resource_path or k.cand.original_path) for k in kept
    ]
    merged = merge_subjects(names)
    used: set[str] = set()
    rows = []
    order = sorted(range(len(kept)), key=lambda i: kept[i].cand.out_stem)
    for i in order:
        item, cand = kept[i], kept[i].cand
        subject = merged[names[i]]
        split = "heldout" if subject in EXAMPLE_SUBJECTS else split_of(subject, heldout_percent)
        stem, n = cand.out_stem, 2
        while stem in used:
            stem, n = f"{cand.out_stem}-{n}", n + 1
        used.add(stem)
        rel = f"{split}/{stem}.jpg"
        with open(os.path.join(outdir, rel), "wb") as fh:
            fh.write(item.jpeg)
        item.result.kept += 1
        rows.append(
            {
                "path": rel,
                "split": split,
                "subject": subject,
                "package": cand.package,
                "version": item.result.version,
                "original_path": cand.original_path,
                "resource_path": cand.resource_path,
                "licence": cand.licence.licence,
                "licence_match": cand.licence.match,
                "copyright": holders(cand.licence, cand.package),
                "upstream_licence": cand.upstream.licence,
                "upstream_copyright": cand.upstream.copyright,
                "upstream_source": cand.upstream.source,
                "licence_note": cand.licence.note,
                "width": str(item.width),
                "height": str(item.height),
            }
        )
    return rows


def write_csv(path: str, fields: list[str], rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(rows)


def build(args: argparse.Namespace) -> int:
    outdir = os.path.abspath(args.outdir)
    require_tools()
    for split in ("train", "heldout"):
        os.makedirs(os.path.join(outdir, split), exist_ok=True)
        for old in glob.glob(os.path.join(outdir, split, "*.jpg")):
            os.remove(old)
    os.makedirs(os.path.join(outdir, "licenses"), exist_ok=True)

    photo_filter = PhotoFilter()
    kept: list[Kept] = []
    dropped_rows: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="demo-dataset-") as tmp:
        debs = os.path.abspath(args.debs) if args.debs else os.path.join(tmp, "debs")
        os.makedirs(debs, exist_ok=True)
        specs = package_specs(args.accept_opencv_catch_all, args.accept_tuxtype_commons)
        results = [
            process_package(
                spec, debs, tmp, outdir, photo_filter, kept, dropped_rows, args.max_short_side
            )
            for spec in specs
        ]
    rows = write_split(kept, outdir, args.heldout_percent)
    write_csv(os.path.join(outdir, "manifest.csv"), MANIFEST_FIELDS, rows)
    write_csv(os.path.join(outdir, "dropped.csv"), DROPPED_FIELDS, dropped_rows)

    print()
    print(f"{'package':<28} {'version':<34} {'kept':>5} {'dropped':>8}")
    for res in results:
        print(f"{res.name:<28} {res.version:<34} {res.kept:>5} {res.dropped:>8}")
        for reason, count in res.reasons.most_common():
            print(f"    dropped {count:>4}: {reason}")
    totals = collections.Counter(row["split"] for row in rows)
    subjects = {row["subject"] for row in rows}
    held = {row["subject"] for row in rows if row["split"] == "heldout"}
    print(
        f"total: {len(rows)} kept, {len(dropped_rows)} dropped; train: {totals['train']} images, "
        f"heldout: {totals['heldout']} images ({len(held)} of {len(subjects)} subjects)"
    )
    print(f"wrote {outdir}/manifest.csv and {outdir}/dropped.csv")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Rebuild an openly licensed set of colour photographs (train/ and heldout/ "
            "JPEGs, manifest.csv, dropped.csv) from Debian packages."
        ),
        epilog="See the module docstring for sources, filter thresholds and the split.",
    )
    parser.add_argument("outdir", help="output folder (train/, heldout/, manifest.csv, ...)")
    parser.add_argument(
        "--debs",
        help="folder that keeps the downloaded .deb files; a package_*.deb already there "
        "is reused instead of downloaded (default: a temporary folder, deleted at the end)",
    )
    parser.add_argument(
        "--heldout-percent",
        type=float,
        default=10.0,
        help="share of subjects put in heldout/ (default: 10)",
    )
    parser.add_argument(
        "--accept-opencv-catch-all",
        action="store_true",
        help="also keep opencv-doc samples that only the catch-all 'Files: *' paragraph "
        "covers (not recommended: their origin is unclear)",
    )
    parser.add_argument(
        "--accept-tuxtype-commons",
        action="store_true",
        help="also keep the tuxtype-data photos, Wikimedia Commons featured pictures whose "
        "authors and licences the package does not give (not recommended)",
    )
    parser.add_argument(
        "--max-short-side",
        type=int,
        default=MAX_SHORT_SIDE,
        help=f"downscale so that the short side is at most this many pixels, never "
        f"upscaling (default: {MAX_SHORT_SIDE})",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.heldout_percent <= 100:
        parser.error("--heldout-percent must be between 0 and 100")
    if args.max_short_side < 1:
        parser.error("--max-short-side must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    return build(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
