"""What a photo carries besides its pixels: EXIF, its ICC profile and its alpha.

A colorized photo is a new picture of the same photograph, so it keeps what
an archive records about it: the EXIF data (camera, date, captions; the
orientation reset to upright, as the pixels are already turned), the color
space (a photo with an RGB ICC profile other than sRGB is read through that
profile, and its result converted back and tagged with it) and the
transparency (alpha kept unchanged). `read` takes them from an opened
image, `to_srgb` converts pixels through a profile, and `restore` puts them
on a result; `save_options` gives Pillow's arguments for writing them.
"""

import dataclasses
import io

import numpy as np
from PIL import ExifTags, Image, ImageCms

_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
# Output formats and what they hold.
_HOLDS_ALPHA = {"PNG", "TIFF", "WEBP"}
_HOLDS_EXIF = {"JPEG", "PNG", "TIFF", "WEBP"}


@dataclasses.dataclass(frozen=True, eq=False)
class PhotoMetadata:
    """What `restore` puts back on a result; None where the photo had none.

    Attributes:
        exif (bytes | None): the EXIF block, orientation reset to upright.
        icc_profile (bytes | None): an RGB ICC profile other than sRGB,
            through which the pixels were read.
        alpha (numpy.ndarray | None): the (H, W) uint8 alpha channel, upright.
    """

    exif: bytes | None = None
    icc_profile: bytes | None = None
    alpha: np.ndarray | None = None


def _rgb_profile(image):
    """The image's ICC profile if it describes an RGB space other than sRGB, else None."""
    data = image.info.get("icc_profile")
    if not data or image.mode not in ("RGB", "RGBA"):
        return None
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(data))
    except (OSError, ImageCms.PyCMSError):
        return None  # unreadable: read the pixels as sRGB, as before
    if profile.profile.xcolor_space.strip() != "RGB":
        return None
    description = (profile.profile.profile_description or "").lower()
    return None if "srgb" in description else data


def _upright_exif(image):
    exif = image.getexif()
    if not len(exif):
        return None
    # 1: upright, as the pixels are turned on reading.
    if exif.get(ExifTags.Base.Orientation, 1) != 1:
        exif[ExifTags.Base.Orientation] = 1
    return exif.tobytes()


def exif_of(path):
    """A photo file's EXIF block, orientation reset to upright, from its header; None if none.

    Example:
    >>> exif_of("examples/sample.jpg")  # doctest: +SKIP
    """
    with Image.open(path) as image:
        return _upright_exif(image)


def read(image):
    """The metadata of an opened, upright PIL image (`images.open_image`).

    Args:
        image (PIL.Image.Image): the photo, already turned upright.

    Returns:
        PhotoMetadata | None: None when the photo carries nothing to keep.

    Example:
    >>> read(Image.new("RGBA", (2, 2))).alpha.shape
    (2, 2)
    """
    exif_bytes = _upright_exif(image)
    alpha = None
    if image.mode in _ALPHA_MODES or (image.mode == "P" and "transparency" in image.info):
        source = image.convert("RGBA") if image.mode in ("P", "PA") else image
        alpha = np.asarray(source.getchannel("A"))
    profile = _rgb_profile(image)
    if exif_bytes is None and profile is None and alpha is None:
        return None
    return PhotoMetadata(exif_bytes, profile, alpha)


def to_srgb(image):
    """`image` converted to sRGB through its RGB ICC profile; itself if it has none.

    Example:
    >>> to_srgb(Image.new("RGB", (2, 2))).mode
    'RGB'
    """
    profile = _rgb_profile(image)
    if profile is None:
        return image
    source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    return ImageCms.profileToProfile(
        image, source, ImageCms.createProfile("sRGB"), outputMode=image.mode
    )


def restore(output, metadata):
    """Put a photo's metadata on its colorized sRGB result (a new image where it changes).

    The pixels are converted from sRGB into the photo's ICC profile and
    tagged with it, the alpha channel is added, and the EXIF block goes to
    `output.info["exif"]` (Pillow writes it when asked: `save_options`).

    A 16-bit result (a uint16 array) gets the alpha only, widened to 16
    bits: it stays sRGB, and its EXIF is written from `metadata` directly
    (`deepkoala.png16`).

    Args:
        output (PIL.Image.Image | numpy.ndarray): the RGB result, upright, of the photo's size.
        metadata (PhotoMetadata | None): from `read`.

    Returns:
        PIL.Image.Image | numpy.ndarray: RGB, or RGBA for a photo with alpha.

    Example:
    >>> restore(Image.new("RGB", (2, 2)), read(Image.new("LA", (2, 2)))).mode
    'RGBA'
    """
    if metadata is None:
        return output
    if isinstance(output, np.ndarray):
        # A 16-bit result (Pillow has no 16-bit RGB): its alpha, widened; it stays sRGB.
        if metadata.alpha is None or metadata.alpha.shape != output.shape[:2]:
            return output
        return np.dstack([output, metadata.alpha.astype(np.uint16) * 257])
    if metadata.icc_profile is not None:
        target = ImageCms.ImageCmsProfile(io.BytesIO(metadata.icc_profile))
        output = ImageCms.profileToProfile(
            output, ImageCms.createProfile("sRGB"), target, outputMode="RGB"
        )
        output.info["icc_profile"] = metadata.icc_profile
    if metadata.alpha is not None and metadata.alpha.shape == (output.height, output.width):
        output.putalpha(Image.fromarray(metadata.alpha))
    if metadata.exif is not None:
        output.info["exif"] = metadata.exif
    return output


def save_options(image, format):
    """Pillow `save` arguments that write `image`'s EXIF and ICC profile in `format`.

    Args:
        image (PIL.Image.Image): a result of `restore`.
        format (str): Pillow's format name ("JPEG", "PNG", ...).

    Returns:
        dict: `exif` and `icc_profile` where the image has them and the format holds them.

    Example:
    >>> save_options(Image.new("RGB", (2, 2)), "PNG")
    {}
    """
    options = {}
    if image.info.get("exif") and format in _HOLDS_EXIF:
        options["exif"] = image.info["exif"]
    if image.info.get("icc_profile"):
        options["icc_profile"] = image.info["icc_profile"]
    return options


def for_format(image, format):
    """`image` as `format` can hold it: without alpha for JPEG (and other formats without it).

    Example:
    >>> for_format(Image.new("RGBA", (2, 2)), "JPEG").mode
    'RGB'
    """
    if image.mode == "RGBA" and format not in _HOLDS_ALPHA:
        return image.convert("RGB")
    return image
