"""Building the set: decode, filter, resize, split, and write the files and manifests."""

from __future__ import annotations

import argparse
import collections
import csv
import glob
import importlib.metadata
import importlib.util
import io
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass

import keras
from PIL import Image, ImageOps

from demo_dataset.debian import deb_version, fetch_deb, require_tools, unpack_deb
from demo_dataset.licences import LicenceInfo
from demo_dataset.photo_filter import PhotoFilter
from demo_dataset.sources import (
    VECTOR_EXTENSIONS,
    Candidate,
    PackageResult,
    PackageSpec,
    package_specs,
)
from demo_dataset.subjects import EXAMPLE_SUBJECTS, merge_subjects, split_of, subject_name

MAX_SHORT_SIDE = 512  # default of --max-short-side
JPEG_QUALITY = 95


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
    print(f"{spec.name}: {len(candidates)} image files", file=sys.stderr)
    progress = keras.utils.Progbar(len(candidates), unit_name="image")
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
