"""The few layers deepkoala needs that Keras does not ship.

They are registered with Keras, so `.keras` files that contain them load in
safe mode once `deepkoala` is imported.
"""

import keras
import numpy as np
from keras import ops

from deepkoala import chroma_bins, color
from deepkoala.argument_checks import check_non_negative_number, check_positive_number
from deepkoala.settings import TEMPERATURE, UNCERTAINTY_FADE


@keras.saving.register_keras_serializable(package="deepkoala")
class LightnessFromRGB(keras.layers.Layer):
    """RGB images (uint8 in [0, 255] or floats in [0, 1]) to scaled lightness.

    The output is CIE L mapped to [-1, 1] (L / 50 - 1), the network's input.
    Converting on the device keeps training data uint8 until it gets there.

    Example:
    >>> import numpy as np
    >>> layer = LightnessFromRGB()
    >>> layer(np.full((1, 8, 8, 3), 255, dtype="uint8")).shape
    (1, 8, 8, 1)
    """

    def __init__(self, **kwargs):
        # Color math stays float32 under mixed precision (bfloat16 would
        # round L by up to half a unit).
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def call(self, rgb):
        lightness = color.rgb_to_lightness(rgb)
        return ops.expand_dims(color.scale_lightness(lightness), -1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 1)


@keras.saving.register_keras_serializable(package="deepkoala")
class GrayFromLightness(keras.layers.Layer):
    """Scaled lightness (L / 50 - 1) to a 3-channel gray image in [0, 255].

    This is the picture an ImageNet classifier expects: the gray photograph
    with its gray value repeated in R, G and B.

    Example:
    >>> import numpy as np
    >>> gray = GrayFromLightness()(np.ones((1, 4, 4, 1), dtype="float32"))
    >>> gray.shape, round(float(gray[0, 0, 0, 0]))
    ((1, 4, 4, 3), 255)
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")  # as LightnessFromRGB
        super().__init__(**kwargs)

    def call(self, scaled_lightness):
        gray = color.lightness_to_gray(color.unscale_lightness(scaled_lightness))
        return ops.repeat(gray * 255.0, 3, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3)


@keras.saving.register_keras_serializable(package="deepkoala")
class RepeatToGrid(keras.layers.Layer):
    """Repeat a vector at every position of a feature grid.

    `RepeatVector` + `Reshape` with the grid size read from the second input
    at run time, so that the fused model accepts any image size.

    Example:
    >>> import numpy as np
    >>> vector, grid = np.ones((2, 10)), np.zeros((2, 3, 5, 4))
    >>> RepeatToGrid()([vector, grid]).shape
    (2, 3, 5, 10)
    """

    def call(self, inputs):
        vector, grid = inputs
        grid_shape = ops.shape(grid)
        tiled = ops.expand_dims(ops.expand_dims(vector, 1), 1)
        return ops.broadcast_to(
            tiled, (grid_shape[0], grid_shape[1], grid_shape[2], ops.shape(vector)[-1])
        )

    def compute_output_shape(self, input_shape):
        vector_shape, grid_shape = input_shape
        return (grid_shape[0], grid_shape[1], grid_shape[2], vector_shape[-1])


@keras.saving.register_keras_serializable(package="deepkoala")
class ResizeToGrid(keras.layers.Layer):
    """Resize a feature map (bilinear) to the height and width of another grid.

    The backbone's mid-level features have the backbone's own grid (14x14
    for EfficientNet-Lite0, whatever the photo) and are resized to the
    encoder's grid, which follows the working size; the classifying head's
    chroma is resized from a quarter of the input's size to the input's.
    The target size is read from the second input at run time, so the model
    accepts any image size on every backend.

    Example:
    >>> import numpy as np
    >>> features, grid = np.ones((2, 7, 7, 3)), np.zeros((2, 28, 20, 4))
    >>> ResizeToGrid()([features, grid]).shape
    (2, 28, 20, 3)
    """

    def call(self, inputs):
        features, grid = inputs
        features_shape, grid_shape = ops.shape(features), ops.shape(grid)
        # Bilinear resizing as two small matrix products: `ops.image.resize`
        # wants a size known when the TensorFlow graph is traced.
        rows = self._interpolation(grid_shape[1], features_shape[1], features.dtype)
        columns = self._interpolation(grid_shape[2], features_shape[2], features.dtype)
        resized = ops.einsum("oh,bhwc->bowc", rows, features)
        return ops.einsum("pw,bowc->bopc", columns, resized)

    @staticmethod
    def _interpolation(out_size, in_size, dtype):
        """(out_size, in_size) bilinear weights, half-pixel centers (as tf.image.resize)."""
        scale = ops.cast(in_size, "float32") / ops.cast(out_size, "float32")
        centers = (ops.cast(ops.arange(out_size), "float32") + 0.5) * scale - 0.5
        centers = ops.clip(centers, 0.0, ops.cast(in_size, "float32") - 1.0)
        taps = ops.cast(ops.arange(in_size), "float32")
        weights = ops.relu(1.0 - ops.abs(centers[:, None] - taps[None, :]))
        return ops.cast(weights, dtype)

    def compute_output_shape(self, input_shape):
        features_shape, grid_shape = input_shape
        return (features_shape[0], grid_shape[1], grid_shape[2], features_shape[-1])


@keras.saving.register_keras_serializable(package="deepkoala")
class AnnealedMean(keras.layers.Layer):
    """a*b* bin logits (..., 484) to one color per pixel, a*b* / 128 (..., 2).

    The annealed mean of Zhang et al. (2016): the mean of the bin centers
    under the softmax of `logits / temperature`. Temperature 1 is the plain
    mean (muted, like regression); towards 0 it becomes the most likely bin
    (vivid, but patchy); 0.38 is the paper's compromise.

    Annealing picks a side where the network is torn between distant colors
    (a sky blue or orange), and a confident wrong hue costs more than a pale
    one. With `uncertainty_fade` k > 0 the color is scaled by R**k, where R
    = |E[ab]| / E[|ab|] under the plain softmax: 1 when the likely colors
    share one hue, towards 0 when they point in opposite directions.

    Args:
        temperature (float): a positive number.
        uncertainty_fade (float): k >= 0; 0 never fades.

    Example:
    >>> import numpy as np
    >>> AnnealedMean()(np.zeros((1, 2, 2, 484), dtype="float32")).shape
    (1, 2, 2, 2)
    """

    def __init__(self, temperature=TEMPERATURE, uncertainty_fade=UNCERTAINTY_FADE, **kwargs):
        kwargs.setdefault("dtype", "float32")  # a softmax over 484 bins needs it
        super().__init__(**kwargs)
        self.temperature = check_positive_number("temperature", temperature)
        self.uncertainty_fade = check_non_negative_number("uncertainty_fade", uncertainty_fade)

    def call(self, logits):
        logits = ops.cast(logits, "float32")
        centers = chroma_bins.bin_centers() / color.AB_SCALE
        annealed = ops.matmul(ops.softmax(logits / self.temperature, axis=-1), centers)
        if not self.uncertainty_fade:
            return annealed
        plain = ops.softmax(logits, axis=-1)
        resultant = ops.norm(ops.matmul(plain, centers), axis=-1, keepdims=True)
        spread = ops.matmul(plain, np.linalg.norm(centers, axis=-1, keepdims=True))
        # Both vanish together only where every likely color is gray.
        concentration = resultant / ops.maximum(spread, 1e-6)
        return annealed * concentration**self.uncertainty_fade

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 2)

    def get_config(self):
        return {
            **super().get_config(),
            "temperature": self.temperature,
            "uncertainty_fade": self.uncertainty_fade,
        }


@keras.saving.register_keras_serializable(package="deepkoala")
class GuidancePriors(keras.layers.Layer):
    """Add the guidance's color priors to a*b* bin logits, each scaled by a learned gate.

    A product of experts: the automatic head's distribution over the bins is
    multiplied, pixel by pixel, by a Gaussian around the hints' spread color
    (`exp(-gate_hint * d^2 / (2 sigma^2))`, sigma one bin) and by the
    reference's histogram (`(histogram + floor) ** gate_reference`). Where a
    gate is 0 the logits pass unchanged; the hint prior is also 0 for an
    image without hints, and a histogram of zeros adds the same constant to
    every bin, which the softmax ignores. So a guided head whose gates start
    at 0 colorizes exactly as the automatic head does.

    Inputs: logits (B, h, w, K), hint cells (B, h, w, 5: spread a*/128,
    b*/128, the same times the trust, the trust), gates (B, h, w, 2) and the
    reference's histogram (B, K).

    Args:
        sigma (float): width of the hint prior, in a*b* units.
        floor (float): added to the histogram before its logarithm, so a
            color the reference lacks is unlikely, not impossible.

    Example:
    >>> import numpy as np
    >>> logits = np.zeros((1, 2, 2, 484), "float32")
    >>> cells, gates = np.zeros((1, 2, 2, 5), "float32"), np.zeros((1, 2, 2, 2), "float32")
    >>> out = GuidancePriors()([logits, cells, gates, np.zeros((1, 484), "float32")])
    >>> float(np.abs(out).max())
    0.0
    """

    def __init__(self, sigma=chroma_bins.BIN_SIZE, floor=1e-3, **kwargs):
        kwargs.setdefault("dtype", "float32")  # squared distances over 484 bins
        super().__init__(**kwargs)
        self.sigma = check_positive_number("sigma", sigma)
        self.floor = check_positive_number("floor", floor)

    def call(self, inputs):
        logits, cells, gates, histogram = (ops.cast(x, "float32") for x in inputs)
        centers = ops.convert_to_tensor(chroma_bins.bin_centers() / color.AB_SCALE)
        colors = cells[..., :2]
        # |c - center|^2 expanded, so no (B, h, w, K, 2) tensor is made.
        distance = (
            ops.sum(colors * colors, axis=-1, keepdims=True)
            - 2.0 * ops.matmul(colors, ops.transpose(centers))
            + ops.sum(centers * centers, axis=-1)
        )
        spread = (self.sigma / color.AB_SCALE) ** 2
        hint_prior = -distance / (2.0 * spread)
        has_hints = ops.cast(ops.max(cells[..., 4:5], axis=(1, 2), keepdims=True) > 0, "float32")
        reference_prior = ops.log(histogram + self.floor)[:, None, None, :]
        return logits + gates[..., 0:1] * has_hints * hint_prior + gates[..., 1:2] * reference_prior

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "sigma": self.sigma, "floor": self.floor}
