"""Fast tests of the pure parts of tools/make_demo_dataset.py (no network, no apt)."""

import collections
import importlib
import io
import json
import os
import struct
import sys
import types
import zlib

import numpy as np
import pytest
from PIL import Image

TOOLS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "tools")
MODULES = ("rcc", "licences", "photo_filter", "subjects", "sources", "debian", "build")


@pytest.fixture(scope="module")
def mdd():
    """The tool's modules (tools/demo_dataset/), their names in one namespace."""
    sys.path.insert(0, TOOLS)
    modules = [importlib.import_module(f"demo_dataset.{name}") for name in MODULES]
    names = {}
    for module in modules:
        names.update({key: value for key, value in vars(module).items() if key[0] != "_"})
    return types.SimpleNamespace(**names)


# --------------------------------------------------------------------------- #
# A .rcc writer following Qt's rcc layout, independent of the parser under test
# --------------------------------------------------------------------------- #


def qt_hash(name):
    h = 0
    for ch in name:  # BMP-only names here, so one UTF-16 unit per character
        h = ((h << 4) + ord(ch)) & 0xFFFFFFFF
        h ^= (h & 0xF0000000) >> 23
        h &= 0x0FFFFFFF
    return h


def build_rcc(files, version=3):
    """files: {"/a/b/c.txt": (payload, flags)}; flags 1 = zlib, 4 = zstd (stored as given)."""
    root = {}
    for path, leaf in files.items():
        parts = path.strip("/").split("/")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = leaf

    nodes = [("", root)]  # breadth first, children of a directory consecutive
    dir_children = {}
    queue = [0]
    while queue:
        index = queue.pop(0)
        children = sorted(nodes[index][1].items(), key=lambda item: qt_hash(item[0]))
        dir_children[index] = (len(children), len(nodes))
        for name, obj in children:
            nodes.append((name, obj))
            if isinstance(obj, dict):
                queue.append(len(nodes) - 1)

    names, name_off, data, tree = bytearray(), {}, bytearray(), bytearray()
    for index, (name, obj) in enumerate(nodes):
        if name not in name_off:
            name_off[name] = len(names)
            names += struct.pack(">HI", len(name), qt_hash(name)) + name.encode("utf-16-be")
        noff = name_off[name] if index else 0
        if isinstance(obj, dict):
            count, first = dir_children[index]
            tree += struct.pack(">IHII", noff, 2, count, first)
        else:
            payload, flags = obj
            blob = payload
            if flags & 1:
                blob = struct.pack(">I", len(payload)) + zlib.compress(payload)
            tree += struct.pack(">IHHHI", noff, flags, 0, 0, len(data))
            data += struct.pack(">I", len(blob)) + blob
        if version >= 2:
            tree += struct.pack(">Q", 1_700_000_000_000)  # last modified, ms
    header_size = 20 + (4 if version >= 3 else 0)
    data_off = header_size
    names_off = data_off + len(data)
    tree_off = names_off + len(names)
    header = b"qres" + struct.pack(">IIII", version, tree_off, data_off, names_off)
    if version >= 3:
        header += struct.pack(">I", 0)
    return bytes(header + data + names + tree)


def test_qt_hash_matches_values_stored_by_qt(mdd):
    # Hashes read from gcompris-qt-data 3.1-2's erase.rcc, written by Qt's rcc.
    assert mdd.qt_hash("gcompris") == 174355619
    assert mdd.qt_hash("activities") == 14441123
    assert mdd.qt_hash("calf.webp") == 43321488
    assert qt_hash("rhinoceros.webp") == mdd.qt_hash("rhinoceros.webp") == 118423920


@pytest.mark.parametrize("version", [1, 2, 3])
def test_parse_rcc_nested_zlib_and_plain(mdd, version):
    text = b"hello resource " * 50
    raw = bytes(range(256))
    rcc = build_rcc(
        {
            "/gcompris/src/activities/erase/resource/notes.txt": (text, 1),
            "/gcompris/src/activities/erase/resource/deep/raw.bin": (raw, 0),
            "/gcompris/top.txt": (b"top", 0),
        },
        version=version,
    )
    entries = {e.path: e for e in mdd.parse_rcc(rcc)}
    assert set(entries) == {
        "/gcompris/src/activities/erase/resource/notes.txt",
        "/gcompris/src/activities/erase/resource/deep/raw.bin",
        "/gcompris/top.txt",
    }
    notes = entries["/gcompris/src/activities/erase/resource/notes.txt"]
    assert notes.flags == 1 and notes.data == text and notes.error == ""
    assert entries["/gcompris/src/activities/erase/resource/deep/raw.bin"].data == raw
    assert entries["/gcompris/top.txt"].data == b"top"


def test_parse_rcc_zstd_entry_without_module_is_reported(mdd, monkeypatch):
    monkeypatch.setattr(sys.modules["demo_dataset.rcc"], "zstandard", None)
    rcc = build_rcc({"/a/b.webp": (b"\x28\xb5\x2f\xfd not really zstd", 4), "/a/c": (b"x", 0)})
    entries = {e.path: e for e in mdd.parse_rcc(rcc)}
    assert entries["/a/b.webp"].data is None
    assert "zstd" in entries["/a/b.webp"].error
    assert entries["/a/c"].data == b"x"


def test_parse_rcc_rejects_garbage(mdd):
    with pytest.raises(mdd.RccError):
        mdd.parse_rcc(b"not a resource file at all")
    good = build_rcc({"/a/b.txt": (b"abc" * 10, 1)})
    with pytest.raises(mdd.RccError):
        mdd.parse_rcc(good[: len(good) - 30])  # tree cut off


# --------------------------------------------------------------------------- #
# Licences
# --------------------------------------------------------------------------- #

COPYRIGHT = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2014 Someone
License: GPL-3+

# a comment line

Files: src/activities/fish/resource/*
Copyright: Some artist
License: CC0-1.0

Files: src/activities/fish/resource/fish1.jpg
       src/activities/fish/resource/fish2.jpg
Copyright: A Photographer
License: CC-BY-SA-3.0

License: GPL-3+
 Full text...
"""


def test_dep5_licence_lookup(mdd):
    paras = mdd.parse_dep5(COPYRIGHT)
    assert [p.licence for p in paras] == ["GPL-3+", "CC0-1.0", "CC-BY-SA-3.0"]
    find = mdd.find_licence
    info = find(paras, "src/activities/fish/resource/fish2.jpg")
    assert (info.licence, info.match, info.copyright) == ("CC-BY-SA-3.0", "file", "A Photographer")
    info = find(paras, "src/activities/fish/resource/fish1.webp", try_pre_webp=True)
    assert (info.licence, info.match) == ("CC-BY-SA-3.0", "file-before-webp")
    info = find(paras, "src/activities/fish/resource/fish3.webp", try_pre_webp=True)
    assert (info.licence, info.match) == ("CC0-1.0", "pattern")
    info = find(paras, "src/other/photo.jpg")
    assert (info.licence, info.match) == ("GPL-3+", "catch-all")
    assert find(paras[1:], "src/other/photo.jpg").licence == ""


def test_readme_licences(mdd):
    readme = "Copyright: Ann\nSource: https://x/a.jpg\nLicense: CC0-1.0\nFiles:\na.webp\nb.webp\n"
    readme += "\nCopyright: Bob\nLicense: Public Domain\nFiles: c.webp\n"
    found = mdd.parse_readme_licences(readme, "/r/res")
    assert found["/r/res/b.webp"].licence == "CC0-1.0"
    assert found["/r/res/a.webp"].source == "https://x/a.jpg"
    assert (found["/r/res/c.webp"].licence, found["/r/res/c.webp"].copyright) == (
        "Public Domain",
        "Bob",
    )


# --------------------------------------------------------------------------- #
# Photo / drawing filter
# --------------------------------------------------------------------------- #


def natural_image(width=320, height=240, seed=0):
    """Smooth random colour field + fine noise + a few sharp-edged blobs."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(30, 225, size=(6, 8, 3)).astype(np.uint8)
    base = np.asarray(
        Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC), np.float64
    )
    yy, xx = np.mgrid[:height, :width]
    for _ in range(6):
        cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(10, 50)
        base[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] += rng.uniform(-70, 70, size=3)
    base += rng.normal(0, 6, size=base.shape)
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))


def cartoon_image(width=320, height=240):
    arr = np.full((height, width, 3), (250, 240, 200), np.uint8)  # flat sky
    arr[height // 2 :] = (60, 170, 60)  # flat grass
    arr[40:90, 200:250] = (250, 210, 0)  # sun
    arr[100:180, 60:140] = (200, 40, 40)  # house
    arr[130:180, 90:110] = (90, 50, 20)  # door
    return Image.fromarray(arr)


def test_filter_keeps_natural_colour_image(mdd):
    pf = mdd.PhotoFilter()
    for seed in range(3):
        stats = pf.stats(natural_image(seed=seed))
        assert pf.reason(stats) == "", stats


def test_filter_drops_cartoon(mdd):
    pf = mdd.PhotoFilter()
    reason = pf.reason(pf.stats(cartoon_image()))
    assert reason.startswith("drawing"), reason
    # Still a drawing after JPEG compression (which adds some noise to flat areas).
    buf = io.BytesIO()
    cartoon_image().save(buf, "JPEG", quality=90)
    reason = pf.reason(pf.stats(Image.open(buf)))
    assert reason.startswith("drawing"), reason


def test_filter_drops_gray_tiny_cutout_and_gradient(mdd):
    pf = mdd.PhotoFilter()
    gray = natural_image().convert("L").convert("RGB")
    assert pf.reason(pf.stats(gray)).startswith("near-gray")
    tiny = natural_image(120, 90)
    assert pf.reason(pf.stats(tiny)).startswith("too small")
    cutout = natural_image().convert("RGBA")
    alpha = np.zeros((240, 320), np.uint8)
    alpha[60:180, 80:240] = 255
    cutout.putalpha(Image.fromarray(alpha))
    assert pf.reason(pf.stats(cutout)).startswith("transparent")
    ramp = np.zeros((240, 320, 3), np.uint8)
    ramp[..., 0] = np.linspace(0, 255, 320)[None, :]
    ramp[..., 2] = np.linspace(255, 0, 240)[:, None]
    assert pf.reason(pf.stats(Image.fromarray(ramp))).startswith("synthetic gradient")


def test_output_size(mdd):
    assert mdd.output_size(2000, 1000) == (1024, 512)
    assert mdd.output_size(600, 1200) == (512, 1024)
    assert mdd.output_size(320, 240) == (320, 240)  # never enlarged


# --------------------------------------------------------------------------- #
# Subjects and the held-out split
# --------------------------------------------------------------------------- #


def test_subject_names(mdd):
    name = mdd.subject_name
    assert name("animals/bear1.jpg") == name("other/Bear2.webp") == name("x/bear.png") == "bear"
    assert name("/usr/share/backgrounds/sunset_by_Some_One.jpg") == "sunset"
    assert name("polar_bear.webp") == "polarbear"
    assert name("qutubMinar.webp") == name("kutubMinar.webp")


def test_split_never_separates_a_subject(mdd):
    files = [
        f"{folder}/{animal}{n}.jpg"
        for folder in ("zoo", "farm", "wild")
        for animal in ("bear", "cow", "horse", "Duck", "lion", "tiger", "eagle", "otter")
        for n in ("", "1", "2", "_3")
    ]
    files += [f"monuments/m{chr(97 + i)}{chr(98 + i)}c.jpg" for i in range(20)]
    files += ["wonders/greatPyramid.webp", "egypt/greatPyramidOfGiza.webp"]
    names = [mdd.subject_name(f) for f in files]
    merged = mdd.merge_subjects(names)
    assert merged["greatpyramidofgiza"] == merged["greatpyramid"]
    splits = collections.defaultdict(set)
    for name in names:
        splits[merged[name]].add(mdd.split_of(merged[name], 10))
    assert all(len(s) == 1 for s in splits.values())
    assert len(splits["bear"]) == 1 and len({merged[n] for n in names if "bear" in n}) == 1
    # Deterministic, and about 10% of many subjects are held out.
    assert mdd.split_of("bear") == mdd.split_of("bear")
    many = [mdd.split_of(f"subject{i}") for i in range(2000)]
    assert 0.07 < many.count("heldout") / len(many) < 0.13
    assert mdd.split_of("anything", 0) == "train" and mdd.split_of("anything", 100) == "heldout"


# --------------------------------------------------------------------------- #
# Sources
# --------------------------------------------------------------------------- #

FAKE_COPYRIGHT = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2020 Someone
License: GPL-2+

Files: photos/*
Copyright: A Photographer
License: CC0-1.0
"""


def fake_package(tmp_path, package, files, copyright_text=FAKE_COPYRIGHT):
    """An unpacked package: its copyright file and small images at the given paths."""
    doc = tmp_path / "usr/share/doc" / package
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(copyright_text)
    for rel in files:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        natural_image(64, 48).save(path)
    return str(tmp_path)


def test_path_matches(mdd):
    assert mdd.path_matches("a.jpg", "*.jpg")
    assert not mdd.path_matches("sub/a.jpg", "*.jpg")
    assert mdd.path_matches("sub/a.jpg", "sub/*.jpg")
    assert not mdd.path_matches("a.png", "*.jpg")


def test_folder_candidates_selection_and_licences(mdd, tmp_path):
    base = "usr/share/pkg/pics"
    root = fake_package(
        tmp_path, "pkg", [f"{base}/a.jpg", f"{base}/drawing.png", f"{base}/sub/b.jpg"]
    )
    cands = {
        c.original_path.rsplit("/", 1)[-1]: c
        for c in mdd.folder_candidates(
            root,
            "pkg",
            base,
            "pkg",
            lambda inner: "photos/" + inner,
            only=("*.jpg", "*.png"),
            exclude=("drawing.png",),
        )
    }
    assert cands["a.jpg"].error == "" and cands["a.jpg"].out_stem == "pkg-a"
    assert (cands["a.jpg"].licence.licence, cands["a.jpg"].licence.match) == ("CC0-1.0", "pattern")
    assert cands["drawing.png"].error == mdd.EXCLUDED
    assert cands["b.jpg"].error == mdd.NOT_SELECTED
    explicit = mdd.LicenceInfo("GPL-2+", "explicit", note="why")
    (cand,) = mdd.folder_candidates(
        root,
        "pkg",
        base + "/sub",
        "pkg",
        str,
        licence=explicit,
        upstream=lambda path: mdd.LicenceInfo("PD", "readme"),
    )
    assert cand.licence is explicit and cand.upstream.licence == "PD"


def test_plasma_takes_largest_image_and_its_metadata(mdd, tmp_path):
    walls = "usr/share/wallpapers"
    root = fake_package(
        tmp_path,
        "plasma-workspace-wallpapers",
        [
            f"{walls}/Lake/contents/images/1920x1080.jpg",
            f"{walls}/Lake/contents/images/2560x1600.jpg",
            f"{walls}/Lake/contents/images_dark/5120x2880.jpg",
            f"{walls}/Render/contents/images/800x600.png",
        ],
    )
    meta = {"KPlugin": {"Authors": [{"Name": "Ann"}], "License": "LGPLv3"}}
    (tmp_path / walls / "Lake/metadata.json").write_text(json.dumps(meta))
    lake, render = mdd.plasma_candidates(root, "plasma-workspace-wallpapers", ("Lake",))
    assert lake.original_path.endswith("Lake/contents/images/2560x1600.jpg")
    assert (lake.error, lake.out_stem, lake.subject) == ("", "plasma-lake", "Lake")
    assert (lake.upstream.licence, lake.upstream.copyright) == ("LGPLv3", "Ann")
    assert lake.licence.match == "catch-all"
    assert render.error.startswith("render or drawing")


def test_desktop_licence(mdd, tmp_path):
    (tmp_path / "bee.desktop").write_text(
        "[Desktop Entry]\nName=Bee\nX-KDE-PluginInfo-Author=John\n"
        "X-KDE-PluginInfo-Website=http://example.org/bee\nX-KDE-PluginInfo-License=Public Domain\n"
    )
    info = mdd.desktop_licence(str(tmp_path / "bee.jpg"))
    assert (info.licence, info.copyright, info.source) == (
        "Public Domain",
        "John",
        "http://example.org/bee",
    )
    assert mdd.desktop_licence(str(tmp_path / "none.jpg")).licence == ""


def test_specs_skip_reserved_packages(mdd):
    names = [spec.name for spec in mdd.package_specs()]
    assert len(names) == len(set(names))
    assert not set(names) & set(mdd.RESERVED_PACKAGES)
    assert "lomiri-wallpapers-16.04" in names  # an older release, not the reserved one


def test_missing_python_package_is_skipped(mdd, tmp_path, capsys):
    spec = mdd.PackageSpec("no-such-dist", lambda root: iter(()), module="no_such_module_xyz")
    result = mdd.process_package(spec, "", "", str(tmp_path), mdd.PhotoFilter(), [], [])
    assert (result.version, result.kept, result.dropped) == ("not installed", 0, 0)
    assert "not installed" in capsys.readouterr().err


def test_max_short_side_option(mdd):
    assert mdd.parse_args(["out"]).max_short_side == 512
    args = mdd.parse_args(["out", "--max-short-side", "768"])
    assert args.max_short_side == 768
    assert mdd.output_size(2000, 1000, 768) == (1536, 768)
    jpeg, size = mdd.encode_jpeg(natural_image(1000, 900), 768)
    assert size == (853, 768) and Image.open(io.BytesIO(jpeg)).size == size
