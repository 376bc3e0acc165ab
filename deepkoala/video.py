"""Colorizing videos: frames streamed through a colorizer, colors steadied within a shot.

Decoding and encoding go through PyAV (FFmpeg's libraries, bundled in its
wheels), an optional extra: `pip install deepkoala[video]`. Frames are
decoded, colorized in batches (`pipeline.colorize_stream`) and encoded as
they go, so memory does not grow with the video's length. Audio streams are
copied packet by packet, unchanged. Each frame keeps its own full-resolution
lightness; only the chroma is predicted, and it is steadied over time.

Colorizing each frame alone makes colors pulse from frame to frame (film
grain and small motions change the network's guesses). `ChromaStabilizer`
keeps an exponential moving average of the a*b* predicted at the network's
working size and starts it afresh at a shot cut, detected from the change
of the gray frames' lightness histograms.
"""

import collections
import os
import time
import warnings
from fractions import Fraction

import keras
import numpy as np

from deepkoala.atomic import atomic_write
from deepkoala.guidance import Guide
from deepkoala.image_files import special_file_kind
from deepkoala.pipeline import colorize_stream
from deepkoala.settings import COLORIZE_BATCH_SIZE

MISSING_EXTRA = "Colorizing videos needs PyAV: pip install deepkoala[video]"

# Leading bytes of the common video containers, for telling a video from a
# photo without PyAV: MP4/MOV/3GP ("ftyp" at offset 4), Matroska/WebM, AVI,
# an MPEG program stream, FLV, Ogg, ASF/WMV. (An MPEG transport stream is
# told by its sync byte, repeated every 188 bytes.)
_SIGNATURES = (
    (4, b"ftyp"),
    (0, b"\x1a\x45\xdf\xa3"),
    (8, b"AVI "),
    (0, b"\x00\x00\x01\xba"),
    (0, b"FLV"),
    (0, b"OggS"),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"),
)


def _import_av():
    try:
        import av
    except ImportError as error:
        raise ImportError(MISSING_EXTRA) from error
    return av


def looks_like_video(path):
    """Whether the file at `path` starts like a video container (by content, not name).

    Example:
    >>> looks_like_video("film.mp4")  # doctest: +SKIP
    True
    """
    if special_file_kind(path):
        return False  # reading a FIFO would block
    try:
        with open(path, "rb") as file:
            head = file.read(189)
    except OSError:
        return False
    if head[:1] == head[188:189] == b"\x47":
        return True
    return any(head[offset : offset + len(magic)] == magic for offset, magic in _SIGNATURES)


class ChromaStabilizer:
    """Steadies predicted a*b* over consecutive frames; resets at shot cuts.

    Wraps the network (`predict(L batch) -> a*b* batch`, at the working
    size): each frame's output is `smoothing * previous + (1 - smoothing) *
    prediction`, an exponential moving average, except at a shot cut, where
    the prediction is taken as it is. A cut is a frame whose 32-bin
    lightness histogram differs from the previous frame's by more than
    `cut_threshold` in total variation (half the sum of absolute
    differences; 0 for the same histogram, 1 for disjoint ones): pans, zooms
    and grain move pixels but keep the histogram.

    Args:
        predict: the network, `(B, S, S)` lightness -> `(B, S, S, 2)` a*b*.
        smoothing: the weight of the past, in [0, 1); 0 turns it off.
        cut_threshold: the histogram change that starts a new shot, in (0, 1].

    Example:
    >>> steady = ChromaStabilizer(colorizer.predict_chroma)  # doctest: +SKIP
    """

    def __init__(self, predict, smoothing=0.7, cut_threshold=0.3):
        if not isinstance(smoothing, (int, float)) or not 0.0 <= smoothing < 1.0:
            raise ValueError(f"`smoothing` must be in [0, 1). Received: smoothing={smoothing!r}")
        if not isinstance(cut_threshold, (int, float)) or not 0.0 < cut_threshold <= 1.0:
            raise ValueError(
                f"`cut_threshold` must be in (0, 1]. Received: cut_threshold={cut_threshold!r}"
            )
        self.predict = predict
        self.smoothing = float(smoothing)
        self.cut_threshold = float(cut_threshold)
        self.cuts = 0
        self._chroma = None
        self._histogram = None

    def __call__(self, lightness):
        predicted = np.asarray(self.predict(lightness), dtype=np.float32)
        steadied = np.empty_like(predicted)
        for index, (frame, chroma) in enumerate(zip(lightness, predicted, strict=True)):
            histogram = np.histogram(frame, bins=32, range=(0.0, 100.0))[0] / frame.size
            new_shot = (
                self._histogram is None
                or 0.5 * np.abs(histogram - self._histogram).sum() > self.cut_threshold
            )
            if new_shot:
                self.cuts += 1
                self._chroma = chroma
            else:
                self._chroma = self.smoothing * self._chroma + (1.0 - self.smoothing) * chroma
            self._histogram = histogram
            steadied[index] = self._chroma
        return steadied


def _upright(frame):
    """A decoded frame as uint8 RGB, turned as its display matrix says."""
    pixels = frame.to_ndarray(format="rgb24")
    # PyAV gives the counter-clockwise angle the frame must be shown at.
    turns = round((frame.rotation or 0) / 90) % 4
    return np.ascontiguousarray(np.rot90(pixels, turns)) if turns else pixels


def colorize_video(
    colorizer,
    src,
    dst,
    batch_size=COLORIZE_BATCH_SIZE,
    image_size=None,
    smoothing=0.7,
    cut_threshold=0.3,
    codec="libx264",
    crf=18,
    verbose="auto",
    reference=None,
):
    """Colorize the video `src` into `dst`, frame by frame, keeping its sound.

    The output has the input's frame count, size, frame timestamps (so its
    frame rate and duration, variable rates included) and every audio
    stream, copied unchanged. Frames shown rotated (a display matrix) are
    written upright. It is written to a temporary name beside `dst` and
    renamed when complete: an interrupted run never leaves a half-written
    file under the final name.

    Args:
        colorizer: a `Colorizer`.
        src: the input video (any container and codec FFmpeg reads).
        dst: the output file; its extension chooses the container (for
            example `.mp4`, `.mkv`, `.mov`).
        batch_size: frames that go through the network at once.
        image_size: the network's working size; default the colorizer's.
        smoothing, cut_threshold: the color stabilization
            (`ChromaStabilizer`); `smoothing=0` colorizes each frame alone.
        codec: the video encoder, `libx264` (H.264) by default; any FFmpeg
            encoder PyAV has, for example `libvpx-vp9` or `ffv1` (lossless).
        crf: the constant-rate factor of `libx264`, `libx265` and
            `libvpx-vp9` (lower is better quality; 18 is visually lossless
            for most footage).
        verbose: "auto" and 1 show a progress bar with frames and time left.
        reference: a color photo whose colors guide every frame where it
            matches (`deepkoala.guidance`); one per film.

    Returns:
        A dict: "frames" written, "shots" found, and "seconds" taken.

    Raises:
        ImportError: PyAV is not installed (`pip install deepkoala[video]`).
        FileNotFoundError: `src` does not exist.
        ValueError: `src` is not a video, has no video stream or no frame;
            or `dst` names no container FFmpeg can write.

    Example:
    >>> colorize_video(colorizer, "reel.mp4", "reel_colorized.mp4")  # doctest: +SKIP
    {'frames': 1440, 'shots': 12, 'seconds': 95.2}
    """
    av = _import_av()
    src, dst = os.fspath(src), os.fspath(dst)
    if not os.path.isfile(src):
        raise FileNotFoundError(f"No such video file: {src}")
    size = colorizer.image_size if image_size is None else image_size
    predict = colorizer.predict_chroma
    if reference is not None:
        # Read now, so an unreadable reference fails before anything is written;
        # a reference needs no frame size (only hints would).
        steer = Guide(reference=reference).at_size(1, 1, size)

        def predict(lightness):
            return colorizer.predict_chroma(lightness, guidance=[steer] * len(lightness))

    stabilizer = ChromaStabilizer(predict, smoothing, cut_threshold)
    try:
        source = av.open(src)
    except av.error.FFmpegError as error:
        raise ValueError(f"Cannot read {src} as a video: {error}") from error
    started = time.perf_counter()
    with source, atomic_write(dst) as partial:
        if not source.streams.video:
            raise ValueError(f"{src} has no video stream")
        video = source.streams.video[0]
        video.thread_type = "AUTO"
        audio = list(source.streams.audio)
        try:
            sink = av.open(partial, "w")
        except (av.error.FFmpegError, ValueError) as error:
            raise ValueError(f"Cannot write a video to {dst}: {error}") from error
        with sink:
            frames = _transcode(
                av, source, video, audio, sink, stabilizer, size, batch_size, codec, crf,
                verbose, src, colorizer.get_config()["edge_aware_chroma"],
            )  # fmt: skip
        if frames == 0:
            raise ValueError(f"{src} holds no video frame")
    return {
        "frames": frames,
        "shots": stabilizer.cuts,
        "seconds": round(time.perf_counter() - started, 2),
    }


def _transcode(
    av, source, video, audio, sink, stabilizer, size, batch_size, codec, crf, verbose, src,
    edge_aware,
):  # fmt: skip
    """Decode, colorize and encode every frame; copy the audio packets. Returns the frame count."""
    rate = video.average_rate or video.guessed_rate or Fraction(25)
    audio_out = {stream.index: sink.add_stream_from_template(stream) for stream in audio}
    timestamps = collections.deque()  # (pts, time_base) of frames decoded, not yet encoded
    encoder = []  # the output video stream, added once the first frame's size is known

    def add_encoder(width, height):
        stream = sink.add_stream(codec, rate=rate)
        stream.width, stream.height = width, height
        # 4:2:0 chroma needs even sides; odd ones keep full-resolution chroma.
        even = width % 2 == 0 and height % 2 == 0
        stream.pix_fmt = "yuv420p" if even or codec == "ffv1" else "yuv444p"
        # The input's clock: every frame keeps its exact timestamp (variable rates too).
        stream.codec_context.time_base = video.time_base
        if codec in ("libx264", "libx265", "libvpx-vp9"):
            stream.options = {"crf": str(crf)}
        encoder.append(stream)

    def decoded_frames():
        # Audio met before the first frame waits: every stream must be added
        # before the first packet is written.
        waiting = []
        try:
            for packet in source.demux(video, *audio):
                if packet.stream.type == "audio":
                    if packet.dts is not None:
                        packet.stream = audio_out[packet.stream.index]
                        if encoder:
                            sink.mux(packet)
                        else:
                            waiting.append(packet)
                    continue
                for frame in packet.decode():
                    pixels = _upright(frame)
                    if not encoder:
                        add_encoder(pixels.shape[1], pixels.shape[0])
                        for held in waiting:
                            sink.mux(held)
                        waiting.clear()
                    timestamps.append((frame.pts, frame.time_base))
                    yield pixels
        except av.error.FFmpegError as error:
            # A truncated or damaged file: keep the frames decoded so far.
            warnings.warn(
                f"{src}: stopped after the frames that could be decoded ({error})",
                stacklevel=3,
            )

    total = video.frames or None
    show = verbose == 1 or verbose == "auto"
    progress = keras.utils.Progbar(total, unit_name="frame") if show else None
    written = 0
    stream = colorize_stream(stabilizer, decoded_frames(), batch_size, size, edge_aware=edge_aware)
    for index, image, error in stream:
        if error is not None:
            raise error
        frame = av.VideoFrame.from_image(image)
        pts, time_base = timestamps.popleft()
        frame.time_base = video.time_base
        if pts is None or (time_base and time_base != video.time_base):
            pts = (
                round(index / rate / video.time_base)
                if pts is None
                else round(pts * time_base / video.time_base)
            )
        frame.pts = pts
        for packet in encoder[0].encode(frame):
            sink.mux(packet)
        written += 1
        if progress is not None:
            progress.update(written)
    if encoder:
        for packet in encoder[0].encode(None):
            sink.mux(packet)
    return written
