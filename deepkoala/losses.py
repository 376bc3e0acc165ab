"""The training loss, computed from RGB targets on the device."""

import keras
from keras import ops

from deepkoala import color


@keras.saving.register_keras_serializable(package="deepkoala")
def chroma_mse(rgb_true, chroma_pred):
    """Mean squared error between predicted and true a*b* / 128.

    Args:
        rgb_true: RGB images with values in [0, 255] (uint8 batches, which
            Keras casts to float before calling a loss).
        chroma_pred: the network's (..., 2) output.

    Example:
    >>> import numpy as np
    >>> gray = np.full((1, 4, 4, 3), 128.0, dtype="float32")
    >>> float(chroma_mse(gray, np.zeros((1, 4, 4, 2), "float32")).max()) < 1e-8
    True
    """
    rgb = ops.cast(rgb_true, "float32") / 255.0
    chroma_true = color.rgb_to_lab(rgb)[..., 1:] / color.AB_SCALE
    chroma_pred = ops.cast(chroma_pred, "float32")
    return ops.mean(ops.square(chroma_true - chroma_pred), axis=-1)
