"""Licences: Debian copyright files (DEP-5), upstream README and .desktop files."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

# Original extensions tried when GCompris's copyright file names a photo before
# its conversion to .webp.
PRE_WEBP_EXTENSIONS = (".jpg", ".jpeg", ".JPG", ".png", ".PNG")


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
