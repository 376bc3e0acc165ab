"""Training data: image folders, the HDF5 embedding cache, and batches for `fit`.

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
import warnings

import h5py
import keras
import numpy as np

from deepkoala.images import read_rgb_uint8, resize_and_center_crop

# Bump when the layout of cache files changes, so old caches are rebuilt.
CACHE_FORMAT = 1


def find_images(folder):
    """Every non-hidden file under `folder`, recursively, in a stable order.

    Whether a file is an image is decided when it is read, so that any format
    Pillow reads is accepted and a broken file is reported, not ignored.

    Example:
    >>> find_images("examples/photos")  # doctest: +SKIP
    ['examples/photos/chelsea.png', ...]
    """
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"No such folder: {folder}")
    paths = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        paths.extend(os.path.join(root, f) for f in sorted(files) if not f.startswith("."))
    return paths


def resolve_image_paths(data):
    """Paths of the training images in `data`: a folder, a file, or a list of files.

    Raises:
        FileNotFoundError: naming the first path that does not exist.
        ValueError: if there is nothing to train on.
    """
    if isinstance(data, (str, os.PathLike)):
        data = os.fspath(data)
        paths = find_images(data) if os.path.isdir(data) else [data]
    else:
        paths = [os.fspath(p) for p in data]
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No such image file: {path}")
    if not paths:
        raise ValueError(f"No files to train on in {data!r}.")
    return [os.path.abspath(p) for p in paths]


class ImageStore:
    """Training images (N, S, S, 3) uint8 with their embeddings (N, E) float32.

    `images` may be an HDF5 dataset read batch by batch, or a numpy array.
    """

    def __init__(self, images, embeddings, file=None):
        self.images = images
        self.embeddings = embeddings
        self._file = file

    def __len__(self):
        return len(self.embeddings)

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None


def _embed_in_batches(images, embed, batch_size):
    return np.concatenate(
        [embed(images[start : start + batch_size]) for start in range(0, len(images), batch_size)]
    )


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
    embeddings = _embed_in_batches(cropped, embed, batch_size).astype(np.float32)
    return ImageStore(cropped, embeddings)


def _fingerprint(paths, image_size, backbone_id):
    stats = [(p, os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in paths]
    description = json.dumps([CACHE_FORMAT, image_size, backbone_id, stats])
    return hashlib.sha256(description.encode()).hexdigest()


def cache_path_for(source, image_size, backbone_id, cache_dir):
    """The cache file for one training source (folder or list of files)."""
    identity = json.dumps([source, image_size, backbone_id])
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


def _write_cache(path, paths, image_size, embed, fingerprint, batch_size, verbose):
    """Read, crop and embed every image into a new HDF5 file at `path`."""
    skipped = []
    progress = keras.utils.Progbar(len(paths), unit_name="image") if verbose else None
    with h5py.File(path, "w") as file:
        images = file.create_dataset(
            "images",
            (len(paths), image_size, image_size, 3),
            dtype="uint8",
            chunks=(1, image_size, image_size, 3),
            maxshape=(None, image_size, image_size, 3),
        )
        embeddings = None
        count = 0
        for start in range(0, len(paths), batch_size):
            batch = []
            for image_path in paths[start : start + batch_size]:
                try:
                    batch.append(resize_and_center_crop(read_rgb_uint8(image_path), image_size))
                except (ValueError, OSError):
                    skipped.append(image_path)
            if batch:
                batch = np.stack(batch)
                vectors = np.asarray(embed(batch), dtype=np.float32)
                if embeddings is None:
                    embeddings = file.create_dataset(
                        "embeddings",
                        (len(paths), vectors.shape[-1]),
                        dtype="float32",
                        maxshape=(None, vectors.shape[-1]),
                    )
                images[count : count + len(batch)] = batch
                embeddings[count : count + len(batch)] = vectors
                count += len(batch)
            if progress is not None:
                progress.update(min(start + batch_size, len(paths)))
        if count == 0:
            raise ValueError(
                f"None of the {len(paths)} training file(s) is a readable image, e.g. {paths[0]}"
            )
        images.resize(count, axis=0)
        embeddings.resize(count, axis=0)
        file.attrs["fingerprint"] = fingerprint
        file.attrs["skipped"] = json.dumps(skipped)


def _remove_abandoned_partials(cache_dir):
    """Delete half-written caches left by killed builds (their process is gone)."""
    for partial in glob.glob(os.path.join(glob.escape(cache_dir), "*.h5.partial-*")):
        pid = partial.rsplit("-", 1)[-1]
        if pid.isdigit() and not _process_alive(int(pid)):
            with contextlib.suppress(OSError):
                os.remove(partial)


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def load_or_build_cache(
    paths, source, image_size, embed, backbone_id, cache_dir, batch_size=32, verbose=1
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
        embed: `embed(uint8 batch) -> (B, E)` embeddings.
        backbone_id: a string that changes whenever the backbone does.
        cache_dir: folder for cache files.
        batch_size: images read and embedded at once.
        verbose: show a progress bar while building.

    Returns:
        An `ImageStore` backed by the HDF5 file; call `close()` when done.
    """
    os.makedirs(cache_dir, exist_ok=True)
    cache_path = cache_path_for(source, image_size, backbone_id, cache_dir)
    fingerprint = _fingerprint(paths, image_size, backbone_id)
    file = _open_if_current(cache_path, fingerprint)
    if file is None:
        _remove_abandoned_partials(cache_dir)
        partial = f"{cache_path}.partial-{os.getpid()}"
        try:
            _write_cache(partial, paths, image_size, embed, fingerprint, batch_size, verbose)
            os.replace(partial, cache_path)
        finally:
            if os.path.exists(partial):
                os.remove(partial)
        file = h5py.File(cache_path, "r")
    warn_skipped(json.loads(file.attrs["skipped"]))
    return ImageStore(file["images"], file["embeddings"][:], file)


class ChromaBatches(keras.utils.PyDataset):
    """Batches `({"rgb": images, "embedding": vectors}, images)` for training.

    Images stay uint8 RGB; lightness and chroma are computed on the device by
    the training model and the loss. Augmentation: random horizontal flips,
    and random `crop_size` crops when the stored images are larger (without
    augmentation, the center crop). The cached embedding of the whole stored
    image is kept for every crop and flip: an ImageNet classifier's logits
    barely change under a mirror image or a slight crop.

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
        images = self._crop(np.asarray(self.store.images[chosen]))
        if self.augment:
            mirrored = self._rng.random(len(images)) < 0.5
            images[mirrored] = images[mirrored, :, ::-1]
        return {"rgb": images, "embedding": self.store.embeddings[chosen]}, images

    def _crop(self, images):
        stored = images.shape[1]
        size = self.crop_size or stored
        if size == stored:
            return images
        if not self.augment:
            start = (stored - size) // 2
            return images[:, start : start + size, start : start + size].copy()
        tops = self._rng.integers(0, stored - size + 1, len(images))
        lefts = self._rng.integers(0, stored - size + 1, len(images))
        crops = zip(images, tops, lefts, strict=True)
        return np.stack([image[t : t + size, x : x + size] for image, t, x in crops])

    def on_epoch_end(self):
        if self.shuffle:
            self._order = self._rng.permutation(self.indices)
