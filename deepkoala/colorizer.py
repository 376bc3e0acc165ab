"""`Colorizer`: the Deep Koalarization task, its call path and its public entry points.

As in keras-hub's task files, the model and its way from a photo to colors live
here; the other entry points call the module that does the work and never imports
this one: `training` (`fit`), `saving` (files, presets, export), `settings`.
"""

import types

import keras
import numpy as np

from deepkoala import chroma_bins, color, guided_head, pipeline, saving, settings
from deepkoala import guidance as guidance_module
from deepkoala.argument_checks import check_image_size, check_positive_int
from deepkoala.layers import LightnessFromRGB
from deepkoala.model import deep_koalarization
from deepkoala.network_runner import NetworkRunner
from deepkoala.presets import available_presets, get_preset, is_preset_name
from deepkoala.training import Trainer

# Settings that change `colorize` only: the network is built without them.
_NOT_NETWORK = ("image_size", "loss", "edge_aware_chroma", "saturation")


@keras.saving.register_keras_serializable(package="deepkoala")
class Colorizer(keras.Model):
    """Colorize grayscale photographs with Deep Koalarization.

    The paper's network: an encoder over the lightness, a frozen ImageNet
    classifier's embedding of the whole image repeated over the encoder's
    grid, and a decoder that predicts a*b* at the working size; `colorize`
    keeps the photo's full-resolution lightness and upsamples the chroma.
    As a keras-hub task, it is a `keras.Model` (L/50 - 1 -> a*b* / 128) with
    sub-models `embedding` (frozen) and `head` (encoder, fusion, decoder);
    `get_config` gives the constructor's arguments (`deepkoala.settings`).

    Args:
        backbone (str): the embedding's classifier, from
            `deepkoala.backbones.available_backbones()`.
        backbone_weights (str | None): "imagenet" (see `deepkoala.backbones`),
            None (random, for tests) or a weights file path.
        image_size (int): the working size, a multiple of 8.
        encoder_filters (tuple[int, ...]): the encoder's eight widths.
        fusion_filters (int): channels after fusion.
        decoder_filters (tuple[int, ...]): the decoder's four widths.
        dtype_policy (str | None): the training's compute policy: None
            (Keras' global policy, float32 unless changed), "mixed_bfloat16"
            (CPUs with bfloat16 units) or "mixed_float16" (GPUs). Colorizing
            runs in `precision` instead (`set_precision`). "bfloat16" or
            "float16" keep the weights themselves in half precision, for
            colorizing only: about half the memory of the weights (a 24 MP
            photo with Inception-ResNet-v2 peaks at 1.16 GB instead of 1.28),
            in that precision only; `fit` and `embed` refuse.
        loss (str): what `fit` minimizes, and so how the head predicts:
            "mse" (the paper's regression), "rebalanced_mse" (pixels weighted
            by their color's rarity), "classification" (484 a*b* bins,
            decoded by the annealed mean; more vivid) or
            "rebalanced_classification". See `docs/quality.md`.
        temperature (float): the annealed mean's (classification): lower is
            more vivid, 1 the plain mean.
        mid_level_features (bool): also fuse the backbone's mid-level map
            (e.g. 14x14x112 for EfficientNet-Lite0), which tells the head
            where things are.
        edge_aware_chroma (bool): upsample the chroma with a guided filter on
            the lightness, so colors stop at edges (else bilinear).
        saturation (float): scale the predicted a*b* (above 1 more vivid).
        guided (bool): the head also takes hints and a reference's colors
            (inputs [lightness, hints, color_histogram]; `deepkoala.guided_head`).
        uncertainty_fade (float): classification: fade colors toward gray
            where the predicted colors spread over opposite hues (0: never;
            `deepkoala.layers.AnnealedMean`).
        **kwargs (Any): `name` and `trainable`, as for any `keras.Model`.

    Example:
    >>> colorizer = Colorizer(backbone_weights=None)  # doctest: +SKIP
    >>> colorizer.fit("my_color_photos/", epochs=5)  # doctest: +SKIP
    >>> colorizer.colorize("old_photo.jpg").save("colorized.png")  # doctest: +SKIP
    """

    def __init__(
        self, backbone=settings.BACKBONE, backbone_weights=settings.BACKBONE_WEIGHTS,
        image_size=settings.IMAGE_SIZE, encoder_filters=settings.ENCODER_FILTERS,
        fusion_filters=settings.FUSION_FILTERS, decoder_filters=settings.DECODER_FILTERS,
        dtype_policy=settings.DTYPE_POLICY, loss=settings.LOSS, temperature=settings.TEMPERATURE,
        mid_level_features=settings.MID_LEVEL_FEATURES,
        edge_aware_chroma=settings.EDGE_AWARE_CHROMA, saturation=settings.SATURATION,
        guided=settings.GUIDED, uncertainty_fade=settings.UNCERTAINTY_FADE, **kwargs,
    ):  # fmt: skip
        # The constructor's own arguments, by name (the first statement, so
        # locals() holds nothing else).
        arguments = {k: v for k, v in locals().items() if k not in ("self", "kwargs", "__class__")}
        unknown = sorted(set(kwargs) - {"name", "trainable"})
        if unknown:
            raise TypeError(f"Colorizer got unexpected keyword arguments: {', '.join(unknown)}")
        config = settings.checked_config(**arguments)
        network = deep_koalarization(
            **{k: v for k, v in config.items() if k not in _NOT_NETWORK},
            chroma_bins=chroma_bins.BIN_COUNT if settings.classifies(config["loss"]) else None,
        )
        kwargs.setdefault("name", "colorizer")
        inputs = network.inputs if config["guided"] else network.inputs[0]
        super().__init__(inputs, network.outputs[0], **kwargs)
        #: Trainable: (scaled L, embedding[, mid-level map]) -> a*b* / 128.
        self.head = network.head
        #: Frozen: scaled L -> the backbone's class logits[, mid-level map].
        self.embedding = network.embedding
        self._settings = config
        training_policy = dtype_policy or keras.config.dtype_policy().name
        # Built on demand, out of Keras' tracking (a tracked model would be saved).
        self._untracked = types.SimpleNamespace(
            backbone_is_imagenet=backbone_weights == "imagenet", embedder=None, trainer=None,
            pretrained=False, runner=NetworkRunner(self, training_policy),
        )  # fmt: skip
        self._untracked.runner.apply()

    @property
    def pretrained(self):
        """bool: The head's weights came from a preset or a file (so `fit` fine-tunes)."""
        return self._untracked.pretrained

    @property
    def image_size(self):
        """int: The side of the square the network runs at."""
        return self._settings["image_size"]

    def get_config(self):
        """The constructor arguments; `backbone_weights` is None, as weights travel in files."""
        return {
            "name": self.name,
            "trainable": self.trainable,
            **self._settings,
            "backbone_weights": None,
        }

    @classmethod
    def from_config(cls, config):
        """A new `Colorizer` (random head) from `get_config()`'s output."""
        return cls(**config)

    def set_decoding(self, **decoding):
        """Change decoding settings in place, without rebuilding the network.

        Args:
            **decoding (Any): `temperature`, `edge_aware_chroma`, `saturation` or
                `uncertainty_fade` (see the class); saved with the colorizer.

        Returns:
            Colorizer: this colorizer.

        Example:
        >>> colorizer.set_decoding(saturation=1.2, temperature=0.3)  # doctest: +SKIP
        """
        decoding = settings.check_decoding(**decoding)
        self._settings.update(decoding)
        in_network = {"temperature", "uncertainty_fade"} & set(decoding)
        if in_network and settings.classifies(self._settings["loss"]):
            annealed_mean = self.head.get_layer("annealed_mean")
            for name in in_network:
                setattr(annealed_mean, name, decoding[name])
            # A traced prediction holds the old values as constants.
            self._untracked.runner.forget_compiled()
        return self

    # Precision.

    @property
    def precision(self):
        """str: How colorizing runs the network: "auto" (the default), "float32",
        "bfloat16" or "float16" (`set_precision`)."""
        return self._untracked.runner.precision

    def set_precision(self, precision):
        """Change the precision that colorizing runs the network in, in place.

        "auto" is float16 on a GPU, bfloat16 on a CPU with bfloat16 units
        under TensorFlow, float32 elsewhere and for a model whose colors
        half precision was measured to move (`deepkoala.precision`; for a
        preset whose backbone moved them, the head alone); a colorizer built
        with a mixed `dtype_policy` colorizes in its precision. The color
        conversions and the output layers stay float32; training keeps
        `dtype_policy`. Nothing is rebuilt: the next call traces the network
        again (a switch back reuses the earlier trace).

        Args:
            precision (str): "auto", "float32", "bfloat16" or "float16".

        Returns:
            Colorizer: this colorizer.

        Example:
        >>> colorizer.set_precision("float32").colorize("photo.jpg")  # doctest: +SKIP
        >>> colorizer.compute_precision()  # doctest: +SKIP
        ('bfloat16', 'AVX512_BF16 (the CPU flag avx512_bf16)')
        """
        self._untracked.runner.set_precision(precision)
        return self

    def compute_precision(self):
        """The precision colorizing runs in here, and why (`deepkoala.precision.resolve`).

        Returns:
            tuple: ("float32" | "bfloat16" | "float16", the reason in words).

        Example:
        >>> Colorizer(backbone_weights=None).set_precision("float32").compute_precision()
        ('float32', 'asked for')
        """
        precision, _, why = self._untracked.runner.resolved_precision()
        return precision, why

    def training_precision(self):
        """Inside the block, every network call (colorizing too) runs in `dtype_policy`.

        Outside it, the layers run in the colorizer's `precision`, Keras'
        own calls (`predict`, `__call__`) too. `fit`, the training cache
        (`embed`) and `export` run inside it, so scoring between epochs does
        not switch the layers that a traced training step shares.

        Example:
        >>> with colorizer.training_precision():  # doctest: +SKIP
        ...     chroma = colorizer.predict_chroma(lightness)
        """
        runner = self._untracked.runner
        return runner.pinned_policies((runner.training_policy,) * 2)

    @property
    def engine(self):
        """str: What runs the network when colorizing: "keras" (the default) or "openvino"."""
        return self._untracked.runner.engine

    def set_engine(self, engine):
        """Run the network of every colorizing path on another engine.

        "openvino" (`pip install deepkoala[openvino]`, CPUs) exports the
        network once, caches it in `$DEEPKOALA_HOME/openvino` and compiles it
        for the machine (`deepkoala.openvino_engine`); in `precision` "auto" it
        runs in bfloat16 where the CPU has the units, unless the preset's
        measurement says its colors move. It compiles the weights it finds
        at the first colorizing call: after changing the weights other than
        by `fit`, call `set_engine` again.

        Args:
            engine (str): "keras" or "openvino".

        Returns:
            Colorizer: this colorizer.

        Raises:
            ImportError: the engine is not installed (the message names the extra).

        Example:
        >>> colorizer.set_engine("openvino").colorize("photo.jpg")  # doctest: +SKIP
        """
        self._untracked.runner.set_engine(engine)
        return self

    # Colorizing.

    def colorize(
        self, images, batch_size=settings.COLORIZE_BATCH_SIZE, image_size=None, verbose="auto",
        errors="raise", hints=None, reference=None, depth=8,
    ):  # fmt: skip
        """Colorize one image or a list of images.

        Args:
            images (str | os.PathLike | PIL.Image.Image | numpy.ndarray | list):
                a path, a `PIL.Image`, an array ((H, W), (H, W, 1) or
                (H, W, 3); uint8, uint16 or float in [0, 1]) or a list of
                these; color inputs are made gray first.
            batch_size (int): images that go through the network at once.
            image_size (int | None): the working size instead of `image_size`.
            verbose (str | int): "auto": a progress bar for lists longer than
                a batch; 0 never, 1 always.
            errors (str): an unreadable list item (or bad hint): "raise" (its
                error, no result) or "skip" (None in its place, one warning).
            hints (list | None): `(x, y, color[, radius])` points in the
                photo's pixels, color "#rrggbb" or RGB (`guidance.Hint`); for
                a list of images, one list (or None) per image.
            reference (object | list | None): a color photo whose colors to
                borrow where it matches: for all images, or one per image.
            depth (int): 8, or 16 for uint16 arrays that keep a 16-bit scan's lightness.

        Returns:
            PIL.Image.Image | list: RGB of the input's size (RGBA, EXIF and
                color space kept: `deepkoala.photo_metadata`), or a list.

        Raises:
            ValueError: an input cannot be read (OSError: a file).
            FloatingPointError: the network's output is not finite.

        Example:
        >>> colorizer.colorize("old_photo.jpg").save("colorized.png")  # doctest: +SKIP
        """
        check_positive_int("batch_size", batch_size)
        size = self._working_size(image_size)
        single = not isinstance(images, (list, tuple))
        sources = [images] if single else list(images)
        progress = verbose == 1 or (verbose == "auto" and len(sources) > batch_size)
        hints = [hints] if single and hints is not None else hints
        stream = self.colorize_stream(
            sources, batch_size, size, hints=hints, reference=reference, depth=depth
        )
        return pipeline.collect(stream, len(sources), single, errors=errors, progress=progress)

    def colorize_stream(
        self, images, batch_size=settings.COLORIZE_BATCH_SIZE, image_size=None, finish=None,
        workers=None, hints=None, reference=None, depth=8,
    ):  # fmt: skip
        """Colorize lazily, in order, in bounded memory (`pipeline.colorize_stream`).

        Args:
            images (collections.abc.Iterable): as for `colorize`, read lazily.
            batch_size (int): images that go through the network at once.
            image_size (int | None): the working size, as for `colorize`.
            finish (callable | None): `finish(index, image)`, run in a worker
                thread on each result (e.g. to save it); its value is yielded.
            workers (int | None): reading and merging threads (default 2-4).
            hints (list | None): one list of hints per image, as for `colorize`.
            reference (object | list | None): as for `colorize`.
            depth (int): as for `colorize`.

        Yields:
            tuple: `(index, output, None)`, or `(index, None, error)` for an
                unreadable item (or a `finish` that raised `OSError`).

        Example:
        >>> for index, image, error in colorizer.colorize_stream(paths):  # doctest: +SKIP
        ...     image.save(f"colorized_{index}.png")
        """
        check_positive_int("batch_size", batch_size)
        size = self._working_size(image_size)
        if workers is not None:
            check_positive_int("workers", workers)
        if depth not in (8, 16):
            raise ValueError(f"`depth` must be 8 or 16. Received: depth={depth!r}")
        count = len(images) if isinstance(images, (list, tuple)) else None
        guides = guidance_module.guides_for(count, hints, reference)
        return pipeline.colorize_stream(
            self.predict_chroma, images, batch_size, size, finish=finish, workers=workers,
            edge_aware=self._settings["edge_aware_chroma"], guides=guides, depth=depth,
        )  # fmt: skip

    def colorize_video(
        self, src, dst, batch_size=settings.COLORIZE_BATCH_SIZE, image_size=None, **options
    ):
        """Colorize a video, keeping its sound (`video.colorize_video`; `deepkoala[video]`).

        Args:
            src (str | os.PathLike): the input video.
            dst (str | os.PathLike): the output; its extension picks the container.
            batch_size (int): frames that go through the network at once.
            image_size (int | None): the working size, as for `colorize`.
            **options (Any): `reference`, `smoothing`, `cut_threshold`, `codec`, `crf`, `verbose`.

        Returns:
            dict: "frames" written, "shots" found, "seconds" taken.

        Example:
        >>> colorizer.colorize_video("reel.mp4", "reel_colorized.mp4")  # doctest: +SKIP
        """
        from deepkoala.video import colorize_video

        check_positive_int("batch_size", batch_size)
        size = self._working_size(image_size)
        return colorize_video(self, src, dst, batch_size=batch_size, image_size=size, **options)

    def _working_size(self, image_size):
        return self.image_size if image_size is None else check_image_size("image_size", image_size)

    def predict_chroma(self, lightness, guidance=None):
        """The chroma seam of every colorizing path: a*b* for working-size lightness.

        Args:
            lightness (numpy.ndarray): (B, S, S) CIE L in [0, 100] (S: a multiple of 8).
            guidance (list | None): per item, `guidance.Guide.at_size`'s dict or None.

        Returns:
            numpy.ndarray: (B, S, S, 2) float32 a*b*.

        Raises:
            FloatingPointError: the network's output is not finite.

        Example:
        >>> chroma = colorizer.predict_chroma(np.full((1, 224, 224), 50.0))  # doctest: +SKIP
        """
        scaled = color.scale_lightness(lightness[..., None]).astype(np.float32)
        if self._settings["guided"]:
            scaled = [scaled, *guided_head.network_inputs(guidance, lightness)]
        chroma = np.asarray(self._untracked.runner(scaled), dtype=np.float32)
        if not np.isfinite(chroma).all():
            raise FloatingPointError(
                "The network's output is not finite (NaN or inf): its weights are broken, "
                "for example by training that diverged. Load or train other weights."
            )
        chroma = chroma * (color.AB_SCALE * self._settings["saturation"])
        if guidance is None or (self._settings["guided"] and not guided_head.SPREAD_AFTER):
            return chroma
        return guidance_module.apply(self, lightness, chroma, guidance)

    def embed(self, rgb_batch):
        """The embedding step (what the training cache stores): the backbone on gray images.

        Args:
            rgb_batch (numpy.ndarray): (B, S, S, 3) uint8 RGB.

        Returns:
            numpy.ndarray | tuple: (B, E), or (embeddings, mid-level maps).

        Example:
        >>> vectors = colorizer.embed(np.zeros((2, 224, 224, 3), "uint8"))  # doctest: +SKIP
        """
        self._refuse_half_weights("make training embeddings")
        # The cache's embeddings are the training's, on every machine.
        with self.training_precision():
            if self._untracked.embedder is None:
                rgb = keras.Input((None, None, 3), dtype="uint8", name="rgb")
                outputs = self.embedding(LightnessFromRGB(name="lightness_from_rgb")(rgb))
                self._untracked.embedder = keras.Model(rgb, outputs, name="embedder")
            outputs = self._untracked.embedder.predict_on_batch(rgb_batch)
        if self._settings["mid_level_features"]:
            return tuple(np.asarray(output) for output in outputs)
        return np.asarray(outputs)

    # Training.

    def fit(
        self, data, epochs=1, batch_size=settings.FIT_BATCH_SIZE, validation_split=0.0,
        callbacks=None, verbose="auto", learning_rate=settings.LEARNING_RATE, shuffle=True,
        augment=True, stored_size=None, cache_dir=None, checkpoint_dir=None, distribution=None,
        seed=None, views_per_image=1, ema_momentum=None, holdout="auto", keep_last=False,
        photo_weights=None, degrade_lightness=False, embedding_dropout=0.0, weight_decay=None,
    ):  # fmt: skip
        """Train (or fine-tune) the head on color images (`deepkoala.training.Trainer`).

        Each photo's views are cached once with their backbone embedding
        (HDF5), so later epochs and fits never run the backbone; unreadable
        files are skipped and named in one warning. Fine-tuning a trained
        colorizer (`pretrained`) keeps a few photos out, scores them before
        and after each epoch, stops when they stop improving and ends with the
        best weights seen (`deepkoala.holdout`). See `docs/training.md`.

        Args:
            data (str | os.PathLike | list | numpy.ndarray): a folder, paths or RGB arrays.
            epochs (int): as in `keras.Model.fit`.
            batch_size (int): as in `keras.Model.fit` (global, when distributed).
            validation_split (float): the share of photos (the last ones) that validate.
            callbacks (list | None): as in `keras.Model.fit`.
            verbose (str | int): as in `keras.Model.fit`.
            learning_rate (float): Adam's (the paper's: 1e-3).
            shuffle (bool): reshuffle the training images every epoch.
            augment (bool): random flips, and random crops of `stored_size`.
            stored_size (int | None): the cached side (default `image_size`).
            cache_dir (str | None): default `$DEEPKOALA_HOME/cache`.
            checkpoint_dir (str | os.PathLike | None): save each epoch; a rerun resumes.
            distribution (object | None): `keras.distribution` or `tf.distribute`.
            seed (int | None): seed of shuffling and augmentation.
            views_per_image (int): views cached per photo, at several scales.
            ema_momentum (float | None): finish with a moving average (e.g. 0.99).
            holdout (str | int | None): photos kept out to score the fine-tune:
                "auto" (a fifth, by name, when `pretrained`), a count, or None.
            keep_last (bool): keep the last epoch's weights even when the
                holdout scored them worse than the best (or the starting) ones.
            photo_weights (callable | None): `photo_weights(path)` (an array's
                row number for arrays) is a photo's sampling weight >= 0: each
                epoch draws its views in proportion, with replacement (e.g. to
                balance sources); None: every view once per epoch.
            degrade_lightness (bool): blur, add noise to or JPEG-compress the
                lightness input of half the training views (the target colors
                stay the photo's), for photos unlike the training ones.
            embedding_dropout (float): while training, drop this share of the
                embedding's values (and of the mid-level map's channels), so
                the head leans less on what the classifier recognised.
            weight_decay (float | None): Adam's decoupled weight decay (as AdamW).

        Returns:
            keras.callbacks.History: the Keras history; its `holdout` is the
                report of the held-out photos ("photos", "gray", "before",
                "after", "epochs", "kept_epoch": 0 when the starting weights
                stayed) or None.

        Raises:
            FloatingPointError: the loss became NaN (checkpoints keep the last epoch).

        Example:
        >>> history = colorizer.fit("my_color_photos/", epochs=5)  # doctest: +SKIP
        """
        arguments = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self._untracked.runner.forget_engine()  # compiled for the old weights
        with self.training_precision():
            return self._trainer().fit(**arguments)

    def training_model(self, learning_rate=settings.LEARNING_RATE):
        """The compiled model `fit` trains, to inspect (`training.Trainer.training_model`).

        Args:
            learning_rate (float): Adam's learning rate.

        Example:
        >>> colorizer.training_model().summary()  # doctest: +SKIP
        """
        return self._trainer().training_model(learning_rate)

    def _trainer(self):
        self._refuse_half_weights("train")
        self._untracked.trainer = self._untracked.trainer or Trainer(self)
        return self._untracked.trainer

    def _refuse_half_weights(self, what):
        """A colorizer whose weights are in half precision colorizes only."""
        runner = self._untracked.runner
        if runner.half_weights:
            raise ValueError(
                f"A colorizer with dtype_policy={runner.training_policy!r} holds its weights "
                f"in {runner.training_policy}, for colorizing only: it cannot {what}. Use "
                "dtype_policy=None (float32) or 'mixed_bfloat16' to train, then load the "
                f"result with dtype_policy={runner.training_policy!r}."
            )

    # Presets and files (`deepkoala.saving` does the work).

    @staticmethod
    def presets():
        """The registered presets, `{name: deepkoala.presets.Preset}`.

        Example:
        >>> sorted(Colorizer.presets())  # doctest: +SKIP
        ['koala-lite0']
        """
        return {name: get_preset(name) for name in available_presets()}

    @classmethod
    def from_preset(cls, preset, sha256=None, verbose=True, dtype_policy=None):
        """A trained `Colorizer` from a preset (bundled or downloaded once, sha256-checked).

        Args:
            preset (str | os.PathLike): a name from `presets()`, a folder
                from `save_to_preset`, a `.keras` file, or a URL of one.
            sha256 (str | None): the expected digest of a file given by URL.
            verbose (bool): show a progress bar while downloading.
            dtype_policy (str | None): for a name or a folder, build with
                this `dtype_policy` instead of the saved one: "bfloat16" or
                "float16" keep the weights in half precision (less memory;
                colorizing only).

        Returns:
            Colorizer: the trained colorizer.

        Raises:
            ValueError: an unknown name (the message lists the known ones).
            deepkoala.download.WeightsUnavailableError: the file cannot be
                had; the message says which file to put where.

        Example:
        >>> colorizer = Colorizer.from_preset("koala-lite0")  # doctest: +SKIP
        >>> colorizer = Colorizer.from_preset("my_preset/")  # doctest: +SKIP
        """
        colorizer = saving.from_preset(
            cls, preset, sha256=sha256, verbose=verbose, dtype_policy=dtype_policy
        )
        colorizer._untracked.pretrained = True
        if isinstance(preset, str) and is_preset_name(preset):
            # "auto" keeps in float32 the parts whose half precision moved the colors.
            colorizer._untracked.runner.use_measurements(get_preset(preset).scores)
        return colorizer

    def save_to_preset(self, folder, float16=False):
        """Save as a preset folder (the bundled presets' format), atomically.

        The backbone's weights are not copied when they are the published ImageNet ones.

        Args:
            folder (str | os.PathLike): a new (or empty) folder.
            float16 (bool): store the weights in float16 (outputs change by ~1e-3).

        Example:
        >>> colorizer.save_to_preset("my_preset")  # doctest: +SKIP
        >>> Colorizer.from_preset("my_preset")  # doctest: +SKIP
        """
        copy_backbone = not self._untracked.backbone_is_imagenet
        saving.save_to_preset(self, folder, float16=float16, copy_backbone=copy_backbone)

    def export(self, path, format="onnx"):
        """Export the network for serving without Keras (see `deepkoala.saving.export`).

        Args:
            path (str | os.PathLike): the output file (ONNX) or folder (SavedModel).
            format (str): "onnx" (`pip install deepkoala[export]`) or "tf_saved_model".

        Example:
        >>> colorizer.export("deepkoala.onnx")  # doctest: +SKIP
        """
        with self.training_precision():  # portable: float32 unless `dtype_policy` says otherwise
            saving.export(self, path, format=format)

    def save(self, filepath, overwrite=True, **kwargs):
        """Save to a `.keras` file with Keras' own machinery, written atomically.

        Args:
            filepath (str | os.PathLike): a name ending in `.keras`.
            overwrite (bool): replace an existing file.
            **kwargs (Any): passed to `keras.saving.save_model`.

        Example:
        >>> colorizer.save("mine.keras")  # doctest: +SKIP
        """
        saving.save_keras_file(self, filepath, overwrite=overwrite, **kwargs)

    @classmethod
    def load(cls, path):
        """Load a colorizer saved by `save` or `save_to_preset` (Keras' safe mode).

        Args:
            path (str | os.PathLike): the file or folder.

        Returns:
            Colorizer: the loaded colorizer.

        Example:
        >>> colorizer = Colorizer.load("mine.keras")  # doctest: +SKIP
        """
        colorizer = saving.load(cls, path)
        colorizer._untracked.pretrained = True
        return colorizer
