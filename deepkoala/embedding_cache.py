"""The embedding cache: training images stored with their backbone embeddings, in HDF5.

The backbone is frozen, so each training image's embedding is computed once
and stored next to the image (a uint8 square of the stored size) in an HDF5
file. Training then reads only that file and never runs the backbone. A
cache knows what it was built from (file names, sizes and times, the working
size, the backbone, the views per image) and is rebuilt when that changes.
It is written atomically (`deepkoala.atomic`), under a lock, so an
interrupted build leaves nothing a later run would trust.
"""

import collections
import contextlib
import errno
import hashlib
import json
import os
import re
import zlib

import h5py
import keras
import numpy as np

from deepkoala import interrupts
from deepkoala.atomic import atomic_write, remove_abandoned_partials, require_free_space
from deepkoala.image_files import warn_skipped
from deepkoala.images import read_rgb_uint8, resize_and_center_crop

# Bump when the layout of cache files changes, so old caches are rebuilt.
CACHE_FORMAT = 2


class ImageStore:
    """Training images (N, S, S, 3) uint8 with their embeddings (N, E) float32.

    `images` (and `mid_level`) may be HDF5 datasets read batch by batch, or
    numpy arrays. `sources` (N,) tells which photo each item was cut from
    (several views of one photo share it), so that a validation split never
    separates views of one photo; default: every item is its own photo.
    `mid_level` (N, h, w, C) float16 holds the backbone's mid-level feature
    maps when the colorizer fuses them, else None. `photos` names the photos
    in the order of `sources` (their paths; default their numbers).
    """

    def __init__(self, images, embeddings, file=None, sources=None, mid_level=None, photos=None):
        self.images = images
        self.embeddings = embeddings
        self.mid_level = mid_level
        self.sources = np.arange(len(embeddings)) if sources is None else np.asarray(sources)
        count = int(self.sources.max()) + 1 if len(self.sources) else 0
        self.photos = list(range(count)) if photos is None else list(photos)
        self._file = file

    def split(self, validation_split):
        """Item indices (train, validation): the last photos' views validate.

        Example:
        >>> import numpy as np
        >>> store = ImageStore(None, np.zeros((4, 1)), sources=[0, 0, 1, 1])
        >>> train, validation = store.split(0.5)
        >>> train.tolist(), validation.tolist()
        ([0, 1], [2, 3])
        """
        photos = int(self.sources.max()) + 1
        validation_photos = int(photos * validation_split)
        if validation_split and not 0 < validation_photos < photos:
            raise ValueError(
                f"validation_split={validation_split} of {photos} images leaves "
                "no image for training or for validation."
            )
        first_validation = photos - validation_photos
        return (
            np.flatnonzero(self.sources < first_validation),
            np.flatnonzero(self.sources >= first_validation),
        )

    def __len__(self):
        return len(self.embeddings)

    def close(self):
        files = self._file if isinstance(self._file, list) else [self._file]
        for file in files:
            if file is not None:
                file.close()
        self._file = None


class ShardedRows:
    """Rows of several HDF5 datasets (the shards' images or maps) read as one array.

    `locations` (N, 2) gives, for each row of the whole, its shard and its row
    there. Indexing takes a sorted array of row numbers (as `TrainingBatches`
    and `TrainingData.ab_histogram` do) or a slice.
    """

    def __init__(self, datasets, locations):
        self.datasets = datasets
        self.locations = np.asarray(locations)
        self.shape = (len(self.locations), *datasets[0].shape[1:])
        self.dtype = datasets[0].dtype

    def __len__(self):
        return len(self.locations)

    def __getitem__(self, rows):
        rows = np.arange(len(self))[rows] if isinstance(rows, slice) else np.asarray(rows)
        out = np.empty((len(rows), *self.shape[1:]), self.dtype)
        shards, local = self.locations[rows].T
        for shard in np.unique(shards):
            mine = np.flatnonzero(shards == shard)
            # HDF5 reads need increasing indices: read sorted, put back in place.
            order = np.argsort(local[mine], kind="stable")
            out[mine[order]] = self.datasets[shard][local[mine][order]]
        return out


def _embedded(embed, images):
    """`embed(images)` as (embeddings float32, mid-level maps float16 or None).

    `embed` returns the embeddings (B, E), or a pair (embeddings, mid-level
    maps (B, h, w, C)) when the colorizer fuses mid-level features.
    """
    output = embed(images)
    vectors, mid_level = output if isinstance(output, (tuple, list)) else (output, None)
    vectors = np.asarray(vectors, dtype=np.float32)
    # float16 halves the cache; the maps are post-ReLU6 and BN activations.
    return vectors, None if mid_level is None else np.asarray(mid_level, dtype=np.float16)


def store_from_arrays(images, image_size, embed, batch_size=32):
    """An in-memory `ImageStore` from an array of images (N, H, W[, 3]).

    Example:
    >>> import numpy as np
    >>> store = store_from_arrays(
    ...     np.zeros((2, 16, 16, 3), "uint8"), 8, lambda x: np.zeros((len(x), 4))
    ... )
    >>> store.images.shape, store.embeddings.shape
    ((2, 8, 8, 3), (2, 4))
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4) or len(images) == 0:
        raise ValueError(
            "Training arrays must have shape (N, H, W, 3) or (N, H, W) with N > 0. "
            f"Received: shape={images.shape}"
        )
    cropped = np.stack(
        [resize_and_center_crop(read_rgb_uint8(image), image_size) for image in images]
    )
    parts = [
        _embedded(embed, cropped[i : i + batch_size]) for i in range(0, len(cropped), batch_size)
    ]
    embeddings = np.concatenate([vectors for vectors, _ in parts])
    mid_level = None if parts[0][1] is None else np.concatenate([maps for _, maps in parts])
    return ImageStore(cropped, embeddings, mid_level=mid_level)


def _file_identity(path):
    """(path, size, modification time); a dangling link is (path, -1, -1)."""
    try:
        stat = os.stat(path)
    except OSError:
        return (path, -1, -1)
    return (path, stat.st_size, stat.st_mtime_ns)


def _fingerprint(paths, image_size, backbone_id, views_per_image):
    stats = [_file_identity(p) for p in paths]
    description = json.dumps([CACHE_FORMAT, image_size, backbone_id, views_per_image, stats])
    return hashlib.sha256(description.encode()).hexdigest()


def cache_path_for(source, image_size, backbone_id, cache_dir, views_per_image=1, shard=None):
    """The cache file for one training source (folder or list of files), or of one shard.

    Example:
    >>> cache_path_for("/data", 224, "lite0-1", "cache", shard=(0, 2))[-17:]
    '-shard-0-of-2.h5'
    """
    identity = json.dumps([source, image_size, backbone_id, views_per_image])
    stem = hashlib.sha256(identity.encode()).hexdigest()[:24]
    suffix = "" if shard is None else f"-shard-{shard[0]}-of-{shard[1]}"
    return os.path.join(cache_dir, f"{stem}{suffix}.h5")


def shard_of(relative_path, count):
    """The shard (0 to count - 1) a photo belongs to: a hash of its path relative to the data.

    A stable function of the name alone, so that workers that never talk to
    each other partition the same photos the same way.

    Example:
    >>> shard_of("birds/robin.jpg", 4)
    3
    """
    digest = hashlib.sha256(relative_path.replace(os.sep, "/").encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def check_shard(shard):
    """`shard` as a pair (index, count) of ints with 0 <= index < count; None stays None."""
    if shard is None:
        return None
    index, count = shard if isinstance(shard, (tuple, list)) and len(shard) == 2 else (None, None)
    if not (isinstance(index, int) and isinstance(count, int) and 0 <= index < count):
        raise ValueError(
            "`shard` must be a pair (index, count) with 0 <= index < count. "
            f"Received: shard={shard!r}"
        )
    return index, count


def shards_of(paths, source, count):
    """The shard (`shard_of`) of each of `paths`, by its path relative to the data.

    The data is the folder `source`, or for a list of files their common folder.
    """
    root = (
        source
        if isinstance(source, str)
        else os.path.commonpath([os.path.dirname(path) for path in paths])
    )
    return [shard_of(os.path.relpath(path, root), count) for path in paths]


def shard_counts(source, image_size, backbone_id, cache_dir, views_per_image=1):
    """The shard counts N of the shard files in `cache_dir` for this source, sorted."""
    stem = os.path.basename(cache_path_for(source, image_size, backbone_id, "", views_per_image))
    pattern = re.compile(re.escape(stem[:-3]) + r"-shard-\d+-of-(\d+)\.h5$")
    names = os.listdir(cache_dir) if os.path.isdir(cache_dir) else []
    return sorted({int(match[1]) for name in names if (match := pattern.match(name))})


def _open_if_current(cache_path, fingerprint):
    if not os.path.isfile(cache_path):
        return None
    try:
        file = h5py.File(cache_path, "r")
    except OSError:
        return None
    if file.attrs.get("fingerprint") != fingerprint:
        file.close()
        return None
    return file


def _write_cache(
    path, paths, image_size, embed, fingerprint, batch_size, verbose, make_views, views_per_image
):
    """Read every image, cut its `views_per_image` views and embed them into `path`.

    Raises:
        OSError: the disk is full (before the build, if the images alone will not fit).
    """
    capacity = len(paths) * views_per_image
    # Before hours of embedding go into a cache that cannot fit.
    require_free_space(
        os.path.dirname(path), capacity * image_size * image_size * 3, "the embedding cache"
    )
    # No chunk cache: chunks go to disk as they are written, so a full disk
    # fails that write, and the close has only the small metadata to flush.
    file = h5py.File(path, "w", rdcc_nbytes=0)
    try:
        _fill_cache(
            file, paths, image_size, embed, fingerprint, batch_size, verbose, make_views,
            views_per_image,
        )  # fmt: skip
        file.close()
    except (OSError, RuntimeError) as error:
        # HDF5's errors come as either, over several lines, naming only the partial.
        _close_emptied(file, path)
        code = getattr(error, "errno", None)
        code = code or (errno.ENOSPC if "No space left" in str(error) else errno.EIO)
        raise OSError(code, os.strerror(code)) from None
    except BaseException:
        try:
            file.close()
        except (OSError, RuntimeError):
            _close_emptied(file, path)
        raise


def _close_emptied(file, path):
    """Close an HDF5 file whose writes failed, freeing the space its flush needs first.

    HDF5 flushes on close; when that fails too, the library keeps the file
    open and the process dies at exit with a segmentation fault. Emptying
    the partial (deleted afterwards anyway) lets the flush succeed.
    """
    os.truncate(path, 0)
    with contextlib.suppress(OSError, RuntimeError):
        file.close()


def _fill_cache(
    file, paths, image_size, embed, fingerprint, batch_size, verbose, make_views, views_per_image
):
    """`_write_cache`'s work, into the open HDF5 `file`."""
    capacity = len(paths) * views_per_image
    skipped = []
    progress = keras.utils.Progbar(len(paths), unit_name="image") if verbose else None
    images = file.create_dataset(
        "images",
        (capacity, image_size, image_size, 3),
        dtype="uint8",
        chunks=(1, image_size, image_size, 3),
        maxshape=(None, image_size, image_size, 3),
    )
    sources = file.create_dataset("sources", (capacity,), dtype="int32", maxshape=(None,))
    embeddings = mid_level = None
    count = photos = 0
    for start in range(0, len(paths), batch_size):
        interrupts.check()  # a Ctrl-C that a library swallowed during the last batch
        batch = []
        for image_path in paths[start : start + batch_size]:
            try:
                image = read_rgb_uint8(image_path)
            except (ValueError, OSError):
                skipped.append(image_path)
                continue
            seed = zlib.crc32(os.path.basename(image_path).encode())
            batch.append(make_views(image, seed))
        if batch:
            views = np.concatenate(batch)
            vectors, maps = _embedded(embed, views)
            if embeddings is None:
                embeddings = file.create_dataset(
                    "embeddings",
                    (capacity, vectors.shape[-1]),
                    dtype="float32",
                    maxshape=(None, vectors.shape[-1]),
                )
            if maps is not None and mid_level is None:
                mid_level = file.create_dataset(
                    "mid_level",
                    (capacity, *maps.shape[1:]),
                    dtype="float16",
                    chunks=(1, *maps.shape[1:]),
                    maxshape=(None, *maps.shape[1:]),
                )
            images[count : count + len(views)] = views
            embeddings[count : count + len(views)] = vectors
            if maps is not None:
                mid_level[count : count + len(views)] = maps
            sources[count : count + len(views)] = np.repeat(
                np.arange(photos, photos + len(batch)), views_per_image
            )
            count += len(views)
            photos += len(batch)
        if progress is not None:
            progress.update(min(start + batch_size, len(paths)))
    if count == 0:
        raise ValueError(
            f"None of the {len(paths)} training file(s) is a readable image, e.g. {paths[0]}"
        )
    for dataset in (images, embeddings, sources, mid_level):
        if dataset is not None:
            dataset.resize(count, axis=0)
    file.attrs["fingerprint"] = fingerprint
    file.attrs["skipped"] = json.dumps(skipped)
    # Here, while the datasets are open: a failed flush leaves the file
    # closeable, but one when a dataset is released (on return) does not.
    file.flush()


def load_or_build_cache(
    paths,
    source,
    image_size,
    embed,
    backbone_id,
    cache_dir,
    make_views,
    views_per_image=1,
    batch_size=32,
    verbose=1,
    shard=None,
):
    """Open the cache for `paths` (or for one shard of them), building it first if missing or stale.

    The cache is stale when the files (names, sizes, modification times), the
    working size, the backbone or the views per image changed. It is written
    atomically under a lock (`deepkoala.atomic`), and partials left by killed
    builds are removed first, so an interrupted build never leaves a cache
    that a later run would trust.

    Args:
        paths (list[str]): absolute paths of the images.
        source (str | list[str]): what the user passed (folder or list),
            naming the cache.
        image_size (int): the side of the stored square images.
        embed (callable): `embed(uint8 batch) -> (B, E)` embeddings, or a
            pair (embeddings, mid-level feature maps (B, h, w, C)).
        backbone_id (str): a string that changes whenever the backbone does.
        cache_dir (str): folder for cache files.
        make_views (callable): `make_views(rgb, seed)` -> the
            `views_per_image` uint8 views (V, S, S, 3) of one photo; the seed
            is fixed per file name, so a rebuild cuts the same views.
        views_per_image (int): how many views `make_views` gives.
        batch_size (int): images read and embedded at once.
        verbose (bool): show a progress bar while building.
        shard (tuple[int, int] | None): (index, count): cache only the photos
            of that shard (`shard_of` their path relative to the data), in a
            file of its own; `load_shards` reads all the shards as one cache.

    Returns:
        ImageStore: backed by the HDF5 file; call `close()` when done.

    Example:
    >>> store = load_or_build_cache(paths, "in/", 224, embed, "id", "cache/", cut)  # doctest: +SKIP
    """
    shard = check_shard(shard)
    if shard is not None:
        index, count = shard
        paths = [
            p for p, s in zip(paths, shards_of(paths, source, count), strict=True) if s == index
        ]
        if not paths:
            raise ValueError(
                f"Shard {shard[0]}/{shard[1]} of {source} holds no photos: use fewer shards."
            )
    os.makedirs(cache_dir, exist_ok=True)
    cache_path = cache_path_for(source, image_size, backbone_id, cache_dir, views_per_image, shard)
    fingerprint = _fingerprint(paths, image_size, backbone_id, views_per_image)
    file = _open_if_current(cache_path, fingerprint)
    if file is None:
        remove_abandoned_partials(cache_dir)
        try:
            with atomic_write(cache_path, locked=True) as partial:
                _write_cache(
                    partial, paths, image_size, embed, fingerprint, batch_size, verbose,
                    make_views, views_per_image,
                )  # fmt: skip
        except OSError as error:
            raise OSError(
                error.errno, f"cannot write the embedding cache {cache_path}: {error.strerror}"
            ) from None
        file = h5py.File(cache_path, "r")
    skipped = json.loads(file.attrs["skipped"])
    warn_skipped(skipped)
    unreadable = frozenset(skipped)
    kept = [path for path in paths if path not in unreadable]
    return ImageStore(
        file["images"], file["embeddings"][:], file, file["sources"][:], file.get("mid_level"),
        photos=kept,
    )  # fmt: skip


def load_shards(
    paths, source, image_size, backbone_id, cache_dir, views_per_image, count, indices=None
):
    """The `count` shard files of a cache (`load_or_build_cache(shard=...)`) as one store.

    The items come in the order an unsharded build gives them (photos in the
    order of `paths`, each photo's views together), with the same values.
    `indices` reads only those shards (default all): shards j = i, i + P,
    i + 2P, ... of N hold exactly shard i of P when P divides N, which is how
    process i of P reads a cache built in more shards than there are processes.

    Raises:
        ValueError: a shard is missing or stale, named with the command that builds it.

    Example:
    >>> store = load_shards(paths, "in/", 224, "id", "cache/", 1, count=4)  # doctest: +SKIP
    """
    files, skipped, where = [], [], {}
    by_shard = collections.defaultdict(list)
    for path, shard in zip(paths, shards_of(paths, source, count), strict=True):
        by_shard[shard].append(path)
    try:
        for index in range(count) if indices is None else indices:
            shard_paths = by_shard[index]
            path = cache_path_for(
                source, image_size, backbone_id, cache_dir, views_per_image, (index, count)
            )
            if not os.path.isfile(path):
                raise ValueError(
                    f"Embedding cache shard {index}/{count} is missing: {path} (build it with "
                    f"`deepkoala cache DATA --shard {index}/{count}` and the same settings)"
                )
            fingerprint = _fingerprint(shard_paths, image_size, backbone_id, views_per_image)
            file = _open_if_current(path, fingerprint)
            if file is None:
                raise ValueError(
                    f"Embedding cache shard {index}/{count} is stale: {path} (its photos, "
                    f"backbone or views changed since it was built; build it again)"
                )
            files.append(file)
            unreadable = set(json.loads(file.attrs["skipped"]))
            skipped += sorted(unreadable)
            kept = [p for p in shard_paths if p not in unreadable]
            # A photo's views are consecutive rows, its number in `sources`.
            bounds = np.searchsorted(file["sources"][:], np.arange(len(kept) + 1))
            for photo, photo_path in enumerate(kept):
                where[photo_path] = (len(files) - 1, np.arange(bounds[photo], bounds[photo + 1]))
    except BaseException:
        for file in files:
            file.close()
        raise
    warn_skipped(skipped)
    kept = [path for path in paths if path in where]
    locations = np.concatenate(
        [np.stack([np.full(len(rows), shard), rows], 1) for shard, rows in map(where.get, kept)]
    )
    sources = np.concatenate([np.full(len(where[path][1]), n) for n, path in enumerate(kept)])
    embeddings = [file["embeddings"][:] for file in files]
    # Each shard's first row in the embeddings of all shards together.
    offsets = np.cumsum([0, *map(len, embeddings)])[:-1]
    mid_level = None
    if "mid_level" in files[0]:
        mid_level = ShardedRows([file["mid_level"] for file in files], locations)
    return ImageStore(
        ShardedRows([file["images"] for file in files], locations),
        np.concatenate(embeddings)[offsets[locations[:, 0]] + locations[:, 1]],
        files,
        sources,
        mid_level,
        photos=kept,
    )
