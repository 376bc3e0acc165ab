"""The `deepkoala` command line: colorize, train, evaluate and list presets."""

import argparse
import errno
import importlib.util
import os
import sys
import warnings

from deepkoala import interrupts, output_files
from deepkoala.version import __version__


class UserError(Exception):
    """A mistake in the command line's input, reported in one line."""


def _positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _holdout_count(text):
    if text == "auto":
        return text
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f'must be "auto" or a count of photos, got {text}')
    return value or None


def _non_negative_float(text):
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def _positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _hint(text):
    from deepkoala.guidance import Hint

    try:
        return Hint.from_text(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _shard(text):
    index, _, count = text.partition("/")
    try:
        index, count = int(index), int(count)
    except ValueError:
        index = count = -1
    if not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"must be I/N with 0 <= I < N, got {text}")
    return index, count


def _backbone_weights(text):
    return None if text.lower() == "none" else text


def _add_model_source(parser, default_preset, guided_preset=None):
    """--preset NAME (default: the best bundled preset) or --weights PATH."""
    source = parser.add_mutually_exclusive_group()
    default = f"{default_preset}, or {guided_preset} with guidance" if guided_preset else ""
    source.add_argument(
        "--preset",
        metavar="NAME",
        default=None if guided_preset else default_preset,
        help=f"a preset from `deepkoala presets` (default: {default or default_preset}, "
        "bundled, offline)",
    )
    source.add_argument(
        "--weights",
        metavar="PATH",
        help="a colorizer saved by deepkoala: a .keras file (a path or a URL) or a preset folder",
    )


def _add_runtime(parser):
    """--precision and --engine: how the network runs."""
    from deepkoala.precision import PRECISIONS

    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="the network's compute precision: auto is bfloat16 on a CPU with bfloat16 "
        "units, float16 on a GPU, float32 elsewhere (default auto; docs/performance.md)",
    )
    parser.add_argument(
        "--engine",
        choices=("keras", "openvino"),
        default="keras",
        help="what runs the network: keras, or openvino on CPUs (faster; pip install "
        "deepkoala[openvino]; the first run exports the model once)",
    )


def _set_runtime(colorizers, args):
    """Set each colorizer's precision and engine; one note on stderr where the CPU lacks units."""
    from deepkoala import precision as precision_module

    note = precision_module.unsupported_note(args.precision)
    if note:
        print(f"deepkoala: note: {note}", file=sys.stderr)
        precision_module.warn_unsupported(args.precision, quiet=True)  # said once is enough
    for colorizer in colorizers:
        colorizer.set_precision(args.precision)
        try:
            colorizer.set_engine(args.engine)
        except ImportError as error:
            raise UserError(str(error)) from error


def _add_starting_model(parser, weights_help, preset_help):
    """The model `train` starts from (and `cache` embeds with): a file, a preset or a new one."""
    from deepkoala import settings

    start = parser.add_mutually_exclusive_group()
    start.add_argument("--weights", metavar="PATH", help=weights_help)
    start.add_argument("--preset", metavar="NAME", help=preset_help)
    parser.add_argument("--backbone", default=settings.BACKBONE)
    parser.add_argument(
        "--backbone-weights",
        type=_backbone_weights,
        default=settings.BACKBONE_WEIGHTS,
        help='"imagenet" (downloaded by Keras), "none" (random) or a weights file',
    )
    parser.add_argument(
        "--size", type=_positive_int, default=settings.IMAGE_SIZE, help="working size"
    )


def _add_cache_settings(parser):
    """The settings that name an embedding cache, shared by `train` and `cache`."""
    parser.add_argument(
        "--views-per-image",
        type=_positive_int,
        default=1,
        help="cache this many views (crops at several scales) of every photo",
    )
    parser.add_argument(
        "--stored-size", type=_positive_int, help="cache photos at this size for random crops"
    )
    parser.add_argument("--cache-dir", help="embedding caches (default $DEEPKOALA_HOME/cache)")


def build_parser():
    from deepkoala import settings
    from deepkoala.presets import DEFAULT_PRESET, GUIDED_PRESET

    parser = argparse.ArgumentParser(
        prog="deepkoala", description="Colorize grayscale photographs with Deep Koalarization."
    )
    parser.add_argument("--version", action="version", version=f"deepkoala {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    examples = argparse.RawDescriptionHelpFormatter
    colorize = commands.add_parser(
        "colorize",
        help="colorize images and videos",
        description="Colorize image and video files, or every one in folders. Videos "
        "(recognised by their content) keep their container, sound and timing; they need "
        "PyAV: pip install deepkoala[video].",
        formatter_class=examples,
        epilog="examples:\n"
        "  deepkoala colorize photo.jpg                  # writes photo_colorized.jpg beside it\n"
        "  deepkoala colorize old_photos/ -o out/        # every image in the folder, into out/\n"
        "  deepkoala colorize scan.tif --weights mine.keras --size 320\n"
        "  deepkoala colorize film.mp4 -o out/           # writes out/film.mp4, with its sound\n"
        "  deepkoala colorize old.jpg --hint 120,80,#b22222 --hint 400,30,#faa03c\n"
        "  deepkoala colorize old.jpg --hints hints.json  # the format: docs/guided.md\n"
        "  deepkoala colorize old.jpg --reference summer_meadow.jpg",
    )
    colorize.add_argument(
        "inputs", nargs="+", metavar="IN", help="image or video files, or folders"
    )
    colorize.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="output folder (default: NAME_colorized.EXT beside each file, and a sibling "
        "folder DIR_colorized/ for a folder)",
    )
    colorize.add_argument(
        "--format",
        choices=("auto", "png", "jpeg"),
        default="auto",
        help="photos: auto keeps JPEG photos JPEG (quality 95) and writes the others as "
        "PNG; png or jpeg writes every photo so (default auto)",
    )
    colorize.add_argument(
        "--depth",
        type=int,
        choices=(8, 16),
        default=8,
        help="bits a channel of the photos written: 16 writes PNG and keeps a 16-bit "
        "scan's lightness at 16 bits (default 8)",
    )
    _add_model_source(colorize, DEFAULT_PRESET, GUIDED_PRESET)
    colorize.add_argument(
        "--size", type=_positive_int, help="working size of the network (multiple of 8)"
    )
    colorize.add_argument("--batch-size", type=_positive_int, default=settings.COLORIZE_BATCH_SIZE)
    _add_runtime(colorize)
    colorize.add_argument(
        "--saturation",
        type=_positive_float,
        help="scale the predicted colors: above 1 more vivid, below 1 paler (default: the "
        "model's own, 1 for the bundled preset)",
    )
    colorize.add_argument(
        "--uncertainty-fade",
        type=_non_negative_float,
        metavar="K",
        help="fade colors toward gray where the model is torn between distant hues: 0 "
        "never, higher paler (default: the model's own, 0.5 for the bundled presets)",
    )
    colorize.add_argument(
        "--hint",
        action="append",
        metavar="X,Y,COLOR",
        type=_hint,
        help="a color at a point of the photo (its own pixels, x right, y down), COLOR as "
        "#rrggbb; repeat for more (one photo only)",
    )
    colorize.add_argument(
        "--hints",
        metavar="FILE",
        help='hints from a JSON file: [{"x": 120, "y": 80, "color": "#b22222"}, ...] '
        "(one photo only)",
    )
    colorize.add_argument(
        "--reference",
        metavar="PHOTO",
        help="a color photo whose colors to borrow where it matches (photos and videos)",
    )
    colorize.add_argument(
        "--smoothing",
        type=float,
        default=0.7,
        help="videos: weight of the previous frames' colors, in [0, 1); 0 colorizes each "
        "frame alone (default 0.7)",
    )
    colorize.add_argument(
        "--video-codec", default="libx264", help="videos: FFmpeg encoder (default libx264)"
    )
    colorize.add_argument(
        "--crf", type=int, default=18, help="videos: quality, lower is better (default 18)"
    )
    colorize.add_argument(
        "--overwrite",
        action="store_true",
        help="replace output files that exist already (never an input file)",
    )

    train = commands.add_parser(
        "train",
        help="train or fine-tune on a folder of color photos",
        description="Train the colorization head on every image in a folder (recursively).",
        formatter_class=examples,
        epilog="examples:\n"
        f"  deepkoala train my_photos/ --preset {DEFAULT_PRESET} --epochs 5 --out mine.keras\n"
        "  deepkoala train photos/ --backbone efficientnet_lite0 --loss classification \\\n"
        "      --views-per-image 8 --epochs 20 --out koala.keras",
    )
    train.add_argument("folder", metavar="DIR", help="folder of color images")
    train.add_argument("--epochs", type=_positive_int, default=5)
    train.add_argument("--out", default="deepkoala.keras", help="where to save the .keras file")
    _add_starting_model(train, "fine-tune this .keras file", "fine-tune this preset")
    train.add_argument(
        "--loss",
        default=settings.LOSS,
        help="mse (the paper's), rebalanced_mse, classification or rebalanced_classification "
        "(more vivid; see docs/quality.md)",
    )
    _add_cache_settings(train)
    train.add_argument("--batch-size", type=_positive_int, default=settings.FIT_BATCH_SIZE)
    train.add_argument("--learning-rate", type=float, default=settings.LEARNING_RATE)
    train.add_argument("--validation-split", type=float, default=0.0)
    train.add_argument(
        "--checkpoint-dir", help="save every epoch here; run again to resume after a crash"
    )
    train.add_argument(
        "--holdout",
        type=_holdout_count,
        default="auto",
        metavar="N",
        help="fine-tuning: photos kept out to score it, by name (default: a fifth, at most "
        "20; 0: none)",
    )
    train.add_argument(
        "--keep-last",
        action="store_true",
        help="fine-tuning: keep the last epoch's weights even when the holdout scores them "
        "worse than the preset's",
    )

    processes = train.add_argument_group(
        "several processes (KERAS_BACKEND=jax; or the KERAS_DISTRIBUTION_* variables)"
    )
    processes.add_argument("--coordinator", metavar="HOST:PORT", help="process 0's address")
    processes.add_argument("--num-processes", type=_positive_int, metavar="N")
    processes.add_argument("--process-id", type=int, metavar="I", help="0 to N-1")

    cache = commands.add_parser(
        "cache",
        help="build the embedding cache that train reads, whole or one shard per worker",
        description="Cut every photo of a folder into views and store them with their "
        "backbone embeddings, as `deepkoala train` does before its first epoch, with the same "
        "settings. With --shard I/N, only the photos whose path hashes to shard I, in a file of "
        "their own: N workers build the N shards without talking to each other, and train "
        "reads them all (docs/distributed.md).",
        formatter_class=examples,
        epilog="examples:\n"
        "  deepkoala cache photos/ --backbone efficientnet_lite0 --shard 0/4 --cache-dir /shared\n"
        "  deepkoala train photos/ --backbone efficientnet_lite0 --cache-dir /shared --out m.keras",
    )
    cache.add_argument("folder", metavar="DIR", help="folder of color images")
    _add_starting_model(cache, "the .keras file train will tune", "the preset train will tune")
    _add_cache_settings(cache)
    cache.add_argument("--shard", type=_shard, metavar="I/N", help="build shard I of N only")

    serve = commands.add_parser(
        "serve",
        help="a web page and an HTTP API to colorize photos (pip install deepkoala[app])",
        description="Serve a page to colorize and steer photos, and an HTTP API "
        "(docs/app.md). Models load at start; requests never name files.",
        formatter_class=examples,
        epilog="examples:\n"
        "  deepkoala serve                       # http://127.0.0.1:7860\n"
        "  deepkoala serve --preset koala-lite0 --model mine.keras --port 8080",
    )
    serve.add_argument(
        "--preset",
        action="append",
        metavar="NAME",
        help=f"a preset to serve (repeatable; default: {GUIDED_PRESET}, which also "
        "learned to follow hints)",
    )
    serve.add_argument(
        "--model", action="append", metavar="PATH", help="a .keras file or preset folder"
    )
    serve.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (this machine)")
    serve.add_argument("--port", type=_positive_int, default=7860)
    serve.add_argument(
        "--max-upload-mb", type=_positive_float, default=25.0, help="413 beyond (default 25)"
    )
    serve.add_argument(
        "--max-pixels", type=_positive_int, default=40_000_000, help="413 beyond (default 40 MP)"
    )
    serve.add_argument(
        "--concurrency",
        type=_positive_int,
        default=max(1, (os.cpu_count() or 1) // 8),
        help="photos colorized at once, one model copy each (default: a CPU's cores / 8, "
        "at least 1: one colorization already uses every core)",
    )
    serve.add_argument(
        "--queue", type=int, default=8, help="requests that may wait; more get 503 (default 8)"
    )
    _add_runtime(serve)

    evaluate = commands.add_parser(
        "evaluate",
        help="measure a colorizer on color photos, beside the gray baseline",
        description=(
            "Make every color image in DIR gray, colorize it and compare with the original: "
            "PSNR, SSIM, AuC of the ab error CDF and colorfulness, beside the gray baseline."
        ),
        formatter_class=examples,
        epilog="examples:\n"
        "  deepkoala evaluate held_out_photos/\n"
        "  deepkoala evaluate held_out_photos/ --weights mine.keras --json",
    )
    evaluate.add_argument("folder", metavar="DIR", help="folder of color images")
    _add_model_source(evaluate, DEFAULT_PRESET)
    evaluate.add_argument("--size", type=_positive_int, help="working size of the network")
    evaluate.add_argument("--limit", type=_positive_int, help="score only the first N images")
    evaluate.add_argument("--batch-size", type=_positive_int, default=settings.COLORIZE_BATCH_SIZE)
    _add_runtime(evaluate)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")

    commands.add_parser(
        "presets",
        help="list the trained colorizers that can be downloaded",
        description="List the registered presets: backbone, working size, training data, scores.",
        formatter_class=examples,
        epilog="example:\n  deepkoala presets",
    )
    return parser


def run_colorize(args):
    import keras

    from deepkoala import Colorizer

    if args.depth == 16 and args.format == "jpeg":
        raise UserError("--depth 16 writes PNG: JPEG holds 8 bits a channel")
    photo_format = "png" if args.depth == 16 else args.format
    pairs, skipped = output_files.input_files(args.inputs, args.output, photo_format)
    failed = [f"{path}: {why}" for path, why in skipped]
    # Decided before anything is written: an output never replaces an input,
    # and files that existed before the run are kept unless --overwrite.
    inputs = {os.path.realpath(path) for path, _ in pairs}
    taken, todo = set(), []
    for path, planned in pairs:
        target = output_files.unique_output(planned, taken)
        problem = output_files.output_problem(target, inputs, args.overwrite)
        if problem:
            failed.append(f"{path}: {problem}")
        else:
            todo.append((path, target))
    videos = [
        (path, target)
        for path, target in todo
        if not target.endswith(output_files.PHOTO_EXTENSIONS)
    ]
    todo = [
        (path, target) for path, target in todo if target.endswith(output_files.PHOTO_EXTENSIONS)
    ]
    hints = _cli_hints(args, pairs, len(todo))
    colorizer = Colorizer.from_preset(args.weights or args.preset or _default_preset(args))
    decoding = {"saturation": args.saturation, "uncertainty_fade": args.uncertainty_fade}
    colorizer.set_decoding(**{k: v for k, v in decoding.items() if v is not None})
    _set_runtime([colorizer], args)
    written, renamed = 0, {}
    if todo:
        progress = keras.utils.Progbar(len(todo), unit_name="image")

        def save(index, image):
            # In a worker thread: encoding overlaps the next batch's network pass.
            source, target = todo[index]
            try:
                written_to = output_files.save_atomically(image, target, args.overwrite, source)
            except OSError as error:
                # strerror: the partial's hidden name would only confuse.
                raise OSError(f"cannot write {target}: {error.strerror or error}") from error
            except ValueError as error:
                raise OSError(f"cannot write {target}: {error}") from error
            if written_to != target:
                renamed[target] = written_to

        stream = colorizer.colorize_stream(
            [path for path, _ in todo], batch_size=args.batch_size, image_size=args.size,
            finish=save, hints=hints, reference=args.reference, depth=args.depth,
        )  # fmt: skip
        for done, (_, _, failure) in enumerate(stream, start=1):
            if failure is None:
                written += 1
            else:
                failed.append(str(failure))
            progress.update(done)
    for path, target in videos:
        print(f"{path} -> {target}")
        try:
            os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
            colorizer.colorize_video(
                path, target, batch_size=args.batch_size, image_size=args.size,
                smoothing=args.smoothing, codec=args.video_codec, crf=args.crf,
                reference=args.reference,
            )  # fmt: skip
            written += 1
        except (ImportError, ValueError, OSError) as error:
            if getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
                # Named by the output, not by the hidden partial it was writing.
                error = f"cannot write {target}: {error.strerror}"
            failed.append(f"{path}: {error}")
    for target, written_to in renamed.items():
        print(
            f"deepkoala: {target} was written meanwhile by another process; wrote {written_to}",
            file=sys.stderr,
        )
    for message in failed:
        print(f"deepkoala: skipped: {message}", file=sys.stderr)
    where = f" into {args.output}" if args.output else ""
    print(f"Colorized {written} file(s){where}")
    return 1 if failed else 0


def _default_preset(args):
    """The bundled guided preset for guided colorizing, else the default one."""
    from deepkoala.presets import DEFAULT_PRESET, GUIDED_PRESET

    guided = args.hint or args.hints or args.reference
    return GUIDED_PRESET if guided else DEFAULT_PRESET


def _cli_hints(args, pairs, photos_to_write):
    """The hints of the one input photo, as `colorize_stream` takes them, or None."""
    if not args.hint and not args.hints:
        return None
    from deepkoala.guidance import read_hints

    if len(pairs) != 1 or not pairs[0][1].endswith(output_files.PHOTO_EXTENSIONS):
        raise UserError(
            "--hint and --hints name the pixels of one photo: give one photo (steer videos "
            "and folders with --reference)"
        )
    hints = [*(args.hint or []), *(read_hints(args.hints) if args.hints else [])]
    return [hints] * photos_to_write


def _check_writable_model_path(path):
    """Fail before training, not after it, when the result cannot be saved there."""
    if not path.endswith(".keras"):
        raise UserError(f"--out must name a .keras file, got {path}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"--out: no such folder: {folder}")
    if not os.access(folder, os.W_OK):
        raise UserError(f"--out: cannot write into {folder}")
    if os.path.isdir(path):
        raise UserError(f"--out: {path} is a folder")


def run_train(args):
    if not os.path.isdir(args.folder):
        raise UserError(f"no such folder: {args.folder}")
    _check_writable_model_path(args.out)
    distribution = _join_processes(args)
    colorizer = _training_colorizer(args)
    history = colorizer.fit(
        args.folder,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        validation_split=args.validation_split,
        stored_size=args.stored_size,
        checkpoint_dir=args.checkpoint_dir,
        views_per_image=args.views_per_image,
        verbose=2,
        holdout=args.holdout,
        keep_last=args.keep_last,
        cache_dir=args.cache_dir,
        distribution=distribution,
    )
    if history.holdout is not None:
        print(_holdout_summary(history.holdout))
    from deepkoala import multi_process

    if not multi_process.is_writer():
        return 0
    try:
        colorizer.save(args.out)
    except OSError as error:
        # Keras' message names no file (or the hidden partial).
        raise OSError(f"cannot write {args.out}: {error.strerror or error}") from None
    print(f"Saved {args.out}")
    return 0


def _training_colorizer(args):
    """The colorizer `train` (and `cache`) starts from: a preset, a file, or a new one."""
    from deepkoala import Colorizer, settings

    if args.weights or args.preset:
        return Colorizer.from_preset(args.weights or args.preset)
    return Colorizer(
        backbone=args.backbone,
        backbone_weights=args.backbone_weights,
        image_size=args.size,
        loss=getattr(args, "loss", settings.LOSS),
    )


def _join_processes(args):
    """The distribution over several processes that the arguments or the environment ask for."""
    asked = (args.coordinator, args.num_processes, args.process_id)
    if all(value is None for value in asked) and not os.environ.get(
        "KERAS_DISTRIBUTION_NUM_PROCESSES"
    ):
        return None
    from deepkoala import multi_process

    try:
        return multi_process.initialize(*asked)
    except RuntimeError as error:
        raise UserError(str(error)) from None


def run_cache(args):
    from deepkoala.paths import deepkoala_home
    from deepkoala.training import backbone_id
    from deepkoala.training_data import TrainingData

    if not os.path.isdir(args.folder):
        raise UserError(f"no such folder: {args.folder}")
    colorizer = _training_colorizer(args)
    stored_size = args.stored_size or colorizer.image_size
    if stored_size < colorizer.image_size:
        raise UserError(f"--stored-size must be at least the working size {colorizer.image_size}")
    cache_dir = args.cache_dir or os.path.join(deepkoala_home(), "cache")
    with TrainingData(
        args.folder, stored_size, colorizer.embed, backbone_id(colorizer), cache_dir,
        args.views_per_image, verbose=True, shard=args.shard,
    ) as data:  # fmt: skip
        photos, views = len(data.store.photos), len(data.store)
    which = f"shard {args.shard[0]}/{args.shard[1]}" if args.shard else "the cache"
    print(f"{which}: {photos} photos, {views} views, in {cache_dir}")
    return 0


def _holdout_summary(report):
    """The fine-tune's before/after lines, from `History.holdout`."""
    before, after = report["before"]["psnr"], report["after"]["psnr"]
    lines = [
        f"holdout: {report['photos']} photo(s); before: {before:.2f} dB, after: {after:.2f} dB "
        f"(gray {report['gray']['psnr']:.2f})"
    ]
    if report["kept_epoch"]:
        lines.append(f"kept the weights of epoch {report['kept_epoch']}")
    else:
        lines.append(
            "no epoch beat the starting weights on the holdout: kept them "
            "(--keep-last keeps the last epoch's)"
        )
    return "\n".join(lines)


def run_serve(args):
    missing = [
        name
        for name in ("fastapi", "gradio", "uvicorn", "multipart")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        raise UserError(
            f"deepkoala serve needs the app's packages (missing: {', '.join(missing)}): "
            "pip install deepkoala[app]"
        )
    if args.queue < 0:
        raise UserError(f"--queue must be 0 or more, got {args.queue}")
    import uvicorn

    from deepkoala import Colorizer
    from deepkoala.colorize_service import ColorizeService
    from deepkoala.presets import GUIDED_PRESET
    from deepkoala.web_app import create_app

    sources = [(name, name) for name in args.preset or []]
    for path in args.model or []:
        name = os.path.splitext(os.path.basename(os.path.normpath(path)))[0]
        sources.append((name, path))
    sources = sources or [(GUIDED_PRESET, GUIDED_PRESET)]

    def load_models():
        models = {name: Colorizer.from_preset(source, verbose=False) for name, source in sources}
        _set_runtime(models.values(), args)
        return models

    service = ColorizeService(
        load_models, concurrency=args.concurrency, queue=args.queue, max_pixels=args.max_pixels
    )
    app = create_app(service, max_upload_mb=args.max_upload_mb)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"deepkoala: warning: --host {args.host}: the page and the API are reachable "
            "from the network, without a password",
            file=sys.stderr,
        )
    print(f"deepkoala: serving {', '.join(service.model_names)} on http://{args.host}:{args.port}")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def run_evaluate(args):
    import json

    from deepkoala import Colorizer
    from deepkoala.evaluation import evaluate, format_report

    if not os.path.isdir(args.folder):
        raise UserError(f"no such folder: {args.folder}")
    colorizer = Colorizer.from_preset(args.weights or args.preset, verbose=not args.json)
    _set_runtime([colorizer], args)
    report = evaluate(
        colorizer,
        args.folder,
        limit=args.limit,
        image_size=args.size,
        batch_size=args.batch_size,
        verbose=0 if args.json else 1,
    )
    print(json.dumps(report) if args.json else format_report(report))
    return 0


def run_presets(args):
    from deepkoala import Colorizer
    from deepkoala.presets import DEFAULT_PRESET

    presets = Colorizer.presets()
    if not presets:
        print("No presets are registered yet: train your own with `deepkoala train`.")
        return 0
    for name, preset in presets.items():
        config = preset.config()
        scores = ", ".join(f"{key} {value}" for key, value in preset.scores.items())
        default = " (the default)" if name == DEFAULT_PRESET else ""
        print(f"{name}{default}: {preset.description}")
        if config:
            print(
                f"  backbone {config['backbone']}, working size {config['image_size']}, "
                f"loss {config['loss']}"
                + (", mid-level features" if config.get("mid_level_features") else "")
            )
        else:
            print(f"  downloaded on first use ({', '.join(sorted(preset.files))})")
        if preset.trained_on:
            print(f"  trained on {preset.trained_on}")
        record = preset.training_record()
        if record:
            print(
                f"  training record: {record['training_photos']} photos from "
                f"{', '.join(record['source_packages'])}; {record['views_per_image']} views per "
                f"photo; {record['steps']} steps of {record['batch_size']} "
                f"({record['training_seconds'] / 60:.0f} min)"
            )
        cross_source = record.get("cross_source")
        if cross_source:
            rows = ", ".join(
                f"{row['fold']} {row['psnr_over_gray']:+.2f}" for row in cross_source["rows"]
            )
            print(
                f"  across sources (each left out in turn, dB over gray): {rows}; mean "
                f"{cross_source['mean_psnr_over_gray']:+.2f}"
            )
        if scores:
            print(f"  held-out scores: {scores}")
    return 0


def _import_backend_quietly():
    """Import Keras with stderr silenced at the file-descriptor level.

    TensorFlow's native code prints start-up chatter (CUDA probes, oneDNN
    notes) that no environment variable fully silences; on a command line
    it would bury the one line that matters. Import errors still surface
    as Python exceptions once stderr is back.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import keras

            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf

                # The first look for devices prints a CUDA probe's failure on
                # machines without a GPU: look now, while stderr is silenced.
                tf.config.list_physical_devices("GPU")
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def main(argv=None):
    args = build_parser().parse_args(argv)
    _import_backend_quietly()
    warnings.filterwarnings("default", category=UserWarning, module="deepkoala")
    commands = {
        "colorize": run_colorize,
        "train": run_train,
        "cache": run_cache,
        "serve": run_serve,
        "presets": run_presets,
        "evaluate": run_evaluate,
    }
    try:
        with interrupts.delivered():
            return commands[args.command](args)
    except (UserError, ValueError, OSError, FloatingPointError) as error:
        print(f"deepkoala: error: {error}", file=sys.stderr)
        return 1
    except (TypeError, KeyError) as error:
        # From files the user passed (a .keras naming an unknown class, bad
        # settings): still one line, with what kind of error it was.
        print(f"deepkoala: error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("deepkoala: interrupted", file=sys.stderr)
        return 130


def entry_point():
    """The `deepkoala` command: `main`, then an exit that skips the interpreter's teardown.

    Once `main` has returned, every output is written and closed; tearing
    down TensorFlow's modules and threads would add about 0.7 s to each
    command (measured: `benchmarks/colorize.py --cold`), so the process
    ends at once, after flushing its standard streams.

    Example:
    >>> entry_point()  # doctest: +SKIP
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry_point()
