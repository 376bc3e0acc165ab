"""Quantized a*b*: the bins of chroma classification and of class rebalancing.

The a*b* plane is cut into squares of 10 units (Zhang, Isola and Efros 2016):
22 x 22 = 484 bins whose centers run from -105 to 105 on each axis, which
covers every sRGB color. A pixel's color is a soft distribution over the bins
(a Gaussian of 5 units around it) when it is a classification target, and its
nearest bin when its rarity is looked up.
"""

import numpy as np
from keras import ops

from deepkoala import color

BIN_SIZE = 10.0
_AXIS = np.arange(-105.0, 106.0, BIN_SIZE, dtype=np.float32)
BINS_PER_AXIS = len(_AXIS)
BIN_COUNT = BINS_PER_AXIS * BINS_PER_AXIS
# Zhang et al.'s soft-encoding width and the share of the uniform
# distribution mixed into the rebalancing prior.
SOFT_SIGMA = 5.0
UNIFORM_MIX = 0.5


def bin_centers():
    """The (484, 2) a*b* centers of the bins, a-major.

    Example:
    >>> bin_centers()[:2].tolist()
    [[-105.0, -105.0], [-105.0, -95.0]]
    """
    a, b = np.meshgrid(_AXIS, _AXIS, indexing="ij")
    return np.stack([a.ravel(), b.ravel()], axis=-1)


def soft_encode(ab, sigma=SOFT_SIGMA):
    """A distribution over the bins (..., 484) for a*b* values (..., 2).

    A Gaussian of `sigma` a*b* units around each color, normalized; it is
    separable in a* and b*, so no (..., 484) distance table is built.

    Example:
    >>> import numpy as np
    >>> target = soft_encode(np.array([[-105.0, -105.0]], "float32"))
    >>> round(float(target[0, 0]), 3)
    0.964
    """
    ab = ops.convert_to_tensor(ab, dtype="float32")
    axis = ops.convert_to_tensor(_AXIS)
    weights_a = ops.exp(-ops.square(ab[..., 0:1] - axis) / (2.0 * sigma**2))
    weights_b = ops.exp(-ops.square(ab[..., 1:2] - axis) / (2.0 * sigma**2))
    joint = ops.expand_dims(weights_a, -1) * ops.expand_dims(weights_b, -2)
    joint = ops.reshape(joint, (*ops.shape(ab)[:-1], BIN_COUNT))
    return joint / ops.sum(joint, axis=-1, keepdims=True)


def bin_index(ab):
    """The index of the nearest bin (int32, (...)) for a*b* values (..., 2).

    Example:
    >>> import numpy as np
    >>> int(bin_index(np.array([0.0, 0.0], "float32")))
    252
    """
    ab = ops.convert_to_tensor(ab, dtype="float32")
    cell = ops.floor((ab - float(_AXIS[0]) + BIN_SIZE / 2) / BIN_SIZE)
    cell = ops.cast(ops.clip(cell, 0, BINS_PER_AXIS - 1), "int32")
    return cell[..., 0] * BINS_PER_AXIS + cell[..., 1]


def ab_histogram(rgb_images, stride=4):
    """Counts (484,) of the a*b* bins of uint8 RGB images (N, H, W, 3).

    Every `stride`-th pixel in each direction is counted.

    Example:
    >>> import numpy as np
    >>> int(ab_histogram(np.full((1, 8, 8, 3), 128, "uint8")).sum())
    4
    """
    pixels = np.asarray(rgb_images)[:, ::stride, ::stride]
    ab = np.asarray(color.rgb_to_lab(pixels))[..., 1:]
    indices = np.asarray(bin_index(ab)).ravel()
    return np.bincount(indices, minlength=BIN_COUNT).astype(np.float64)


def rebalancing_weights(histogram, mix=UNIFORM_MIX, sigma=SOFT_SIGMA):
    """Per-bin weights that make rare colors count as much as common ones.

    Zhang et al. (2016): the empirical distribution of the bins, smoothed by
    a Gaussian of `sigma` a*b* units, mixed with the uniform distribution
    over the bins that occur (share `mix`), inverted, and normalized so
    that the expected weight of a training pixel is 1.

    Args:
        histogram: (484,) bin counts, e.g. from `ab_histogram`.
        mix: the uniform share, in [0, 1]; 1 gives equal weights.
        sigma: smoothing width in a*b* units.

    Returns:
        (484,) float32 weights.

    Example:
    >>> import numpy as np
    >>> counts = np.zeros(484); counts[[252, 30]] = [900, 100]
    >>> weights = rebalancing_weights(counts)
    >>> bool(weights[30] > weights[252])
    True
    """
    histogram = np.asarray(histogram, dtype=np.float64).reshape(BINS_PER_AXIS, BINS_PER_AXIS)
    if histogram.sum() <= 0 or not np.isfinite(histogram).all():
        raise ValueError("The a*b* histogram must hold finite counts, not all zero.")
    offsets = np.arange(-2, 3) * BIN_SIZE
    kernel = np.exp(-(offsets**2) / (2.0 * sigma**2))
    kernel /= kernel.sum()
    smoothed = np.apply_along_axis(np.convolve, 0, histogram, kernel, mode="same")
    smoothed = np.apply_along_axis(np.convolve, 1, smoothed, kernel, mode="same")
    probability = (smoothed / smoothed.sum()).ravel()
    occurring = max(int(np.count_nonzero(probability)), 1)
    weights = 1.0 / ((1.0 - mix) * probability + mix / occurring)
    weights /= np.sum(histogram.ravel() / histogram.sum() * weights)
    return weights.astype(np.float32)
