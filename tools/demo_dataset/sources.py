"""The packages the photos come from: where each keeps them, allow- and exclude-lists."""

from __future__ import annotations

import collections
import fnmatch
import json
import os
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from demo_dataset.licences import (
    CopyrightParagraph,
    LicenceInfo,
    find_licence,
    parse_dep5,
    parse_readme_licences,
)
from demo_dataset.rcc import RccError, parse_rcc

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
# Never taken: their photos are kept apart for an independent evaluation.
RESERVED_PACKAGES = (
    "mate-backgrounds",
    "darknet",
    "enlightenment-data",
    "lomiri-wallpapers-20.04",
)


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
