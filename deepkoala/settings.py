"""A colorizer's settings: every default, and the check of the constructor's arguments.

Each default is written here once; `Colorizer`, the blocks, the command
line and the pipelines read it from here. Nothing in this module imports
Keras at import time, so the command line can read the defaults before it
starts a backend.

Example:
>>> from deepkoala import settings
>>> settings.IMAGE_SIZE, settings.TEMPERATURE
(224, 0.38)
"""

import os

from deepkoala.argument_checks import (
    check_filters,
    check_image_size,
    check_non_negative_number,
    check_positive_int,
    check_positive_number,
)

# The network (the paper's).
BACKBONE = "inception_resnet_v2"
BACKBONE_WEIGHTS = "imagenet"
IMAGE_SIZE = 224
ENCODER_FILTERS = (64, 128, 128, 256, 256, 512, 512, 256)
FUSION_FILTERS = 256
DECODER_FILTERS = (128, 64, 64, 32)
MID_LEVEL_FEATURES = False
# A head that also takes hints and a reference's colors (`deepkoala.guided_head`).
GUIDED = False
# A guided head's hint fields: spread a*, b* (/ 128), the same times their
# trust, and the trust (`deepkoala.guided_head.hint_channels`).
HINT_CHANNELS = 5
# None builds under Keras' global policy (float32 unless changed).
DTYPE_POLICIES = (None, "float32", "mixed_bfloat16", "mixed_float16", "bfloat16", "float16")
# Keras' plain half-precision policies: the weights themselves in half
# precision, for colorizing only (`Colorizer`'s `dtype_policy`).
HALF_WEIGHT_POLICIES = ("bfloat16", "float16")
DTYPE_POLICY = None

# What `fit` minimizes, and so how the head predicts color.
LOSSES = ("mse", "rebalanced_mse", "classification", "rebalanced_classification")
LOSS = "mse"

# Decoding: how predicted colors become an image. They change `colorize`,
# not the network's weights, and `Colorizer.set_decoding` changes them in place.
TEMPERATURE = 0.38
EDGE_AWARE_CHROMA = False
SATURATION = 1.0
# Fade a pixel's color toward gray as its predicted colors spread over
# different hues (`deepkoala.layers.AnnealedMean`); 0 never fades.
UNCERTAINTY_FADE = 0.0
DECODING_SETTINGS = ("temperature", "edge_aware_chroma", "saturation", "uncertainty_fade")

# Batches: photos colorized at once, and training images per step.
COLORIZE_BATCH_SIZE = 8
FIT_BATCH_SIZE = 16
LEARNING_RATE = 1e-3


def classifies(loss):
    """Whether a head trained with `loss` classifies a*b* into bins (else it regresses a*b*).

    Args:
        loss (str): a name from `LOSSES`.

    Returns:
        bool: True for the classification losses.

    Example:
    >>> classifies("rebalanced_classification"), classifies("mse")
    (True, False)
    """
    return loss.endswith("classification")


def _check_flag(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be True or False. Received: {name}={value!r}")
    return value


def check_backbone_weights(backbone_weights):
    """Return `backbone_weights` if it is "imagenet", None or a weights file, else raise.

    Args:
        backbone_weights (str | os.PathLike | None): the setting to check.

    Returns:
        str | os.PathLike | None: `backbone_weights`, unchanged.

    Example:
    >>> check_backbone_weights("imagenet")
    'imagenet'
    """
    if backbone_weights in ("imagenet", None):
        return backbone_weights
    if not isinstance(backbone_weights, (str, os.PathLike)) or not os.path.isfile(backbone_weights):
        raise ValueError(
            '`backbone_weights` must be "imagenet", None or the path of a weights file. '
            f"Received: backbone_weights={backbone_weights!r}"
        )
    return backbone_weights


def check_decoding(**decoding):
    """The decoding settings given, checked (`DECODING_SETTINGS`).

    Args:
        **decoding (Any): any of them, by name.

    Returns:
        dict: the same settings, checked.

    Example:
    >>> check_decoding(saturation=1.2)
    {'saturation': 1.2}
    """
    unknown = sorted(set(decoding) - set(DECODING_SETTINGS))
    if unknown:
        raise ValueError(
            f"Decoding settings are {', '.join(DECODING_SETTINGS)}. "
            f"Received: {', '.join(f'{name}={decoding[name]!r}' for name in unknown)}"
        )
    checks = {
        "temperature": check_positive_number,
        "edge_aware_chroma": _check_flag,
        "saturation": check_positive_number,
        "uncertainty_fade": check_non_negative_number,
    }
    return {name: checks[name](name, value) for name, value in decoding.items()}


def checked_config(
    backbone=BACKBONE,
    backbone_weights=BACKBONE_WEIGHTS,
    image_size=IMAGE_SIZE,
    encoder_filters=ENCODER_FILTERS,
    fusion_filters=FUSION_FILTERS,
    decoder_filters=DECODER_FILTERS,
    dtype_policy=DTYPE_POLICY,
    loss=LOSS,
    temperature=TEMPERATURE,
    mid_level_features=MID_LEVEL_FEATURES,
    edge_aware_chroma=EDGE_AWARE_CHROMA,
    saturation=SATURATION,
    guided=GUIDED,
    uncertainty_fade=UNCERTAINTY_FADE,
):
    """`Colorizer`'s arguments, checked, as its config dict (see `Colorizer` for each).

    Each error is a `ValueError` that names the argument and the value
    received. Nothing is built.

    Returns:
        dict: every argument by name, filters as tuples.

    Example:
    >>> checked_config(backbone="efficientnet_lite0", image_size=192)["image_size"]
    192
    """
    # The registry imports Keras; the command line reads this module's defaults before that.
    from deepkoala.backbones import get_backbone

    if not isinstance(backbone, str):
        raise ValueError(f"`backbone` must be a name. Received: backbone={backbone!r}")
    spec = get_backbone(backbone)
    _check_flag("mid_level_features", mid_level_features)
    _check_flag("guided", guided)
    if mid_level_features and spec.feature_layer is None:
        raise ValueError(
            f"The {backbone} backbone offers no mid-level features. "
            f"Received: backbone={backbone!r}, mid_level_features=True"
        )
    if loss not in LOSSES:
        raise ValueError(f"`loss` must be one of {LOSSES}. Received: loss={loss!r}")
    if guided and not classifies(loss):
        raise ValueError(
            "A guided colorizer's guidance acts on the a*b* bins: it needs a classifying "
            f"loss. Received: guided=True, loss={loss!r}"
        )
    if dtype_policy not in DTYPE_POLICIES:
        raise ValueError(
            f"`dtype_policy` must be one of {DTYPE_POLICIES}. "
            f"Received: dtype_policy={dtype_policy!r}"
        )
    decoding = check_decoding(
        temperature=temperature,
        edge_aware_chroma=edge_aware_chroma,
        saturation=saturation,
        uncertainty_fade=uncertainty_fade,
    )
    return {
        "backbone": backbone,
        "backbone_weights": check_backbone_weights(backbone_weights),
        "image_size": check_image_size("image_size", image_size),
        "encoder_filters": check_filters("encoder_filters", encoder_filters, len(ENCODER_FILTERS)),
        "fusion_filters": check_positive_int("fusion_filters", fusion_filters),
        "decoder_filters": check_filters("decoder_filters", decoder_filters, len(DECODER_FILTERS)),
        "dtype_policy": dtype_policy,
        "loss": loss,
        "temperature": decoding["temperature"],
        "mid_level_features": mid_level_features,
        "edge_aware_chroma": decoding["edge_aware_chroma"],
        "saturation": decoding["saturation"],
        "guided": guided,
        "uncertainty_fade": decoding["uncertainty_fade"],
    }
