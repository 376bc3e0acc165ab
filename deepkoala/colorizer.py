"""`Colorizer`: colorize grayscale photographs and fine-tune on color ones."""

import contextlib
import hashlib
import json
import os
import shutil
import urllib.parse
import uuid
import warnings
import zipfile

import keras
import numpy as np

from deepkoala import chroma_bins, color
from deepkoala.argument_checks import (
    check_filters,
    check_image_size,
    check_positive_int,
    check_positive_number,
)
from deepkoala.averaged_weights import AveragedWeights
from deepkoala.backbones import get_backbone
from deepkoala.blocks import DECODER_FILTERS, ENCODER_FILTERS, FUSION_FILTERS
from deepkoala.dataset import TrainingData
from deepkoala.download import fetch
from deepkoala.layers import LightnessFromRGB
from deepkoala.losses import LOSSES, ChromaCrossEntropy, RebalancedChromaMSE, chroma_mse
from deepkoala.model import deep_koalarization
from deepkoala.paths import deepkoala_home
from deepkoala.pipeline import colorize_stream
from deepkoala.presets import (
    BACKBONE_WEIGHTS_FILE,
    CONFIG_FILE,
    HEAD_WEIGHTS_FILE,
    MAX_SETTINGS_BYTES,
    METADATA_FILE,
    available_presets,
    get_preset,
    is_preset_name,
    parse_settings,
    read_json,
)
from deepkoala.version import __version__
from deepkoala.weights import save_float16_weights, weights_dir

_DTYPE_POLICIES = (None, "float32", "mixed_bfloat16", "mixed_float16")

# Files saved by releases before 0.8 held the settings in this extra archive entry.
_LEGACY_CONFIG_ENTRY = "deepkoala.json"


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
    edge_aware_chroma=False,
    saturation=1.0,
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
    if not isinstance(edge_aware_chroma, bool):
        raise ValueError(
            f"`edge_aware_chroma` must be True or False. "
            f"Received: edge_aware_chroma={edge_aware_chroma!r}"
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
        "encoder_filters": check_filters("encoder_filters", encoder_filters, len(ENCODER_FILTERS)),
        "fusion_filters": check_positive_int("fusion_filters", fusion_filters),
        "decoder_filters": check_filters("decoder_filters", decoder_filters, len(DECODER_FILTERS)),
        "dtype_policy": dtype_policy,
        "loss": loss,
        "temperature": check_positive_number("temperature", temperature),
        "mid_level_features": mid_level_features,
        "edge_aware_chroma": edge_aware_chroma,
        "saturation": check_positive_number("saturation", saturation),
    }


def _classifies(loss):
    """Whether a head trained with `loss` classifies a*b* into bins (else it regresses a*b*)."""
    return loss.endswith("classification")


@keras.saving.register_keras_serializable(package="deepkoala")
class Colorizer(keras.Model):
    """Colorize grayscale photographs with Deep Koalarization.

    Builds the paper's network: an encoder over the lightness channel, a
    frozen ImageNet classifier's embedding of the whole image repeated over
    the encoder's grid, and a decoder that predicts a*b*. The network runs at
    `image_size`; `colorize` keeps the input's full-resolution lightness and
    upsamples only the predicted chroma.

    A `Colorizer` is a `keras.Model` (scaled lightness L/50 - 1 -> a*b* /
    128) in the manner of keras-hub's tasks: its sub-models are the public
    attributes `embedding` (the frozen backbone) and `head` (encoder,
    fusion and decoder), `get_config` returns the constructor's arguments,
    and Keras' own `save` and `keras.saving.load_model` save and load it.

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
        edge_aware_chroma: upsample the predicted chroma to the photo's
            full resolution with a guided filter whose guide is the
            lightness (`full_resolution.merge(..., edge_aware=True)`), so
            colors stop at the photo's edges instead of bleeding across
            them; off by default (bilinear upsampling, as the paper). It
            changes only `colorize`, not the network.
        saturation: the predicted a*b* is multiplied by this before it is
            merged: above 1 more vivid, below 1 paler (1: as predicted).
            Like `edge_aware_chroma`, it changes only `colorize`.

        **kwargs: `name` and `trainable`, as for any `keras.Model`.

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
        edge_aware_chroma=False,
        saturation=1.0,
        **kwargs,
    ):
        # The constructor's own arguments, by name (the first statement, so
        # locals() holds nothing else).
        arguments = {k: v for k, v in locals().items() if k not in ("self", "kwargs", "__class__")}
        unknown = sorted(set(kwargs) - {"name", "trainable"})
        if unknown:
            raise TypeError(f"Colorizer got unexpected keyword arguments: {', '.join(unknown)}")
        config = _checked_config(**arguments)
        network = deep_koalarization(
            **{
                k: v
                for k, v in config.items()
                if k not in ("image_size", "loss", "edge_aware_chroma", "saturation")
            },
            chroma_bins=chroma_bins.BIN_COUNT if _classifies(config["loss"]) else None,
        )
        kwargs.setdefault("name", "colorizer")
        super().__init__(network.inputs[0], network.outputs[0], **kwargs)
        #: The trainable sub-model: (scaled lightness, embedding[, mid-level
        #: features]) -> a*b* / 128.
        self.head = network.head
        #: The frozen sub-model: scaled lightness -> the backbone's class
        #: logits (and its mid-level feature map, with `mid_level_features`).
        self.embedding = network.embedding
        self._settings = config
        self._helpers = _Helpers()
        self._helpers.backbone_is_imagenet = backbone_weights == "imagenet"

    @property
    def image_size(self):
        """The side of the square the network runs at."""
        return self._settings["image_size"]

    def get_config(self):
        """The constructor arguments, as keras-hub's models give them.

        `backbone_weights` is None: a config describes the network, and the
        weights, the backbone's included, travel in weight files (`save`,
        `save_to_preset`), so that loading never downloads.
        """
        return {
            "name": self.name,
            "trainable": self.trainable,
            **self._settings,
            "backbone_weights": None,
        }

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
        size = self._working_size(image_size)
        if errors not in ("raise", "skip"):
            raise ValueError(f'`errors` must be "raise" or "skip". Received: errors={errors!r}')
        single = not isinstance(images, (list, tuple))
        sources = [images] if single else list(images)
        show_progress = verbose == 1 or (verbose == "auto" and len(sources) > batch_size)
        progress = keras.utils.Progbar(len(sources), unit_name="image") if show_progress else None
        results, skipped = [], []
        stream = self.colorize_stream(sources, batch_size=batch_size, image_size=size)
        for index, image, failure in stream:
            if failure is not None:
                if single or errors == "raise":
                    stream.close()
                    raise failure
                skipped.append(f"item {index} ({failure})")
            results.append(image)
            if progress is not None:
                progress.update(len(results))
        if skipped:
            warnings.warn(
                f"Skipped {len(skipped)} unreadable image(s): " + "; ".join(skipped), stacklevel=2
            )
        return results[0] if single else results

    def colorize_stream(self, images, batch_size=8, image_size=None, finish=None, workers=None):
        """Colorize images lazily, yielding each result in order as it is done.

        Reading and merging run in worker threads, overlapped with the
        network, and at most a few batches are held at once, so a folder of
        any length takes bounded memory. Unreadable items do not stop the
        others.

        Args:
            images: a list (or any iterable, read lazily) of paths,
                `PIL.Image`s or arrays, as for `colorize`.
            batch_size, image_size: as for `colorize`.
            finish: optional `finish(index, image)`, called in a worker
                thread on each colorized image (for example to save it);
                its return value is yielded instead of the image.
            workers: reading and merging threads (default: the cores, 2 to 4).

        Yields:
            `(index, output, None)`, or `(index, None, error)` for an item
            that could not be read (or whose `finish` raised a `ValueError`
            or `OSError`).

        Example:
        >>> for index, image, error in colorizer.colorize_stream(paths):  # doctest: +SKIP
        ...     if error is None:
        ...         image.save(f"colorized_{index}.png")
        """
        check_positive_int("batch_size", batch_size)
        size = self._working_size(image_size)
        if workers is not None:
            check_positive_int("workers", workers)
        return colorize_stream(
            self._predict_chroma, images, batch_size, size, finish=finish, workers=workers,
            edge_aware=self._settings["edge_aware_chroma"],
        )  # fmt: skip

    def colorize_video(self, src, dst, batch_size=8, image_size=None, **options):
        """Colorize a video file into `dst`, keeping its sound, with steady colors.

        Needs PyAV: `pip install deepkoala[video]`. Frames are streamed
        (memory does not grow with the length), each keeps its own
        full-resolution lightness, the predicted chroma is smoothed within
        each shot and reset at cuts, and every audio stream is copied
        unchanged. See `deepkoala.video.colorize_video` for `options`
        (`smoothing`, `cut_threshold`, `codec`, `crf`, `verbose`).

        Returns:
            A dict: "frames" written, "shots" found, "seconds" taken.

        Example:
        >>> colorizer.colorize_video("reel.mp4", "reel_colorized.mp4")  # doctest: +SKIP
        """
        from deepkoala.video import colorize_video

        check_positive_int("batch_size", batch_size)
        size = self._working_size(image_size)
        return colorize_video(self, src, dst, batch_size=batch_size, image_size=size, **options)

    def _working_size(self, image_size):
        return self.image_size if image_size is None else check_image_size("image_size", image_size)

    def _predict_chroma(self, lightness):
        """a*b* (B, S, S, 2) for working-size lightness (B, S, S) in [0, 100]."""
        scaled = color.scale_lightness(lightness[..., None]).astype(np.float32)
        chroma = np.asarray(self.predict_on_batch(scaled), dtype=np.float32)
        if not np.isfinite(chroma).all():
            raise FloatingPointError(
                "The network's output is not finite (NaN or inf): its weights are broken, "
                "for example by training that diverged. Load or train other weights."
            )
        return chroma * (color.AB_SCALE * self._settings["saturation"])

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
        ema_momentum=None,
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
            ema_momentum: None, or keep an exponential moving average of the
                head's weights with this momentum (e.g. 0.99: about the last
                100 steps). Validation and the callbacks see the average at
                each epoch's end, and the colorizer keeps it; it overfits a
                small photo set less than the last step's weights do.

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
        if ema_momentum is not None and (
            not isinstance(ema_momentum, (int, float)) or not 0.0 < ema_momentum < 1.0
        ):
            raise ValueError(
                f"`ema_momentum` must be None or in (0, 1). Received: ema_momentum={ema_momentum!r}"
            )
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
        # The average goes into the model first, so the callbacks after it see it.
        averaging = [] if ema_momentum is None else [AveragedWeights()]
        guards = [StopOnNaN()]
        if checkpoint_dir is not None:
            # double_checkpoint keeps the previous epoch's files, so a kill
            # during a save still leaves one complete checkpoint.
            guards.append(
                keras.callbacks.BackupAndRestore(os.fspath(checkpoint_dir), double_checkpoint=True)
            )
        with TrainingData(
            data,
            stored_size,
            self._embed,
            self._backbone_id(),
            cache_dir or os.path.join(deepkoala_home(), "cache"),
            views_per_image,
            verbose=verbose not in (0, False),
        ) as training_data:
            train, held_out = training_data.split(validation_split)
            batches = training_data.batches(
                train, batch_size, self.image_size, shuffle=shuffle, augment=augment, seed=seed
            )
            validation = training_data.batches(
                held_out, batch_size, self.image_size, shuffle=False, augment=False
            )
            bin_weights = None
            if self._settings["loss"].startswith("rebalanced"):
                # Rarity weights of the colors of the training images.
                bin_weights = chroma_bins.rebalancing_weights(training_data.ab_histogram(train))
            trained = self if distribution is None else self._twin_under(distribution)
            try:
                with contextlib.nullcontext() if distribution is None else distribution.scope():
                    return trained._compiled_training_model(
                        learning_rate, self._loss(bin_weights), ema_momentum
                    ).fit(
                        batches,
                        validation_data=validation,
                        epochs=epochs,
                        callbacks=[*averaging, *(callbacks or []), *guards],
                        verbose=verbose,
                    )
            finally:
                if trained is not self:
                    self.head.set_weights(trained.head.get_weights())

    def _twin_under(self, distribution):
        """This colorizer rebuilt under `distribution`, with the same weights.

        Variables must be created under the distribution (mirrored or
        replicated); the twin is kept for later fits with the same one, and
        `fit` copies its head's weights back after training.
        """
        if not hasattr(distribution, "scope"):
            raise ValueError(
                "`distribution` must be a keras.distribution.Distribution (JAX) or a "
                f"tf.distribute.Strategy (TensorFlow). Received: distribution={distribution!r}"
            )
        helpers = self._helpers
        if helpers.distribution is not distribution:
            with distribution.scope():
                twin = type(self).from_config(self.get_config())
            helpers.twin, helpers.distribution = twin, distribution
        helpers.twin.set_weights(self.get_weights())
        return helpers.twin

    def _embed(self, rgb_batch):
        """Backbone embeddings (B, E) of uint8 RGB images (B, S, S, 3).

        With mid-level features: a pair (embeddings, feature maps).
        """
        if self._helpers.embedder is None:
            rgb = keras.Input((None, None, 3), dtype="uint8", name="rgb")
            outputs = self.embedding(LightnessFromRGB(name="lightness_from_rgb")(rgb))
            self._helpers.embedder = keras.Model(rgb, outputs, name="embedder")
        outputs = self._helpers.embedder.predict_on_batch(rgb_batch)
        if self._settings["mid_level_features"]:
            return tuple(np.asarray(output) for output in outputs)
        return np.asarray(outputs)

    def _backbone_id(self):
        """Names the backbone by its weights, so a changed backbone rebuilds caches."""
        digest = hashlib.sha256()
        for weight in self.embedding.weights:
            digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
        mid_level = "-mid_level" if self._settings["mid_level_features"] else ""
        return f"{self._settings['backbone']}-{digest.hexdigest()[:16]}{mid_level}"

    def _loss(self, bin_weights=None):
        """The Keras loss for the head's kind, rebalanced by `bin_weights` if given."""
        if _classifies(self._settings["loss"]):
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
        loss = self._helpers.training_loss or self._loss()
        return self._compiled_training_model(learning_rate, loss)

    def _compiled_training_model(self, learning_rate, loss=chroma_mse, ema_momentum=None):
        helpers = self._helpers
        if helpers.training_model is None:
            rgb = keras.Input((None, None, 3), dtype="uint8", name="rgb")
            names = ["embedding", "mid_level"][: len(self.head.inputs) - 1]
            embedded = [
                keras.Input(head_input.shape[1:], name=name)
                for name, head_input in zip(names, self.head.inputs[1:], strict=True)
            ]
            inputs = {"rgb": rgb, **dict(zip(names, embedded, strict=True))}
            lightness = LightnessFromRGB(name="lightness_from_rgb")(rgb)
            if _classifies(self._settings["loss"]):
                # Train on the bin logits; the annealed mean is for colorizing.
                features = self.head.encoder(lightness)
                fused = self.head.fusion([features, *embedded])
                chroma = self.head.decoder(fused)
            else:
                chroma = self.head([lightness, *embedded])
            model = keras.Model(inputs, chroma, name="trainer")
            model.compile(optimizer=self._optimizer(learning_rate, ema_momentum), loss=loss)
            helpers.training_model = model
        elif ema_momentum != helpers.ema_momentum:
            # The moving average lives in the optimizer's variables.
            helpers.training_model.compile(
                optimizer=self._optimizer(learning_rate, ema_momentum), loss=loss
            )
        else:
            helpers.training_model.optimizer.learning_rate = learning_rate
            if loss is not helpers.training_loss:
                helpers.training_model.compile(
                    optimizer=helpers.training_model.optimizer, loss=loss
                )
        helpers.training_loss = loss
        helpers.ema_momentum = ema_momentum
        return helpers.training_model

    def _optimizer(self, learning_rate, ema_momentum):
        optimizer = keras.optimizers.Adam(
            learning_rate,
            use_ema=ema_momentum is not None,
            ema_momentum=0.99 if ema_momentum is None else ema_momentum,
        )
        if self._settings["dtype_policy"] == "mixed_float16":
            # float16 gradients underflow without loss scaling.
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer

    # Presets and files.

    @staticmethod
    def presets():
        """The registered presets, `{name: Preset}`.

        Example:
        >>> sorted(Colorizer.presets())  # doctest: +SKIP
        ['koala-lite0']
        """
        return {name: get_preset(name) for name in available_presets()}

    @classmethod
    def from_preset(cls, preset, sha256=None, verbose=True):
        """A trained `Colorizer` from a preset name, a preset folder, a `.keras` file or a URL.

        A registered preset's files are used from the package data when
        they ship with deepkoala, else downloaded on first use into
        `$DEEPKOALA_HOME/weights/<name>/`, and always checked against their
        sha256. A folder is one written by `save_to_preset` (the bundled
        presets are such folders); a URL must point at a `.keras` file: pass
        its `sha256` to have it checked.

        Args:
            preset: a name from `Colorizer.presets()`, a folder, a `.keras`
                file, or a URL.
            sha256: the expected digest of a file given by URL.
            verbose: show a progress bar while downloading.

        Raises:
            ValueError: an unknown name (the message lists the known ones),
                or a file or folder that is not a saved colorizer.
            deepkoala.download.WeightsUnavailableError: the file cannot be had;
                the message says which file to put where.

        Example:
        >>> colorizer = Colorizer.from_preset("koala-lite0")  # doctest: +SKIP
        >>> colorizer = Colorizer.from_preset("my_preset/")  # doctest: +SKIP
        """
        preset = os.fspath(preset)
        if is_preset_name(preset):
            preset = get_preset(preset).path(verbose=verbose)
        elif preset.startswith(("http://", "https://")):
            return cls._from_url(preset, sha256, verbose)
        if os.path.isdir(preset):
            return cls._from_preset_folder(preset)
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
        # Only a download that loads as a colorizer is renamed into place;
        # the check's colorizer is the one returned (loaded once).
        loaded = []
        fetch(url, local, sha256, verbose=verbose, validate=lambda p: loaded.append(cls.load(p)))
        return loaded[0]

    @classmethod
    def _from_preset_folder(cls, folder):
        """Load a folder written by `save_to_preset`."""
        config_path = os.path.join(folder, CONFIG_FILE)
        if not os.path.isfile(config_path):
            raise ValueError(
                f"{folder} is not a deepkoala preset folder: it has no {CONFIG_FILE} "
                "(Colorizer.save_to_preset writes one)."
            )
        config = cls._checked_settings(read_json(config_path), config_path)
        backbone_path = os.path.join(folder, BACKBONE_WEIGHTS_FILE)
        # Without a backbone file, the backbone is its published ImageNet one.
        imagenet = not os.path.isfile(backbone_path)
        colorizer = cls.from_config(
            {**config, "backbone_weights": "imagenet" if imagenet else None}
        )
        colorizer.head.load_weights(os.path.join(folder, HEAD_WEIGHTS_FILE))
        if not imagenet:
            colorizer.embedding.load_weights(backbone_path)
        return colorizer

    @classmethod
    def _checked_settings(cls, serialized, source):
        """The config of Keras' serialized form of a `Colorizer`, checked without building it."""
        config = serialized.get("config")
        if serialized.get("class_name") != cls.__name__ or not isinstance(config, dict):
            raise ValueError(f"{source} does not describe a deepkoala Colorizer.")
        try:
            _checked_config(**{k: v for k, v in config.items() if k not in ("name", "trainable")})
        except (TypeError, ValueError) as error:
            raise ValueError(f"{source} holds invalid settings: {error}") from error
        return config

    def save_to_preset(self, folder, float16=False):
        """Save as a preset folder, the format of the bundled presets.

        The folder gets `config.json` (this colorizer's Keras config),
        `metadata.json`, `head.weights.h5` and, unless the backbone has its
        published ImageNet weights (then they are not copied), the
        backbone's `backbone.weights.h5`. It is written under a temporary
        name and renamed into place when complete; an existing non-empty
        folder is refused, not overwritten.

        Args:
            folder: a new (or empty) folder.
            float16: store the weights in float16 (half the size; outputs
                change by about 1e-3).

        Example:
        >>> colorizer.save_to_preset("my_preset")  # doctest: +SKIP
        >>> Colorizer.from_preset("my_preset")  # doctest: +SKIP
        """
        folder = os.path.abspath(os.fspath(folder))
        if os.path.exists(folder) and not (os.path.isdir(folder) and not os.listdir(folder)):
            raise FileExistsError(
                f"{folder} exists and is not an empty folder; nothing was written."
            )
        parent = os.path.dirname(folder)
        os.makedirs(parent, exist_ok=True)
        # Not mkdtemp: the folder gets the usual permissions (umask), not 0700.
        partial = os.path.join(parent, f".{os.path.basename(folder)}.partial-{uuid.uuid4().hex}")
        os.mkdir(partial)
        try:
            with open(os.path.join(partial, CONFIG_FILE), "w", encoding="utf-8") as file:
                json.dump(keras.saving.serialize_keras_object(self), file, indent=1)
            with open(os.path.join(partial, METADATA_FILE), "w", encoding="utf-8") as file:
                metadata = {"deepkoala_version": __version__, "keras_version": keras.__version__}
                json.dump(metadata, file, indent=1)
            parts = [(self.head, HEAD_WEIGHTS_FILE)]
            if not self._helpers.backbone_is_imagenet:
                parts.append((self.embedding, BACKBONE_WEIGHTS_FILE))
            for part, file_name in parts:
                path = os.path.join(partial, file_name)
                save_float16_weights(part, path) if float16 else part.save_weights(path)
            if os.path.isdir(folder):
                os.rmdir(folder)  # empty, checked above
            os.replace(partial, folder)
        finally:
            shutil.rmtree(partial, ignore_errors=True)

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
        self(np.zeros((1, size, size, 1), dtype=np.float32))
        try:
            super().export(os.fspath(path), format=format, verbose=False)
        except ImportError as error:
            raise ImportError(
                f"Exporting to {format} needs extra packages: pip install deepkoala[export] "
                f"({error})"
            ) from error

    def save(self, filepath, overwrite=True, **kwargs):
        """Save to a `.keras` file with Keras' own machinery.

        The file is written under a temporary name beside `filepath` and
        renamed into place when complete, so an interrupted save never
        leaves a broken file under the final name.

        Example:
        >>> colorizer.save("mine.keras")  # doctest: +SKIP
        """
        path = os.fspath(filepath)
        if not path.endswith(".keras"):
            raise ValueError(f"The file name must end in .keras. Received: path={path!r}")
        if os.path.exists(path) and not overwrite:
            raise FileExistsError(f"{path} exists already; nothing was written.")
        partial = f"{path[: -len('.keras')]}.partial-{os.getpid()}.keras"
        try:
            super().save(partial, **kwargs)
            os.replace(partial, path)
        finally:
            if os.path.exists(partial):
                os.remove(partial)

    @classmethod
    def load(cls, path):
        """Load a colorizer saved by `save` (a `.keras` file) or `save_to_preset` (a folder).

        Keras' safe mode: no pickled code runs. Files saved by deepkoala 0.1
        (whose settings sit in an extra `deepkoala.json` entry) load too.

        Example:
        >>> colorizer = Colorizer.load("mine.keras")  # doctest: +SKIP
        """
        path = os.fspath(path)
        if os.path.isdir(path):
            return cls._from_preset_folder(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No such file: {path}")
        not_ours = f"{path} is not a deepkoala .keras file (saved by Colorizer.save)."
        try:
            with zipfile.ZipFile(path) as archive:
                # Bounded reads: settings are a few kilobytes, and they are
                # read before Keras builds anything from them.
                entries = {}
                for name in ("config.json", _LEGACY_CONFIG_ENTRY):
                    if name not in archive.namelist():
                        continue
                    if archive.getinfo(name).file_size > MAX_SETTINGS_BYTES:
                        raise ValueError(f"{not_ours} Its {name} is too large.")
                    entries[name] = parse_settings(archive.read(name), f"{path} ({name})")
        except zipfile.BadZipFile as error:
            raise ValueError(not_ours) from error
        if _LEGACY_CONFIG_ENTRY in entries:
            return cls._from_legacy_file(path, entries[_LEGACY_CONFIG_ENTRY])
        if "config.json" not in entries:
            raise ValueError(not_ours)
        # Checked before Keras builds the colorizer and reads the weights.
        cls._checked_settings(entries["config.json"], path)
        try:
            colorizer = keras.saving.load_model(path, compile=False)
        except (TypeError, ValueError, KeyError) as error:
            raise ValueError(f"{path} could not be loaded: {error}") from error
        if not isinstance(colorizer, cls):
            raise ValueError(not_ours)
        return colorizer

    @classmethod
    def _from_legacy_file(cls, path, settings):
        """A file of deepkoala 0.1: a plain functional model plus a settings entry."""
        # 0.1 wrote every setting; a missing one means another file.
        missing = sorted({"backbone", "image_size", "encoder_filters"} - set(settings))
        try:
            if missing:
                raise ValueError(f"missing {', '.join(missing)}")
            colorizer = cls(**{**settings, "backbone_weights": None})
            network = keras.saving.load_model(path, compile=False)
            for part in (colorizer.head, colorizer.embedding):
                part.set_weights(network.get_layer(part.name).get_weights())
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path} holds invalid settings: {error}") from error
        return colorizer


class _Helpers:
    """What a `Colorizer` builds on demand, kept out of Keras' layer tracking.

    Attributes assigned on a `keras.Model` are tracked (a training model
    would become a sub-layer and be saved); a plain object's are not.
    """

    def __init__(self):
        self.training_model = None
        self.training_loss = None
        self.ema_momentum = None
        self.embedder = None
        self.twin = None
        self.distribution = None
        # Whether the backbone holds its published ImageNet weights (then a
        # preset folder need not copy them).
        self.backbone_is_imagenet = False


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
