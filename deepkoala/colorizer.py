"""`Colorizer`: colorize grayscale photographs and fine-tune on color ones."""

import contextlib
import hashlib
import json
import os
import urllib.parse
import warnings
import zipfile

import keras
import numpy as np
from PIL import Image

from deepkoala import chroma_bins, color
from deepkoala.backbones import get_backbone
from deepkoala.blocks import DECODER_FILTERS, ENCODER_FILTERS, FUSION_FILTERS
from deepkoala.dataset import (
    ChromaBatches,
    load_or_build_cache,
    resolve_image_paths,
    store_from_arrays,
)
from deepkoala.download import fetch
from deepkoala.images import read_image, resize_channel
from deepkoala.layers import LightnessFromRGB
from deepkoala.losses import LOSSES, ChromaCrossEntropy, RebalancedChromaMSE, chroma_mse
from deepkoala.model import deep_koalarization
from deepkoala.paths import deepkoala_home
from deepkoala.presets import (
    available_presets,
    get_preset,
    is_preset_name,
    weights_dir,
    weights_file,
)
from deepkoala.validation import (
    check_filters,
    check_image_size,
    check_positive_int,
    check_positive_number,
)

_DTYPE_POLICIES = (None, "float32", "mixed_bfloat16", "mixed_float16")

# The Colorizer's own settings, stored beside the model in `.keras` files.
_CONFIG_ENTRY = "deepkoala.json"
_MAX_CONFIG_BYTES = 64 * 1024


def _check_backbone_weights(backbone_weights):
    if backbone_weights in ("imagenet", None):
        return
    if not isinstance(backbone_weights, (str, os.PathLike)) or not os.path.isfile(backbone_weights):
        raise ValueError(
            '`backbone_weights` must be "imagenet", None or the path of a weights file. '
            f"Received: backbone_weights={backbone_weights!r}"
        )


def _checked_config(
    backbone,
    backbone_weights,
    image_size,
    encoder_filters,
    fusion_filters,
    decoder_filters,
    dtype_policy=None,
    loss="mse",
    temperature=0.38,
    mid_level_features=False,
):
    """The constructor's arguments, checked, as the config dict."""
    if not isinstance(backbone, str):
        raise ValueError(f"`backbone` must be a name. Received: backbone={backbone!r}")
    spec = get_backbone(backbone)
    if not isinstance(mid_level_features, bool):
        raise ValueError(
            f"`mid_level_features` must be True or False. "
            f"Received: mid_level_features={mid_level_features!r}"
        )
    if mid_level_features and spec.feature_layer is None:
        raise ValueError(
            f"The {backbone} backbone offers no mid-level features. "
            f"Received: backbone={backbone!r}, mid_level_features=True"
        )
    if loss not in LOSSES:
        raise ValueError(f"`loss` must be one of {LOSSES}. Received: loss={loss!r}")
    if dtype_policy not in _DTYPE_POLICIES:
        raise ValueError(
            f"`dtype_policy` must be one of {_DTYPE_POLICIES}. "
            f"Received: dtype_policy={dtype_policy!r}"
        )
    _check_backbone_weights(backbone_weights)
    return {
        "backbone": backbone,
        "backbone_weights": backbone_weights,
        "image_size": check_image_size("image_size", image_size),
        "encoder_filters": check_filters("encoder_filters", encoder_filters, 8),
        "fusion_filters": check_positive_int("fusion_filters", fusion_filters),
        "decoder_filters": check_filters("decoder_filters", decoder_filters, 4),
        "dtype_policy": dtype_policy,
        "loss": loss,
        "temperature": check_positive_number("temperature", temperature),
        "mid_level_features": mid_level_features,
    }


class Colorizer:
    """Colorize grayscale photographs with Deep Koalarization.

    Builds the paper's network: an encoder over the lightness channel, a
    frozen ImageNet classifier's embedding of the whole image repeated over
    the encoder's grid, and a decoder that predicts a*b*. The network runs at
    `image_size`; `colorize` keeps the input's full-resolution lightness and
    upsamples only the predicted chroma.

    Args:
        backbone: the ImageNet classifier of the embedding, a name from
            `deepkoala.backbones.available_backbones()`.
        backbone_weights: "imagenet" (Keras downloads them on first use),
            None (random, for tests) or a weights file path.
        image_size: the working size, a multiple of 8.
        encoder_filters: eight channel counts of the encoder.
        fusion_filters: channels after fusion.
        decoder_filters: four channel counts of the decoder.
        dtype_policy: None (float32), "mixed_bfloat16" (faster on CPUs with
            bfloat16 units) or "mixed_float16" (GPUs); color conversions and
            the output layers stay float32.
        loss: what `fit` minimizes, and so how the head predicts color:
            "mse" (the paper's: regression of a*b*, muted where the color
            is uncertain), "rebalanced_mse" (each pixel weighted by the
            rarity of its color in the training set), "classification"
            (a distribution over 484 a*b* bins per pixel, decoded by the
            annealed mean; more vivid) or "rebalanced_classification"
            (both). See `docs/quality.md` for what each gives.
        temperature: the annealed mean's temperature, for the
            classification losses: lower is more vivid, 1 the plain mean.
        mid_level_features: also fuse the backbone's mid-level feature map
            (e.g. 14x14x112 for EfficientNet-Lite0) into the encoder's grid,
            beside the paper's whole-image embedding: the frozen ImageNet
            network then tells the head where things are, which a head
            trained on a few hundred photos cannot learn alone. Off by
            default (the paper's network). See `docs/quality.md`.

    Example:
    >>> colorizer = Colorizer(backbone_weights=None)  # doctest: +SKIP
    >>> colorizer.fit("my_color_photos/", epochs=5)  # doctest: +SKIP
    >>> colorizer.colorize("old_photo.jpg").save("colorized.png")  # doctest: +SKIP
    """

    def __init__(
        self,
        backbone="inception_resnet_v2",
        backbone_weights="imagenet",
        image_size=224,
        encoder_filters=ENCODER_FILTERS,
        fusion_filters=FUSION_FILTERS,
        decoder_filters=DECODER_FILTERS,
        dtype_policy=None,
        loss="mse",
        temperature=0.38,
        mid_level_features=False,
    ):
        self._config = _checked_config(
            backbone=backbone,
            backbone_weights=backbone_weights,
            image_size=image_size,
            encoder_filters=encoder_filters,
            fusion_filters=fusion_filters,
            decoder_filters=decoder_filters,
            dtype_policy=dtype_policy,
            loss=loss,
            temperature=temperature,
            mid_level_features=mid_level_features,
        )
        self._attach(self._build_network(backbone_weights))

    def _build_network(self, backbone_weights):
        model_args = {
            k: v
            for k, v in self._config.items()
            if k not in ("image_size", "loss", "backbone_weights")
        }
        return deep_koalarization(
            **model_args,
            backbone_weights=backbone_weights,
            chroma_bins=chroma_bins.BIN_COUNT if self._classifies else None,
        )

    @property
    def _classifies(self):
        """Whether the head classifies a*b* into bins (else it regresses a*b*)."""
        return self._config["loss"].endswith("classification")

    def _attach(self, model):
        self._model = model
        self._head = model.get_layer("head")
        self._embedding = model.get_layer("embedding")
        self._training_model = None
        self._training_loss = None
        self._embedder = None
        self._distribution = None

    @property
    def model(self):
        """The plain `keras.Model`: scaled lightness (L/50 - 1) -> a*b* / 128."""
        return self._model

    @property
    def head(self):
        """The trainable sub-model: (scaled lightness, embedding) -> a*b* / 128."""
        return self._head

    @property
    def embedding(self):
        """The frozen sub-model: scaled lightness -> the backbone's class logits.

        With `mid_level_features`, it has a second output: the backbone's
        mid-level feature map.
        """
        return self._embedding

    @property
    def image_size(self):
        """The side of the square the network runs at."""
        return self._config["image_size"]

    def get_config(self):
        """The constructor arguments."""
        return dict(self._config)

    @classmethod
    def from_config(cls, config):
        """A new `Colorizer` from `get_config()`'s output."""
        return cls(**config)

    # Colorizing.

    def colorize(self, images, batch_size=8, image_size=None, verbose="auto", errors="raise"):
        """Colorize one image or a list of images.

        Args:
            images: a path, a `PIL.Image`, a numpy array ((H, W), (H, W, 1)
                or (H, W, 3); uint8, uint16 or float in [0, 1]) or a list of
                these. Color inputs are made gray first.
            batch_size: images that go through the network at once.
            image_size: run the network at this size (a multiple of 8)
                instead of the colorizer's `image_size`.
            verbose: "auto" shows a progress bar for lists longer than one
                batch; 0 never, 1 always.
            errors: what an unreadable item of a list does. "raise" (the
                default): the first one raises its error and no result is
                returned. "skip": its place in the returned list holds None,
                and one warning names every skipped item.

        Returns:
            An RGB `PIL.Image` of the input's exact size, or a list of them
            for a list.

        Raises:
            ValueError, OSError: an input cannot be read (with
                `errors="raise"`, or for a single input).
            FloatingPointError: the network's output is not finite (its
                weights are broken); no black image is returned.

        Example:
        >>> colorizer.colorize("old_photo.jpg").save("colorized.png")  # doctest: +SKIP
        """
        check_positive_int("batch_size", batch_size)
        size = self.image_size if image_size is None else check_image_size("image_size", image_size)
        if errors not in ("raise", "skip"):
            raise ValueError(f'`errors` must be "raise" or "skip". Received: errors={errors!r}')
        single = not isinstance(images, (list, tuple))
        sources = [images] if single else list(images)
        show_progress = verbose == 1 or (verbose == "auto" and len(sources) > batch_size)
        progress = keras.utils.Progbar(len(sources), unit_name="image") if show_progress else None
        results, skipped = [], []
        for start in range(0, len(sources), batch_size):
            lightness, places = [], []
            for place, source in enumerate(sources[start : start + batch_size], start):
                try:
                    lightness.append(_lightness(read_image(source)))
                    places.append(place)
                except (ValueError, OSError) as error:
                    if single or errors == "raise":
                        raise
                    skipped.append(f"item {place} ({error})")
            batch = [None] * min(batch_size, len(sources) - start)
            if lightness:
                chroma = self._predict_chroma(lightness, size)
                for place, full, item_chroma in zip(places, lightness, chroma, strict=True):
                    batch[place - start] = _merge(full, item_chroma)
            results.extend(batch)
            if progress is not None:
                progress.update(len(results))
        if skipped:
            warnings.warn(
                f"Skipped {len(skipped)} unreadable image(s): " + "; ".join(skipped), stacklevel=2
            )
        return results[0] if single else results

    def _predict_chroma(self, lightness_images, size):
        """a*b* (B, size, size, 2) for full-resolution lightness images (H, W)."""
        small = np.stack([resize_channel(image, size, size) for image in lightness_images])
        scaled = color.scale_lightness(small[..., None])
        chroma = np.asarray(
            self._model.predict_on_batch(scaled.astype(np.float32)), dtype=np.float32
        )
        if not np.isfinite(chroma).all():
            raise FloatingPointError(
                "The network's output is not finite (NaN or inf): its weights are broken, "
                "for example by training that diverged. Load or train other weights."
            )
        return chroma * color.AB_SCALE

    # Training.

    def fit(
        self,
        data,
        epochs=1,
        batch_size=16,
        validation_split=0.0,
        callbacks=None,
        verbose="auto",
        learning_rate=1e-3,
        shuffle=True,
        augment=True,
        stored_size=None,
        cache_dir=None,
        checkpoint_dir=None,
        distribution=None,
        seed=None,
        views_per_image=1,
    ):
        """Train (or fine-tune) the colorization head on color images.

        Images are resized (short side) and center-cropped to `stored_size`
        and stored with their backbone embedding in an HDF5 cache, once:
        later epochs and later calls on the same files do not run the
        backbone. Files that are not readable images are skipped and named
        in one warning.

        Args:
            data: a folder (searched recursively), a list of image paths, or
                an array of RGB images (N, H, W, 3).
            epochs, batch_size, validation_split, callbacks, verbose: as in
                `keras.Model.fit`; the validation part is the last
                `validation_split` of the images, in path order.
            learning_rate: Adam's learning rate (the paper's: 1e-3).
            shuffle: reshuffle the training images every epoch.
            augment: random horizontal flips, and random crops when
                `stored_size` is larger than `image_size`.
            stored_size: the size (short side, center square) at which
                images are cached; default `image_size`. Larger sizes let
                every epoch see other `image_size` crops of each photo.
            cache_dir: where cache files go; default
                `$DEEPKOALA_HOME/cache`. Arrays are embedded in memory.
            checkpoint_dir: save the training state here after every epoch
                (Keras `BackupAndRestore`); a run started again with the same
                folder resumes after the last completed epoch and finishes
                the requested `epochs`. The folder is removed when training
                completes.
            distribution: data-parallel training on several devices with the
                backend's own engine: a `keras.distribution.DataParallel` on
                JAX, or a `tf.distribute.Strategy` (e.g. `MirroredStrategy`)
                on TensorFlow. The model is rebuilt under it, with the same
                weights; `batch_size` is the global batch, split over devices.
            seed: seed of shuffling and augmentation.
            views_per_image: views cached per photo: the whole picture and
                random squares at several scales of the full-resolution
                photo, each with its own embedding, so a few hundred large
                photos give thousands of distinct training images.

        Returns:
            The Keras `History`.

        Raises:
            FloatingPointError: the loss became NaN; training stopped at
                once, and `checkpoint_dir` keeps the last completed epoch.

        Example:
        >>> history = colorizer.fit("my_color_photos/", epochs=5)  # doctest: +SKIP
        """
        check_positive_int("epochs", epochs)
        check_positive_int("batch_size", batch_size)
        check_positive_number("learning_rate", learning_rate)
        check_positive_int("views_per_image", views_per_image)
        if not isinstance(validation_split, (int, float)) or not 0.0 <= validation_split < 1.0:
            raise ValueError(
                "`validation_split` must be in [0, 1). "
                f"Received: validation_split={validation_split!r}"
            )
        stored_size = self.image_size if stored_size is None else stored_size
        if not isinstance(stored_size, int) or stored_size < self.image_size:
            raise ValueError(
                f"`stored_size` must be an integer >= image_size ({self.image_size}). "
                f"Received: stored_size={stored_size!r}"
            )
        store = self._training_store(data, stored_size, cache_dir, verbose, views_per_image)
        try:
            train_indices, validation_indices = store.split(validation_split)
            training = ChromaBatches(
                store,
                train_indices,
                batch_size,
                crop_size=self.image_size,
                shuffle=shuffle,
                augment=augment,
                seed=seed,
            )
            validation = None
            if len(validation_indices):
                validation = ChromaBatches(
                    store,
                    validation_indices,
                    batch_size,
                    crop_size=self.image_size,
                    shuffle=False,
                    augment=False,
                )
            guards = [StopOnNaN()]
            if checkpoint_dir is not None:
                # double_checkpoint keeps the previous epoch's files, so a kill
                # during a save still leaves one complete checkpoint.
                guards.append(
                    keras.callbacks.BackupAndRestore(
                        os.fspath(checkpoint_dir), double_checkpoint=True
                    )
                )
            loss = self._training_loss_for(store, train_indices)
            with self._distributed(distribution):
                return self._compiled_training_model(learning_rate, loss).fit(
                    training,
                    validation_data=validation,
                    epochs=epochs,
                    callbacks=[*(callbacks or []), *guards],
                    verbose=verbose,
                )
        finally:
            store.close()

    def _distributed(self, distribution):
        """The scope to train in; the model is rebuilt under a new distribution."""
        if distribution is None:
            return contextlib.nullcontext()
        if not hasattr(distribution, "scope"):
            raise ValueError(
                "`distribution` must be a keras.distribution.Distribution (JAX) or a "
                f"tf.distribute.Strategy (TensorFlow). Received: distribution={distribution!r}"
            )
        if distribution is not self._distribution:
            # Variables must be created under the distribution (mirrored or
            # replicated), so the network is built again there.
            with distribution.scope():
                model = self._build_network(backbone_weights=None)
                model.set_weights(self._model.get_weights())
            self._attach(model)
            self._distribution = distribution
        return distribution.scope()

    def _training_store(self, data, stored_size, cache_dir, verbose, views_per_image):
        show_progress = verbose not in (0, False)
        if isinstance(data, np.ndarray):
            return store_from_arrays(data, stored_size, self._embed)
        paths = resolve_image_paths(data)
        source = os.path.abspath(data) if isinstance(data, (str, os.PathLike)) else paths
        return load_or_build_cache(
            paths,
            source,
            stored_size,
            self._embed,
            self._backbone_id(),
            cache_dir or os.path.join(deepkoala_home(), "cache"),
            verbose=show_progress,
            views_per_image=views_per_image,
        )

    def _embed(self, rgb_batch):
        """Backbone embeddings (B, E) of uint8 RGB images (B, S, S, 3).

        With mid-level features: a pair (embeddings, feature maps).
        """
        if self._embedder is None:
            rgb = keras.Input((None, None, 3), dtype="uint8", name="rgb")
            outputs = self._embedding(LightnessFromRGB(name="lightness_from_rgb")(rgb))
            self._embedder = keras.Model(rgb, outputs, name="embedder")
        outputs = self._embedder.predict_on_batch(rgb_batch)
        if self._config["mid_level_features"]:
            return tuple(np.asarray(output) for output in outputs)
        return np.asarray(outputs)

    def _backbone_id(self):
        """Names the backbone by its weights, so a changed backbone rebuilds caches."""
        digest = hashlib.sha256()
        for weight in self._embedding.weights:
            digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
        mid_level = "-mid_level" if self._config["mid_level_features"] else ""
        return f"{self._config['backbone']}-{digest.hexdigest()[:16]}{mid_level}"

    def _training_loss_for(self, store, indices, sample_size=2048):
        """The loss of `fit`; rebalancing weights come from the training images."""
        if not self._config["loss"].startswith("rebalanced"):
            return self._loss()
        rng = np.random.default_rng(0)
        sample = np.sort(rng.permutation(indices)[:sample_size])
        histogram = sum(
            chroma_bins.ab_histogram(np.asarray(store.images[sample[i : i + 64]]))
            for i in range(0, len(sample), 64)
        )
        return self._loss(chroma_bins.rebalancing_weights(histogram))

    def _loss(self, bin_weights=None):
        """The Keras loss for the head's kind, rebalanced by `bin_weights` if given."""
        if self._classifies:
            return ChromaCrossEntropy(bin_weights)
        return chroma_mse if bin_weights is None else RebalancedChromaMSE(bin_weights)

    def training_model(self, learning_rate=1e-3):
        """The compiled Keras model that `fit` trains, from cached embeddings.

        Inputs {"rgb": uint8 images (B, H, W, 3), "embedding": (B, E)} (and
        "mid_level": (B, h, w, C) with mid-level features), target the same
        RGB images; the frozen backbone is not part of it. Useful to time or
        inspect training; `fit` is the way to train.

        Example:
        >>> trainer = colorizer.training_model()  # doctest: +SKIP
        >>> trainer.train_on_batch({"rgb": rgb, "embedding": vectors}, rgb)  # doctest: +SKIP
        """
        check_positive_number("learning_rate", learning_rate)
        return self._compiled_training_model(learning_rate, self._training_loss or self._loss())

    def _compiled_training_model(self, learning_rate, loss=chroma_mse):
        if self._training_model is None:
            rgb = keras.Input((None, None, 3), dtype="uint8", name="rgb")
            names = ["embedding", "mid_level"][: len(self._head.inputs) - 1]
            embedded = [
                keras.Input(head_input.shape[1:], name=name)
                for name, head_input in zip(names, self._head.inputs[1:], strict=True)
            ]
            inputs = {"rgb": rgb, **dict(zip(names, embedded, strict=True))}
            lightness = LightnessFromRGB(name="lightness_from_rgb")(rgb)
            if self._classifies:
                # Train on the bin logits; the annealed mean is for colorizing.
                features = self._head.get_layer("encoder")(lightness)
                fused = self._head.get_layer("fusion")([features, *embedded])
                chroma = self._head.get_layer("decoder")(fused)
            else:
                chroma = self._head([lightness, *embedded])
            model = keras.Model(inputs, chroma, name="trainer")
            optimizer = keras.optimizers.Adam(learning_rate)
            if self._config.get("dtype_policy") == "mixed_float16":
                # float16 gradients underflow without loss scaling.
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            model.compile(optimizer=optimizer, loss=loss)
            self._training_model = model
        else:
            self._training_model.optimizer.learning_rate = learning_rate
            if loss is not self._training_loss:
                self._training_model.compile(optimizer=self._training_model.optimizer, loss=loss)
        self._training_loss = loss
        return self._training_model

    # Presets and files.

    @staticmethod
    def presets():
        """The registered presets, `{name: Preset}`.

        Example:
        >>> sorted(Colorizer.presets())  # doctest: +SKIP
        ['demo']
        """
        return {name: get_preset(name) for name in available_presets()}

    @classmethod
    def from_preset(cls, preset, sha256=None, verbose=True):
        """A trained `Colorizer` from a preset name, a local `.keras` file or a URL.

        A preset's weights are downloaded on first use into
        `$DEEPKOALA_HOME/weights`, checked against their sha256, and loaded
        from there afterwards. A URL must point at a `.keras` file; pass its
        `sha256` to have it checked.

        Args:
            preset: a name from `Colorizer.presets()`, a path, or a URL.
            sha256: the expected digest of a file given by URL.
            verbose: show a progress bar while downloading.

        Raises:
            ValueError: an unknown name (the message lists the known ones).
            deepkoala.download.WeightsUnavailableError: the file cannot be had;
                the message says which file to put where.

        Example:
        >>> colorizer = Colorizer.from_preset("koala-lite0")  # doctest: +SKIP
        """
        preset = os.fspath(preset)
        if is_preset_name(preset):
            spec = get_preset(preset)
            path = weights_file(spec.file_name, spec.sha256, verbose=verbose)
            colorizer = cls(**spec.config, backbone_weights=None)
            colorizer.model.load_weights(path)
            return colorizer
        if preset.startswith(("http://", "https://")):
            return cls._from_url(preset, sha256, verbose)
        if os.path.isfile(preset) or preset.endswith(".keras") or os.sep in preset:
            return cls.load(preset)
        get_preset(preset)  # raises the error that lists the known presets

    @classmethod
    def _from_url(cls, url, sha256, verbose):
        """Load a `.keras` file from `url`, kept in `$DEEPKOALA_HOME` once it loads."""
        url_id = hashlib.sha256(url.encode()).hexdigest()[:16]
        file_name = os.path.basename(urllib.parse.urlparse(url).path) or "model.keras"
        local = os.path.join(weights_dir(), "from-url", url_id, file_name)
        if os.path.isfile(local):
            try:
                return cls.load(fetch(url, local, sha256, verbose=verbose))
            except ValueError:
                # A cached file that does not load (kept by an older
                # release, or damaged since) is fetched again, once.
                os.remove(local)
        # Only a download that loads as a colorizer is renamed into place.
        return cls.load(fetch(url, local, sha256, verbose=verbose, validate=cls.load))

    # Files.

    def export(self, path, format="onnx"):
        """Export the network for serving without Keras.

        The exported model maps scaled lightness (L / 50 - 1, shape
        (batch, H, W, 1), H and W multiples of 8) to a*b* / 128; resizing and
        merging with the full-resolution L stay with the caller (see
        `examples/colorize_onnx.py`, which needs only onnxruntime, numpy and
        Pillow).

        Args:
            path: the output file (ONNX) or folder (SavedModel).
            format: "onnx" (needs `pip install deepkoala[export]`) or
                "tf_saved_model".

        Example:
        >>> colorizer.export("deepkoala.onnx")  # doctest: +SKIP
        """
        if format not in ("onnx", "tf_saved_model"):
            raise ValueError(
                f'`format` must be "onnx" or "tf_saved_model". Received: format={format!r}'
            )
        size = self.image_size
        # Keras exports only models that have been called once.
        self._model(np.zeros((1, size, size, 1), dtype=np.float32))
        try:
            self._model.export(os.fspath(path), format=format, verbose=False)
        except ImportError as error:
            raise ImportError(
                f"Exporting to {format} needs extra packages: pip install deepkoala[export] "
                f"({error})"
            ) from error

    def save(self, path):
        """Save model and settings to a `.keras` file.

        Example:
        >>> colorizer.save("mine.keras")  # doctest: +SKIP
        """
        path = os.fspath(path)
        if not path.endswith(".keras"):
            raise ValueError(f"The file name must end in .keras. Received: path={path!r}")
        self._model.save(path)
        config = dict(self._config, backbone_weights=None)
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr(_CONFIG_ENTRY, json.dumps(config))

    @classmethod
    def load(cls, path):
        """Load a `Colorizer` saved by `save` (Keras safe mode: no pickled code).

        Example:
        >>> colorizer = Colorizer.load("mine.keras")  # doctest: +SKIP
        """
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No such file: {path}")
        not_ours = f"{path} is not a deepkoala .keras file (saved by Colorizer.save)."
        try:
            with zipfile.ZipFile(path) as archive:
                # Bounded: the settings are a few hundred bytes, and they are
                # read before Keras' own checks of the archive.
                if archive.getinfo(_CONFIG_ENTRY).file_size > _MAX_CONFIG_BYTES:
                    raise ValueError(f"{not_ours} Its settings entry is too large.")
                with archive.open(_CONFIG_ENTRY) as entry:
                    config = json.loads(entry.read(_MAX_CONFIG_BYTES + 1))
        except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(not_ours) from error
        if not isinstance(config, dict):
            raise ValueError(f"{not_ours} Its settings are not a JSON object.")
        try:
            checked = _checked_config(**config)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path} holds invalid settings: {error}") from error
        colorizer = cls.__new__(cls)
        colorizer._config = checked
        colorizer._attach(keras.saving.load_model(path, compile=False))
        return colorizer


class StopOnNaN(keras.callbacks.Callback):
    """Stop training with a clear error as soon as the loss is NaN or infinite.

    Like `keras.callbacks.TerminateOnNaN`, but it raises, so the run ends
    with a message instead of a quiet stop, and `BackupAndRestore` keeps the
    last good checkpoint (it deletes it only after training completes).
    """

    def __init__(self):
        super().__init__()
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            raise FloatingPointError(
                f"The training loss became {float(loss)} at epoch {self._epoch + 1}, batch "
                f"{batch + 1}; training stopped. Try a lower learning_rate, and check the "
                "training images."
            )


# Full-resolution color math runs on bands of rows: a 24-megapixel photo
# then needs a few hundred MB of temporaries instead of several GB.
_BAND_ROWS = 256


def _lightness(image):
    """CIE L (H, W) of a float image, gray (H, W) or RGB (H, W, 3)."""
    convert = color.gray_to_lightness if image.ndim == 2 else color.rgb_to_lightness
    lightness = np.empty(image.shape[:2], dtype=np.float32)
    for top in range(0, image.shape[0], _BAND_ROWS):
        lightness[top : top + _BAND_ROWS] = np.asarray(convert(image[top : top + _BAND_ROWS]))
    return lightness


def _merge(lightness, chroma):
    """Full-resolution L and working-size a*b* -> an RGB `PIL.Image`."""
    height, width = lightness.shape
    a, b = (resize_channel(chroma[..., i], height, width) for i in range(2))
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    for top in range(0, height, _BAND_ROWS):
        band = slice(top, top + _BAND_ROWS)
        lab = np.stack([lightness[band], a[band], b[band]], axis=-1)
        band_rgb = np.asarray(color.lab_to_rgb(lab, preserve_lightness=True))
        rgb[band] = np.round(band_rgb * 255.0).astype(np.uint8)
    return Image.fromarray(rgb, mode="RGB")
