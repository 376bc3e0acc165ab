"""Colors the user steers: color hints and a reference photo, spread along the photo's edges.

A hint is a point of the input photo (its own pixels: x right, y down) and a
color; it sets the chroma there, never the lightness. A reference is a color
photo whose colors guide the whole image where it matches. Both act on the
chroma at the network's working size, through `Colorizer.predict_chroma`, so
`colorize`, `colorize_stream` and video share them; the full-resolution
merge then upsamples the guided chroma like any other.

This is the propagation layer, which works with every colorizer and needs no
training:

- Hints are spread by normalized edge-aware filtering (the domain transform's
  recursive filter, Gastal and Oliveira 2011, on the lightness): a color
  flows along regions of similar lightness and stops at edges, as in Levin,
  Lischinski and Weiss's optimization (2004), at a fraction of its cost. A
  second, shorter-reaching filter of the hints' mask says how sure each pixel
  is of them: where no hint reaches, the automatic colors stay.
- A reference is matched cell by cell on the frozen backbone's mid-level
  feature map (both photos made gray first): each cell of the photo borrows
  the colors of its most similar reference cell, lightness band by
  lightness band, as far as the two cells are alike; where nothing in the
  reference is alike, the automatic colors stay.

Example:
>>> colorizer.colorize("old.jpg", hints=[(120, 80, "#b22222")])  # doctest: +SKIP
>>> colorizer.colorize("old.jpg", reference="summer_meadow.jpg")  # doctest: +SKIP
"""

import functools
import json
import math
import os
import re
import weakref

import keras
import numpy as np
from PIL import Image

from deepkoala import color
from deepkoala.backbones import get_backbone
from deepkoala.images import read_pixels, resize_channel

# Hints: the radius of a hint's disc at the working size, in pixels.
HINT_RADIUS = 2.0
# Recursive-filter settings, as shares of the working size (spatial) and in
# CIE L units (range). How far hint colors are interpolated, and how far a
# hint is trusted over the automatic colors.
SPREAD_REACH = 1.0
TRUST_REACH = 0.25
LIGHTNESS_EDGE = 8.0
_FILTER_ITERATIONS = 3
# Spread each hint's difference from the automatic chroma instead of its
# chroma (benchmarks/guided.py measures both).
RELATIVE_HINTS = False
# Reference: cosine similarities of feature cells below which a cell borrows
# nothing, and above which it borrows fully; lightness bands of the transfer.
MATCH_FLOOR = 0.55
MATCH_FULL = 0.85
_BANDS = 10
_MIN_BAND_PIXELS = 8

_HEX = re.compile(r"#?([0-9a-fA-F]{6})")


def parse_color(value, name="color"):
    """An sRGB color as a uint8 triple, from "#rrggbb" or an RGB triple of 0-255.

    Args:
        value (str | tuple | list): the color.
        name (str): what to call it in an error.

    Returns:
        tuple: (r, g, b), integers in [0, 255].

    Example:
    >>> parse_color("#b22222"), parse_color((250, 160, 60))
    ((178, 34, 34), (250, 160, 60))
    """
    if isinstance(value, str):
        match = _HEX.fullmatch(value.strip())
        if match:
            digits = match.group(1)
            return tuple(int(digits[i : i + 2], 16) for i in (0, 2, 4))
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 3
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
        and all(0 <= v <= 255 for v in value)
    ):
        return tuple(int(v) for v in value)
    raise ValueError(
        f'{name} must be "#rrggbb" or three integers from 0 to 255. Received: {value!r}'
    )


class Hint:
    """One hint: a point of the photo (its own pixels) and the color it should have there.

    Args:
        x (float): column, from the left, in the photo's full-resolution pixels.
        y (float): row, from the top.
        color (str | tuple): "#rrggbb" or an RGB triple (0-255); only its
            chroma is used, the photo keeps its lightness.
        radius (float | None): the hint's radius at the working size, in
            pixels (default `HINT_RADIUS`).

    Example:
    >>> Hint(120, 80, "#b22222").rgb
    (178, 34, 34)
    """

    def __init__(self, x, y, color, radius=None):
        for name, value in (("x", x), ("y", y)):
            if not isinstance(value, (int, float, np.number)) or isinstance(value, bool):
                raise ValueError(f"A hint's {name} must be a number. Received: {name}={value!r}")
            if not math.isfinite(value):
                raise ValueError(f"A hint's {name} must be finite. Received: {name}={value!r}")
        if radius is not None and (
            not isinstance(radius, (int, float)) or isinstance(radius, bool) or not radius > 0
        ):
            raise ValueError(f"A hint's radius must be a positive number. Received: {radius!r}")
        self.x, self.y = float(x), float(y)
        self.rgb = parse_color(color, f"The color of the hint at ({x}, {y})")
        self.radius = HINT_RADIUS if radius is None else float(radius)

    def __repr__(self):
        return f"Hint({self.x:g}, {self.y:g}, #{bytes(self.rgb).hex()})"

    @classmethod
    def from_text(cls, text):
        """A `Hint` from "X,Y,#rrggbb", as the command line takes it.

        Args:
            text (str): the hint.

        Returns:
            Hint: the hint.

        Example:
        >>> Hint.from_text("120,80,#b22222")
        Hint(120, 80, #b22222)
        """
        parts = text.split(",", 2)
        try:
            if len(parts) != 3:
                raise ValueError("expected X,Y,COLOR")
            return cls(float(parts[0]), float(parts[1]), parts[2])
        except ValueError as error:
            raise ValueError(f"{text!r} is not X,Y,#rrggbb: {error}") from error

    @classmethod
    def from_value(cls, value):
        """A `Hint` from a `Hint`, `(x, y, color[, radius])` or `{"x", "y", "color"[, "radius"]}`.

        Args:
            value (Hint | tuple | list | dict): the hint.

        Returns:
            Hint: the hint.

        Example:
        >>> Hint.from_value({"x": 3, "y": 4, "color": "#ff0000"})
        Hint(3, 4, #ff0000)
        """
        if isinstance(value, Hint):
            return value
        if isinstance(value, dict):
            unknown = sorted(set(value) - {"x", "y", "color", "radius"})
            missing = sorted({"x", "y", "color"} - set(value))
            if unknown or missing:
                raise ValueError(
                    'A hint must be {"x": ..., "y": ..., "color": "#rrggbb"} (and optionally '
                    f'"radius"). Received: {value!r}'
                )
            return cls(value["x"], value["y"], value["color"], value.get("radius"))
        if isinstance(value, (tuple, list)) and len(value) in (3, 4):
            return cls(*value)
        raise ValueError(
            f"A hint must be (x, y, color) or (x, y, color, radius). Received: {value!r}"
        )


def read_hints(path):
    """The hints of a JSON file: `[{"x": 120, "y": 80, "color": "#b22222"}, ...]`.

    Each object may also give a "radius" (working-size pixels).

    Args:
        path (str | os.PathLike): the file.

    Returns:
        list[Hint]: the hints.

    Example:
    >>> hints = read_hints("hints.json")  # doctest: +SKIP
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as file:
            data = file.read(1 << 20)
    except OSError as error:
        raise ValueError(f"Cannot read the hint file {path}: {error}") from error
    return parse_hints(data, f"the hint file {path}")


def parse_hints(data, source="the hints"):
    """The hints of JSON text (str or bytes), in `read_hints`' format.

    Args:
        data (str | bytes): the JSON.
        source (str): what it is, for the error messages.

    Returns:
        list[Hint]: the hints.

    Raises:
        ValueError: one line naming `source` and the problem.

    Example:
    >>> parse_hints('[{"x": 12, "y": 8, "color": "#b22222"}]')
    [Hint(12, 8, #b22222)]
    """
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"Cannot read {source}: {error}") from error
    named = source[:1].upper() + source[1:]
    if not isinstance(value, list):
        raise ValueError(f'{named} must hold a JSON list of {{"x", "y", "color"}} objects.')
    try:
        return [Hint.from_value(item) for item in value]
    except ValueError as error:
        raise ValueError(f"{named}: {error}") from error


class Reference:
    """A color photo whose colors guide a colorization.

    Args:
        source (str | os.PathLike | PIL.Image.Image | numpy.ndarray): the
            photo, of any size; a gray photo is refused.

    Example:
    >>> reference = Reference("summer_meadow.jpg")  # doctest: +SKIP
    """

    def __init__(self, source):
        if isinstance(source, Reference):
            self.rgb = source.rgb
        else:
            name = source if isinstance(source, (str, os.PathLike)) else "the reference"
            try:
                pixels = read_pixels(source)
            except (OSError, ValueError) as error:
                raise type(error)(f"Cannot read the reference {name}: {error}") from error
            if pixels.ndim == 2 or _is_gray(pixels):
                raise ValueError(
                    f"The reference {name} is a gray photo: a reference lends its colors, "
                    "so it must have some."
                )
            if pixels.dtype != np.uint8:
                pixels = np.round(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8)
            self.rgb = pixels
        self._at_size = {}
        # {feature model: {working size: feature cells}}: a video's reference is matched once.
        self._features = weakref.WeakKeyDictionary()

    def at_size(self, size):
        """(L (S, S), a*b* (S, S, 2)) of the reference squeezed to the working size.

        Args:
            size (int): the working size S.

        Returns:
            tuple: float32 lightness and chroma.
        """
        if size not in self._at_size:
            small = np.asarray(
                Image.fromarray(self.rgb).resize((size, size), Image.Resampling.BILINEAR)
            )
            lab = _lab(small)
            self._at_size[size] = (lab[..., 0], lab[..., 1:])
        return self._at_size[size]

    def features(self, colorizer, size):
        """The reference's unit-length feature cells (h, w, C) on `colorizer`'s backbone, kept.

        Args:
            colorizer (deepkoala.Colorizer): whose backbone matches the photos.
            size (int): the working size S.

        Returns:
            numpy.ndarray: float32 feature cells.
        """
        cached = self._features.setdefault(_feature_model(colorizer), {})
        if size not in cached:
            cached[size] = _cell_features(colorizer, self.at_size(size)[0][None])[0]
        return cached[size]


def _is_gray(rgb):
    """Whether every sampled pixel's channels agree to within 2 levels of 255."""
    sample = rgb[:: max(1, rgb.shape[0] // 256), :: max(1, rgb.shape[1] // 256)].astype(np.float32)
    tolerance = 2.0 if rgb.dtype == np.uint8 else 2.0 / 255.0
    return float(np.abs(sample - sample.mean(axis=-1, keepdims=True)).max()) < tolerance


def _lab(rgb_uint8):
    return np.asarray(color.rgb_to_lab(rgb_uint8.astype(np.float32) / 255.0), dtype=np.float32)


class Guide:
    """The guidance of one photo: hints and/or a reference, ready for any working size.

    Args:
        hints (list | None): `Hint`s, or values for `Hint.from_value`.
        reference (Reference | str | os.PathLike | PIL.Image.Image | numpy.ndarray | None):
            the reference photo.

    Example:
    >>> guide = Guide(hints=[(120, 80, "#b22222")])
    >>> len(guide.hints)
    1
    """

    def __init__(self, hints=None, reference=None):
        if hints is not None and not isinstance(hints, (list, tuple)):
            raise ValueError(f"`hints` must be a list of hints. Received: hints={hints!r}")
        self.hints = [Hint.from_value(hint) for hint in hints or ()]
        self.reference = None if reference is None else Reference(reference)

    def at_size(self, width, height, size):
        """This guidance for a photo of `width` x `height` colorized at `size`.

        Raises:
            ValueError: a hint lies outside the photo.

        Returns:
            dict: "hints" (N, 5): x, y, a*, b*, radius at the working size;
                "reference": the `Reference` or None.
        """
        rows = []
        for hint in self.hints:
            if not (0 <= hint.x < width and 0 <= hint.y < height):
                raise ValueError(
                    f"The hint {hint} lies outside the photo, which is {width}x{height} pixels "
                    "(x from 0 to width - 1, y from 0 to height - 1)."
                )
        # Every hint's a*b* in one conversion.
        chroma = _lab(np.array([[hint.rgb for hint in self.hints]], np.uint8).reshape(1, -1, 3))
        for hint, (a, b) in zip(self.hints, chroma[0, :, 1:], strict=True):
            # Pixel centers: pixel x of the photo covers [x, x + 1).
            rows.append(
                ((hint.x + 0.5) * size / width - 0.5, (hint.y + 0.5) * size / height - 0.5, a, b,
                 hint.radius)
            )  # fmt: skip
        return {"hints": np.array(rows, np.float32).reshape(-1, 5), "reference": self.reference}


def guides_for(count, hints=None, reference=None):
    """Which guidance each image gets, as `guide_maker(index)`; None without guidance.

    Args:
        count (int | None): how many images (None: an iterable of unknown
            length, which only a shared reference can guide).
        hints (list | None): one list of hints (or None) per image.
        reference (object | list | None): one reference for every image, or
            a list with one (or None) per image.

    Returns:
        callable | None: `guide_maker(index)` gives a function that makes
            that image's `Guide` (run in a worker, so a bad hint fails its
            image only), or None for an image without guidance.

    Example:
    >>> makers = guides_for(2, hints=[[(1, 2, "#ff0000")], None])
    >>> makers(0)().hints, makers(1)
    ([Hint(1, 2, #ff0000)], None)
    """
    if hints is None and reference is None:
        return None
    per_image = {}
    for name, value in (("hints", hints), ("reference", reference)):
        if value is None or (name == "reference" and not isinstance(value, list)):
            continue
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"`{name}` must be a list. Received: {name}={value!r}")
        values = list(value)
        if count is not None and len(values) != count:
            raise ValueError(
                f"`{name}` must hold one entry per image: {count} image(s), "
                f"{len(values)} entr(ies) of {name}."
            )
        if count is None:
            raise ValueError(f"Per-image `{name}` need a list of images, not an iterable.")
        per_image[name] = values
    # A reference for every image is read once, now: an unreadable one fails at once.
    shared = None if "reference" in per_image or reference is None else Reference(reference)

    def guide_maker(index):
        item_hints = per_image["hints"][index] if "hints" in per_image else None
        item_reference = per_image["reference"][index] if "reference" in per_image else shared
        if not item_hints and item_reference is None:
            return None
        return functools.partial(Guide, item_hints, item_reference)

    return guide_maker


# Edge-aware spreading.


def recursive_filter(values, lightness, reach, edge=None):
    """The domain transform's recursive filter of `values` (S, S, C), guided by `lightness`.

    Gastal and Oliveira (2011): alternating horizontal and vertical passes
    of a first-order recursive filter whose feedback weakens with the
    lightness difference between neighbours, so values spread along regions
    and stop at edges.

    Args:
        values (numpy.ndarray): (H, W, C) float32.
        lightness (numpy.ndarray): (H, W) CIE L in [0, 100].
        reach (float): the spatial standard deviation, in pixels.
        edge (float | None): the range standard deviation, in L units
            (default `LIGHTNESS_EDGE`).

    Returns:
        numpy.ndarray: (H, W, C) float32, filtered.

    Example:
    >>> flat = np.zeros((8, 8), "float32")
    >>> recursive_filter(np.ones((8, 8, 1), "float32"), flat, 4.0).round(3).max()
    np.float32(1.0)
    """
    edge = LIGHTNESS_EDGE if edge is None else edge
    out = np.array(values, dtype=np.float32, copy=True)
    lightness = np.asarray(lightness, dtype=np.float32)
    # Distances in the transformed domain between horizontal and vertical neighbours.
    step_x = 1.0 + (reach / edge) * np.abs(np.diff(lightness, axis=1))
    step_y = 1.0 + (reach / edge) * np.abs(np.diff(lightness, axis=0))
    for iteration in range(_FILTER_ITERATIONS):
        sigma = (
            reach * math.sqrt(3.0) * 2.0 ** (_FILTER_ITERATIONS - iteration - 1)
            / math.sqrt(4.0**_FILTER_ITERATIONS - 1.0)
        )  # fmt: skip
        feedback = math.exp(-math.sqrt(2.0) / sigma)
        _pass(out, feedback**step_x, axis=1)
        _pass(out, feedback**step_y, axis=0)
    return out


def _pass(values, weights, axis):
    """One causal and one anti-causal recursive pass along `axis`, in place."""
    moved = np.moveaxis(values, axis, 0)  # a view: (N, M, C)
    weights = np.moveaxis(weights, axis, 0)[..., None]  # (N - 1, M, 1)
    for i in range(1, len(moved)):
        moved[i] += weights[i - 1] * (moved[i - 1] - moved[i])
    for i in range(len(moved) - 2, -1, -1):
        moved[i] += weights[i] * (moved[i + 1] - moved[i])


def _hint_fields(hints, size):
    """(mask (S, S, 1), mask * a*b* (S, S, 2)) of hint discs at the working size."""
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    mask = np.zeros((size, size), np.float32)
    chroma = np.zeros((size, size, 2), np.float32)
    for x, y, a, b, radius in hints:
        # A disc at least one pixel wide, however small the radius.
        inside = (cols - x) ** 2 + (rows - y) ** 2 <= max(radius, 0.75) ** 2
        if not inside.any():
            inside[int(np.clip(round(y), 0, size - 1)), int(np.clip(round(x), 0, size - 1))] = True
        mask[inside] = 1.0
        chroma[inside] = (a, b)
    return mask[..., None], chroma * mask[..., None]


@functools.cache
def _trust_peak(size, radius):
    """The trust filter's value at an isolated hint on a flat photo: full trust."""
    hint = np.array([[size / 2, size / 2, 0, 0, radius]], np.float32)
    mask, _ = _hint_fields(hint, size)
    flat = np.zeros((size, size), np.float32)
    filtered = recursive_filter(mask, flat, TRUST_REACH * size)
    return float(filtered[size // 2, size // 2, 0])


def hint_spread(lightness, hints, chroma=None):
    """The hints' colors spread along the edges of `lightness`, and how far to trust them.

    Args:
        lightness (numpy.ndarray): (S, S) CIE L.
        hints (numpy.ndarray): (N, 5) x, y, a*, b*, radius at the working size (N >= 1).
        chroma (numpy.ndarray | None): (S, S, 2) the automatic a*b*: given, the
            hints' differences from it are spread instead of their colors.

    Returns:
        tuple: (colors (S, S, 2), trust (S, S, 1) in [0, 1], 1 on the hints), float32.

    Example:
    >>> flat = np.full((16, 16), 50.0, "float32")
    >>> colors, trust = hint_spread(flat, np.array([[8, 8, 40, 20, 2]], "float32"))
    >>> colors[0, 0].round().tolist(), float(trust[8, 8, 0])
    ([40.0, 20.0], 1.0)
    """
    size = lightness.shape[0]
    mask, weighted = _hint_fields(hints, size)
    if chroma is not None:
        weighted = weighted - mask * chroma
    spread = recursive_filter(
        np.concatenate([weighted, mask], axis=-1), lightness, SPREAD_REACH * size
    )
    colors = spread[..., :2] / np.maximum(spread[..., 2:], 1e-6)
    trust = recursive_filter(mask, lightness, TRUST_REACH * size)
    peak = min(_trust_peak(size, float(radius)) for radius in hints[:, 4])
    # The hints themselves are exact.
    return colors, np.maximum(np.clip(trust / peak, 0.0, 1.0), mask)


def spread_hints(lightness, chroma, hints, relative=False):
    """Chroma (S, S, 2) with `hints` spread along the edges of `lightness`.

    Args:
        lightness (numpy.ndarray): (S, S) CIE L.
        chroma (numpy.ndarray): (S, S, 2) the automatic a*b*.
        hints (numpy.ndarray): (N, 5) x, y, a*, b*, radius at the working size.
        relative (bool): spread each hint's difference from the automatic
            chroma at its point instead of its chroma (kept for comparison:
            `benchmarks/guided.py` measures both).

    Returns:
        numpy.ndarray: (S, S, 2) float32: the hints' colors where they reach,
            the automatic ones elsewhere.

    Example:
    >>> flat, gray = np.full((16, 16), 50.0, "float32"), np.zeros((16, 16, 2), "float32")
    >>> spread = spread_hints(flat, gray, np.array([[8, 8, 40, 20, 2]], "float32"))
    >>> spread[8, 8].round().tolist()
    [40.0, 20.0]
    """
    if not len(hints):
        return chroma
    colors, trust = hint_spread(lightness, hints, chroma if relative else None)
    if relative:
        return chroma + trust * colors
    return trust * colors + (1.0 - trust) * chroma


# Reference photos.

_FEATURE_MODELS = weakref.WeakKeyDictionary()


def _feature_model(colorizer):
    """Scaled lightness -> the backbone's mid-level feature map, built once per colorizer."""
    if colorizer in _FEATURE_MODELS:
        return _FEATURE_MODELS[colorizer]
    embedding = colorizer.embedding
    spec = get_backbone(colorizer.get_config()["backbone"])
    if spec.feature_layer is None:
        raise ValueError(
            f"The {spec.name} backbone offers no mid-level features, so a reference photo "
            "cannot be matched to the photo."
        )
    classifier = next(layer for layer in embedding.layers if isinstance(layer, keras.Model))
    features = keras.Model(classifier.inputs, classifier.get_layer(spec.feature_layer).output)
    lightness = keras.Input((None, None, 1))
    x = lightness
    for name in ("embedding_gray", "embedding_resize", "embedding_preprocess"):
        x = embedding.get_layer(name)(x)
    model = keras.Model(lightness, features(x, training=False))
    _FEATURE_MODELS[colorizer] = model
    return model


def forget_models(colorizer):
    """Drop the models built for `colorizer` (its layers' precision changed).

    Example:
    >>> forget_models(colorizer)  # doctest: +SKIP
    """
    _FEATURE_MODELS.pop(colorizer, None)


def _cell_features(colorizer, lightness):
    """Unit-length feature vectors (B, h, w, C) of lightness images (B, S, S)."""
    scaled = color.scale_lightness(np.asarray(lightness, np.float32)[..., None])
    maps = np.asarray(_feature_model(colorizer).predict_on_batch(scaled), dtype=np.float32)
    maps = maps - maps.mean(axis=(1, 2), keepdims=True)
    return maps / np.maximum(np.linalg.norm(maps, axis=-1, keepdims=True), 1e-6)


def _cells(size, grid):
    """Each working pixel's feature cell index along one axis (S,)."""
    return np.minimum((np.arange(size) * grid) // size, grid - 1)


def transfer_reference(lightness, chroma, features, reference_lightness, reference_chroma,
                       reference_features):  # fmt: skip
    """Chroma (S, S, 2) that borrows a reference's colors where the reference matches.

    Args:
        lightness (numpy.ndarray): (S, S) CIE L of the photo.
        chroma (numpy.ndarray): (S, S, 2) its automatic a*b*.
        features (numpy.ndarray): (h, w, C) its unit-length feature cells.
        reference_lightness (numpy.ndarray): (S, S) the reference's L.
        reference_chroma (numpy.ndarray): (S, S, 2) the reference's a*b*.
        reference_features (numpy.ndarray): (h, w, C) its feature cells.

    Returns:
        numpy.ndarray: (S, S, 2) float32.

    Example:
    >>> guided = transfer_reference(l, ab, f, rl, rab, rf)  # doctest: +SKIP
    """
    size = lightness.shape[0]
    grid_h, grid_w, channels = features.shape
    cells = grid_h * grid_w
    similarity = features.reshape(cells, channels) @ reference_features.reshape(cells, channels).T
    match = similarity.argmax(axis=1)
    trust = np.clip((similarity.max(axis=1) - MATCH_FLOOR) / (MATCH_FULL - MATCH_FLOOR), 0, 1)
    # Each reference cell's colors by lightness band, over its 3x3 cells.
    row_cells, col_cells = _cells(size, grid_h), _cells(size, grid_w)
    cell_of = (row_cells[:, None] * grid_w + col_cells[None, :]).ravel()
    band_of = np.clip(reference_lightness.ravel() / (100.0 / _BANDS), 0, _BANDS - 1).astype(int)
    counts = np.zeros((cells, _BANDS), np.float32)
    sums = np.zeros((cells, _BANDS, 2), np.float32)
    np.add.at(counts, (cell_of, band_of), 1.0)
    np.add.at(sums, (cell_of, band_of), reference_chroma.reshape(-1, 2))
    counts = _neighbourhood_sum(counts.reshape(grid_h, grid_w, _BANDS)).reshape(cells, _BANDS)
    sums = _neighbourhood_sum(sums.reshape(grid_h, grid_w, _BANDS * 2)).reshape(cells, _BANDS, 2)
    cell_mean = sums.sum(axis=1) / np.maximum(counts.sum(axis=1), 1.0)[:, None]
    # Each photo pixel: its matched cell's colors in its lightness band.
    pixel_match = match[cell_of]
    pixel_band = np.clip(lightness.ravel() / (100.0 / _BANDS), 0, _BANDS - 1).astype(int)
    band_count = counts[pixel_match, pixel_band]
    borrowed = np.where(
        (band_count >= _MIN_BAND_PIXELS)[:, None],
        sums[pixel_match, pixel_band] / np.maximum(band_count, 1.0)[:, None],
        cell_mean[pixel_match],
    ).reshape(size, size, 2)
    # Smooth the cell seams along the photo's own edges, and the trust between cells.
    borrowed = recursive_filter(borrowed, lightness, size / grid_w)
    trust = resize_channel(trust.reshape(grid_h, grid_w).astype(np.float32), size, size)[..., None]
    return trust * borrowed + (1.0 - trust) * chroma


def _neighbourhood_sum(grid):
    """Sums over each cell's 3x3 neighbourhood of a (h, w, C) grid."""
    padded = np.pad(grid, ((1, 1), (1, 1), (0, 0)))
    return sum(
        padded[1 + dy : 1 + dy + grid.shape[0], 1 + dx : 1 + dx + grid.shape[1]]
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
    )


def apply(colorizer, lightness, chroma, guidance, relative=None):
    """The automatic chroma of a batch with each item's guidance applied (the chroma seam).

    Args:
        colorizer (deepkoala.Colorizer): the colorizer (its backbone matches references).
        lightness (numpy.ndarray): (B, S, S) working-size CIE L.
        chroma (numpy.ndarray): (B, S, S, 2) the automatic a*b*.
        guidance (list): per item, `Guide.at_size`'s dict, or None.
        relative (bool | None): hints spread their difference from the
            automatic chroma (default `RELATIVE_HINTS`).

    Returns:
        numpy.ndarray: (B, S, S, 2) float32.

    Example:
    >>> guided = apply(colorizer, l, ab, [guide.at_size(640, 480, 224)])  # doctest: +SKIP
    """
    if len(guidance) != len(lightness):
        raise ValueError(
            f"`guidance` must hold one entry per image: {len(lightness)} image(s), "
            f"{len(guidance)} entr(ies)."
        )
    relative = RELATIVE_HINTS if relative is None else relative
    size = lightness.shape[1]
    guided = np.array(chroma, dtype=np.float32, copy=True)
    referenced = [i for i, item in enumerate(guidance) if item and item["reference"] is not None]
    if referenced:
        features = _cell_features(colorizer, lightness[referenced])
        for photo_features, i in zip(features, referenced, strict=True):
            reference = guidance[i]["reference"]
            reference_lightness, reference_chroma = reference.at_size(size)
            guided[i] = transfer_reference(
                lightness[i], guided[i], photo_features, reference_lightness, reference_chroma,
                reference.features(colorizer, size),
            )  # fmt: skip
    for i, item in enumerate(guidance):
        if item and len(item["hints"]):
            guided[i] = spread_hints(lightness[i], guided[i], item["hints"], relative=relative)
    return guided
