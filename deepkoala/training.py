"""Training a colorizer's head: the loss, the optimizer, the compiled training model and `fit`.

`Trainer` does what `Colorizer.fit` promises for the colorizer it is handed:
it checks the arguments, builds the training data (`TrainingData`: the
embedding cache, the split, the batches), trains the head from cached
embeddings (the frozen backbone never runs during training), optionally
under a distribution engine or with averaged weights, and stops with a clear
error when the loss stops being finite. It knows the colorizer only by its
public attributes and methods (`head`, `embedding`, `image_size`, `embed`,
`get_config`, `from_config`), so it imports nothing of `deepkoala.colorizer`.
"""

import contextlib
import hashlib
import json
import math
import os
import shutil
import tempfile
import warnings

import keras
import numpy as np

from deepkoala import chroma_bins, multi_process, settings
from deepkoala.argument_checks import check_positive_int, check_positive_number
from deepkoala.atomic import atomic_write, remove_abandoned_partials
from deepkoala.averaged_weights import AveragedWeights
from deepkoala.holdout import (
    MIN_TRAINING_PHOTOS,
    Holdout,
    holdout_size,
    split_holdout,
    warn_unless_improved,
)
from deepkoala.image_files import resolve_image_paths, warn_skipped
from deepkoala.images import read_each, read_rgb_uint8
from deepkoala.layers import LightnessFromRGB
from deepkoala.losses import ChromaCrossEntropy, RebalancedChromaMSE, chroma_mse
from deepkoala.paths import deepkoala_home
from deepkoala.training_data import TrainingData
from deepkoala.weights import save_weights


class StopOnNaN(keras.callbacks.Callback):
    """Stop training with a clear error as soon as the loss is NaN or infinite.

    Like `keras.callbacks.TerminateOnNaN`, but it raises, so the run ends
    with a message instead of a quiet stop, and `BackupAndRestore` keeps the
    last good checkpoint (it deletes it only after training completes).

    Example:
    >>> model.fit(x, y, callbacks=[StopOnNaN()])  # doctest: +SKIP
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


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras' `BackupAndRestore` whose every file is written atomically (`deepkoala.atomic`).

    Keras writes the epoch's weights in place, and falls back to the
    previous epoch's copy only on an `OSError`: a Ctrl-C during that write
    left a weights file that loaded with a `ValueError`, and the run could
    not resume. Here each file is written to a hidden partial and renamed,
    so the checkpoint is always complete, and partials of killed writers
    are removed when training starts.

    Example:
    >>> callback = AtomicBackupAndRestore("checkpoints", double_checkpoint=True)  # doctest: +SKIP
    """

    def on_train_end(self, logs=None):
        if multi_process.is_writer():
            super().on_train_end(logs)

    def on_train_begin(self, logs=None):
        if os.path.isdir(self.backup_dir) and multi_process.is_writer():
            remove_abandoned_partials(self.backup_dir)
        super().on_train_begin(logs)

    def _save_model(self):
        if not multi_process.is_writer():
            # Reading replicated variables is collective: every process takes
            # part in the save, and only process 0 keeps the file.
            with tempfile.TemporaryDirectory() as scratch:
                save_weights(self.model, os.path.join(scratch, "discarded.weights.h5"))
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint:
            for current, previous in (
                (self._weights_path, self._prev_weights_path),
                (self._training_metadata_path, self._prev_training_metadata_path),
            ):
                if os.path.exists(current):
                    with atomic_write(previous) as partial:
                        shutil.copyfile(current, partial)
        save_weights(self.model, self._weights_path)
        with atomic_write(self._training_metadata_path) as partial, open(partial, "w") as file:
            json.dump({"epoch": self._current_epoch, "batch": self._last_batch_seen}, file)


def head_loss(loss, bin_weights=None):
    """The Keras loss that trains a head of the kind `loss` names.

    Args:
        loss (str): a name from `deepkoala.settings.LOSSES`.
        bin_weights (numpy.ndarray | None): rarity weights of the a*b* bins
            (`chroma_bins.rebalancing_weights`), for the rebalanced losses.

    Returns:
        keras.losses.Loss | callable: the loss of the head's output.

    Example:
    >>> head_loss("mse").__name__
    'chroma_mse'
    """
    if settings.classifies(loss):
        return ChromaCrossEntropy(bin_weights)
    return chroma_mse if bin_weights is None else RebalancedChromaMSE(bin_weights)


def backbone_id(colorizer):
    """Names a colorizer's backbone by its weights, so a changed backbone rebuilds caches.

    Args:
        colorizer (deepkoala.Colorizer): the colorizer.

    Returns:
        str: the backbone's name, a digest of its weights, and whether the
            mid-level maps are cached too.

    Example:
    >>> backbone_id(colorizer)  # doctest: +SKIP
    'efficientnet_lite0-3f2a9c0d1e2b4a5c-mid_level'
    """
    digest = hashlib.sha256()
    for weight in colorizer.embedding.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    config = colorizer.get_config()
    mid_level = "-mid_level" if config["mid_level_features"] else ""
    return f"{config['backbone']}-{digest.hexdigest()[:16]}{mid_level}"


def _check_fit_arguments(
    epochs, batch_size, validation_split, learning_rate, views_per_image, ema_momentum
):
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
            f"`validation_split` must be in [0, 1). Received: validation_split={validation_split!r}"
        )


def _check_regularisation(embedding_dropout, weight_decay):
    if not isinstance(embedding_dropout, (int, float)) or not 0.0 <= embedding_dropout < 1.0:
        raise ValueError(
            "`embedding_dropout` must be in [0, 1). "
            f"Received: embedding_dropout={embedding_dropout!r}"
        )
    if weight_decay is not None:
        check_positive_number("weight_decay", weight_decay)


def _take_holdout(data, holdout, pretrained):
    """(training data, held-out photos as uint8 RGB arrays or None) for `fit`'s `holdout`."""
    if not (holdout in ("auto", None) or (isinstance(holdout, int) and holdout >= 0)):
        raise ValueError(
            f'`holdout` must be "auto", None or a count of photos. Received: holdout={holdout!r}'
        )
    if holdout is None or holdout == 0 or (holdout == "auto" and not pretrained):
        return data, None
    if isinstance(data, np.ndarray):
        names = [str(index) for index in range(len(data))]
    else:
        names = resolve_image_paths(data)
    count = holdout_size(len(names)) if holdout == "auto" else holdout
    if not count:
        warnings.warn(
            f"No holdout: {len(names)} photos (fine-tuning keeps some out to score it "
            f"from {MIN_TRAINING_PHOTOS + 1} on); the fine-tune is not checked.",
            stacklevel=3,
        )
        return data, None
    if count > len(names) - 1:
        raise ValueError(
            f"`holdout` must leave photos to train on: {len(names)} photos. "
            f"Received: holdout={holdout!r}"
        )
    training, held = split_holdout(names, count)
    if isinstance(data, np.ndarray):
        return data[[int(name) for name in training]], [data[int(name)] for name in held]
    images, failures = read_each(held, read_rgb_uint8)
    warn_skipped([path for path, failure in zip(held, failures, strict=True) if failure])
    readable = [image for image in images if image is not None]
    return training, readable or None


_MULTI_WORKER_STRATEGIES = ("CollectiveAllReduceStrategy", "MultiWorkerMirroredStrategy")


class Trainer:
    """Trains one colorizer's head; keeps its compiled training model between fits.

    Args:
        colorizer (deepkoala.Colorizer): the colorizer to train.

    Example:
    >>> history = Trainer(colorizer).fit("my_color_photos/", epochs=5)  # doctest: +SKIP
    """

    def __init__(self, colorizer):
        self.colorizer = colorizer
        self._model = None
        self._loss = None
        self._optimizer_settings = None
        self._embedding_dropout = None
        # The colorizer rebuilt under a distribution, and its own trainer.
        self._distribution = None
        self._twin_trainer = None

    def fit(
        self, data, epochs, batch_size, validation_split, callbacks, verbose, learning_rate,
        shuffle, augment, stored_size, cache_dir, checkpoint_dir, distribution, seed,
        views_per_image, ema_momentum, holdout, keep_last, photo_weights, degrade_lightness,
        embedding_dropout, weight_decay,
    ):  # fmt: skip
        """Train the head on color images; the arguments (and defaults) are `Colorizer.fit`'s.

        Returns:
            keras.callbacks.History: the Keras history, with `holdout`: the
                `Holdout` callback's report (None without a holdout).

        Example:
        >>> history = trainer.fit("my_color_photos/", epochs=5)  # doctest: +SKIP
        """
        colorizer = self.colorizer
        _check_fit_arguments(
            epochs, batch_size, validation_split, learning_rate, views_per_image, ema_momentum
        )
        _check_regularisation(embedding_dropout, weight_decay)
        image_size = colorizer.image_size
        stored_size = image_size if stored_size is None else stored_size
        if not isinstance(stored_size, int) or stored_size < image_size:
            raise ValueError(
                f"`stored_size` must be an integer >= image_size ({image_size}). "
                f"Received: stored_size={stored_size!r}"
            )
        data, holdout_images = _take_holdout(data, holdout, colorizer.pretrained)
        # Several processes: each trains on its shard with its part of the batch.
        process = multi_process.process_shard(distribution)
        local_batch_size = batch_size
        if process is not None:
            if batch_size % process[1]:
                raise ValueError(
                    f"`batch_size` must be a multiple of the {process[1]} processes. "
                    f"Received: batch_size={batch_size}"
                )
            local_batch_size = batch_size // process[1]
        # The average goes into the model first, so the callbacks after it see it.
        averaging = [] if ema_momentum is None else [AveragedWeights()]
        guards = [StopOnNaN()]
        if checkpoint_dir is not None:
            # double_checkpoint keeps the previous epoch's files too.
            guards.append(AtomicBackupAndRestore(os.fspath(checkpoint_dir), double_checkpoint=True))
        with TrainingData(
            data,
            stored_size,
            colorizer.embed,
            backbone_id(colorizer),
            cache_dir or os.path.join(deepkoala_home(), "cache"),
            views_per_image,
            verbose=verbose not in (0, False),
            shard=process,
        ) as training_data:
            train, held_out = training_data.split(validation_split)
            train_steps = validation_steps = None
            if process is not None:
                # Every process takes as many steps: the collectives pair them.
                train_steps = multi_process.largest(math.ceil(len(train) / local_batch_size))
                validation_steps = multi_process.largest(
                    math.ceil(len(held_out) / local_batch_size)
                )
                if validation_steps and not len(held_out):
                    raise ValueError(
                        f"`validation_split` leaves process {process[0]} no photo to validate "
                        "on while others have some: raise it, or use 0."
                    )
            guided = colorizer.get_config()["guided"]
            batches = training_data.batches(
                train, local_batch_size, image_size, shuffle=shuffle, augment=augment,
                seed=seed if process is None or seed is None else seed + process[0],
                guided=guided, photo_weights=photo_weights, degrade=degrade_lightness,
                steps=train_steps,
            )  # fmt: skip
            # Validation hints are drawn with a fixed seed, so epochs compare.
            validation = training_data.batches(
                held_out, local_batch_size, image_size, shuffle=False, augment=False, seed=0,
                guided=guided, steps=validation_steps,
            )  # fmt: skip
            loss_name = colorizer.get_config()["loss"]
            bin_weights = None
            if loss_name.startswith("rebalanced"):
                # Rarity weights of the colors of the training images.
                bin_weights = chroma_bins.rebalancing_weights(training_data.ab_histogram(train))
            trainer = self if distribution is None else self._twin_under(distribution)
            scoring = []
            if holdout_images:
                scoring = [Holdout(trainer.colorizer, holdout_images, keep_last=keep_last)]
            try:
                with (
                    contextlib.nullcontext() if distribution is None else distribution.scope(),
                    # Scoring between epochs must not switch the layers' precision.
                    trainer.colorizer.training_precision(),
                ):
                    model = trainer.training_model(
                        learning_rate,
                        head_loss(loss_name, bin_weights),
                        ema_momentum,
                        embedding_dropout=embedding_dropout,
                        weight_decay=weight_decay,
                    )
                    history = model.fit(
                        batches,
                        validation_data=validation,
                        epochs=epochs,
                        callbacks=[*averaging, *scoring, *(callbacks or []), *guards],
                        verbose=verbose,
                    )
                    history.holdout = scoring[0].report if scoring else None
                    if history.holdout and "after" in history.holdout:
                        # At the caller of Colorizer.fit.
                        warn_unless_improved(history.holdout, stacklevel=3)
                    return history
            finally:
                if trainer is not self:
                    colorizer.head.set_weights(trainer.colorizer.head.get_weights())

    def _twin_under(self, distribution):
        """A trainer of this colorizer rebuilt under `distribution`, with the same weights.

        Variables must be created under the distribution (mirrored or
        replicated); the twin is kept for later fits with the same one, and
        `fit` copies its head's weights back after training.
        """
        if not hasattr(distribution, "scope"):
            raise ValueError(
                "`distribution` must be a keras.distribution.Distribution (JAX) or a "
                f"tf.distribute.Strategy (TensorFlow). Received: distribution={distribution!r}"
            )
        # tf.distribute.MultiWorkerMirroredStrategy's class, under either name.
        if type(distribution).__name__ in _MULTI_WORKER_STRATEGIES:
            raise ValueError(
                "Keras 3 does not train with TensorFlow's MultiWorkerMirroredStrategy (its "
                "batches fail to convert: keras-team/keras#20585). Train on several processes "
                "with KERAS_BACKEND=jax and `deepkoala.multi_process.initialize` instead "
                f"(docs/distributed.md). Received: distribution={distribution!r}"
            )
        if self._distribution is not distribution:
            with distribution.scope():
                twin = type(self.colorizer).from_config(self.colorizer.get_config())
            self._twin_trainer, self._distribution = Trainer(twin), distribution
        # Process 0's, should the processes' colorizers differ.
        self._twin_trainer.colorizer.set_weights(
            multi_process.broadcast(self.colorizer.get_weights())
        )
        return self._twin_trainer

    def training_model(
        self, learning_rate=settings.LEARNING_RATE, loss=None, ema_momentum=None,
        embedding_dropout=0.0, weight_decay=None,
    ):  # fmt: skip
        """The compiled Keras model that `fit` trains, from cached embeddings.

        Inputs {"rgb": uint8 images (B, H, W, 3), "embedding": (B, E)} (and
        "mid_level": (B, h, w, C) with mid-level features, "hints" and
        "color_histogram" for a guided head), target the same
        RGB images; the frozen backbone is not part of it. It is built once,
        rebuilt when the dropout changes and recompiled when the loss or the
        optimizer's settings change.

        Args:
            learning_rate (float): Adam's learning rate.
            loss (callable | None): the loss (`head_loss`); None keeps the
                last one, or the plain loss of the head's kind.
            ema_momentum (float | None): keep a moving average of the weights.
            embedding_dropout (float): dropout on the embedding (and on the
                mid-level map's channels) during training only.
            weight_decay (float | None): Adam's decoupled weight decay (AdamW's).

        Returns:
            keras.Model: compiled.

        Example:
        >>> model = trainer.training_model()  # doctest: +SKIP
        >>> model.train_on_batch({"rgb": rgb, "embedding": vectors}, rgb)  # doctest: +SKIP
        """
        check_positive_number("learning_rate", learning_rate)
        _check_regularisation(embedding_dropout, weight_decay)
        loss = loss or self._loss or head_loss(self.colorizer.get_config()["loss"])
        optimizer_settings = (ema_momentum, weight_decay)
        rebuild = self._model is None or embedding_dropout != self._embedding_dropout
        if rebuild:
            self._model = self._build_model(embedding_dropout)
        if rebuild or optimizer_settings != self._optimizer_settings:
            # A new optimizer: the moving average lives in its variables.
            self._model.compile(
                optimizer=self._optimizer(learning_rate, *optimizer_settings), loss=loss
            )
        else:
            self._model.optimizer.learning_rate = learning_rate
            if loss is not self._loss:
                self._model.compile(optimizer=self._model.optimizer, loss=loss)
        self._loss, self._optimizer_settings = loss, optimizer_settings
        self._embedding_dropout = embedding_dropout
        return self._model

    def _build_model(self, embedding_dropout):
        head = self.colorizer.head
        rgb = keras.Input((None, None, 3), dtype="uint8", name="rgb")
        # The head's inputs after the lightness, by name: "embedding", then
        # "mid_level", "hints" and "color_histogram" where the head has them.
        inputs = {i.name: keras.Input(i.shape[1:], name=i.name) for i in head.inputs[1:]}
        extra = dict(inputs)
        lightness = LightnessFromRGB(name="lightness_from_rgb")(rgb)
        if embedding_dropout:
            # Less reliance on what the classifier recognised, which differs most
            # between sources of photos.
            extra["embedding"] = keras.layers.Dropout(embedding_dropout)(extra["embedding"])
            if "mid_level" in extra:
                extra["mid_level"] = keras.layers.SpatialDropout2D(embedding_dropout)(
                    extra["mid_level"]
                )
        if settings.classifies(self.colorizer.get_config()["loss"]):
            # Train on the bin logits; the annealed mean is for colorizing.
            vectors = [extra[name] for name in ("embedding", "mid_level") if name in extra]
            chroma = head.decoder(head.fusion([head.encoder(lightness), *vectors]))
            if head.guide is not None:
                chroma = head.guide([chroma, extra["hints"], extra["color_histogram"]])
        else:
            chroma = head([lightness, *extra.values()])
        return keras.Model({"rgb": rgb, **inputs}, chroma, name="trainer")

    def _optimizer(self, learning_rate, ema_momentum, weight_decay):
        optimizer = keras.optimizers.Adam(
            learning_rate,
            weight_decay=weight_decay,
            use_ema=ema_momentum is not None,
            ema_momentum=0.99 if ema_momentum is None else ema_momentum,
        )
        if self.colorizer.get_config()["dtype_policy"] == "mixed_float16":
            # float16 gradients underflow without loss scaling.
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer
