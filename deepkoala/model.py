"""The full Deep Koalarization network, composed from its four blocks."""

import contextlib

import keras

from deepkoala import precision
from deepkoala.blocks import decoder, embedding, encoder, fusion, guide
from deepkoala.layers import AnnealedMean, ResizeToGrid
from deepkoala.settings import (
    BACKBONE,
    BACKBONE_WEIGHTS,
    DECODER_FILTERS,
    ENCODER_FILTERS,
    FUSION_FILTERS,
    HALF_WEIGHT_POLICIES,
    HINT_CHANNELS,
    TEMPERATURE,
    UNCERTAINTY_FADE,
)


def colorization_head(
    embedding_size,
    encoder_filters=ENCODER_FILTERS,
    fusion_filters=FUSION_FILTERS,
    decoder_filters=DECODER_FILTERS,
    chroma_bins=None,
    temperature=TEMPERATURE,
    mid_level_channels=None,
    guided=False,
    uncertainty_fade=UNCERTAINTY_FADE,
):
    """The trainable part: (scaled lightness, embedding) -> a*b* / 128.

    Training from cached embeddings uses this model alone, so the frozen
    backbone never runs during training.

    Args:
        embedding_size (int): width of the embedding.
        encoder_filters (tuple[int, ...]): the encoder's eight widths.
        fusion_filters (int): channels after fusion.
        decoder_filters (tuple[int, ...]): the decoder's four widths.
        chroma_bins (int | None): None for the paper's regression of a*b*; the number of
            a*b* bins (`deepkoala.chroma_bins.BIN_COUNT`) for a decoder
            that classifies each pixel's color, decoded by the annealed
            mean at `temperature`.
        temperature (float): the annealed mean's temperature (classification only).
        uncertainty_fade (float): the annealed mean's (classification only).
        mid_level_channels (int | None): None, or the channels of the backbone's
            mid-level feature map, a third input fused with the embedding
            (see `deepkoala.blocks.fusion`).
        guided (bool): a guided head (classification only), with two last
            inputs, "hints" (H, W, 5: the hints spread along the photo's
            edges, `deepkoala.guided_head`) and "color_histogram" (a
            reference's a*b* histogram), whose color priors the
            `deepkoala.blocks.guide` block adds to the decoder's bin logits.

    Example:
    >>> head = colorization_head(10, (4,) * 8, 4, (4,) * 4)
    >>> head.output_shape
    (None, None, None, 2)
    >>> guided = colorization_head(10, (4,) * 8, 4, (4,) * 4, chroma_bins=484, guided=True)
    >>> tuple(i.name for i in guided.inputs)
    ('lightness', 'embedding', 'hints', 'color_histogram')
    """
    if guided and chroma_bins is None:
        raise ValueError(
            "A guided head needs a classifying decoder (`chroma_bins`): its guidance acts "
            "on the bin logits. Received: guided=True, chroma_bins=None"
        )
    encoder_block = encoder(encoder_filters)
    fusion_block = fusion(
        encoder_block.output_shape[-1], embedding_size, fusion_filters, mid_level_channels
    )
    decoder_block = decoder(fusion_filters, decoder_filters, chroma_bins=chroma_bins)
    lightness = keras.Input((None, None, 1), name="lightness")
    vector = keras.Input((embedding_size,), name="embedding")
    inputs = [lightness, vector]
    if mid_level_channels is not None:
        inputs.append(keras.Input((None, None, mid_level_channels), name="mid_level"))
    chroma = decoder_block(fusion_block([encoder_block(lightness), *inputs[1:]]))
    if guided:
        guide_block = guide(chroma_bins, HINT_CHANNELS)
        hints = keras.Input((None, None, HINT_CHANNELS), name="hints")
        histogram = keras.Input((chroma_bins,), name="color_histogram")
        inputs += [hints, histogram]
        chroma = guide_block([chroma, hints, histogram])
    if chroma_bins is not None:
        chroma = AnnealedMean(temperature, uncertainty_fade, name="annealed_mean")(chroma)
        # Bilinear x4 to the input's grid. Not UpSampling2D: in a TensorFlow
        # graph traced for any size (a second working size) it fails.
        chroma = ResizeToGrid(dtype="float32", name="chroma_upsample")([chroma, lightness])
    head = keras.Model(inputs, chroma, name="head")
    # The blocks as attributes, as keras-hub exposes sub-models (training
    # on the classifier's logits goes through them).
    head.encoder, head.fusion, head.decoder = encoder_block, fusion_block, decoder_block
    head.guide = guide_block if guided else None
    return head


def deep_koalarization(
    backbone=BACKBONE,
    backbone_weights=BACKBONE_WEIGHTS,
    mid_level_features=False,
    dtype_policy=None,
    guided=False,
    name="deep_koalarization",
    **head_arguments,
):
    """Build the colorization network: scaled lightness -> a*b* / 128.

    The input is CIE L scaled to [-1, 1] (L / 50 - 1) at any size whose sides
    are multiples of 8; the output is a*b* / 128 at the same size. The model
    holds two sub-models, the attributes `embedding` (frozen) and `head`
    (trainable; its blocks are `head.encoder`, `head.fusion` and
    `head.decoder`, and `head.guide` for a guided head, else None).

    Args:
        backbone (str): name of the ImageNet classifier used for the embedding.
        backbone_weights (str | None): "imagenet", None or a weights file path.
        mid_level_features (bool): also fuse the backbone's mid-level feature map
            into the encoder's grid (see `deepkoala.blocks.fusion`).
        dtype_policy (str | None): a Keras dtype policy name for the layers, e.g.
            "mixed_bfloat16" (CPUs with bfloat16 units) or "mixed_float16"
            (GPUs), or "bfloat16" / "float16" (the weights themselves in half
            precision); None uses Keras' global policy. Color conversions and
            the output layers stay float32.
        guided (bool): a guided head (`colorization_head`'s `guided`; needs
            `chroma_bins`): the model's inputs are then [lightness, hints,
            color_histogram].
        name (str): the model's name.
        **head_arguments (Any): `colorization_head`'s `encoder_filters`,
            `fusion_filters`, `decoder_filters`, `chroma_bins`, `temperature`
            and `uncertainty_fade`; the default widths are the paper's (6,573,794
            trainable parameters with a 1000-class backbone).

    Example:
    >>> model = deep_koalarization("inception_v3", backbone_weights=None)
    >>> model.output_shape
    (None, None, None, 2)
    """
    compute_policy = dtype_policy or keras.config.dtype_policy().name
    # Built under a mixed policy, so that the layers that insist on float32
    # say so and a colorizer can change its precision in place later; under
    # "bfloat16" or "float16" themselves, the weights are made in half precision.
    build_policy = compute_policy if compute_policy in HALF_WEIGHT_POLICIES else "mixed_float16"
    with _global_dtype_policy(build_policy):
        embedding_block = embedding(backbone, backbone_weights, mid_level_features)
        output_shapes = (
            embedding_block.output_shape if mid_level_features else [embedding_block.output_shape]
        )
        head = colorization_head(
            output_shapes[0][-1],
            mid_level_channels=output_shapes[1][-1] if mid_level_features else None,
            guided=guided,
            **head_arguments,
        )
        lightness = keras.Input((None, None, 1), name="lightness")
        embedded = embedding_block(lightness)
        embedded = embedded if mid_level_features else [embedded]
        guidance = [keras.Input(i.shape[1:], name=i.name) for i in head.inputs[-2:]]
        guidance = guidance if guided else []
        chroma = head([lightness, *embedded, *guidance])
        model = keras.Model([lightness, *guidance] if guided else lightness, chroma, name=name)
        model.embedding, model.head = embedding_block, head
    precision.mark_float32_layers(model)
    precision.set_compute_policy(model, compute_policy)
    return model


@contextlib.contextmanager
def _global_dtype_policy(policy):
    """Build under `policy`: keras.applications models take no dtype argument."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
