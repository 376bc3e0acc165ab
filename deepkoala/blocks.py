"""The four blocks of Deep Koalarization, each a small functional `keras.Model`.

Every block can be used alone; `deepkoala.model.deep_koalarization` composes
them. Layer names are fixed so that weight files stay loadable.
"""

import keras
from keras import layers

from deepkoala.argument_checks import check_filters, check_positive_int
from deepkoala.backbones import get_backbone
from deepkoala.chroma_bins import BIN_COUNT
from deepkoala.layers import GrayFromLightness, GuidancePriors, RepeatToGrid, ResizeToGrid
from deepkoala.settings import (
    BACKBONE,
    BACKBONE_WEIGHTS,
    DECODER_FILTERS,
    ENCODER_FILTERS,
    FUSION_FILTERS,
    HINT_CHANNELS,
)

ENCODER_STRIDES = (2, 1, 2, 1, 2, 1, 1, 1)


def encoder(filters=ENCODER_FILTERS, name="encoder"):
    """The convolutional encoder over the lightness channel.

    Eight 3x3 ReLU convolutions; the first, third and fifth have stride 2, so
    an (H, W, 1) input gives an (H/8, W/8, filters[-1]) grid.

    Args:
        filters (tuple[int, ...]): eight channel counts.
        name (str): the model's name.

    Example:
    >>> model = encoder(filters=(4, 4, 4, 4, 4, 4, 4, 8))
    >>> model.output_shape
    (None, None, None, 8)
    """
    filters = check_filters("filters", filters, len(ENCODER_STRIDES))
    lightness = keras.Input((None, None, 1), name="lightness")
    x = lightness
    for index, (width, stride) in enumerate(zip(filters, ENCODER_STRIDES, strict=True), start=1):
        x = layers.Conv2D(
            width, 3, strides=stride, padding="same", activation="relu", name=f"encoder_conv{index}"
        )(x)
    return keras.Model(lightness, x, name=name)


def embedding(
    backbone=BACKBONE, weights=BACKBONE_WEIGHTS, mid_level_features=False, name="embedding"
):
    """The frozen ImageNet classifier that embeds the whole gray image.

    The scaled lightness is turned back into a gray picture repeated in three
    channels, resized to the classifier's input size and preprocessed its own
    way; the output is the classifier's class logits.

    Args:
        backbone (str): a name from `deepkoala.backbones.available_backbones()`.
        weights (str | None): "imagenet" (where each backbone's come from:
            `deepkoala.backbones`), None (random initialization, for tests)
            or a path to a weights file.
        mid_level_features (bool): also output the classifier's mid-level feature
            map (the backbone's `feature_layer`): the model then has two
            outputs, [logits, features].
        name (str): the model's name.

    Example:
    >>> model = embedding("inception_v3", weights=None)
    >>> model.output_shape, model.trainable
    ((None, 1000), False)
    >>> embedding("inception_v3", weights=None, mid_level_features=True).output_shape[1]
    (None, 17, 17, 768)
    """
    spec = get_backbone(backbone)
    if mid_level_features and spec.feature_layer is None:
        raise ValueError(
            f"The {backbone} backbone offers no mid-level features. "
            f"Received: backbone={backbone!r}, mid_level_features=True"
        )
    lightness = keras.Input((None, None, 1), name="lightness")
    gray = GrayFromLightness(name="embedding_gray")(lightness)
    resized = layers.Resizing(spec.input_size, spec.input_size, name="embedding_resize")(gray)
    preprocessed = layers.Rescaling(spec.scale, spec.offset, name="embedding_preprocess")(resized)
    classifier = _build_classifier(spec, weights)
    if mid_level_features:
        # The same layers and weights, with a second output; the name stays
        # the classifier's so weight files keep its layout.
        features = classifier.get_layer(spec.feature_layer).output
        classifier = keras.Model(
            classifier.inputs, [classifier.outputs[0], features], name=classifier.name
        )
    # Always in inference mode: the frozen classifier's dropout must stay off
    # even where Keras passes training=True down (`Resizing` defaults to it).
    outputs = classifier(preprocessed, training=False)
    model = keras.Model(lightness, outputs, name=name)
    model.trainable = False
    return model


def _build_classifier(spec, weights):
    if not (isinstance(weights, str) and weights == "imagenet"):
        return spec.build(weights)
    try:
        return spec.build(weights)
    except (ValueError, OSError):
        raise  # already says what is wrong (a hash, a missing file)
    except Exception as error:
        # Keras reports a failed download as a bare Exception.
        raise OSError(
            f"Could not get the ImageNet weights of the {spec.name} backbone ({error}). "
            "Connect to the internet once (Keras caches them in ~/.keras/models), pass a "
            "local weights file, or use backbone_weights=None for an untrained backbone."
        ) from error


def fusion(
    feature_channels,
    embedding_size,
    filters=FUSION_FILTERS,
    mid_level_channels=None,
    name="fusion",
):
    """Fuse the embedding into every position of the encoder's grid.

    The embedding vector is repeated over the grid (RepeatVector + Reshape,
    to the grid the encoder actually produced), concatenated to the features
    and mixed by a 1x1 ReLU convolution.

    With `mid_level_channels`, a third input takes the backbone's mid-level
    feature map (its own grid, e.g. 14x14), resized bilinearly to the
    encoder's grid and concatenated too: the frozen classifier then says
    *where* things are, not only what the whole picture shows.

    Args:
        feature_channels (int): channels of the encoder's output.
        embedding_size (int): width of the embedding.
        filters (int): channels of the fused output.
        mid_level_channels (int | None): None (the paper's fusion) or the channels of the
            backbone's mid-level feature map.
        name (str): the model's name.

    Example:
    >>> model = fusion(feature_channels=8, embedding_size=10, filters=6)
    >>> model.output_shape
    (None, None, None, 6)
    >>> fusion(8, 10, 6, mid_level_channels=5).input_shape[-1]
    (None, None, None, 5)
    """
    check_positive_int("feature_channels", feature_channels)
    check_positive_int("embedding_size", embedding_size)
    check_positive_int("filters", filters)
    features = keras.Input((None, None, feature_channels), name="features")
    vector = keras.Input((embedding_size,), name="embedding")
    inputs = [features, vector]
    stacked = [features, RepeatToGrid(name="fusion_repeat")([vector, features])]
    if mid_level_channels is not None:
        check_positive_int("mid_level_channels", mid_level_channels)
        mid_level = keras.Input((None, None, mid_level_channels), name="mid_level")
        inputs.append(mid_level)
        stacked.append(ResizeToGrid(name="fusion_mid_level_resize")([mid_level, features]))
    concatenated = layers.Concatenate(name="fusion_concat")(stacked)
    fused = layers.Conv2D(filters, 1, activation="relu", name="fusion_conv")(concatenated)
    return keras.Model(inputs, fused, name=name)


def guide(
    chroma_bins=BIN_COUNT,
    hint_channels=HINT_CHANNELS,
    hidden=32,
    name="guide",
):
    """The guided head's last block: bin logits, hint fields and a histogram -> bin logits.

    The hint fields (the hints spread along the photo's edges, at the
    working size) are averaged over 4x4 cells, the logits' grid; the
    reference's histogram is repeated over that grid. A bias-free 1x1 and a
    3x3 convolution read, cell by cell, two gates from them: how far to
    trust the hints' spread color there, and how far the reference's
    palette. `deepkoala.layers.GuidancePriors` adds the two priors, scaled
    by their gates, to the logits. Without guidance (all zeros) the gates
    are exactly zero, and the last kernel starts at zero, so a guided head
    starts as the automatic one.

    Args:
        chroma_bins (int): the number of a*b* bins (the logits' and the histogram's width).
        hint_channels (int): channels of the hint fields.
        hidden (int): channels between the two convolutions.
        name (str): the model's name.

    Example:
    >>> model = guide(chroma_bins=484, hint_channels=5, hidden=4)
    >>> model.output_shape
    (None, None, None, 484)
    """
    for argument, value in (
        ("chroma_bins", chroma_bins),
        ("hint_channels", hint_channels),
        ("hidden", hidden),
    ):
        check_positive_int(argument, value)
    logits = keras.Input((None, None, chroma_bins), name="logits")
    hints = keras.Input((None, None, hint_channels), name="hints")
    histogram = keras.Input((chroma_bins,), name="color_histogram")
    cells = layers.AveragePooling2D(4, padding="same", name="guide_pool")(hints)
    stacked = layers.Concatenate(name="guide_concat")(
        [cells, RepeatToGrid(name="guide_histogram_repeat")([histogram, cells])]
    )
    x = layers.Conv2D(hidden, 1, activation="relu", use_bias=False, name="guide_conv1")(stacked)
    gates = layers.Conv2D(
        2, 3, padding="same", use_bias=False, kernel_initializer="zeros", dtype="float32",
        name="guide_gates",
    )(x)  # fmt: skip
    guided = GuidancePriors(name="guide_priors")([logits, cells, gates, histogram])
    return keras.Model([logits, hints, histogram], guided, name=name)


def decoder(input_channels, filters=DECODER_FILTERS, chroma_bins=None, name="decoder"):
    """The upsampling decoder from the fused grid to a*b* at full size.

    conv, upsample x2, conv, conv, upsample x2, conv, conv 2 tanh, upsample
    x2: an (H/8, W/8, C) grid gives (H, W, 2) chroma in [-1, 1] (a*b* / 128).

    With `chroma_bins`, the decoder classifies instead, as Zhang et al.
    (2016) do at a quarter of the resolution: after the third convolution,
    a 1x1 convolution gives `chroma_bins` logits at (H/4, W/4), one per a*b*
    bin; `deepkoala.layers.AnnealedMean` turns them into a color.

    Args:
        input_channels (int): channels of the fused grid.
        filters (tuple[int, ...]): four channel counts.
        chroma_bins (int | None): None (regression, the paper's) or the number of bins.
        name (str): the model's name.

    Example:
    >>> model = decoder(input_channels=6, filters=(4, 4, 4, 4))
    >>> model.output_shape
    (None, None, None, 2)
    """
    check_positive_int("input_channels", input_channels)
    filters = check_filters("filters", filters, len(DECODER_FILTERS))
    if chroma_bins is not None:
        check_positive_int("chroma_bins", chroma_bins)

    def conv(x, width, index, activation="relu", dtype=None):
        return layers.Conv2D(
            width,
            3,
            padding="same",
            activation=activation,
            dtype=dtype,
            name=f"decoder_conv{index}",
        )(x)

    def upsample(x, index, dtype=None):
        return layers.UpSampling2D(2, dtype=dtype, name=f"decoder_upsample{index}")(x)

    fused = keras.Input((None, None, input_channels), name="fused")
    x = upsample(conv(fused, filters[0], 1), 1)
    x = conv(conv(x, filters[1], 2), filters[2], 3)
    # The output layers stay float32 under mixed precision: tanh near +-1,
    # the softmax over many bins and the loss need the precision.
    if chroma_bins is not None:
        logits = layers.Conv2D(chroma_bins, 1, dtype="float32", name="decoder_logits")(x)
        return keras.Model(fused, logits, name=name)
    x = conv(upsample(x, 2), filters[3], 4)
    x = upsample(conv(x, 2, 5, activation="tanh", dtype="float32"), 3, dtype="float32")
    return keras.Model(fused, x, name=name)
