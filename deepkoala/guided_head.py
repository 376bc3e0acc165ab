"""The learned guided head: its two extra inputs, and its start from an automatic head.

A guided colorizer (`Colorizer(guided=True)`, after Zhang et al. 2017) takes,
beside the lightness, the hints as five dense channels at the working size
(the hints' colors spread along the photo's edges by the propagation layer,
`deepkoala.guidance.hint_spread`: a*/128, b*/128, the same times their trust,
and the trust; all zero without hints) and a global color vector: the
normalized a*b* histogram of a reference photo over the classification's
bins, or zeros for none. The `deepkoala.blocks.guide` block learns, cell by
cell, how far to trust each of them, and adds their color priors to the
decoder's bin logits. `network_inputs` makes the inputs from a user's
guidance, `sample_guidance` from the truth for training, and `guided_copy`
builds a guided colorizer that starts as a given automatic one (the gates
start at zero) and trains the guide block alone.
"""

import numpy as np

from deepkoala import chroma_bins, color
from deepkoala.guidance import hint_spread
from deepkoala.settings import HINT_CHANNELS

# Whether the propagation layer (`deepkoala.guidance.apply`) also runs on a
# guided head's colors, so each hint's color is reached at its point.
SPREAD_AFTER = True

# Training: the share of views with no hints at all (the automatic case stays
# trained), the number of hints otherwise (geometric, mean 1 / p, as Zhang et
# al. draw them), their radius at the working size, and the share of views
# that get a histogram (of a random part of the view, so the model learns to
# follow a photo's colors, not to copy a pixel-matched one).
NO_HINTS_SHARE = 0.25
HINT_COUNT_P = 1.0 / 8.0
MAX_TRAINING_HINTS = 64
TRAINING_RADII = (1.0, 3.0)
HISTOGRAM_SHARE = 0.5
HISTOGRAM_PART = (0.5, 1.0)
# Every second pixel each way counts in a histogram.
_HISTOGRAM_STRIDE = 2


def color_histogram(chroma):
    """The normalized (BIN_COUNT,) histogram of an a*b* map (H, W, 2) over the chroma bins.

    Args:
        chroma (numpy.ndarray): a*b* values.

    Returns:
        numpy.ndarray: float32, summing to 1.

    Example:
    >>> float(color_histogram(np.zeros((4, 4, 2), "float32")).sum())
    1.0
    """
    sample = np.asarray(chroma, np.float32)[::_HISTOGRAM_STRIDE, ::_HISTOGRAM_STRIDE]
    indices = np.asarray(chroma_bins.bin_index(sample)).ravel()
    counts = np.bincount(indices, minlength=chroma_bins.BIN_COUNT).astype(np.float32)
    return counts / counts.sum()


def hint_channels(lightness, hints):
    """The (S, S, 5) hint channels of hint rows (N, 5) on a working-size lightness (S, S).

    Args:
        lightness (numpy.ndarray): CIE L at the working size S.
        hints (numpy.ndarray): rows x, y, a*, b*, radius at the working size
            (`guidance.Guide.at_size`'s "hints"); none gives zeros.

    Returns:
        numpy.ndarray: float32: spread a*/128, b*/128, the same times the
            trust, and the trust.

    Example:
    >>> flat = np.full((8, 8), 50.0, "float32")
    >>> hint_channels(flat, np.array([[4, 4, 64, 32, 1]], "float32"))[4, 4].tolist()
    [0.5, 0.25, 0.5, 0.25, 1.0]
    """
    size = lightness.shape[0]
    if not len(hints):
        return np.zeros((size, size, HINT_CHANNELS), np.float32)
    colors, trust = hint_spread(lightness, np.asarray(hints, np.float32))
    colors = colors / color.AB_SCALE
    return np.concatenate([colors, colors * trust, trust], axis=-1).astype(np.float32)


def network_inputs(guidance, lightness):
    """The guided network's extra inputs for a batch: [hints (B, S, S, 5), histograms (B, K)].

    Args:
        guidance (list | None): per item, `guidance.Guide.at_size`'s dict or
            None (no guidance: zeros, the automatic colors' inputs).
        lightness (numpy.ndarray): (B, S, S) CIE L at the working size S.

    Returns:
        list: two float32 arrays.

    Example:
    >>> hints, histograms = network_inputs(None, np.zeros((2, 8, 8), "float32"))
    >>> hints.shape, histograms.shape
    ((2, 8, 8, 5), (2, 484))
    """
    count, size = lightness.shape[:2]
    hints = np.zeros((count, size, size, HINT_CHANNELS), np.float32)
    histograms = np.zeros((count, chroma_bins.BIN_COUNT), np.float32)
    for index, item in enumerate(guidance or [None] * count):
        if not item:
            continue
        hints[index] = hint_channels(lightness[index], item["hints"])
        if item["reference"] is not None:
            histograms[index] = color_histogram(item["reference"].at_size(size)[1])
    return [hints, histograms]


def sample_guidance(rgb, rng):
    """Hints and histograms drawn from the truth, for training a guided head.

    A view gets no hints with probability `NO_HINTS_SHARE`, else a
    geometric number of them at uniform positions, each with its 3x3 mean
    color and a random radius, spread as `network_inputs` spreads a user's;
    it gets the histogram of a random square part of itself with
    probability `HISTOGRAM_SHARE`, else zeros.

    Args:
        rgb (numpy.ndarray): uint8 RGB views (B, S, S, 3), the training targets.
        rng (numpy.random.Generator): the random source.

    Returns:
        dict: "hints" (B, S, S, 5) and "color_histogram" (B, K), float32.

    Example:
    >>> sampled = sample_guidance(np.zeros((2, 16, 16, 3), "uint8"), np.random.default_rng(0))
    >>> sampled["hints"].shape, sampled["color_histogram"].shape
    ((2, 16, 16, 5), (2, 484))
    """
    count, size = rgb.shape[0], rgb.shape[1]
    lab = np.asarray(color.rgb_to_lab(rgb.astype(np.float32) / 255.0), np.float32)
    lightness, chroma = lab[..., 0], lab[..., 1:]
    hints = np.zeros((count, size, size, HINT_CHANNELS), np.float32)
    histograms = np.zeros((count, chroma_bins.BIN_COUNT), np.float32)
    for index in range(count):
        if rng.random() >= NO_HINTS_SHARE:
            number = min(int(rng.geometric(HINT_COUNT_P)), MAX_TRAINING_HINTS)
            rows = []
            for x, y in rng.integers(0, size, (number, 2)):
                patch = chroma[index, max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2]
                a, b = patch.reshape(-1, 2).mean(axis=0)
                rows.append((x, y, a, b, rng.uniform(*TRAINING_RADII)))
            hints[index] = hint_channels(lightness[index], np.array(rows, np.float32))
        if rng.random() < HISTOGRAM_SHARE:
            side = max(int(size * rng.uniform(*HISTOGRAM_PART)), 1)
            top, left = rng.integers(0, size - side + 1, 2)
            histograms[index] = color_histogram(chroma[index, top : top + side, left : left + side])
    return {"hints": hints, "color_histogram": histograms}


def guided_copy(colorizer, freeze_automatic=True):
    """A guided colorizer with `colorizer`'s settings and weights, starting as its colors.

    Every weight is copied; the guide block is new, and its gates start at
    zero, so before training the copy colorizes exactly as `colorizer` does,
    and without guidance it always does. With `freeze_automatic`, the
    encoder, fusion and decoder are frozen: `fit` then trains the guide
    block alone, and the colors without guidance stay the automatic ones.

    Args:
        colorizer (deepkoala.Colorizer): an automatic colorizer.
        freeze_automatic (bool): freeze the blocks that the automatic colors use.

    Returns:
        deepkoala.Colorizer: the guided copy.

    Example:
    >>> guided = guided_copy(Colorizer.from_preset("koala-lite0"))  # doctest: +SKIP
    >>> guided.colorize("old.jpg", hints=[(120, 80, "#b22222")])  # doctest: +SKIP
    """
    copy = type(colorizer).from_config({**colorizer.get_config(), "guided": True})
    copy.embedding.set_weights(colorizer.embedding.get_weights())
    for block in ("encoder", "fusion", "decoder"):
        getattr(copy.head, block).set_weights(getattr(colorizer.head, block).get_weights())
        getattr(copy.head, block).trainable = not freeze_automatic
    # The backbone's weights are the same as the original's, ImageNet ones or not.
    copy._untracked.backbone_is_imagenet = colorizer._untracked.backbone_is_imagenet
    return copy
