"""Measure a colorizer on color photographs, beside the gray baseline.

Every photo is made gray and colorized; the result is compared with the
original. The gray baseline keeps the lightness and sets a* = b* = 0: a
colorizer must beat it.
"""

import keras
import numpy as np

from deepkoala import color, metrics
from deepkoala.argument_checks import check_positive_int
from deepkoala.image_files import resolve_image_paths, warn_skipped
from deepkoala.images import read_each, read_rgb_uint8
from deepkoala.settings import COLORIZE_BATCH_SIZE

_COMPARED = ("psnr", "ssim", "auc", "colorfulness")


def gray_baseline(rgb):
    """The gray image (a* = b* = 0) with the lightness of a uint8 RGB image.

    Example:
    >>> import numpy as np
    >>> gray_baseline(np.full((2, 2, 3), 200, "uint8"))[0, 0].tolist()
    [200, 200, 200]
    """
    gray = np.asarray(color.lightness_to_gray(color.rgb_to_lightness(rgb)))
    return np.repeat(np.round(gray * 255.0).astype(np.uint8)[..., None], 3, axis=-1)


def _scores(original, candidate):
    return {
        "psnr": metrics.psnr(original, candidate),
        "ssim": metrics.ssim(original, candidate),
        "auc": metrics.ab_error_auc(original, candidate),
        "colorfulness": metrics.colorfulness(candidate),
    }


def evaluate(
    colorizer, data, limit=None, image_size=None, batch_size=COLORIZE_BATCH_SIZE, verbose=1
):
    """Score `colorizer` on the color images in `data`, beside the gray baseline.

    Args:
        colorizer (deepkoala.Colorizer): a `Colorizer`.
        data (str | os.PathLike | list): a folder (recursive) or a list of image paths.
        limit (int | None): score only the first `limit` images (in path order).
        image_size (int | None): the network's working size; default the colorizer's.
        batch_size (int): images colorized at once.
        verbose (int): 1 shows a progress bar.

    Returns:
        dict: "images" (the count), "deepkoala" and "gray" (mean PSNR,
            SSIM, AuC and colorfulness of each), "original" (mean
            colorfulness) and "colorfulness_gap" (original minus output,
            for each).

    Example:
    >>> report = evaluate(Colorizer.from_preset("koala-lite0"), "heldout/")  # doctest: +SKIP
    >>> print(format_report(report))  # doctest: +SKIP
    """
    paths = resolve_image_paths(data)
    if limit is not None:
        paths = paths[: check_positive_int("limit", limit)]
    totals = _new_totals()
    skipped = []
    progress = keras.utils.Progbar(len(paths), unit_name="image") if verbose else None
    for start in range(0, len(paths), batch_size):
        batch = paths[start : start + batch_size]
        images, failures = read_each(batch, read_rgb_uint8)
        skipped.extend(path for path, failure in zip(batch, failures, strict=True) if failure)
        readable = [image for image in images if image is not None]
        _add_scores(totals, colorizer, readable, image_size, batch_size)
        if progress is not None:
            progress.update(min(start + batch_size, len(paths)))
    warn_skipped(skipped)
    if not totals["original"]:
        raise ValueError(f"No readable image to evaluate in {data!r}.")
    return _report(totals)


def score_images(colorizer, images, image_size=None, batch_size=COLORIZE_BATCH_SIZE):
    """`evaluate`'s report for photos already in memory (uint8 RGB arrays).

    Args:
        colorizer (deepkoala.Colorizer): a `Colorizer`.
        images (list[numpy.ndarray]): at least one (H, W, 3) uint8 photo.
        image_size (int | None): the network's working size; default the colorizer's.
        batch_size (int): images colorized at once.

    Returns:
        dict: as `evaluate`'s.

    Example:
    >>> report = score_images(colorizer, [read_rgb_uint8("photo.jpg")])  # doctest: +SKIP
    >>> gain = report["deepkoala"].get("psnr") - report["gray"].get("psnr")  # doctest: +SKIP
    """
    if not len(images):
        raise ValueError("`images` must hold at least one photo. Received: images=[]")
    totals = _new_totals()
    _add_scores(totals, colorizer, list(images), image_size, batch_size)
    return _report(totals)


def _new_totals():
    return {"deepkoala": [], "gray": [], "original": []}


def _add_scores(totals, colorizer, originals, image_size, batch_size):
    outputs = colorizer.colorize(originals, batch_size=batch_size, image_size=image_size, verbose=0)
    for original, output in zip(originals, outputs, strict=True):
        totals["deepkoala"].append(_scores(original, np.asarray(output)))
        totals["gray"].append(_scores(original, gray_baseline(original)))
        totals["original"].append(metrics.colorfulness(original))


def _report(totals):
    report = {"images": len(totals["original"])}
    for name in ("deepkoala", "gray"):
        report[name] = {key: float(np.mean([s[key] for s in totals[name]])) for key in _COMPARED}
    report["original"] = {"colorfulness": float(np.mean(totals["original"]))}
    report["colorfulness_gap"] = {
        name: report["original"]["colorfulness"] - report[name]["colorfulness"]
        for name in ("deepkoala", "gray")
    }
    return report


def format_report(report):
    """The report of `evaluate` as a plain-text table.

    Example:
    >>> print(format_report(report))  # doctest: +SKIP
    """
    rows = [
        ("PSNR (dB)", "psnr"),
        ("SSIM", "ssim"),
        ("AuC of ab error CDF", "auc"),
        ("colorfulness", "colorfulness"),
    ]
    lines = [f"{report['images']} image(s)", f"{'metric':<22}{'deepkoala':>12}{'gray':>12}"]
    for label, key in rows:
        lines.append(f"{label:<22}{report['deepkoala'][key]:>12.4f}{report['gray'][key]:>12.4f}")
    gap = report["colorfulness_gap"]
    lines.append(f"{'colorfulness gap':<22}{gap['deepkoala']:>12.4f}{gap['gray']:>12.4f}")
    lines.append(f"original colorfulness {report['original']['colorfulness']:.4f}")
    return "\n".join(lines)
