"""Where colorized files go, and how they are written: the rules of `deepkoala colorize`.

The command line, `deepkoala.archive` and the web API share them: an output
beside its input (`<name>_colorized.<ext>`, a folder's into
`<folder>_colorized/`) or in an output folder, JPEG stays JPEG, the photo's
metadata is kept, and every file is written atomically.
"""

import io
import itertools
import os


def input_files(inputs, output, photo_format="auto"):
    """(path, output path) for every input file, and why others are skipped.

    With an output folder, each file goes there; without one, a file's output
    is `<name>_colorized.<ext>` beside it, and a folder's go into a sibling
    folder `<folder>_colorized/`. A FIFO or device is skipped and named, never
    opened (reading it would block or never end).

    Returns:
        tuple: (pairs, skipped): `skipped` holds (path, why) for each file
            that is not read.
    """
    from deepkoala.image_files import find_images, special_file_kind

    pairs, skipped = [], []
    for item in inputs:
        if os.path.isdir(item):
            base = output or os.path.normpath(item) + "_colorized"
            for path in find_images(item):
                kind = special_file_kind(path)
                if kind:
                    skipped.append((path, f"not a regular file but {kind}"))
                    continue
                stem = os.path.splitext(os.path.relpath(path, item))[0]
                extension = output_extension(path, photo_format)
                pairs.append((path, os.path.join(base, stem + extension)))
        elif os.path.isfile(item):
            stem = os.path.splitext(os.path.basename(item))[0]
            extension = output_extension(item, photo_format)
            if output:
                pairs.append((item, os.path.join(output, stem + extension)))
            else:
                folder = os.path.dirname(item)
                pairs.append((item, os.path.join(folder, f"{stem}_colorized{extension}")))
        elif kind := special_file_kind(item):
            skipped.append((item, f"not a regular file but {kind}"))
        else:
            raise FileNotFoundError(f"no such file or folder: {item}")
    if not pairs and not skipped:
        raise FileNotFoundError("no input files found")
    return pairs, skipped


# Video file extensions FFmpeg writes; a video named otherwise is written as Matroska.
VIDEO_EXTENSIONS = {
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".ogv",
    ".wmv", ".3gp",
}  # fmt: skip


# The extensions run_colorize writes photos with; anything else is a video.
PHOTO_EXTENSIONS = (".png", ".jpg")


def output_extension(path, photo_format):
    """A photo's ".png" or ".jpg"; a video keeps its container's extension where FFmpeg knows it.

    With `photo_format="auto"`, a JPEG photo (by its content) stays JPEG: its
    chroma is far below JPEG's resolution, so a lossless copy would only be
    four times larger and slower to write.
    """
    from deepkoala.video import looks_like_video

    if looks_like_video(path):
        extension = os.path.splitext(path)[1].lower()
        return extension if extension in VIDEO_EXTENSIONS else ".mkv"
    if photo_format == "auto":
        try:
            with open(path, "rb") as file:
                photo_format = "jpeg" if file.read(3) == b"\xff\xd8\xff" else "png"
        except OSError:
            photo_format = "png"  # reading it fails again later, and is reported then
    return ".jpg" if photo_format == "jpeg" else ".png"


def numbered(target):
    """`<stem>-2<ext>`, `<stem>-3<ext>`, ...: the names to try after `target`."""
    stem, extension = os.path.splitext(target)
    return (f"{stem}-{number}{extension}" for number in itertools.count(2))


def unique_output(target, taken):
    """`target`, or `<stem>-2<ext>`, ... when an earlier input of this run took it.

    Names are compared case-folded: `A.jpg` and `a.jpg` are one file on the
    file systems of macOS and Windows.
    """
    unique, others = target, numbered(target)
    while unique.casefold() in taken:
        unique = next(others)
    taken.add(unique.casefold())
    return unique


def output_problem(target, inputs, overwrite):
    """Why `target` must not be written, or "" when it may be."""
    if os.path.realpath(target) in inputs:
        return f"{target} is one of the inputs; it is never overwritten"
    if os.path.lexists(target) and not overwrite:
        return f"{target} exists already (pass --overwrite to replace it)"
    return ""


def encode_result(image, photo_format, source=None):
    """A result's file bytes as "JPEG" or "PNG" (`photo_format`), with the photo's metadata.

    EXIF, ICC profile and alpha go where the format holds them
    (`deepkoala.photo_metadata`); a 16-bit result (an array) is a 16-bit PNG
    with the EXIF of `source`.

    Example:
    >>> from PIL import Image
    >>> encode_result(Image.new("RGB", (4, 4)), "PNG")[:4]
    b'\x89PNG'
    """
    from PIL import Image

    from deepkoala import photo_metadata

    if not isinstance(image, Image.Image):
        from deepkoala import png16

        return png16.encode(image, exif=photo_metadata.exif_of(source) if source else None)
    encoded = io.BytesIO()
    options = photo_metadata.save_options(image, photo_format)
    image = photo_metadata.for_format(image, photo_format)
    if photo_format == "JPEG":
        image.save(encoded, format="JPEG", quality=95, **options)
    else:
        # zlib level 1: a third of the default level's time for files about 5% larger.
        image.save(encoded, format="PNG", compress_level=1, **options)
    return encoded.getvalue()


def save_atomically(image, target, overwrite, source=None):
    """Write a result (`encode_result`, JPEG or PNG by `target`'s extension) atomically.

    Encoded in memory, then written with checked writes: Pillow's JPEG
    encoder does not notice a short write on a full disk. Without
    `overwrite`, the name is claimed in one step, and if another process
    took it meanwhile the next free `<stem>-2<ext>`, ... is used.

    Returns:
        str: the path written.
    """
    from deepkoala.atomic import write_bytes

    encoded = encode_result(image, "JPEG" if target.endswith(".jpg") else "PNG", source)
    for candidate in itertools.chain([target], numbered(target)):
        try:
            write_bytes(candidate, encoded, exclusive=not overwrite)
            return candidate
        except FileExistsError:
            continue
