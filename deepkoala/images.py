"""Reading pictures from paths, `PIL.Image`s and arrays into numpy arrays."""

import os

import numpy as np
from PIL import ExifTags, Image, ImageOps

from deepkoala import photo_metadata
from deepkoala.image_files import special_file_kind

# Pillow modes whose samples are wider than 8 bits.
_HIGH_DEPTH_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I", "F"}


def open_image(path):
    """Open an image file and apply its EXIF orientation.

    Raises:
        FileNotFoundError: if `path` does not exist.
        ValueError: if the file is not an image Pillow can read, or not a
            regular file at all (a FIFO, a device).

    Example:
    >>> image = open_image("examples/sample.jpg")  # doctest: +SKIP
    """
    path = os.fspath(path)
    kind = special_file_kind(path)
    if kind:
        raise ValueError(f"Cannot read {path} as an image: it is not a regular file but {kind}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such image file: {path}")
    try:
        with Image.open(path) as image:
            image.load()
            # In place: the default returns a copy even of an upright photo,
            # 96 MB more at the peak for 24 megapixels.
            ImageOps.exif_transpose(image, in_place=True)
            return image
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ValueError(f"Cannot read {path} as an image: {error}") from error


def _peak_value(mode, largest):
    """The white level of a high-depth image, which Pillow does not record."""
    if "16" in mode:
        return 65535.0
    if mode == "F" and largest <= 1.0:
        return 1.0
    return 255.0 if largest <= 255.0 else 65535.0


def _pil_pixels(image, name="the image"):
    """A PIL image's pixels: uint8 for 8-bit modes, else float32 in [0, 1].

    (H, W) for gray, (H, W, 3) for color.
    """
    pixels = _pil_8bit_or_array(image, name)
    return np.asarray(pixels) if isinstance(pixels, Image.Image) else pixels


def _pil_8bit_or_array(image, name="the image"):
    """A PIL image as an sRGB PIL image in mode "L" or "RGB", or (high-depth
    modes) as a float32 array in [0, 1]."""
    mode = image.mode
    if mode in _HIGH_DEPTH_MODES:
        array = np.asarray(image, dtype=np.float32)
        if not np.isfinite(array).all():
            # A NaN or inf would set the white level and leave the rest black.
            raise ValueError(f"{name} holds values that are not finite (NaN or inf).")
        return np.clip(array / _peak_value(mode, array.max(initial=0.0)), 0.0, 1.0)
    if mode in ("1", "L", "LA", "La"):
        return image.convert("L") if mode != "L" else image
    # A photo in another RGB space (Adobe RGB, Display P3, ...) is read through its profile.
    image = photo_metadata.to_srgb(image)
    if mode == "RGB":
        return image
    if mode == "P" and "transparency" not in image.info:
        return image.convert("RGB")
    # RGBA, CMYK, YCbCr, LAB, HSV, palettes with transparency: Pillow knows
    # how to reach RGB; transparency is dropped, the colors under it kept.
    return image.convert("RGBA").convert("RGB")


def _array_pixels(array):
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] != 3):
        raise ValueError(
            "An image array must have shape (H, W), (H, W, 1) or (H, W, 3). "
            f"Received: shape={array.shape}"
        )
    if array.size == 0:
        raise ValueError(f"An image array must not be empty. Received: shape={array.shape}")
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.uint16:
        return array.astype(np.float32) / 65535.0
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all() or array.min() < 0.0 or array.max() > 1.0:
            raise ValueError(
                "A float image array must hold finite values in [0, 1]. Received: "
                f"min={array.min()}, max={array.max()}"
            )
        return array.astype(np.float32)
    raise ValueError(
        f"An image array must be uint8, uint16 or float. Received: dtype={array.dtype}"
    )


def _upright(source):
    """(the upright PIL image, its name for messages) of a path or a PIL image; None else."""
    if isinstance(source, (str, os.PathLike)):
        return open_image(source), os.fspath(source)
    if isinstance(source, Image.Image):
        if source.getexif().get(ExifTags.Base.Orientation, 1) != 1:
            source = ImageOps.exif_transpose(source)  # a copy: the caller's image is kept
        return source, "the image"
    return None


def _array_or_refused(source):
    if isinstance(source, np.ndarray):
        return _array_pixels(source)
    raise ValueError(
        f"An image must be a path, a PIL.Image or a numpy array. Received: {type(source).__name__}"
    )


def read_photo(source, as_image=False):
    """`read_pixels(source)` and what the photo carries besides (`photo_metadata.read`).

    Args:
        source (str | os.PathLike | PIL.Image.Image | numpy.ndarray): as for `read_image`.
        as_image (bool): return an 8-bit photo's pixels as a PIL image in
            mode "L" or "RGB" (sRGB) instead of an array: a 24-megapixel
            photo is then not copied (`full_resolution.lightness` reads it
            band by band).

    Returns:
        tuple: (pixels, `photo_metadata.PhotoMetadata` or None); arrays carry none.

    Example:
    >>> read_photo(np.zeros((4, 6), dtype="uint8"))[1] is None
    True
    """
    upright = _upright(source)
    if upright is None:
        return _array_or_refused(source), None
    pixels = _pil_8bit_or_array(*upright) if as_image else _pil_pixels(*upright)
    return pixels, photo_metadata.read(upright[0])


def read_pixels(source):
    """Any supported image source as an array, 8-bit sources kept as uint8.

    A 24-megapixel photo then takes 72 MB instead of 288 MB as float32.

    Args:
        source (str | os.PathLike | PIL.Image.Image | numpy.ndarray): as for
            `read_image`.

    Returns:
        numpy.ndarray: (H, W) for a gray image, (H, W, 3) for a color one:
            uint8 for 8-bit files and uint8 arrays, float32 in [0, 1] for
            the rest.

    Example:
    >>> import numpy as np
    >>> read_pixels(np.zeros((4, 6), dtype="uint8")).dtype
    dtype('uint8')
    """
    upright = _upright(source)
    return _array_or_refused(source) if upright is None else _pil_pixels(*upright)


def read_image(source):
    """Any supported image source as float32 in [0, 1].

    Args:
        source (str | os.PathLike | PIL.Image.Image | numpy.ndarray): a path,
            a `PIL.Image.Image`, or a numpy array of shape (H, W), (H, W, 1)
            or (H, W, 3), uint8, uint16 or float in [0, 1].

    Returns:
        numpy.ndarray: float32, (H, W) for a gray image, (H, W, 3) for a color one.

    Example:
    >>> import numpy as np
    >>> read_image(np.zeros((4, 6), dtype="uint8")).shape
    (4, 6)
    """
    pixels = read_pixels(source)
    return pixels.astype(np.float32) / 255.0 if pixels.dtype == np.uint8 else pixels


def read_rgb_uint8(source):
    """Any supported image source as uint8 RGB of shape (H, W, 3).

    Example:
    >>> import numpy as np
    >>> read_rgb_uint8(np.zeros((4, 6), dtype="uint8")).shape
    (4, 6, 3)
    """
    image = read_pixels(source)
    if image.dtype != np.uint8:
        image = np.round(image * 255.0).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    return image


def read_each(sources, read=None):
    """Read every source; one failure does not stop the others.

    Args:
        sources (list): paths, `PIL.Image`s or arrays.
        read (callable | None): the reader, `read_image` by default (or `read_rgb_uint8`).

    Returns:
        tuple: (images, errors), lists as long as `sources`; `images[i]` is
            None where `errors[i]` holds the `ValueError` or `OSError` that
            says why.

    Example:
    >>> images, errors = read_each(["a.jpg", "missing.jpg"])  # doctest: +SKIP
    >>> errors[1]  # doctest: +SKIP
    FileNotFoundError('No such image file: missing.jpg')
    """
    read = read or read_image
    images, errors = [], []
    for source in sources:
        try:
            images.append(read(source))
            errors.append(None)
        except (ValueError, OSError) as error:
            images.append(None)
            errors.append(error)
    return images, errors


def resize_and_center_crop(image, size):
    """Resize uint8 RGB so its short side is `size`, then crop the center square.

    Example:
    >>> import numpy as np
    >>> resize_and_center_crop(np.zeros((40, 60, 3), dtype="uint8"), 16).shape
    (16, 16, 3)
    """
    height, width = image.shape[:2]
    scale = size / min(height, width)
    new_height, new_width = max(size, round(height * scale)), max(size, round(width * scale))
    resized = np.asarray(
        Image.fromarray(image).resize((new_width, new_height), Image.Resampling.BILINEAR)
    )
    top, left = (new_height - size) // 2, (new_width - size) // 2
    return resized[top : top + size, left : left + size]


# A channel above this many pixels is resized band by band (below, the
# band-by-band copies cost more than they save).
BAND_RESIZE_PIXELS = 4_000_000
# Pixels per band of rows when a large channel is resized.
_RESIZE_BAND_PIXELS = 1 << 16


def _pillow_resize(channel, height, width):
    image = Image.fromarray(np.ascontiguousarray(channel), mode="F")
    return np.asarray(image.resize((width, height), Image.Resampling.BILINEAR))


def resize_channel(channel, height, width):
    """Bilinear resize of one float32 channel (H, W) to (height, width), as Pillow's.

    Pillow takes a whole copy of the channel (it has no float image that
    shares numpy's memory): 96 MB for 24 megapixels. A large channel's rows
    are therefore resized band by band, then its columns (`resize_bands`).

    Example:
    >>> import numpy as np
    >>> resize_channel(np.zeros((4, 4), dtype="float32"), 8, 2).shape
    (8, 2)
    """
    channel = np.asarray(channel, dtype=np.float32)
    source_height, source_width = channel.shape
    if channel.size <= BAND_RESIZE_PIXELS or source_width == width:
        return _pillow_resize(channel, height, width)
    rows = max(1, _RESIZE_BAND_PIXELS // source_width)
    bands = ((top, channel[top : top + rows]) for top in range(0, source_height, rows))
    return resize_bands(bands, channel.shape, height, width)


def resize_bands(bands, shape, height, width):
    """`resize_channel` of a channel of `shape` (H, W) that comes band by band.

    Each band's rows are resized as it comes, then the columns of them all:
    the same sums as Pillow's (Pillow 13 resizes the columns first when the
    height shrinks more than twice as much as the width; the results then
    differ by about 1e-5 of their value). The whole channel is never held.

    Args:
        bands (collections.abc.Iterable): (first row, float32 band of rows), in order;
            a band may be overwritten once the next one is asked for.
        shape (tuple): (H, W) of the whole channel.
        height (int): the resized height.
        width (int): the resized width.

    Example:
    >>> import numpy as np
    >>> bands = [(0, np.ones((2, 8), "float32")), (2, np.ones((2, 8), "float32"))]
    >>> resize_bands(bands, (4, 8), 2, 2).tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """
    source_height, source_width = shape
    resized = np.empty((source_height, width), np.float32)
    for top, band in bands:
        rows = band.shape[0]
        resized[top : top + rows] = (
            band if source_width == width else _pillow_resize(band, rows, width)
        )
    return resized if source_height == height else _pillow_resize(resized, height, width)
