"""Training data: image folders, the HDF5 embedding cache, and batches for `fit`.

`TrainingData` owns all of it for one `fit`: it finds the files, builds or
reuses the cache, splits by photo and makes the batches.

The backbone is frozen, so each training image's embedding is computed once
and stored next to the image (resized to the working size, uint8) in an HDF5
file. Training then reads only that file and never runs the backbone.
"""

import contextlib
import glob
import hashlib
import json
import math
import os
import uuid
import warnings
import zlib

import h5py
import keras
import numpy as np

from deepkoala import chroma_bins
from deepkoala.images import random_resized_views, read_rgb_uint8, resize_and_center_crop

try:  # advisory file locks, to tell a live cache build from an abandoned one
    import fcntl
except ImportError:  # Windows
    fcntl = None

# Bump when the layout of cache files changes, so old caches are rebuilt.
CACHE_FORMAT = 2


def find_images(folder):
    """Every non-hidden file under `folder`, recursively, in a stable order.

    Whether a file is an image is decided when it is read, so that any format
    Pillow reads is accepted and a broken file is reported, not ignored.
    Links to folders are followed only into folders inside `folder` not seen
    yet (so link loops end and nothing outside is read); a link to a file is
    taken (someone put it there), and each real file is listed once. A
    dangling link is listed, to be reported when it cannot be read.

    Example:
    >>> find_images("examples/photos")  # doctest: +SKIP
    ['examples/photos/chelsea.png', ...]
    """
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"No such folder: {folder}")
    top = os.path.realpath(folder)
    visited, seen_files, paths = {top}, set(), []
    for root, dirs, files in os.walk(folder, followlinks=True):
        kept = []
        for name in sorted(d for d in dirs if not d.startswith(".")):
            real = os.path.realpath(os.path.join(root, name))
            inside = real == top or real.startswith(top + os.sep)
            if inside and real not in visited:
                visited.add(real)
                kept.append(name)
        dirs[:] = kept
        for name in sorted(f for f in files if not f.startswith(".")):
            path = os.path.join(root, name)
            real = os.path.realpath(path)
            if real not in seen_files:
                seen_files.add(real)
                paths.append(path)
    return paths


def resolve_image_paths(data):
    """Paths of the training images in `data`: a folder, a file, or a list of files.

    Raises:
        FileNotFoundError: naming the first path that does not exist.
        ValueError: if there is nothing to train on.
    """
    if isinstance(data, (str, os.PathLike)) and os.path.isdir(data):
        # A folder's dangling links are kept: reading them fails, and they
        # are skipped and named like any unreadable file.
        paths = find_images(os.fspath(data))
    else:
        paths = [os.fspath(data)] if isinstance(data, (str, os.PathLike)) else data
        paths = [os.fspath(p) for p in paths]
        for path in paths:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"No such image file: {path}")
    if not paths:
        raise ValueError(f"No files to train on in {data!r}.")
    return [os.path.abspath(p) for p in paths]


class ImageStore:
    """Training images (N, S, S, 3) uint8 with their embeddings (N, E) float32.

    `images` (and `mid_level`) may be HDF5 datasets read batch by batch, or
    numpy arrays. `sources` (N,) tells which photo each item was cut from
    (several views of one photo share it), so that a validation split never
    separates views of one photo; default: every item is its own photo.
    `mid_level` (N, h, w, C) float16 holds the backbone's mid-level feature
    maps when the colorizer fuses them, else None.
    """

    def __init__(self, images, embeddings, file=None, sources=None, mid_level=None):
        self.images = images
        self.embeddings = embeddings
        self.mid_level = mid_level
        self.sources = np.arange(len(embeddings)) if sources is None else np.asarray(sources)
        self._file = file

    def split(self, validation_split):
        """Item indices (train, validation): the last photos' views validate.

        Example:
        >>> import numpy as np
        >>> store = ImageStore(None, np.zeros((4, 1)), sources=[0, 0, 1, 1])
        >>> [part.tolist() for part in store.split(0.5)]
        [[0, 1], [2, 3]]
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
        if self._file is not None:
            self._file.close()
            self._file = None


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


def cache_path_for(source, image_size, backbone_id, cache_dir, views_per_image=1):
    """The cache file for one training source (folder or list of files)."""
    identity = json.dumps([source, image_size, backbone_id, views_per_image])
    return os.path.join(cache_dir, f"{hashlib.sha256(identity.encode()).hexdigest()[:24]}.h5")


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


def warn_skipped(skipped):
    """One warning that counts and names the files that could not be read."""
    if skipped:
        warnings.warn(
            f"Skipped {len(skipped)} file(s) that are not readable images: " + ", ".join(skipped),
            stacklevel=3,
        )


def _write_cache(
    path, paths, image_size, embed, fingerprint, batch_size, verbose, views_per_image=1
):
    """Read, crop and embed every image (`views_per_image` views each) into `path`."""
    skipped = []
    progress = keras.utils.Progbar(len(paths), unit_name="image") if verbose else None
    capacity = len(paths) * views_per_image
    with h5py.File(path, "w") as file:
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
            batch = []
            for image_path in paths[start : start + batch_size]:
                try:
                    image = read_rgb_uint8(image_path)
                except (ValueError, OSError):
                    skipped.append(image_path)
                    continue
                seed = zlib.crc32(os.path.basename(image_path).encode())
                batch.append(random_resized_views(image, image_size, views_per_image, seed))
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


def _remove_abandoned_partials(cache_dir):
    """Delete half-written caches whose builder is gone.

    A builder holds an exclusive lock on `<partial>.lock` while it writes; a
    partial whose lock can be taken has no builder left. Locks are seen by
    every process on the machine, whatever its PID namespace (two containers
    sharing a volume), where process ids are not.
    """
    if fcntl is None:  # no advisory locks (Windows): keep everything
        return
    for partial in glob.glob(os.path.join(glob.escape(cache_dir), "*.h5.partial-*")):
        if partial.endswith(".lock"):
            continue
        lock_path = f"{partial}.lock"
        try:
            lock = open(lock_path, "a")
        except OSError:
            continue
        with lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its builder is still writing
            for path in (partial, lock_path):
                with contextlib.suppress(OSError):
                    os.remove(path)


@contextlib.contextmanager
def _build_lock(partial):
    """Hold an exclusive lock on `<partial>.lock` while the partial is written."""
    lock_path = f"{partial}.lock"
    with open(lock_path, "a") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.remove(lock_path)


def load_or_build_cache(
    paths,
    source,
    image_size,
    embed,
    backbone_id,
    cache_dir,
    batch_size=32,
    verbose=1,
    views_per_image=1,
):
    """Open the cache for `paths`, building it first if it is missing or stale.

    The cache is stale when the files (names, sizes, modification times), the
    working size or the backbone changed. It is written to a temporary file
    and renamed into place only when complete, so an interrupted build never
    leaves a cache that a later run would trust.

    Args:
        paths: absolute paths of the images.
        source: what the user passed (folder or list), naming the cache.
        image_size: the side of the stored square images.
        embed: `embed(uint8 batch) -> (B, E)` embeddings, or a pair
            (embeddings, mid-level feature maps (B, h, w, C)).
        backbone_id: a string that changes whenever the backbone does.
        cache_dir: folder for cache files.
        batch_size: images read and embedded at once.
        verbose: show a progress bar while building.
        views_per_image: views cached per image (`random_resized_views`),
            each with its own embedding.

    Returns:
        An `ImageStore` backed by the HDF5 file; call `close()` when done.
    """
    os.makedirs(cache_dir, exist_ok=True)
    cache_path = cache_path_for(source, image_size, backbone_id, cache_dir, views_per_image)
    fingerprint = _fingerprint(paths, image_size, backbone_id, views_per_image)
    file = _open_if_current(cache_path, fingerprint)
    if file is None:
        _remove_abandoned_partials(cache_dir)
        partial = f"{cache_path}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            with _build_lock(partial):
                _write_cache(
                    partial,
                    paths,
                    image_size,
                    embed,
                    fingerprint,
                    batch_size,
                    verbose,
                    views_per_image,
                )
                os.replace(partial, cache_path)
        finally:
            if os.path.exists(partial):
                os.remove(partial)
        file = h5py.File(cache_path, "r")
    warn_skipped(json.loads(file.attrs["skipped"]))
    return ImageStore(
        file["images"], file["embeddings"][:], file, file["sources"][:], file.get("mid_level")
    )


class TrainingBatches(keras.utils.PyDataset):
    """Batches `({"rgb": images, "embedding": vectors}, images)` for training.

    Images stay uint8 RGB; lightness and chroma are computed on the device by
    the training model and the loss. Augmentation: random horizontal flips,
    and random `crop_size` crops when the stored images are larger (without
    augmentation, the center crop). The cached embedding of the whole stored
    image is kept for every crop and flip: an ImageNet classifier's logits
    barely change under a mirror image or a slight crop. A store with
    mid-level maps adds them as "mid_level", flipped with the image and
    cropped to the same region: crops then start on the maps' grid (every
    16 pixels for a 224 view and a 14x14 map).

    Args:
        store: an `ImageStore`.
        indices: which items of the store to use.
        batch_size: items per batch.
        crop_size: side of the training crops; None keeps the stored size.
        shuffle: reshuffle the order every epoch.
        augment: random flips and crops (else no flip and center crops).
        seed: seed of the shuffling and augmentation.
    """

    def __init__(
        self, store, indices, batch_size, crop_size=None, shuffle=True, augment=True, seed=None
    ):
        super().__init__()
        self.store = store
        self.indices = np.asarray(indices)
        self.batch_size = batch_size
        self.crop_size = crop_size
        self.shuffle = shuffle
        self.augment = augment
        self._rng = np.random.default_rng(seed)
        self._order = self._rng.permutation(self.indices) if shuffle else self.indices

    def __len__(self):
        return math.ceil(len(self.indices) / self.batch_size)

    def __getitem__(self, index):
        # Sorted indices: HDF5 reads need them increasing, and order within a
        # batch does not matter.
        chosen = np.sort(self._order[index * self.batch_size : (index + 1) * self.batch_size])
        images = np.asarray(self.store.images[chosen])
        maps = None if self.store.mid_level is None else np.asarray(self.store.mid_level[chosen])
        images, maps = self._crop(images, maps)
        if self.augment:
            mirrored = self._rng.random(len(images)) < 0.5
            images[mirrored] = images[mirrored, :, ::-1]
            if maps is not None:
                maps[mirrored] = maps[mirrored, :, ::-1]
        inputs = {"rgb": images, "embedding": self.store.embeddings[chosen]}
        if maps is not None:
            inputs["mid_level"] = maps
        return inputs, images

    def _crop(self, images, maps=None):
        """Crop images, and their mid-level maps if any, to the same regions.

        With maps, crops start on the maps' grid: exact when the map's cells
        tile the view (224 / 14), else the nearest cells.
        """
        stored = images.shape[1]
        size = self.crop_size or stored
        if size == stored:
            return images, maps
        grid = stored if maps is None else maps.shape[1]
        step = max(stored // grid, 1)
        cells = max(round(size * grid / stored), 1)
        count = len(images)
        if self.augment:
            positions = (stored - size) // step + 1
            tops = self._rng.integers(0, positions, count) * step
            lefts = self._rng.integers(0, positions, count) * step
        else:
            tops = lefts = np.full(count, (stored - size) // 2 // step * step)

        def cell(pixel):
            return min(round(pixel * grid / stored), grid - cells)

        corners = list(zip(tops, lefts, strict=True))
        image_crops = np.stack(
            [
                image[t : t + size, x : x + size]
                for image, (t, x) in zip(images, corners, strict=True)
            ]
        )
        if maps is None:
            return image_crops, None
        map_crops = np.stack(
            [
                feature_map[cell(t) : cell(t) + cells, cell(x) : cell(x) + cells]
                for feature_map, (t, x) in zip(maps, corners, strict=True)
            ]
        )
        return image_crops, map_crops

    def on_epoch_end(self):
        if self.shuffle:
            self._order = self._rng.permutation(self.indices)


class TrainingData:
    """The images of one `fit`: found, cached with their embeddings, split and batched.

    Args:
        data: a folder (searched recursively), a list of image paths, or an
            array of RGB images (N, H, W, 3), which is embedded in memory.
        stored_size: the side of the cached squares.
        embed: `embed(uint8 batch)` -> embeddings (B, E), or a pair
            (embeddings, mid-level feature maps).
        backbone_id: a string that changes whenever the backbone does.
        cache_dir: folder for cache files.
        views_per_image: views cached per photo (`random_resized_views`).
        verbose: show a progress bar while the cache is built.

    Example:
    >>> with TrainingData("photos/", 224, embed, "lite0-1234", "cache/") as data:  # doctest: +SKIP
    ...     train, validation = data.split(0.1)
    ...     batches = data.batches(train, batch_size=16, crop_size=192)
    """

    def __init__(
        self, data, stored_size, embed, backbone_id, cache_dir, views_per_image=1, verbose=True
    ):
        if isinstance(data, np.ndarray):
            self.store = store_from_arrays(data, stored_size, embed)
            return
        paths = resolve_image_paths(data)
        source = os.path.abspath(data) if isinstance(data, (str, os.PathLike)) else paths
        self.store = load_or_build_cache(
            paths,
            source,
            stored_size,
            embed,
            backbone_id,
            cache_dir,
            verbose=verbose,
            views_per_image=views_per_image,
        )

    def split(self, validation_split):
        """Item indices (train, validation), whole photos on each side (`ImageStore.split`)."""
        return self.store.split(validation_split)

    def batches(self, indices, batch_size, crop_size, shuffle=True, augment=True, seed=None):
        """`TrainingBatches` of the items `indices`; None when there are none.

        Example:
        >>> batches = data.batches(train, batch_size=16, crop_size=192)  # doctest: +SKIP
        """
        if not len(indices):
            return None
        return TrainingBatches(
            self.store, indices, batch_size, crop_size, shuffle=shuffle, augment=augment, seed=seed
        )

    def ab_histogram(self, indices, sample_size=2048):
        """The a*b* histogram (`chroma_bins.ab_histogram`) of up to `sample_size` items.

        Example:
        >>> weights = chroma_bins.rebalancing_weights(data.ab_histogram(train))  # doctest: +SKIP
        """
        rng = np.random.default_rng(0)
        sample = np.sort(rng.permutation(indices)[:sample_size])
        return sum(
            chroma_bins.ab_histogram(np.asarray(self.store.images[sample[i : i + 64]]))
            for i in range(0, len(sample), 64)
        )

    def close(self):
        self.store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
