"""Colorizing many photos with reading, the network and merging overlapped.

The network runs on the calling thread, one batch at a time. A small thread
pool meanwhile decodes the next photos (and computes their lightness and
working copy) and merges the previous batch's chroma into full-resolution
photos, then hands each one to `finish` (the command line writes its file
there). Pillow, numpy and the backend release Python's lock in their heavy
loops, so the three overlap. Results come back in input order.
"""

import collections
import os
import warnings
from concurrent.futures import Future, ThreadPoolExecutor

import keras
import numpy as np
from PIL import Image

from deepkoala import full_resolution, interrupts, photo_metadata
from deepkoala.image_files import special_file_kind
from deepkoala.images import BAND_RESIZE_PIXELS, read_photo, resize_bands, resize_channel

# Pixels of the photos read ahead, and of the photos of one batch, beyond
# their first: a 24-megapixel photo holds about 100 MB of lightness until it
# is merged, so a folder of large photos is read a few photos at a time, not
# two batches at a time (the network then gets smaller batches).
PIXEL_BUDGET = 32_000_000
# An 8-bit photo above this many pixels is kept as decoded until it is
# merged, its lightness read band by band (twice, three times for the
# edge-aware merge) instead of held whole: 96 MB instead of 192 for 24
# megapixels, for a few percent more time. The size above which
# `resize_channel` resizes band by band anyway, so that the working copy is
# the same sums either way.
KEEP_PHOTO_PIXELS = BAND_RESIZE_PIXELS


def default_workers():
    """Threads for reading and merging: the machine's cores, at least 2 and at most 4."""
    return max(2, min(4, os.cpu_count() or 1))


def _prepare(source, size, make_guide, depth):
    """(full-resolution L or the photo, working-size L, guidance at the working size or
    None, metadata).

    An 8-bit photo over `KEEP_PHOTO_PIXELS` is kept as decoded instead of its
    L: its lightness is read band by band, here for the working copy and
    again when merging (`full_resolution.merge_over`).
    """
    pixels, metadata = read_photo(source, as_image=True)
    height, width = full_resolution._shape(pixels)
    guide = None if make_guide is None else make_guide().at_size(width, height, size)
    if isinstance(pixels, Image.Image) and depth == 8 and height * width > KEEP_PHOTO_PIXELS:
        bands = full_resolution.lightness_bands(pixels)
        # Written over when merging, unless it is the caller's own image.
        photo = _Photo(pixels, overwrite=pixels is not source)
        return photo, resize_bands(bands, (height, width), size, size), guide, metadata
    lightness = full_resolution.lightness(pixels)
    del pixels  # before the working copy: a 24-megapixel photo holds 96 MB
    return lightness, resize_channel(lightness, size, size), guide, metadata


class _Photo:
    """A photo kept as decoded until it is merged, and whether it may be overwritten."""

    def __init__(self, image, overwrite):
        self.image = image
        self.overwrite = overwrite


def _pixel_count(source):
    """A source's pixels, from a file's header only; 0 when it cannot be told.

    A source that cannot be opened is counted as 0: reading it fails later,
    in a worker, and is reported with its item.
    """
    if isinstance(source, np.ndarray):
        return int(np.prod(source.shape[:2])) if source.ndim >= 2 else 0
    if isinstance(source, Image.Image):
        return source.width * source.height
    if special_file_kind(source):
        return 0  # opening a FIFO would block
    try:
        with Image.open(source) as image:
            return image.width * image.height
    except (OSError, ValueError, TypeError, Image.DecompressionBombError):
        return 0


def _finish(index, lightness, chroma, finish, edge_aware, depth, metadata):
    if isinstance(lightness, _Photo):
        image = full_resolution.merge_over(
            lightness.image, chroma, edge_aware=edge_aware, overwrite=lightness.overwrite
        )
    else:
        image = full_resolution.merge(lightness, chroma, edge_aware=edge_aware, depth=depth)
    image = photo_metadata.restore(image, metadata)
    return image if finish is None else finish(index, image)


def colorize_stream(
    predict_chroma, sources, batch_size, image_size, finish=None, workers=None, edge_aware=False,
    guides=None, depth=8,
):  # fmt: skip
    """Colorize `sources`, yielding `(index, output, error)` in input order.

    Args:
        predict_chroma (callable): the network: working-size L (B, S, S) in [0, 100]
            -> a*b* (B, S, S, 2).
        sources (collections.abc.Iterable): an iterable of paths, `PIL.Image`s or arrays
            (`images.read_pixels`), read lazily: a generator of video
            frames works.
        batch_size (int): photos per network call.
        image_size (int): the network's working size S.
        finish (callable | None): called as `finish(index, image)` on each colorized
            `PIL.Image` in a worker thread; its return value is the output
            (default: the image itself).
        workers (int | None): reading and merging threads (default `default_workers()`).
        edge_aware (bool): upsample the chroma with the lightness as a guide
            (`full_resolution.merge`).
        guides (callable | None): `guides(index)` -> a function that makes
            that photo's `guidance.Guide`, or None (`guidance.guides_for`);
            a photo with guidance gets `predict_chroma(L, guidance=...)`.
        depth (int): 8 for `PIL.Image` outputs, 16 for uint16 arrays
            (`full_resolution.merge`).

    Yields:
        tuple: (index, output, None) for each photo done, or (index, None,
            error) where reading it or `finish` raised a `ValueError` or
            `OSError`. Other errors (for example the network's) propagate.

    Example:
    >>> for index, image, error in colorize_stream(predict, ["a.jpg"], 8, 224):  # doctest: +SKIP
    ...     image.save(f"{index}.png")
    """
    workers = workers or default_workers()
    # At most two batches read ahead and two being merged, and at most
    # PIXEL_BUDGET pixels read ahead and in a batch beyond their first photo:
    # memory stays bounded, however many items `sources` yields.
    ahead = 2 * batch_size
    sources = ((index, source, _pixel_count(source)) for index, source in enumerate(sources))
    pool = ThreadPoolExecutor(workers, thread_name_prefix="deepkoala")
    try:
        reads = collections.deque()  # (index, pixels, future of (L, working-size L, guide))
        pending = collections.deque()  # (index, future of the output, or the error)
        waiting = []  # the next item, pulled but over the pixel budget for now

        def read_ahead():
            held = sum(pixels for _, pixels, _ in reads)
            while len(reads) < ahead:
                item = waiting.pop() if waiting else next(sources, None)
                if item is None:
                    return
                index, source, pixels = item
                if reads and held + pixels > PIXEL_BUDGET:
                    waiting.append(item)
                    return
                make_guide = None if guides is None else guides(index)
                reads.append(
                    (index, pixels, pool.submit(_prepare, source, image_size, make_guide, depth))
                )
                held += pixels

        read_ahead()
        while reads:
            interrupts.check()  # a Ctrl-C that a library swallowed during the last batch
            read, failed, batch_pixels = [], {}, 0
            while reads and len(read) + len(failed) < batch_size:
                index, pixels, future = reads[0]
                if read and batch_pixels + pixels > PIXEL_BUDGET:
                    break
                reads.popleft()
                batch_pixels += pixels
                try:
                    read.append((index, *future.result()))
                except (ValueError, OSError) as error:
                    failed[index] = error
            read_ahead()
            chroma = {}
            if read:
                small = np.stack([small for _, _, small, _, _ in read])
                guidance = [guide for *_, guide, _ in read]
                if any(guide is not None for guide in guidance):
                    predicted = predict_chroma(small, guidance=guidance)
                else:
                    predicted = predict_chroma(small)
                for (index, lightness, *_, metadata), item_chroma in zip(
                    read, predicted, strict=True
                ):
                    chroma[index] = pool.submit(
                        _finish, index, lightness, item_chroma, finish, edge_aware, depth,
                        metadata,
                    )  # fmt: skip
            pending.extend(sorted({**failed, **chroma}.items()))
            while pending and (len(pending) > ahead or _ready(pending[0][1])):
                yield _result(*pending.popleft())
        while pending:
            yield _result(*pending.popleft())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _ready(item):
    return not isinstance(item, Future) or item.done()


def _result(index, item):
    if not isinstance(item, Future):
        return index, None, item
    try:
        return index, item.result(), None
    except (ValueError, OSError) as error:
        return index, None, error


def collect(stream, count, single, errors="raise", progress=False):
    """The outputs of a `colorize_stream` over `count` items, as a list (or one output).

    Args:
        stream (collections.abc.Generator): `colorize_stream`'s generator.
        count (int): how many items it yields.
        single (bool): one item, passed alone: return its output, and raise
            its error whatever `errors` says.
        errors (str): "raise": the first unreadable item raises its error
            (the stream is closed). "skip": its place holds None, and one
            warning names every skipped item.
        progress (bool): show a progress bar.

    Returns:
        PIL.Image.Image | list: the output, or the list of outputs.

    Example:
    >>> collect(colorize_stream(predict, paths, 8, 224), len(paths), False)  # doctest: +SKIP
    """
    if errors not in ("raise", "skip"):
        raise ValueError(f'`errors` must be "raise" or "skip". Received: errors={errors!r}')
    bar = keras.utils.Progbar(count, unit_name="image") if progress else None
    results, skipped = [], []
    for index, image, failure in stream:
        if failure is not None:
            if single or errors == "raise":
                stream.close()
                raise failure
            skipped.append(f"item {index} ({failure})")
        results.append(image)
        if bar is not None:
            bar.update(len(results))
    if skipped:
        warnings.warn(
            f"Skipped {len(skipped)} unreadable image(s): " + "; ".join(skipped), stacklevel=3
        )
    return results[0] if single else results
