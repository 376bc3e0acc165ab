"""Colorizing videos: timing, sound, steadiness, and bad files (clips made on the fly)."""

import os
import sys

import numpy as np
import pytest
from PIL import Image

from deepkoala import cli, color
from deepkoala.video import ChromaStabilizer, colorize_video, looks_like_video
from tests.helpers import make_clip

av = pytest.importorskip("av")


def _frames(path):
    """(rgb uint8 frames, their times in seconds) of a video file."""
    with av.open(str(path)) as container:
        decoded = list(container.decode(video=0))
    return [f.to_ndarray(format="rgb24") for f in decoded], [f.pts * f.time_base for f in decoded]


def _audio_packets(path):
    with av.open(str(path)) as container:
        streams = container.streams.audio
        packets = [[] for _ in streams]
        for packet in container.demux(*streams):
            if packet.dts is not None:
                packets[packet.stream.index - streams[0].index].append(bytes(packet))
    return packets


def _flicker(frames):
    """Mean |delta a*b*| between consecutive frames (Lab units)."""
    chroma = [np.asarray(color.rgb_to_lab(frame))[..., 1:] for frame in frames]
    return float(
        np.mean([np.abs(b - a).mean() for a, b in zip(chroma[:-1], chroma[1:], strict=True)])
    )


def test_output_keeps_frames_size_timing_and_every_audio_stream(tmp_path, tiny_colorizer):
    src = make_clip(tmp_path / "in.mp4", frames=24, shots=("pan", "still"), audio_streams=2)
    report = colorize_video(tiny_colorizer, src, tmp_path / "out.mp4", verbose=0)
    frames, times = _frames(src)
    out_frames, out_times = _frames(tmp_path / "out.mp4")
    assert report["frames"] == len(out_frames) == len(frames) == 24
    assert out_times == times
    assert out_frames[0].shape == frames[0].shape
    assert _audio_packets(tmp_path / "out.mp4") == _audio_packets(src)  # copied unchanged
    with av.open(str(src)) as a, av.open(str(tmp_path / "out.mp4")) as b:
        assert b.streams.video[0].average_rate == a.streams.video[0].average_rate
        assert abs(b.duration - a.duration) < 0.05 * 1e6
    assert report["shots"] == 2
    assert sorted(os.listdir(tmp_path)) == ["in.mp4", "out.mp4"]


@pytest.mark.parametrize(
    "options",
    [{"variable_rate": True}, {"size": (63, 45)}, {"audio_streams": 0}, {"rotation": 90}],
    ids=["variable-rate", "odd-size", "no-audio", "rotated"],
)
def test_awkward_videos_keep_their_timing_and_shape(tmp_path, tiny_colorizer, options):
    src = make_clip(tmp_path / "in.mkv", frames=12, **options)
    colorize_video(tiny_colorizer, src, tmp_path / "out.mkv", verbose=0)
    frames, times = _frames(src)
    out_frames, out_times = _frames(tmp_path / "out.mkv")
    assert out_times == times
    height, width = frames[0].shape[:2]
    expected = (width, height) if options.get("rotation") else (height, width)
    assert out_frames[0].shape[:2] == expected  # a rotated video is written upright


def test_rotated_frames_are_turned_as_they_are_shown(tmp_path, tiny_colorizer):
    src = make_clip(tmp_path / "in.mp4", frames=4, size=(64, 32), rotation=90, audio_streams=0)
    with av.open(str(src)) as container:
        frame = next(container.decode(video=0))
        assert frame.rotation == 90
        stored = frame.to_ndarray(format="gray")
    colorize_video(tiny_colorizer, src, tmp_path / "out.mp4", verbose=0)
    upright = _frames(tmp_path / "out.mp4")[0][0].astype(float).mean(-1)
    # Shown turned a quarter counter-clockwise: the stored top row is the left column.
    turned = np.rot90(stored, 1).astype(float)
    assert np.corrcoef(upright.ravel(), turned.ravel())[0, 1] > 0.9


def test_stabilization_steadies_noisy_guesses_within_a_shot():
    rng = np.random.default_rng(0)
    frames = np.full((40, 8, 8), 50.0) + rng.normal(0.0, 1.0, (40, 8, 8))  # grain, one shot

    def noisy_network(lightness):  # guesses that jump from frame to frame
        return 20.0 + rng.normal(0.0, 5.0, lightness.shape + (2,))

    jumps = {}
    for smoothing in (0.0, 0.7):
        stabilizer = ChromaStabilizer(noisy_network, smoothing=smoothing)
        out = np.concatenate([stabilizer(frames[start : start + 8]) for start in range(0, 40, 8)])
        jumps[smoothing] = np.abs(np.diff(out, axis=0)).mean()
        assert stabilizer.cuts == 1
    assert jumps[0.7] < 0.5 * jumps[0.0]


def test_the_average_starts_afresh_at_a_cut():
    predictions = iter([np.full((2, 4, 4, 2), 10.0), np.full((2, 4, 4, 2), 50.0)])
    stabilizer = ChromaStabilizer(lambda lightness: next(predictions), smoothing=0.5)
    dark, bright = np.full((4, 4), 10.0), np.full((4, 4), 90.0)
    first = stabilizer(np.stack([dark, dark]))
    second = stabilizer(np.stack([dark, bright]))
    assert first[1].mean() == 10.0
    assert second[0].mean() == 30.0  # same shot: half the past, half the new guess
    assert second[1].mean() == 50.0  # a cut: the new guess alone
    assert stabilizer.cuts == 2


@pytest.mark.parametrize("smoothing", [-0.1, 1.0, "a"])
def test_bad_smoothing_names_the_argument(smoothing):
    with pytest.raises(ValueError, match="smoothing"):
        ChromaStabilizer(lambda x: x, smoothing=smoothing)


def test_bad_files_give_one_line_errors_and_leave_nothing(tmp_path, tiny_colorizer):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n")
    with pytest.raises(ValueError, match="notes.mp4"):
        colorize_video(tiny_colorizer, text, tmp_path / "out.mp4", verbose=0)
    sound_only, no_frames = tmp_path / "sound.mkv", tmp_path / "empty.mkv"
    _write_sound_only(sound_only)
    _write_sound_only(no_frames, with_empty_video_stream=True)
    with pytest.raises(ValueError, match="no video stream"):
        colorize_video(tiny_colorizer, sound_only, tmp_path / "out.mp4", verbose=0)
    with pytest.raises(ValueError, match="no video frame"):
        colorize_video(tiny_colorizer, no_frames, tmp_path / "out.mkv", verbose=0)
    with pytest.raises(FileNotFoundError):
        colorize_video(tiny_colorizer, tmp_path / "missing.mp4", tmp_path / "out.mp4")
    assert sorted(os.listdir(tmp_path)) == ["empty.mkv", "notes.mp4", "sound.mkv"]


def _write_sound_only(path, with_empty_video_stream=False):
    """A Matroska file holding a short silence, and maybe a video stream with no frame."""
    with av.open(str(path), "w") as container:
        if with_empty_video_stream:
            video = container.add_stream("libx264", rate=24)
            video.width, video.height, video.pix_fmt = 64, 32, "yuv420p"
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), "fltp", "mono")
        frame.sample_rate, frame.pts = 16000, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)


def test_a_truncated_video_keeps_what_decodes_and_never_leaves_a_partial(tmp_path, tiny_colorizer):
    whole = make_clip(tmp_path / "whole.mkv", frames=24)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    try:
        report = colorize_video(tiny_colorizer, cut, tmp_path / "out.mkv", verbose=0)
    except ValueError as error:  # nothing decodable is a clear error too
        assert "cut.mkv" in str(error)
        assert not (tmp_path / "out.mkv").exists()
    else:
        assert 0 < report["frames"] < 24
        assert len(_frames(tmp_path / "out.mkv")[0]) == report["frames"]
    assert not [name for name in os.listdir(tmp_path) if "partial" in name]


def test_a_failure_midway_leaves_no_file_under_the_final_name(tmp_path, tiny_colorizer):
    src = make_clip(tmp_path / "in.mp4", frames=24)
    calls = []

    def failing(lightness):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("power cut")
        return np.zeros(lightness.shape + (2,), np.float32)

    tiny_colorizer.predict_chroma = failing
    with pytest.raises(RuntimeError):
        colorize_video(tiny_colorizer, src, tmp_path / "out.mp4", verbose=0)
    assert sorted(os.listdir(tmp_path)) == ["in.mp4"]


def test_without_pyav_the_error_names_the_extra(tmp_path, tiny_colorizer, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(ImportError, match=r"deepkoala\[video\]"):
        colorize_video(tiny_colorizer, tmp_path / "in.mp4", tmp_path / "out.mp4")


def test_videos_are_recognised_by_content(tmp_path):
    clip = make_clip(tmp_path / "clip.bin", frames=4, audio_streams=0)
    assert looks_like_video(clip)
    assert not looks_like_video(os.path.join(os.path.dirname(__file__), "..", "examples",
                                             "sample_gray.jpg"))  # fmt: skip
    # An MPEG transport stream (sync byte every 188 bytes) is a video; a GIF,
    # which starts with the same byte ("G"), is not.
    stream = tmp_path / "broadcast.ts"
    with av.open(str(stream), "w", format="mpegts") as container:
        video = container.add_stream("mpeg4", rate=24)
        video.width, video.height, video.pix_fmt = 64, 32, "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((32, 64, 3), np.uint8), format="rgb24")
        for packet in [*video.encode(frame), *video.encode(None)]:
            container.mux(packet)
    assert looks_like_video(stream)
    gif = tmp_path / "still.gif"
    Image.fromarray(np.zeros((300, 300), np.uint8)).save(gif)
    assert not looks_like_video(gif)


def test_the_command_line_colorizes_a_folder_of_photos_and_videos(
    tmp_path, tiny_colorizer, monkeypatch
):
    folder = tmp_path / "reels"
    folder.mkdir()
    make_clip(folder / "film.mp4", frames=8)
    make_clip(folder / "no_extension", frames=8, audio_streams=0)
    make_clip(folder / "reel.bin", frames=8, audio_streams=0)  # a name FFmpeg cannot write
    (folder / "photo.png").write_bytes(_png_bytes())
    monkeypatch.setattr("deepkoala.Colorizer.from_preset", lambda *a, **k: tiny_colorizer)
    assert cli.main(["colorize", str(folder), "-o", str(tmp_path / "out")]) == 0
    out = tmp_path / "out"
    assert sorted(os.listdir(out)) == ["film.mp4", "no_extension.mkv", "photo.png", "reel.mkv"]
    assert len(_frames(out / "film.mp4")[0]) == 8
    assert _audio_packets(out / "film.mp4") == _audio_packets(folder / "film.mp4")


def _png_bytes():
    import io

    buffer = io.BytesIO()
    Image.fromarray(np.full((20, 30), 128, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()
