"""sRGB (D65) <-> CIE Lab conversions written with `keras.ops`.

The same functions run inside a model on any backend and on numpy arrays
outside of one. They follow scikit-image's `rgb2lab`/`lab2rgb` (2-degree
observer, D65 white point) so that results can be checked against it.
"""

from keras import backend, ops

# sRGB primaries with a D65 white point, as in scikit-image.
_XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
_D65_WHITE = (0.95047, 1.0, 1.08883)
# Relative luminance of linear sRGB: the middle row of _XYZ_FROM_RGB.
_LUMINANCE = _XYZ_FROM_RGB[1]

_LAB_EPSILON = 0.008856
_LAB_KAPPA = 7.787
_LAB_OFFSET = 16.0 / 116.0


def _as_float(x):
    x = ops.convert_to_tensor(x)
    dtype = backend.standardize_dtype(x.dtype)
    if "float" in dtype:
        return x
    return ops.cast(x, "float32") / 255.0


def _invert_3x3(matrix):
    (a, b, c), (d, e, f), (g, h, i) = matrix
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    return (
        ((e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det),
        ((f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det),
        ((d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det),
    )


_RGB_FROM_XYZ = _invert_3x3(_XYZ_FROM_RGB)


def _apply_matrix(matrix, x):
    # x[..., j] -> sum_j matrix[i][j] * x[..., j]; matmul with the transpose.
    weights = ops.convert_to_tensor(matrix, dtype=x.dtype)
    return ops.matmul(x, ops.transpose(weights))


def srgb_to_linear(rgb):
    """Undo the sRGB transfer curve (values in [0, 1])."""
    rgb = ops.convert_to_tensor(rgb)
    curved = ops.power((ops.maximum(rgb, 0.04045) + 0.055) / 1.055, 2.4)
    return ops.where(rgb > 0.04045, curved, rgb / 12.92)


def linear_to_srgb(linear):
    """Apply the sRGB transfer curve (linear values in [0, 1])."""
    linear = ops.convert_to_tensor(linear)
    curved = 1.055 * ops.power(ops.maximum(linear, 0.0031308), 1.0 / 2.4) - 0.055
    return ops.where(linear > 0.0031308, curved, linear * 12.92)


def _lab_f(t):
    cube_root = ops.power(ops.maximum(t, _LAB_EPSILON), 1.0 / 3.0)
    return ops.where(t > _LAB_EPSILON, cube_root, _LAB_KAPPA * t + _LAB_OFFSET)


def _lab_f_inverse(f):
    return ops.where(f > 0.2068966, f * f * f, (f - _LAB_OFFSET) / _LAB_KAPPA)


def rgb_to_lab(rgb):
    """Convert sRGB in [0, 1] to CIE Lab.

    Args:
        rgb (numpy.ndarray): tensor or array of shape (..., 3): floats in [0, 1], or
            integers in [0, 255] (uint8 images), which are scaled by 1/255.

    Returns:
        tensor: shape (..., 3): L in [0, 100], a and b roughly in
            [-128, 128].

    Example:
    >>> import numpy as np
    >>> lab = rgb_to_lab(np.array([[1.0, 1.0, 1.0]], dtype="float32"))
    >>> [round(float(v), 2) + 0.0 for v in lab[0]]  # + 0.0: no "-0.0"
    [100.0, 0.0, 0.0]
    """
    rgb = _as_float(rgb)
    xyz = _apply_matrix(_XYZ_FROM_RGB, srgb_to_linear(rgb))
    xyz = xyz / ops.convert_to_tensor(_D65_WHITE, dtype=xyz.dtype)
    fx, fy, fz = ops.unstack(_lab_f(xyz), 3, axis=-1)
    lightness = 116.0 * fy - 16.0
    return ops.stack([lightness, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def rgb_to_lightness(rgb):
    """CIE lightness L in [0, 100] of sRGB colors, without computing a and b.

    Args:
        rgb (numpy.ndarray): tensor or array of shape (..., 3), as for `rgb_to_lab`.

    Returns:
        tensor: shape (...,).

    Example:
    >>> round(float(rgb_to_lightness([[0.0, 0.0, 0.0]])[0]), 2)
    0.0
    """
    rgb = _as_float(rgb)
    weights = ops.convert_to_tensor(_LUMINANCE, dtype=rgb.dtype)
    luminance = ops.sum(srgb_to_linear(rgb) * weights, axis=-1)
    return 116.0 * _lab_f(luminance) - 16.0


def gray_to_lightness(gray):
    """CIE lightness L in [0, 100] of sRGB gray values (floats in [0, 1]).

    Example:
    >>> round(float(gray_to_lightness(1.0)), 2)
    100.0
    """
    gray = _as_float(gray)
    return 116.0 * _lab_f(srgb_to_linear(gray)) - 16.0


def lab_to_linear_rgb(lab):
    """Convert CIE Lab to linear sRGB, without clipping to [0, 1]."""
    lab = ops.convert_to_tensor(lab)
    lightness, a, b = ops.unstack(lab, 3, axis=-1)
    fy = (lightness + 16.0) / 116.0
    # Negative z is outside any real color; scikit-image clips it to 0 too.
    fz = ops.maximum(fy - b / 200.0, 0.0)
    f = ops.stack([fy + a / 500.0, fy, fz], axis=-1)
    xyz = _lab_f_inverse(f) * ops.convert_to_tensor(_D65_WHITE, dtype=lab.dtype)
    return _apply_matrix(_RGB_FROM_XYZ, xyz)


def lab_to_rgb(lab, preserve_lightness=False):
    """Convert CIE Lab to sRGB in [0, 1].

    Args:
        lab (numpy.ndarray): float tensor or array of shape (..., 3).
        preserve_lightness (bool): how to bring colors outside the sRGB gamut back
            into it. `False` clips each channel, as scikit-image does, which
            can change the lightness of saturated colors. `True` desaturates
            such a pixel toward the gray of the same luminance just enough
            to fit, so the output has exactly the input's L.

    Returns:
        tensor: shape (..., 3), values in [0, 1].

    Example (a round trip; L = 50 gray is 0.466 in sRGB):
    >>> import numpy as np
    >>> rgb = np.array([[0.2, 0.5, 0.8], [0.466, 0.466, 0.466]], dtype="float32")
    >>> bool(np.allclose(lab_to_rgb(rgb_to_lab(rgb)), rgb, atol=1e-4))
    True
    """
    linear = lab_to_linear_rgb(lab)
    if preserve_lightness:
        linear = _desaturate_into_gamut(linear)
    return ops.clip(linear_to_srgb(linear), 0.0, 1.0)


def _desaturate_into_gamut(linear):
    # Moving along rgb -> (Y, Y, Y) keeps the luminance Y (the weights sum to
    # 1), so the largest step t in [0, 1] that keeps every channel in [0, 1]
    # fixes the gamut without touching L.
    weights = ops.convert_to_tensor(_LUMINANCE, dtype=linear.dtype)
    luminance = ops.clip(ops.sum(linear * weights, axis=-1, keepdims=True), 0.0, 1.0)
    offset = linear - luminance
    tiny = 1e-12
    limit_high = ops.where(offset > tiny, (1.0 - luminance) / ops.maximum(offset, tiny), 1.0)
    limit_low = ops.where(offset < -tiny, luminance / ops.maximum(-offset, tiny), 1.0)
    step = ops.clip(ops.min(ops.minimum(limit_high, limit_low), axis=-1, keepdims=True), 0.0, 1.0)
    return luminance + step * offset


def lightness_to_gray(lightness):
    """The sRGB gray value in [0, 1] that has CIE lightness `lightness`.

    Example:
    >>> round(float(lightness_to_gray(100.0)), 3)
    1.0
    """
    lightness = ops.convert_to_tensor(lightness, dtype="float32")
    luminance = _lab_f_inverse((lightness + 16.0) / 116.0)
    return ops.clip(linear_to_srgb(luminance), 0.0, 1.0)


# The network's input and target scalings (as in the original implementation).
def scale_lightness(lightness):
    """Map L in [0, 100] to the network's input range [-1, 1]."""
    return lightness / 50.0 - 1.0


def unscale_lightness(scaled):
    """Inverse of `scale_lightness`."""
    return (scaled + 1.0) * 50.0


AB_SCALE = 128.0
