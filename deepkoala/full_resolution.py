"""Full-resolution color math in numpy: a photo's lightness, and the colorized merge.

`color` holds the same conversions in `keras.ops`, for use inside models.
Outside a model they are slow: every call is an eager backend op on the
whole photo. Here 8-bit pixels go through lookup tables, the rest runs in
float32 numpy on bands of rows (a 24-megapixel photo needs a few MB of
temporaries), and the a*b* predicted at the network's working size is
upsampled band by band instead of all at once. Results match `color`'s to
within 1 in 8-bit output.
"""

import functools
import threading

import numpy as np
from PIL import Image

from deepkoala import color
from deepkoala.images import resize_bands, resize_channel

# Pixels per band of rows: large enough for numpy to run at full speed,
# small enough that a band's temporaries stay in the caches.
BAND_PIXELS = 1 << 16


def _band_rows(width):
    return max(1, BAND_PIXELS // max(width, 1))


class _Scratch:
    """Arrays for the band arithmetic, reused band after band and photo after photo.

    A fresh array the size of a band (256 KB) is mapped and unmapped by the
    allocator at every band, and its page faults cost more than the
    arithmetic: on a 640x480 photo, merging took 8.4-9.9 ms and the lightness
    2.3 ms with fresh temporaries, 3.4 and 1.0 ms with these
    (`benchmarks/full_resolution.py`). One set per thread (about 8 MB), so
    that the pipeline's workers do not share.
    """

    def __init__(self):
        self._arrays = {}
        self._shape = (0, 0)

    def shaped(self, width):
        """This scratch for the bands of a photo `width` pixels wide."""
        self._shape = (_band_rows(width), width)
        return self

    def __call__(self, name, rows, dtype=np.float32):
        """The first `rows` rows of the scratch array `name`, contiguous."""
        size = self._shape[0] * self._shape[1]
        array = self._arrays.get(name)
        if array is None or array.size < size or array.dtype != dtype:
            array = self._arrays[name] = np.empty(max(size, BAND_PIXELS), dtype)
        return array[:size].reshape(self._shape)[:rows]


_THREAD = threading.local()


def _scratch(width):
    """This thread's `_Scratch`, for the bands of a photo `width` pixels wide."""
    if not hasattr(_THREAD, "scratch"):
        _THREAD.scratch = _Scratch()
    return _THREAD.scratch.shaped(width)


# Entries of the linear -> 8-bit sRGB table. The sRGB curve is steepest at
# black (12.92 * 255 per unit of linear light): 2**16 entries keep the
# table's error under 0.03 of an 8-bit step.
_ENCODE_TABLE_SIZE = 2**16

_LUMINANCE = np.asarray(color._LUMINANCE, dtype=np.float32)
_RGB_FROM_XYZ = np.asarray(color._RGB_FROM_XYZ, dtype=np.float32)
_WHITE_X, _, _WHITE_Z = color._D65_WHITE


@functools.cache
def _decode_table():
    """Linear light of each 8-bit sRGB value (256,)."""
    return _srgb_to_linear(np.arange(256) / 255.0)


@functools.cache
def _gray_lightness_table():
    """CIE L of each 8-bit gray value (256,)."""
    luminance = _decode_table()
    f = _lab_f(luminance, np.empty_like(luminance), np.empty_like(luminance),
               np.empty(luminance.shape, bool))  # fmt: skip
    return 116.0 * f - 16.0


@functools.cache
def _luminance_pair_tables():
    """Luminance shares of the 16-bit pairs (R + 256 G) and (B + 256 X) of 4-byte pixels.

    Two lookups per pixel instead of three, with the same float32 sums as
    adding the three channels' shares in order.
    """
    red, green, blue = (_decode_table() * weight for weight in _LUMINANCE)
    red_green = (red[None, :] + green[:, None]).ravel()  # index R + 256 G -> [G, R]
    return red_green, np.tile(blue, 256)  # whatever the padding byte X holds


@functools.cache
def _encode_table():
    """8-bit sRGB of linear light in [0, 1], sampled at `_ENCODE_TABLE_SIZE` points."""
    linear = np.arange(_ENCODE_TABLE_SIZE) / (_ENCODE_TABLE_SIZE - 1)
    curved = np.where(
        linear > 0.0031308, 1.055 * np.power(linear, 1.0 / 2.4) - 0.055, linear * 12.92
    )
    return np.round(np.clip(curved, 0.0, 1.0) * 255.0).astype(np.uint8)


def _piecewise(upper, lower, take_upper):
    """`upper` where `take_upper`, else `lower`, in place in `upper`.

    A blend by the 0/1 mask: several times faster than `np.where` on float32
    bands (both branches are computed either way).
    """
    upper -= lower
    upper *= take_upper
    upper += lower
    return upper


# The two functions below write into `out`; `linear` (float32) and `mask`
# (bool) are scratch arrays of the input's shape.


def _lab_f(t, out, linear, mask):
    """CIE's f(t) of float32 `t`, into `out`."""
    np.multiply(t, np.float32(color._LAB_KAPPA), out=linear)
    linear += np.float32(color._LAB_OFFSET)
    np.greater(t, color._LAB_EPSILON, out=mask)
    return _piecewise(np.cbrt(t, out=out), linear, mask)


def _lab_f_inverse(f, out, linear, mask):
    """The inverse of `_lab_f` of float32 `f`, into `out` (not `f` itself)."""
    np.subtract(f, np.float32(color._LAB_OFFSET), out=linear)
    linear *= np.float32(1.0 / color._LAB_KAPPA)
    np.greater(f, 0.2068966, out=mask)
    np.multiply(f, f, out=out)
    out *= f
    return _piecewise(out, linear, mask)


def _srgb_to_linear(values):
    curved = np.power((np.maximum(values, 0.04045) + 0.055) / 1.055, 2.4)
    return np.where(values > 0.04045, curved, values / 12.92).astype(np.float32, copy=False)


def _band_lightness(band, out, scratch):
    """CIE L of one band of pixels (uint8, or float in [0, 1]; gray or RGB) into `out`."""
    rows = band.shape[0]
    if band.ndim == 2 and band.dtype == np.uint8:
        return np.take(_gray_lightness_table(), band, out=out)
    luminance = scratch("luminance", rows)
    if band.dtype == np.uint16:
        # (rows, W, 2): the 16-bit pairs of 4-byte RGBX pixels.
        red_green, blue = _luminance_pair_tables()
        np.take(red_green, band[..., 0], out=luminance)
        np.take(blue, band[..., 1], out=scratch("plane", rows))
        luminance += scratch("plane", rows)
    elif band.ndim == 2:
        luminance[...] = _srgb_to_linear(band)
    else:
        # Channel by channel: numpy is slow at products over a last axis of 3.
        plane = scratch("plane", rows)
        for channel, weight in enumerate(_LUMINANCE):
            if band.dtype == np.uint8:
                np.take(_decode_table(), band[..., channel], out=plane)
            else:
                plane[...] = _srgb_to_linear(band[..., channel])
            if channel == 0:
                np.multiply(plane, weight, out=luminance)
            else:
                plane *= weight
                luminance += plane
    f = _lab_f(luminance, scratch("f", rows), scratch("linear", rows),
               scratch("mask", rows, np.bool_))  # fmt: skip
    np.multiply(f, 116.0, out=out)
    out -= 16.0
    return out


def lightness(pixels):
    """CIE lightness L (H, W), float32 in [0, 100], of a photo's pixels.

    Args:
        pixels (numpy.ndarray | PIL.Image.Image): (H, W) gray or (H, W, 3)
            sRGB, uint8 or float in [0, 1]; or an sRGB image in mode "L" or
            "RGB", read band by band (no whole copy of its pixels).

    Example:
    >>> import numpy as np
    >>> lightness(np.full((2, 3), 255, dtype="uint8")).round(2).tolist()
    [[100.0, 100.0, 100.0], [100.0, 100.0, 100.0]]
    """
    height, width = _shape(pixels)
    result = np.empty((height, width), dtype=np.float32)
    for _ in lightness_bands(pixels, out=result):
        pass
    return result


def _shape(pixels):
    """(H, W) of an image's pixels, a PIL image or an array."""
    if isinstance(pixels, Image.Image):
        return pixels.height, pixels.width
    return pixels.shape[:2]


def lightness_bands(pixels, out=None):
    """`lightness(pixels)`, band of rows by band of rows: a generator of (first row, L band).

    Args:
        pixels (numpy.ndarray | PIL.Image.Image): as for `lightness`.
        out (numpy.ndarray | None): a float32 (H, W) array to write the bands
            into; by default each band is a scratch array, overwritten by the
            next one (a 24-megapixel photo's lightness is then never whole).

    Example:
    >>> import numpy as np
    >>> top, band = next(lightness_bands(np.zeros((2, 3), "uint8")))
    >>> top, band.shape
    (0, (2, 3))
    """
    if isinstance(pixels, Image.Image):
        if pixels.mode not in ("L", "RGB"):
            raise ValueError(f'A PIL image must be in mode "L" or "RGB". Received: {pixels.mode}')
        width, height = pixels.size

        def band(top, rows):
            band = pixels.crop((0, top, width, min(top + rows, height)))
            if band.mode == "L":
                return np.asarray(band)
            # Pillow holds RGB in 4 bytes: copied as they are, read as two 16-bit pairs.
            return np.frombuffer(band.tobytes("raw", "RGBX"), np.uint16).reshape(-1, width, 2)

    else:
        if pixels.dtype != np.uint8:
            pixels = pixels.astype(np.float32, copy=False)
        height, width = pixels.shape[:2]

        def band(top, rows):
            return pixels[top : top + rows]

    rows = _band_rows(width)
    scratch = _scratch(width)
    for top in range(0, height, rows):
        count = min(rows, height - top)
        into = scratch("lightness", count) if out is None else out[top : top + count]
        yield top, _band_lightness(band(top, rows), into, scratch)


def _bilinear_taps(source, target):
    """Indices (two rows) and the weight of the second, to upsample `source` -> `target`.

    Half-pixel centers with the edges clamped: Pillow's BILINEAR resize when
    enlarging, which `images.resize_channel` used on the whole channel.
    """
    centers = (np.arange(target) + 0.5) * (source / target) - 0.5
    centers = np.clip(centers, 0.0, source - 1)
    first = np.minimum(np.floor(centers).astype(np.int64), source - 1)
    second = np.minimum(first + 1, source - 1)
    return first, second, (centers - first).astype(np.float32)


def _resized_planes(planes, height, width):
    """Pillow's bilinear resize of each small (h, w) plane, enlarging or reducing."""
    return [resize_channel(plane, height, width) for plane in planes]


def _window_sums(x, side, axis, out, spare):
    """Sums of `side` consecutive entries of the 2-D `x` along `axis`, into `out`.

    By doubling: sums of 1, 2, 4, ... entries are added where `side`'s
    binary digits say, a few whole-array additions instead of a cumulative
    sum (three times faster here). The partial sums take turns in the two
    flat `spare` arrays (each at least `x.size` long).
    """

    def part(array, start, stop):
        return array[start:stop] if axis == 0 else array[:, start:stop]

    count = x.shape[axis] - side + 1
    offset, width, sums, started, turn = 0, 1, x, False, 0
    # An odd side's first piece is `x` itself, which no doubling overwrites:
    # it waits to be added to the second piece, one pass instead of a copy and an addition.
    first = None
    while side:
        if side & 1:
            piece = part(sums, offset, offset + count)
            if first is not None:
                np.add(first, piece, out=out)
                first, started = None, True
            elif started:
                out += piece
            elif sums is x and side > 1:
                first = piece
            else:
                np.copyto(out, piece)
                started = True
            offset += width
        side >>= 1
        if side:
            length = sums.shape[axis] - width
            shape = (length, sums.shape[1]) if axis == 0 else (sums.shape[0], length)
            doubled = spare[turn][: shape[0] * shape[1]].reshape(shape)
            turn = 1 - turn
            np.add(part(sums, 0, length), part(sums, width, length + width), out=doubled)
            sums, width = doubled, width * 2
    return out


class _BoxMeans:
    """Means over (2 radius + 1)^2 windows of (H, W) planes, edges reflected.

    The padded plane and the partial sums live in four arrays made once for
    all the planes of a photo, not in fresh ones (their page faults cost more
    than the additions).
    """

    def __init__(self, height, width, radius):
        self.radius = radius
        padded_size = (height + 2 * radius) * (width + 2 * radius)
        self._padded, *self._spare = (np.empty(padded_size, np.float32) for _ in range(3))
        self._rows = np.empty((height, width + 2 * radius), np.float32)

    def __call__(self, plane, out):
        """The box means of `plane` (H, W) into `out` (H, W)."""
        radius, side = self.radius, 2 * self.radius + 1
        height, width = plane.shape
        padded = self._padded.reshape(height + 2 * radius, width + 2 * radius)
        if radius >= min(height, width):
            padded[...] = np.pad(plane, radius, "reflect")  # reflected more than once
        else:
            # np.pad's "reflect" (the edge itself not repeated), into the buffer.
            middle = padded[radius : radius + height]
            middle[:, radius : radius + width] = plane
            middle[:, :radius] = plane[:, 1 : radius + 1][:, ::-1]
            middle[:, radius + width :] = plane[:, width - 1 - radius : width - 1][:, ::-1]
            padded[:radius] = padded[radius + 1 : 2 * radius + 1][::-1]
            padded[radius + height :] = padded[height - 1 : height - 1 + radius][::-1]
        _window_sums(padded, side, 0, self._rows, self._spare)
        _window_sums(self._rows, side, 1, out, self._spare)
        out /= side * side
        return out


# Edge-aware chroma upsampling (a fast guided filter, He and Sun 2015): the
# lightness guides where colors change. Its settings were chosen on
# validation photos (docs/quality.md): a window of radius 8 pixels of a photo
# whose short side is at most 768 (about 1% of the picture; larger photos are
# seen at that size), and epsilon 1e-3 on L / 100. The slopes and offsets are
# computed on a guide GUIDE_SUBSAMPLE times smaller still, with the radius
# scaled alike (the filter's "fast" step): on the validation photos the colors
# scored the same (PSNR +0.0005 dB, SSIM equal) and the edge-aware merge of a
# 640x480 photo took 6.8 ms instead of 10.4 (docs/performance.md).
GUIDE_SHORT_SIDE = 768
GUIDE_SUBSAMPLE = 2
GUIDE_RADIUS = 8 // GUIDE_SUBSAMPLE
GUIDE_EPSILON = 1e-3


def _guide_shape(height, width):
    """(height, width) of the guided filter's guide for a photo of (height, width)."""
    scale = min(1.0, GUIDE_SHORT_SIDE / min(height, width)) / GUIDE_SUBSAMPLE
    return max(1, round(height * scale)), max(1, round(width * scale))


def _guided_coefficients(guide_lightness, chroma):
    """Planes A_a, A_b, B_a, B_b at the guide's size: chroma ~ A * L / 100 + B, locally,
    with L's edges. `guide_lightness` is L at the guide's size (`_guide_shape`)."""
    guide_height, guide_width = guide_lightness.shape
    radius = max(1, min(GUIDE_RADIUS, (min(guide_height, guide_width) - 1) // 2))
    guide = guide_lightness / 100.0
    targets = _resized_planes([chroma[..., 0], chroma[..., 1]], guide_height, guide_width)
    box_means = _BoxMeans(guide_height, guide_width, radius)
    # The means of every product the filter needs, plane by plane; then the
    # slopes and offsets in place of their means (fresh planes cost page faults).
    mean_guide, variance, *means = np.empty((6, guide_height, guide_width), np.float32)
    box_means(guide, mean_guide)
    product = np.empty_like(guide)
    box_means(np.multiply(guide, guide, out=product), variance)
    mean_targets, mean_products = means[:2], means[2:]
    for target, mean_target, mean_product in zip(targets, mean_targets, mean_products, strict=True):
        box_means(target, mean_target)
        box_means(np.multiply(guide, target, out=product), mean_product)
    variance -= np.multiply(mean_guide, mean_guide, out=product)
    variance += GUIDE_EPSILON
    slopes, offsets = mean_products, mean_targets
    for slope, offset in zip(slopes, offsets, strict=True):
        slope -= np.multiply(mean_guide, offset, out=product)  # the mean target, still
        slope /= variance
        offset -= np.multiply(slope, mean_guide, out=product)
    # Averaged over the same windows, each in place (`_BoxMeans` pads a copy first).
    return [box_means(plane, plane) for plane in (*slopes, *offsets)]


def merge(lightness_image, chroma, edge_aware=False, depth=8):
    """A full-resolution L and a working-size a*b* -> an RGB `PIL.Image` (or 16-bit array).

    The chroma is upsampled to the lightness' size, band by band: bilinearly,
    or with `edge_aware=True` by a fast guided filter whose guide is the
    lightness, so that colors stop at the edges of the full-resolution
    picture instead of bleeding across them. Colors outside the sRGB gamut
    are desaturated toward the gray of the same luminance, so the output
    keeps the input's lightness exactly
    (`color.lab_to_rgb(..., preserve_lightness=True)`).

    Args:
        lightness_image (numpy.ndarray): float32 L (H, W) in [0, 100].
        chroma (numpy.ndarray): float a*b* (h, w, 2), any working size.
        edge_aware (bool): guided instead of bilinear upsampling.
        depth (int): 8 for a `PIL.Image`; 16 for a uint16 (H, W, 3) array,
            which keeps a 16-bit scan's lightness (Pillow has no 16-bit RGB).

    Returns:
        PIL.Image.Image | numpy.ndarray: the colorized photo.

    Example:
    >>> import numpy as np
    >>> image = merge(np.full((5, 7), 50, "float32"), np.zeros((2, 2, 2), "float32"))
    >>> image.size, image.getpixel((0, 0))
    ((7, 5), (119, 119, 119))
    """
    height, width = lightness_image.shape
    if depth not in (8, 16):
        raise ValueError(f"`depth` must be 8 or 16. Received: depth={depth!r}")
    guide_shape = _guide_shape(height, width)
    # Bit for bit the guide's L itself when the shapes are the same (a copy).
    guide_lightness = resize_channel(lightness_image, *guide_shape) if edge_aware else None
    # Not filled (color=None): every band is pasted over it.
    output = Image.new("RGB", (width, height), color=None) if depth == 8 else None
    output = np.empty((height, width, 3), np.uint16) if depth == 16 else output
    rows = _band_rows(width)
    bands = ((top, lightness_image[top : top + rows]) for top in range(0, height, rows))
    return _merge_bands(bands, (height, width), chroma, guide_lightness, output)


def merge_over(photo, chroma, edge_aware=False, overwrite=False):
    """`merge` of an 8-bit photo's own lightness, read band by band from the photo.

    A 24-megapixel photo's L (96 MB as float32) is then never whole, and with
    `overwrite=True` an "RGB" photo is itself the output: each band of it
    is colorized in place, once its lightness has been read. The colors are
    those of `merge(lightness(photo), chroma, edge_aware)`.

    Args:
        photo (PIL.Image.Image): an sRGB photo in mode "L" or "RGB".
        chroma (numpy.ndarray): float a*b* (h, w, 2), any working size.
        edge_aware (bool): guided instead of bilinear upsampling.
        overwrite (bool): write an "RGB" photo's colorized pixels over its
            own (a photo in mode "L" always gets a new image).

    Returns:
        PIL.Image.Image: the colorized photo, in mode "RGB".

    Example:
    >>> from PIL import Image
    >>> import numpy as np
    >>> photo = Image.new("RGB", (7, 5), (119, 119, 119))
    >>> merge_over(photo, np.zeros((2, 2, 2), "float32"), overwrite=True) is photo
    True
    """
    height, width = _shape(photo)
    guide_lightness = None
    if edge_aware:
        guide_shape = _guide_shape(height, width)
        guide_lightness = resize_bands(lightness_bands(photo), (height, width), *guide_shape)
    in_place = overwrite and photo.mode == "RGB"
    output = photo if in_place else Image.new("RGB", (width, height), color=None)
    # Lazily: a band is read just before the output is written over it.
    return _merge_bands(lightness_bands(photo), (height, width), chroma, guide_lightness, output)


def _merge_bands(lightness_bands, shape, chroma, guide_lightness, output):
    """The merge of L bands (first row, band) into `output` (a PIL image, or a uint16
    array for 16 bits); edge-aware where `guide_lightness` (L at the guide's size) is given."""
    height, width = shape
    chroma = np.asarray(chroma, dtype=np.float32)
    # One plane per map, for the band arithmetic: a*, b*, or the guided
    # filter's slope and offset maps, upsampled as the chroma would be.
    edge_aware = guide_lightness is not None
    if edge_aware:
        small = _guided_coefficients(guide_lightness, chroma)
    else:
        small = [chroma[..., 0], chroma[..., 1]]
    small_height, small_width = small[0].shape
    if height < small_height or width < small_width:
        # A photo smaller than the working size: reduce the maps as a whole.
        small = _resized_planes(small, height, width)
        small_height, small_width = height, width
    # Columns first, as Pillow does; rows then band by band (nothing to
    # resize when the maps already have the photo's size).
    same_size = (small_height, small_width) == (height, width)
    columns = small if same_size else _resized_planes(small, small_height, width)
    taps = None if same_size else _bilinear_taps(small_height, height)
    depth = 16 if isinstance(output, np.ndarray) else 8
    scratch = _scratch(width)
    for top, band_lightness in lightness_bands:
        count = band_lightness.shape[0]
        rows = slice(top, top + count)
        maps = _band_maps(columns, rows, count, taps, scratch)
        if edge_aware:
            guide = scratch("guide", count)
            np.divide(band_lightness, 100.0, out=guide)
            for channel in (0, 1):
                maps[channel] *= guide
                maps[channel] += maps[channel + 2]
        planes = _lab_to_srgb(band_lightness, maps[0], maps[1], scratch, depth)
        if depth == 16:
            for channel, plane in enumerate(planes):
                output[rows, :, channel] = plane
        else:
            band = [Image.frombuffer("L", (width, count), plane, "raw", "L", 0, 1)
                    for plane in planes]  # fmt: skip
            output.paste(Image.merge("RGB", band), (0, top))
    return output


def _band_maps(columns, rows, count, taps, scratch):
    """Each map's band of `count` rows, upsampled by `taps` (None: already full size)."""
    maps = []
    for channel, plane in enumerate(columns):
        band = scratch(f"map{channel}", count)
        if taps is None:
            np.copyto(band, plane[rows])
        else:
            upper, lower, lower_weight = taps
            weight = lower_weight[rows, None]
            np.take(plane, upper[rows], axis=0, out=band, mode="clip")
            band *= 1.0 - weight
            below = scratch("below", count)
            np.take(plane, lower[rows], axis=0, out=below, mode="clip")
            below *= weight
            band += below
        maps.append(band)
    return maps


def _lab_to_srgb(lightness_band, a_band, b_band, scratch, depth=8):
    """The sRGB planes of one band (3 of uint8, or of float for 16 bits), out-of-gamut
    colors desaturated at constant L.

    Every array is one of `scratch`'s: the planes are overwritten by the next band.
    """
    rows = lightness_band.shape[0]
    fy = scratch("fy", rows)
    np.add(lightness_band, 16.0, out=fy)
    fy /= 116.0
    fx = scratch("fx", rows)
    np.divide(a_band, 500.0, out=fx)
    fx += fy
    fz = scratch("fz", rows)
    np.divide(b_band, 200.0, out=fz)
    np.subtract(fy, fz, out=fz)
    # Negative z is outside any real color; `color` clips it to 0 too.
    np.maximum(fz, 0.0, out=fz)
    linear, mask = scratch("linear", rows), scratch("mask", rows, np.bool_)
    luminance = _lab_f_inverse(fy, scratch("y", rows), linear, mask)
    x = _lab_f_inverse(fx, scratch("x", rows), linear, mask)
    x *= _WHITE_X
    z = _lab_f_inverse(fz, scratch("z", rows), linear, mask)
    z *= _WHITE_Z
    # Linear RGB, channel by channel (numpy is slow at products over a last
    # axis of 3); its luminance is Y itself (the matrices are inverses).
    term = scratch("term", rows)
    offsets = []
    for channel, (weight_x, weight_y, weight_z) in enumerate(_RGB_FROM_XYZ):
        plane = scratch(f"rgb{channel}", rows)
        np.multiply(x, weight_x, out=plane)
        np.multiply(luminance, weight_y, out=term)
        plane += term
        np.multiply(z, weight_z, out=term)
        plane += term
        offsets.append(plane)
    np.clip(luminance, 0.0, 1.0, out=luminance)
    headroom, darkness = scratch("headroom", rows), scratch("darkness", rows)
    np.subtract(1.0, luminance, out=headroom)
    np.negative(luminance, out=darkness)
    # The largest step along luminance -> color that keeps every channel in
    # [0, 1]: a channel above the gray may rise by the headroom, one below
    # it may fall by the luminance. Of headroom / offset and -luminance /
    # offset, the one with the offset's sign is the larger.
    step = scratch("step", rows)
    step.fill(1.0)
    rise, fall = fx, fz  # free from here on
    with np.errstate(divide="ignore", invalid="ignore"):
        for offset in offsets:
            offset -= luminance
            np.divide(headroom, offset, out=rise)
            np.divide(darkness, offset, out=fall)
            np.maximum(rise, fall, out=rise)  # NaN for 0 / 0
            np.fmin(step, rise, out=step)  # fmin: a NaN limit leaves step as it is
    planes = []
    value = rise
    for channel, offset in enumerate(offsets):
        np.multiply(step, offset, out=value)
        value += luminance
        np.clip(value, 0.0, 1.0, out=value)
        if depth == 8:
            value *= _ENCODE_TABLE_SIZE - 1
            value += 0.5
            index = scratch("index", rows, np.int32)
            np.copyto(index, value, casting="unsafe")  # truncation, as astype
            encoded = scratch(f"srgb{channel}", rows, np.uint8)
            planes.append(np.take(_encode_table(), index, out=encoded))
        else:
            # The curve itself: a table fine enough for 16 bits would not stay in cache.
            curved = np.where(
                value > 0.0031308, 1.055 * np.power(value, 1.0 / 2.4) - 0.055, value * 12.92
            )
            planes.append(np.round(curved * 65535.0))
    return planes
