"""The registry of frozen ImageNet classifiers that give the embedding.

Each entry knows how to build its classifier, the square input size it
expects, how to preprocess a [0, 255] image for it, its embedding width (the
number of class logits) and its mid-level feature layer.

Where "imagenet" weights come from differs by entry: `keras.applications`
downloads the Inception models' into the Keras cache; EfficientNet-Lite0's
ship in the package data (`deepkoala.weights` checks them, and fetches them
only from an install that lacks them); EfficientNet-Lite2's do not ship, so
"imagenet" is an error that says how to convert them. Every entry also
takes None (random) or the path of a weights file.
"""

import dataclasses
from collections.abc import Callable

import keras

from deepkoala import efficientnet_lite


@dataclasses.dataclass(frozen=True)
class Backbone:
    """How to build and feed one ImageNet classifier.

    Attributes:
        name: the registry name.
        build: `build(weights)` returns a `keras.Model` from a (size, size, 3)
            image to `embedding_size` logits; `weights` is None, a path to a
            weights file, or "imagenet" where the entry has those weights.
        input_size: the side of the square image the classifier expects.
        scale, offset: preprocessing, `image * scale + offset` for an image
            in [0, 255].
        embedding_size: the width of the classifier's output.
        feature_layer: the layer whose output is the classifier's mid-level
            feature map (about a sixteenth of the input's side), fused into
            the head by `Colorizer(mid_level_features=True)`; None if the
            backbone offers none.
    """

    name: str
    build: Callable[[object], keras.Model]
    input_size: int
    scale: float
    offset: float
    embedding_size: int
    feature_layer: str | None = None


_REGISTRY = {}


def register_backbone(backbone):
    """Add a `Backbone` to the registry, replacing one of the same name.

    Example:
    >>> import keras
    >>> def build(weights):
    ...     inputs = keras.Input((32, 32, 3))
    ...     pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    ...     return keras.Model(inputs, keras.layers.Dense(8)(pooled))
    >>> register_backbone(Backbone("tiny", build, 32, 1 / 255, 0.0, 8))
    >>> get_backbone("tiny").embedding_size
    8
    """
    if not isinstance(backbone, Backbone):
        raise ValueError(f"Expected a `Backbone`, received backbone={backbone!r}")
    _REGISTRY[backbone.name] = backbone


def get_backbone(name):
    """The registered `Backbone` called `name`; a `ValueError` lists the known ones."""
    if name not in _REGISTRY:
        raise ValueError(
            f"Unknown backbone={name!r}. Known backbones: {', '.join(available_backbones())}"
        )
    return _REGISTRY[name]


def available_backbones():
    """The names of the registered backbones, sorted."""
    return sorted(_REGISTRY)


def _keras_application(constructor):
    def build(weights):
        return constructor(include_top=True, weights=weights, classifier_activation=None)

    return build


# Inception models take 299x299 and scale [0, 255] to [-1, 1] (keras.applications
# "tf" mode); their mid-level maps are the first stride-16 blocks' outputs.
for _name, _constructor, _feature_layer in (
    ("inception_resnet_v2", keras.applications.InceptionResNetV2, "mixed_6a"),  # 17x17x1088
    ("inception_v3", keras.applications.InceptionV3, "mixed7"),  # 17x17x768
):
    register_backbone(
        Backbone(
            _name,
            _keras_application(_constructor),
            input_size=299,
            scale=1 / 127.5,
            offset=-1.0,
            embedding_size=1000,
            feature_layer=_feature_layer,
        )
    )


def _build_efficientnet_lite0(weights):
    from deepkoala.weights import (
        EFFICIENTNET_LITE0_FILE,
        EFFICIENTNET_LITE0_SHA256,
        weights_file,
    )

    if isinstance(weights, str) and weights == "imagenet":
        # Shipped in the package (checked), or fetched once like a preset.
        weights = weights_file(EFFICIENTNET_LITE0_FILE, EFFICIENTNET_LITE0_SHA256)
    return efficientnet_lite.efficientnet_lite0(weights=weights)


# EfficientNet-Lite0: weights in the package data; its own preprocessing, (x - 127) / 128.
register_backbone(
    Backbone(
        "efficientnet_lite0",
        _build_efficientnet_lite0,
        input_size=efficientnet_lite.INPUT_SIZE,
        scale=efficientnet_lite.PREPROCESS_SCALE,
        offset=efficientnet_lite.PREPROCESS_OFFSET,
        embedding_size=1000,
        feature_layer="block5c_add",  # 14x14x112, the last block at stride 16
    )
)


def _build_efficientnet_lite2(weights):
    if isinstance(weights, str) and weights == "imagenet":
        raise ValueError(
            "EfficientNet-Lite2's ImageNet weights do not ship with deepkoala: convert them "
            "with `python tools/convert_efficientnet_lite0.py --variant lite2 OUT_DIR` and "
            "pass the file as backbone_weights. Received: backbone_weights='imagenet'"
        )
    return efficientnet_lite.efficientnet_lite2(weights=weights)


# EfficientNet-Lite2: Lite0 scaled (260x260, width 1.1, depth 1.2), the same preprocessing.
register_backbone(
    Backbone(
        "efficientnet_lite2",
        _build_efficientnet_lite2,
        input_size=efficientnet_lite.input_size("lite2"),
        scale=efficientnet_lite.PREPROCESS_SCALE,
        offset=efficientnet_lite.PREPROCESS_OFFSET,
        embedding_size=1000,
        feature_layer="block5d_add",  # 17x17x120, the last block at stride 16
    )
)
