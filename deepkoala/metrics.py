"""Colorization quality metrics on 8-bit RGB images (numpy only).

PSNR and SSIM compare with the ground truth; colorfulness (Hasler and
Suesstrunk 2003, the absolute-value variant used by DDColor and CT2) says how
vivid an image is; the AuC of the per-pixel a*b* error CDF is the measure of
Zhang et al. (2016).
"""

import numpy as np

from deepkoala import color


def _as_float_rgb(image):
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"Expected an RGB image (H, W, 3). Received: shape={image.shape}")
    return image.astype(np.float64)


def _check_same_shape(first, second):
    if first.shape != second.shape:
        raise ValueError(f"Images differ in shape: {first.shape} and {second.shape}")


def psnr(reference, image, peak=255.0):
    """Peak signal-to-noise ratio in dB of two 8-bit RGB images; inf if equal.

    Example:
    >>> import numpy as np
    >>> round(psnr(np.zeros((4, 4, 3)), np.full((4, 4, 3), 255.0)), 2)
    0.0
    """
    reference, image = _as_float_rgb(reference), _as_float_rgb(image)
    _check_same_shape(reference, image)
    mse = np.mean((reference - image) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(peak**2 / mse))


def _box_mean(x, size):
    """Mean over every size x size window (valid positions only), via an integral image."""
    integral = np.pad(x, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    window = (
        integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size]
        + integral[:-size, :-size]
    )  # fmt: skip
    return window / (size * size)


def ssim(reference, image, peak=255.0, window=7):
    """Structural similarity of two RGB images, averaged over channels.

    Follows scikit-image's `structural_similarity` defaults: a 7x7 uniform
    window, sample covariances, K1 = 0.01, K2 = 0.03, and the mean over the
    window positions that lie inside the image.

    Example:
    >>> import numpy as np
    >>> image = np.random.default_rng(0).integers(0, 256, (16, 16, 3))
    >>> ssim(image, image)
    1.0
    """
    reference, image = _as_float_rgb(reference), _as_float_rgb(image)
    _check_same_shape(reference, image)
    size = min(window, *reference.shape[:2])
    size -= 1 - size % 2  # odd, like scikit-image's windows
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    unbias = size * size / (size * size - 1) if size > 1 else 1.0
    scores = []
    for channel in range(3):
        x, y = reference[..., channel], image[..., channel]
        mx, my = _box_mean(x, size), _box_mean(y, size)
        vx = unbias * (_box_mean(x * x, size) - mx * mx)
        vy = unbias * (_box_mean(y * y, size) - my * my)
        cov = unbias * (_box_mean(x * y, size) - mx * my)
        index = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
        scores.append(index.mean())
    return float(np.mean(scores))


def colorfulness(image, absolute=True):
    """Hasler-Suesstrunk colorfulness, absolute-value variant (DDColor, CT2).

    0 for any gray image; about 100 and more for vivid photographs.

    Args:
        image (numpy.ndarray): RGB (H, W, 3) in [0, 255].
        absolute (bool): True for the variant of DDColor and CT2, whose figures the
            quality reports compare with; False for Hasler and Suesstrunk's
            original signed opponent channels (the scale of their "not
            colourful" below 15, used by the photo set's filter).

    Example:
    >>> import numpy as np
    >>> colorfulness(np.full((4, 4, 3), 128))
    0.0
    """
    image = _as_float_rgb(image)
    red, green, blue = image[..., 0], image[..., 1], image[..., 2]
    rg = red - green
    yb = 0.5 * (red + green) - blue
    if absolute:
        rg, yb = np.abs(rg), np.abs(yb)
    spread = np.sqrt(rg.std() ** 2 + yb.std() ** 2)
    mean = np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    return float(spread + 0.3 * mean)


def ab_error_auc(reference, image, max_threshold=150):
    """Area under the CDF of per-pixel a*b* errors, thresholds 0..max_threshold.

    The fraction of pixels whose Euclidean a*b* error is within t, averaged
    over t = 0, 1, ..., max_threshold (Zhang et al. 2016): 1.0 for identical
    images.

    Example:
    >>> import numpy as np
    >>> image = np.random.default_rng(0).integers(0, 256, (8, 8, 3)).astype("uint8")
    >>> ab_error_auc(image, image)
    1.0
    """
    reference, image = _as_float_rgb(reference), _as_float_rgb(image)
    _check_same_shape(reference, image)
    ab_reference = np.asarray(color.rgb_to_lab((reference / 255.0).astype(np.float32)))[..., 1:]
    ab_image = np.asarray(color.rgb_to_lab((image / 255.0).astype(np.float32)))[..., 1:]
    errors = np.sqrt(np.sum((ab_reference - ab_image) ** 2, axis=-1)).ravel()
    thresholds = np.arange(max_threshold + 1)
    cdf = np.searchsorted(np.sort(errors), thresholds, side="right") / errors.size
    return float(cdf.mean())


# Hue families by CIELAB hue angle (degrees from +a*, towards +b*): where each
# family ends. Red wraps round from 345.
HUE_FAMILIES = (
    ("red", 45),
    ("orange", 75),
    ("yellow", 105),
    ("green", 170),
    ("cyan", 230),
    ("blue", 300),
    ("purple", 345),
)
# Below this chroma (C* = |a*b*|) a color counts as gray.
GRAY_CHROMA = 10.0


def hue_family_names():
    """The rows and columns of `hue_confusion`: "gray", then each family.

    Example:
    >>> hue_family_names()[:3]
    ('gray', 'red', 'orange')
    """
    return ("gray", *(name for name, _ in HUE_FAMILIES))


def _hue_families(rgb, stride):
    lab = np.asarray(color.rgb_to_lab((rgb[::stride, ::stride] / 255.0).astype(np.float32)))
    a, b = lab[..., 1].ravel(), lab[..., 2].ravel()
    angle = (np.degrees(np.arctan2(b, a)) + 15.0) % 360.0 - 15.0  # red: [-15, 45)
    family = 1 + np.searchsorted([end for _, end in HUE_FAMILIES], angle, side="right")
    family[family > len(HUE_FAMILIES)] = 1  # from 345 on: red again
    family[np.hypot(a, b) < GRAY_CHROMA] = 0
    return family


def hue_confusion(reference, image, stride=4):
    """Pixel counts (8, 8): rows the true hue family, columns the colorized one.

    Families are `hue_family_names()` (gray below C* 10); every `stride`-th
    pixel in each direction counts. Summed over photos and normalized by row,
    it shows where colors go wrong, e.g. the share of green pixels colorized
    orange (tan).

    Example:
    >>> import numpy as np
    >>> green = np.zeros((4, 4, 3), "uint8"); green[..., 1] = 160
    >>> counts = hue_confusion(green, green, stride=1)
    >>> int(counts[4, 4]), int(counts.sum())
    (16, 16)
    """
    reference, image = np.asarray(reference), np.asarray(image)
    _check_same_shape(reference, image)
    size = len(HUE_FAMILIES) + 1
    pairs = _hue_families(reference, stride) * size + _hue_families(image, stride)
    return np.bincount(pairs, minlength=size * size).reshape(size, size)
