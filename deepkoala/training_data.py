"""The training data of one `fit`: photos found, cut into views, cached, split and batched.

`TrainingData` owns it all for one `fit`: it finds the files
(`deepkoala.image_files`), cuts each photo into views
(`random_resized_views`), builds or reuses the embedding cache
(`deepkoala.embedding_cache`), splits by photo and makes the batches
(`TrainingBatches`).
"""

import io
import math
import os

import keras
import numpy as np
from PIL import Image, ImageFilter

from deepkoala import chroma_bins, guided_head
from deepkoala.embedding_cache import (
    check_shard,
    load_or_build_cache,
    load_shards,
    shard_counts,
    store_from_arrays,
)
from deepkoala.image_files import resolve_image_paths
from deepkoala.images import resize_and_center_crop


def random_resized_views(image, size, count, seed, min_scale=0.35):
    """`count` square views (count, size, size, 3) of a uint8 RGB image.

    The first is the center square of the whole picture; the others are
    random squares whose side is between `min_scale` of the short side and
    all of it (never much less than `size`, so little is upsampled), each
    resized to `size`. A photo larger than the working size thus gives
    views at several scales instead of one downscaled copy.

    Args:
        image (numpy.ndarray): uint8 RGB (H, W, 3).
        size (int): side of the views.
        count (int): how many views.
        seed (int | None): seed of the crops (the same seed gives the same views).
        min_scale (float): the smallest crop side, as a share of the short side.

    Example:
    >>> import numpy as np
    >>> random_resized_views(np.zeros((40, 60, 3), "uint8"), 16, 3, seed=0).shape
    (3, 16, 16, 3)
    """
    views = [resize_and_center_crop(image, size)]
    height, width = image.shape[:2]
    short = min(height, width)
    smallest = min(short, max(round(short * min_scale), round(size * 0.75)))
    rng = np.random.default_rng(seed)
    for _ in range(count - 1):
        side = int(rng.integers(smallest, short + 1))
        top = int(rng.integers(0, height - side + 1))
        left = int(rng.integers(0, width - side + 1))
        crop = Image.fromarray(image[top : top + side, left : left + side])
        views.append(np.asarray(crop.resize((size, size), Image.Resampling.BILINEAR)))
    return np.stack(views)


def degrade_lightness(image, rng):
    """`image` (uint8 RGB), as an old scan might be, half the time: blurred, noisy or JPEG'd.

    One of: a Gaussian blur (radius 0.5 to 1.5 pixels), gray noise (sigma 2
    to 8 levels, the same in each channel, so the lightness carries it) or
    JPEG compression (quality 30 to 80); else the image unchanged.

    Example:
    >>> import numpy as np
    >>> degrade_lightness(np.zeros((8, 8, 3), "uint8"), np.random.default_rng(0)).shape
    (8, 8, 3)
    """
    if rng.random() < 0.5:
        return image
    kind = rng.integers(3)
    if kind == 0:
        radius = rng.uniform(0.5, 1.5)
        return np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius)))
    if kind == 1:
        noise = rng.normal(0.0, rng.uniform(2.0, 8.0), image.shape[:2])[..., None]
        return np.clip(image + noise, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=int(rng.integers(30, 81)))
    return np.asarray(Image.open(buffer).convert("RGB"))


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
    16 pixels for a 224 view and a 14x14 map). For a guided head, hints and
    a histogram drawn from each view's truth are added
    (`guided_head.sample_guidance`).

    Args:
        store (ImageStore): an `ImageStore`.
        indices (numpy.ndarray): which items of the store to use.
        batch_size (int): items per batch.
        crop_size (int | None): side of the training crops; None keeps the stored size.
        shuffle (bool): reshuffle the order every epoch.
        augment (bool): random flips and crops (else no flip and center crops).
        seed (int | None): seed of the shuffling, augmentation and sampled guidance.
        guided (bool): add "hints" and "color_histogram" inputs.
        weights (numpy.ndarray | None): a sampling weight per item of `indices`:
            each epoch then draws as many items, with replacement, in proportion.
        degrade (bool): degrade the network's input (the lightness) of half the
            items with a blur, noise or JPEG compression (`degrade_lightness`);
            the target colors stay the view's own.
        steps (int | None): batches per epoch; more than the items fill
            cycles through them again (so that every process of a
            multi-process run takes as many steps); None: one pass.
    """

    def __init__(
        self, store, indices, batch_size, crop_size=None, shuffle=True, augment=True, seed=None,
        guided=False, weights=None, degrade=False, steps=None,
    ):  # fmt: skip
        super().__init__()
        self.store = store
        self.indices = np.asarray(indices)
        self.batch_size = batch_size
        self.crop_size = crop_size
        self.shuffle = shuffle
        self.augment = augment
        self.guided = guided
        self.degrade = degrade
        self._rng = np.random.default_rng(seed)
        self._probabilities = None if weights is None else weights / np.sum(weights)
        self._steps = math.ceil(len(self.indices) / batch_size) if steps is None else steps
        self._order = self._epoch_order()

    def _epoch_order(self):
        if self._probabilities is not None:
            order = self._rng.choice(self.indices, len(self.indices), p=self._probabilities)
        else:
            order = self._rng.permutation(self.indices) if self.shuffle else self.indices
        wanted = self._steps * self.batch_size
        return order if wanted <= len(order) else np.resize(order, wanted)

    def __len__(self):
        return self._steps

    def __getitem__(self, index):
        # HDF5 reads need strictly increasing indices; weighted draws repeat
        # items, and order within a batch does not matter.
        chosen = np.sort(self._order[index * self.batch_size : (index + 1) * self.batch_size])
        unique, repeat = np.unique(chosen, return_inverse=True)
        images = np.asarray(self.store.images[unique])[repeat]
        maps = None
        if self.store.mid_level is not None:
            maps = np.asarray(self.store.mid_level[unique])[repeat]
        images, maps = self._crop(images, maps)
        if self.augment:
            mirrored = self._rng.random(len(images)) < 0.5
            images[mirrored] = images[mirrored, :, ::-1]
            if maps is not None:
                maps[mirrored] = maps[mirrored, :, ::-1]
        inputs = {"rgb": images, "embedding": self.store.embeddings[chosen]}
        if self.degrade:
            # The input only: the lightness comes from inputs["rgb"], the truth from `images`.
            inputs["rgb"] = np.stack([degrade_lightness(image, self._rng) for image in images])
        if maps is not None:
            inputs["mid_level"] = maps
        if self.guided:
            inputs.update(guided_head.sample_guidance(images, self._rng))
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
        self._order = self._epoch_order()


class TrainingData:
    """The images of one `fit`: found, cached with their embeddings, split and batched.

    Args:
        data (str | os.PathLike | list | numpy.ndarray): a folder (searched
            recursively), a list of image paths, or an array of RGB images
            (N, H, W, 3), which is embedded in memory.
        stored_size (int): the side of the cached squares.
        embed (callable): `embed(uint8 batch)` -> embeddings (B, E), or a pair
            (embeddings, mid-level feature maps).
        backbone_id (str): a string that changes whenever the backbone does.
        cache_dir (str): folder for cache files.
        views_per_image (int): views cached per photo (`random_resized_views`).
        verbose (bool): show a progress bar while the cache is built.
        shard (tuple[int, int] | None): (index, count): only that shard of the
            photos (one process of a multi-process run), cached in its own
            file. Without it, a cache built in shards (`deepkoala cache
            --shard`) is read whole, else one cache is built for all photos.

    Example:
    >>> with TrainingData("photos/", 224, embed, "lite0-1234", "cache/") as data:  # doctest: +SKIP
    ...     train, validation = data.split(0.1)
    ...     batches = data.batches(train, batch_size=16, crop_size=192)
    """

    def __init__(
        self, data, stored_size, embed, backbone_id, cache_dir, views_per_image=1, verbose=True,
        shard=None,
    ):  # fmt: skip
        shard = check_shard(shard)
        if isinstance(data, np.ndarray):
            # Arrays have no names: a shard takes every count-th row.
            rows = data if shard is None else data[shard[0] :: shard[1]]
            self.store = store_from_arrays(rows, stored_size, embed)
            return
        paths = resolve_image_paths(data)
        source = os.path.abspath(data) if isinstance(data, (str, os.PathLike)) else paths
        key = (source, stored_size, backbone_id, cache_dir, views_per_image)
        counts = shard_counts(*key)
        if shard is not None:
            # A process of several reads shards built for it: of its own count,
            # or of a multiple of it (its shard is then every count-th of those).
            multiples = [n for n in counts if n % shard[1] == 0 and n != shard[1]]
            if shard[1] not in counts and multiples:
                self.store = load_shards(
                    paths, *key, multiples[-1], indices=range(shard[0], multiples[-1], shard[1])
                )
                return
            counts = []
        if len(counts) > 1:
            raise ValueError(
                f"The cache folder {cache_dir} holds shards of {source} in {counts} parts: "
                "remove the files of the old build (their names end in -shard-I-of-N.h5)."
            )
        if counts:
            self.store = load_shards(paths, *key, counts[0])
            return
        self.store = load_or_build_cache(
            paths,
            source,
            stored_size,
            embed,
            backbone_id,
            cache_dir,
            lambda image, seed: random_resized_views(image, stored_size, views_per_image, seed),
            views_per_image,
            verbose=verbose,
            shard=shard,
        )

    def split(self, validation_split):
        """Item indices (train, validation), whole photos on each side (`ImageStore.split`)."""
        return self.store.split(validation_split)

    def batches(
        self, indices, batch_size, crop_size, shuffle=True, augment=True, seed=None, guided=False,
        photo_weights=None, degrade=False, steps=None,
    ):  # fmt: skip
        """`TrainingBatches` of the items `indices`; None when there are none.

        `photo_weights(name)` (a photo's path, or its number for arrays) gives
        each photo a sampling weight >= 0, shared by its views.

        Example:
        >>> batches = data.batches(train, batch_size=16, crop_size=192)  # doctest: +SKIP
        """
        if not len(indices):
            return None
        weights = None
        if photo_weights is not None:
            weights = self._item_weights(indices, photo_weights)
        return TrainingBatches(
            self.store, indices, batch_size, crop_size, shuffle=shuffle, augment=augment, seed=seed,
            guided=guided, weights=weights, degrade=degrade, steps=steps,
        )  # fmt: skip

    def _item_weights(self, indices, photo_weights):
        by_photo = {}
        for photo in np.unique(self.store.sources[indices]):
            name = self.store.photos[photo]
            weight = photo_weights(name)
            if not isinstance(weight, (int, float, np.number)) or not 0 <= weight < np.inf:
                raise ValueError(
                    "`photo_weights` must give every photo a finite weight >= 0. "
                    f"Received: photo_weights({name!r})={weight!r}"
                )
            by_photo[photo] = float(weight)
        weights = np.array([by_photo[photo] for photo in self.store.sources[indices]])
        if not weights.sum() > 0:
            raise ValueError("`photo_weights` gave every training photo the weight 0.")
        return weights

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
