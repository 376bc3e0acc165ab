"""The holdout of a fine-tune: photos kept out by name, scored before, during and after.

Fine-tuning a trained colorizer on a few dozen photos can make it worse, and
the training loss does not say so. `Colorizer.fit` on a preset (or a loaded
file) therefore keeps a few of the photos out (`split_holdout`, by a hash of
their names, so a rerun keeps the same ones), and `Holdout` scores them with
`deepkoala.evaluation`'s metrics before training and after every epoch: it
stops when they stop improving, and it ends with the best weights it saw,
which are the starting weights when no epoch beat them.
"""

import hashlib
import os
import warnings

import keras

from deepkoala.evaluation import score_images

# A fifth of the photos, at least one, at most 20, and only where at least
# 4 are left to train on (measured in docs/fine-tuning.md).
HOLDOUT_SHARE = 0.2
HOLDOUT_MAX = 20
MIN_TRAINING_PHOTOS = 4
# Epochs without a better holdout PSNR before training stops.
PATIENCE = 3


def holdout_size(photo_count):
    """How many of `photo_count` photos the automatic holdout keeps out (0: too few).

    Example:
    >>> holdout_size(50), holdout_size(10), holdout_size(4)
    (10, 2, 0)
    """
    if photo_count < MIN_TRAINING_PHOTOS + 1:
        return 0
    return min(max(1, round(photo_count * HOLDOUT_SHARE)), HOLDOUT_MAX)


def split_holdout(paths, count):
    """(training paths, holdout paths): the `count` photos whose names hash lowest.

    The name (not the folder) decides, so the same photos stay out wherever
    the folder lies; ties are broken by the full path. Each list keeps the
    order of `paths`.

    Example:
    >>> split_holdout(["a.jpg", "b.jpg", "c.jpg"], 1)
    (['a.jpg', 'c.jpg'], ['b.jpg'])
    """

    def rank(path):
        name = os.path.basename(path).encode("utf-8", "surrogateescape")
        return hashlib.sha256(name).hexdigest(), path

    held = set(sorted(paths, key=rank)[:count])
    return [path for path in paths if path not in held], [path for path in paths if path in held]


class Holdout(keras.callbacks.Callback):
    """Score held-out photos each epoch; stop early; end with the best weights seen.

    The score is the mean PSNR of the colorized photos (the same as
    `evaluate`'s). Before training it scores the starting weights; after each
    epoch it logs `holdout_psnr` (so `History` and later callbacks see it);
    after `patience` epochs without a better score it stops training. At the
    end, unless `keep_last`, the colorizer gets the best weights seen, the
    starting ones included, and `report` says what happened.

    Args:
        colorizer (deepkoala.Colorizer): the colorizer being trained.
        images (list[numpy.ndarray]): the held-out photos, uint8 RGB.
        patience (int): epochs without improvement before stopping.
        keep_last (bool): keep the last epoch's weights, even when worse.

    Example:
    >>> holdout = Holdout(colorizer, [read_rgb_uint8("held/1.jpg")])  # doctest: +SKIP
    >>> model.fit(batches, epochs=20, callbacks=[holdout])  # doctest: +SKIP
    >>> holdout.report["kept_epoch"]  # doctest: +SKIP
    """

    def __init__(self, colorizer, images, patience=PATIENCE, keep_last=False):
        super().__init__()
        if not images:
            raise ValueError("`images` must hold at least one photo. Received: images=[]")
        self.colorizer = colorizer
        self.images = images
        self.patience = patience
        self.keep_last = keep_last
        self.report = None
        self._best = None

    def _score(self):
        return score_images(self.colorizer, self.images)

    def on_train_begin(self, logs=None):
        scores = self._score()
        self.report = {
            "photos": len(self.images),
            "gray": scores["gray"],
            "before": scores["deepkoala"],
            "epochs": [],
        }
        self._best = (scores["deepkoala"]["psnr"], 0, self.colorizer.head.get_weights())

    def on_epoch_end(self, epoch, logs=None):
        scores = self._score()["deepkoala"]
        self.report["epochs"].append(scores)
        if logs is not None:
            logs["holdout_psnr"] = scores["psnr"]
        if scores["psnr"] > self._best[0]:
            self._best = (scores["psnr"], epoch + 1, self.colorizer.head.get_weights())
        elif epoch + 1 - self._best[1] >= self.patience:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.report is None or not self.report["epochs"]:
            return  # interrupted before an epoch ended: nothing to choose from
        last = self.report["epochs"][-1]
        if self.keep_last:
            kept_epoch, after = len(self.report["epochs"]), last
        else:
            _, kept_epoch, weights = self._best
            self.colorizer.head.set_weights(weights)
            after = self.report["epochs"][kept_epoch - 1] if kept_epoch else self.report["before"]
        self.report.update(after=after, kept_epoch=kept_epoch)


def warn_unless_improved(report, stacklevel=2):
    """Warn when a fine-tune's holdout `report` (of `Holdout`) did not improve.

    Example:
    >>> warn_unless_improved(history.holdout)  # doctest: +SKIP
    """
    before, after = report["before"]["psnr"], report["after"]["psnr"]
    if after < before:
        warnings.warn(
            f"Fine-tuning made the colorizer worse on the {report['photos']} held-out "
            f"photo(s): {after:.2f} dB after, {before:.2f} before (keep_last=True kept the "
            "last epoch's weights).",
            stacklevel=stacklevel + 1,
        )
    elif not report["kept_epoch"]:
        warnings.warn(
            f"No epoch beat the starting weights on the {report['photos']} held-out "
            f"photo(s) ({before:.2f} dB): the colorizer keeps them (keep_last=True keeps "
            "the last epoch's weights).",
            stacklevel=stacklevel + 1,
        )
