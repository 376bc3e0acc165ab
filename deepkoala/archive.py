"""Colorizing an archive on Ray Data: photos spread over workers that each load the colorizer once.

Ray Data is the engine: a dataset of (photo, output) pairs goes through
`map_batches` with a pool of actors, each holding one `Colorizer`; Ray
schedules them on the machine or the cluster (`ray.init` or `RAY_ADDRESS`)
and retries what a lost node held. Outputs follow `deepkoala colorize`'s
rules (`deepkoala.output_files`): beside each photo, or in an output
folder, written atomically with the photo's metadata. Photos whose output
exists already are skipped, so a rerun finishes an interrupted job; a photo
that fails is named in the report and never stops the job.
Needs `pip install deepkoala[ray]`.
"""

import math
import os
import socket

import keras
import numpy as np

from deepkoala import output_files
from deepkoala.argument_checks import check_positive_int
from deepkoala.presets import DEFAULT_PRESET


def colorize_archive(
    inputs, output=None, model=DEFAULT_PRESET, workers=2, batch_size=8, cpus_per_worker=1,
    photo_format="auto", image_size=None, saturation=None, uncertainty_fade=None, verbose=True,
):  # fmt: skip
    """Colorize every photo of `inputs` on a Ray cluster (a local one if none is running).

    Args:
        inputs (str | os.PathLike | list): folders (searched recursively) and
            photo files, as paths or `file://` URIs that every worker can read
            (a shared file system on a cluster).
        output (str | os.PathLike | None): one output folder; None puts each
            output beside its photo, as `deepkoala colorize` does.
        model (str): a preset name or a `.keras` file, loaded once per worker.
        workers (int): the actors of the pool, each with its own colorizer.
        batch_size (int): photos per call of a worker (and per network pass).
        cpus_per_worker (float): the CPUs Ray reserves for each worker.
        photo_format (str): "auto" (JPEG stays JPEG, else PNG), "png" or "jpeg".
        image_size (int | None): the working size (default the model's).
        saturation (float | None): a decoding setting, as for `Colorizer`.
        uncertainty_fade (float | None): a decoding setting, as for `Colorizer`.
        verbose (bool): show a progress bar.

    Returns:
        dict: "written" (output paths), "done_before" (photos whose output
            existed already: skipped), "failed" ({photo: why}) and "workers"
            (how many worker processes colorized).

    Raises:
        ImportError: Ray is not installed (`pip install deepkoala[ray]`).

    Example:
    >>> report = colorize_archive("scans/", output="colorized/", workers=4)  # doctest: +SKIP
    >>> report["failed"]  # doctest: +SKIP
    {'scans/0413.tif': 'cannot identify image file ...'}
    """
    check_positive_int("workers", workers)
    check_positive_int("batch_size", batch_size)
    if photo_format not in ("auto", "png", "jpeg"):
        raise ValueError(
            '`photo_format` must be "auto", "png" or "jpeg". '
            f"Received: photo_format={photo_format!r}"
        )
    try:
        import ray
    except ImportError:
        raise ImportError("colorize_archive runs on Ray Data: pip install deepkoala[ray]") from None
    paths = [_local_path(item) for item in ([inputs] if _is_one(inputs) else inputs)]
    pairs, skipped = output_files.input_files(paths, output and os.fspath(output), photo_format)
    failed = dict(skipped)
    for path, target in pairs:
        if not target.endswith(output_files.PHOTO_EXTENSIONS):
            failed[path] = "a video: colorize it with Colorizer.colorize_video"
    photos = [pair for pair in pairs if pair[1].endswith(output_files.PHOTO_EXTENSIONS)]
    todo = [(path, target) for path, target in photos if not os.path.lexists(target)]
    report = {"written": [], "done_before": len(photos) - len(todo), "failed": failed, "workers": 0}
    if not todo:
        return report
    if not ray.is_initialized():
        ray.init(logging_level="warning", log_to_driver=False)
    # One block per batch, so that every worker of the pool gets some.
    dataset = ray.data.from_items(
        [{"path": path, "target": target} for path, target in todo],
        override_num_blocks=math.ceil(len(todo) / batch_size),
    )
    decoding = {"saturation": saturation, "uncertainty_fade": uncertainty_fade}
    results = dataset.map_batches(
        _ColorizeBatch,
        fn_constructor_kwargs={
            "model": os.fspath(model),
            "decoding": {name: value for name, value in decoding.items() if value is not None},
            "image_size": image_size,
        },
        batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=cpus_per_worker,
    )
    progress = keras.utils.Progbar(len(todo), unit_name="photo") if verbose else None
    workers_seen = set()
    for done, row in enumerate(results.iter_rows(), start=1):
        workers_seen.add(row["worker"])
        if row["error"]:
            report["failed"][row["path"]] = row["error"]
        else:
            report["written"].append(row["written"])
        if progress is not None:
            progress.update(done)
    report["workers"] = len(workers_seen)
    return report


def _is_one(inputs):
    return isinstance(inputs, (str, os.PathLike))


def _local_path(item):
    """A path from a path or a `file://` URI; other schemes are refused by name."""
    item = os.fspath(item)
    if item.startswith("file://"):
        return item[len("file://") :]
    scheme = item.split("://", 1)[0] if "://" in item else None
    if scheme:
        raise ValueError(
            f"colorize_archive reads files that every worker sees (paths or file:// URIs); "
            f"copy {scheme}:// objects to a shared file system first. Received: {item!r}"
        )
    return item


class _ColorizeBatch:
    """A Ray Data worker: loads the colorizer once, colorizes and writes each batch it gets."""

    def __init__(self, model, decoding, image_size):
        from deepkoala import Colorizer

        self.colorizer = Colorizer.from_preset(model)
        if decoding:
            self.colorizer.set_decoding(**decoding)
        self.image_size = image_size

    def __call__(self, batch):
        paths, targets = [str(p) for p in batch["path"]], [str(t) for t in batch["target"]]
        written, errors = list(targets), [""] * len(paths)

        def save(index, image):
            try:
                written[index] = output_files.save_atomically(
                    image, targets[index], overwrite=False, source=paths[index]
                )
            except (OSError, ValueError) as error:
                raise OSError(f"cannot write {targets[index]}: {error}") from error

        stream = self.colorizer.colorize_stream(
            paths, batch_size=len(paths), image_size=self.image_size, finish=save
        )
        for index, _, failure in stream:
            if failure is not None:
                errors[index] = str(failure)
        return {
            "path": np.array(paths, dtype=object),
            "written": np.array(written, dtype=object),
            "error": np.array(errors, dtype=object),
            "worker": np.full(len(paths), f"{socket.gethostname()}:{os.getpid()}", dtype=object),
        }
