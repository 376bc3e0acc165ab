"""The training losses, computed from RGB targets on the device.

`chroma_mse` is the paper's. Mean squared error averages the plausible colors
of an uncertain region into a brownish gray, so two losses that fight that
are offered too: `RebalancedChromaMSE` weights each pixel by the rarity of
its color, and `ChromaCrossEntropy` classifies each pixel's color into
a*b* bins (Zhang et al. 2016), optionally rebalanced the same way.
"""

import keras
from keras import ops

from deepkoala import chroma_bins, color


def _true_chroma(rgb_true):
    rgb = ops.cast(rgb_true, "float32") / 255.0
    return color.rgb_to_lab(rgb)[..., 1:]


@keras.saving.register_keras_serializable(package="deepkoala")
def chroma_mse(rgb_true, chroma_pred):
    """Mean squared error between predicted and true a*b* / 128.

    Args:
        rgb_true (tensor): RGB images with values in [0, 255] (uint8 batches, which
            Keras casts to float before calling a loss).
        chroma_pred (tensor): the network's (..., 2) output.

    Example:
    >>> import numpy as np
    >>> gray = np.full((1, 4, 4, 3), 128.0, dtype="float32")
    >>> float(chroma_mse(gray, np.zeros((1, 4, 4, 2), "float32")).max()) < 1e-8
    True
    """
    chroma_true = _true_chroma(rgb_true) / color.AB_SCALE
    chroma_pred = ops.cast(chroma_pred, "float32")
    return ops.mean(ops.square(chroma_true - chroma_pred), axis=-1)


class RebalancedChromaMSE(keras.losses.Loss):
    """`chroma_mse` with each pixel weighted by the rarity of its true color.

    Args:
        bin_weights (numpy.ndarray | None): (484,) weights of the a*b* bins, from
            `chroma_bins.rebalancing_weights` of the training set.

    Example:
    >>> import numpy as np
    >>> loss = RebalancedChromaMSE(np.ones(484, "float32"))
    >>> gray = np.full((1, 4, 4, 3), 128.0, dtype="float32")
    >>> float(loss(gray, np.zeros((1, 4, 4, 2), "float32"))) < 1e-8
    True
    """

    def __init__(self, bin_weights, name="rebalanced_chroma_mse", **kwargs):
        super().__init__(name=name, **kwargs)
        self.bin_weights = ops.convert_to_tensor(bin_weights, dtype="float32")

    def call(self, rgb_true, chroma_pred):
        chroma_true = _true_chroma(rgb_true)
        weights = ops.take(self.bin_weights, chroma_bins.bin_index(chroma_true))
        error = ops.square(chroma_true / color.AB_SCALE - ops.cast(chroma_pred, "float32"))
        return weights * ops.mean(error, axis=-1)


class ChromaCrossEntropy(keras.losses.Loss):
    """Cross-entropy of a*b* bin logits against soft-encoded true colors.

    The logits come at a quarter of the image's resolution (the
    classification head's last grid), so the true a*b* is averaged over
    4 x 4 pixels first.

    Args:
        bin_weights (numpy.ndarray | None): None, or (484,) weights of the a*b* bins: each pixel
            then counts by the rarity of its true color (class rebalancing).

    Example:
    >>> import numpy as np
    >>> loss = ChromaCrossEntropy()
    >>> rgb = np.full((1, 8, 8, 3), 128.0, dtype="float32")
    >>> float(loss(rgb, np.zeros((1, 2, 2, 484), "float32"))) > 0
    True
    """

    def __init__(self, bin_weights=None, name="chroma_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.bin_weights = (
            None if bin_weights is None else ops.convert_to_tensor(bin_weights, dtype="float32")
        )

    def call(self, rgb_true, logits):
        chroma_true = ops.average_pool(_true_chroma(rgb_true), 4, strides=4, padding="valid")
        target = chroma_bins.soft_encode(chroma_true)
        log_probability = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
        loss = -ops.sum(target * log_probability, axis=-1)
        if self.bin_weights is not None:
            loss = loss * ops.take(self.bin_weights, chroma_bins.bin_index(chroma_true))
        return loss
