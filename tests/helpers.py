"""What the tests share: a tiny registered backbone, tiny sizes, and learnable images.

Imported by the tests as `from tests.helpers import ...`; importing it registers
the tiny backbone.
"""

import keras
import numpy as np

from deepkoala.backbones import Backbone, register_backbone

TINY_BACKBONE = "tiny_test_backbone"
TINY_SIZES = {
    "image_size": 32,
    "encoder_filters": (8, 8, 8, 8, 8, 8, 8, 8),
    "fusion_filters": 8,
    "decoder_filters": (8, 8, 8, 8),
}
# Width 16 learns the striped images from every seed tried (0-3); width 8
# sometimes stalls.
LEARNING_SIZES = {
    "image_size": 32,
    "encoder_filters": (16,) * 8,
    "fusion_filters": 16,
    "decoder_filters": (16,) * 4,
}


def _build_tiny_classifier(weights):
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu", name="tiny_features")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(6)(x), name="tiny_classifier")
    if weights not in (None, "imagenet"):
        model.load_weights(weights)
    return model


register_backbone(
    Backbone(
        TINY_BACKBONE, _build_tiny_classifier, 32, 1 / 127.5, -1.0, 6, feature_layer="tiny_features"
    )
)


def striped_images(count, size=32, seed=0):
    """Color images whose hue follows from their gray pattern.

    Horizontal stripes are orange, vertical stripes are blue, checkerboards
    are green: a colorizer can learn this, a gray guess cannot.
    """
    from deepkoala import color

    rng = np.random.default_rng(seed)
    chroma = {0: (35.0, 45.0), 1: (10.0, -45.0), 2: (-45.0, 30.0)}
    rows, cols = np.mgrid[0:size, 0:size]
    images = []
    for index in range(count):
        kind = index % 3
        period = int(rng.integers(2, 5))
        phase = int(rng.integers(0, period * 2))
        if kind == 0:
            pattern = ((rows + phase) // period) % 2
        elif kind == 1:
            pattern = ((cols + phase) // period) % 2
        else:
            pattern = (((rows + phase) // period) + ((cols + phase) // period)) % 2
        lightness = np.where(pattern, 72.0, 45.0)
        a, b = chroma[kind]
        lab = np.stack([lightness, np.full_like(lightness, a), np.full_like(lightness, b)], -1)
        rgb = np.asarray(color.lab_to_rgb(lab.astype("float32")))
        images.append(np.round(rgb * 255).astype("uint8"))
    return np.stack(images)


def make_clip(
    path, frames=24, size=(96, 64), fps=24, shots=("pan",), grain=0.0, audio_streams=1,
    variable_rate=False, codec="libx264", rotation=0, seed=0,
):  # fmt: skip
    """Write a gray test video made from the example photos; returns its path.

    Each shot takes `frames // len(shots)` frames of one example photo:
    "pan" slides a window across it, "zoom" closes in, "still" holds it.
    `grain` adds that much Gaussian noise (in 8-bit levels) to every frame;
    each of `audio_streams` is a sine tone (AAC, 16 kHz) as long as the
    video. `variable_rate` spaces the frames 1 or 2 ticks apart; `rotation`
    (degrees, counter-clockwise) is written as the display matrix.
    """
    import fractions
    import pathlib

    import av
    from PIL import Image

    photos = sorted((pathlib.Path(__file__).parent.parent / "examples" / "photos").glob("*.jpg"))
    rng = np.random.default_rng(seed)
    width, height = size
    per_shot = frames // len(shots)
    # A name FFmpeg cannot tell the container from is written as Matroska.
    known = pathlib.Path(path).suffix in (".mp4", ".mkv", ".mov")
    with av.open(str(path), "w", format=None if known else "matroska") as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height = width, height
        video.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        if rotation:
            video.set_display_rotation(rotation)
        tick = fractions.Fraction(1, fps * 2)
        video.codec_context.time_base = tick
        tones = []
        for number in range(audio_streams):
            tone = container.add_stream("aac", rate=16000)
            tone.layout = "mono"
            tones.append((tone, 220.0 * (number + 1)))
        pts = 0
        for index in range(frames):
            shot = min(index // per_shot, len(shots) - 1)
            photo = Image.open(photos[shot % len(photos)]).convert("L")
            progress = (index - shot * per_shot) / max(per_shot - 1, 1)
            kind = shots[shot]
            scale = 1.0 - 0.4 * progress if kind == "zoom" else 0.7
            crop_w, crop_h = int(photo.width * scale), int(photo.height * scale)
            left = int((photo.width - crop_w) * (progress if kind == "pan" else 0.5))
            top = (photo.height - crop_h) // 2
            view = photo.crop((left, top, left + crop_w, top + crop_h)).resize((width, height))
            pixels = np.asarray(view, dtype=np.float32)
            if grain:
                pixels = pixels + rng.normal(0.0, grain, pixels.shape)
            gray = np.clip(pixels, 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(np.repeat(gray[..., None], 3, -1), format="rgb24")
            frame.pts, frame.time_base = pts, tick
            pts += 2 if not variable_rate else int(rng.integers(1, 3)) * 2
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        duration = pts / (fps * 2)
        for tone, frequency in tones:
            samples = int(duration * 16000)
            wave = (0.3 * np.sin(2 * np.pi * frequency * np.arange(samples) / 16000)).astype(
                np.float32
            )
            for start in range(0, samples, 1024):
                chunk = av.AudioFrame.from_ndarray(
                    wave[None, start : start + 1024], format="fltp", layout="mono"
                )
                chunk.sample_rate = 16000
                chunk.pts = start
                for packet in tone.encode(chunk):
                    container.mux(packet)
            for packet in tone.encode(None):
                container.mux(packet)
    return path


def wide_gamut_profile():
    """ICC bytes of an RGB space wider than sRGB: Pillow's sRGB with Adobe RGB's primaries.

    Pillow creates only sRGB, Lab and XYZ profiles; this one differs from
    sRGB where it matters (its colorants) and in its name ("wRGB").
    """
    import struct

    from PIL import ImageCms

    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    # Adobe RGB (1998)'s colorants, adapted to D50 as ICC profiles store them.
    colorants = {
        b"rXYZ": (0.6097, 0.3111, 0.0195),
        b"gXYZ": (0.2053, 0.6257, 0.0609),
        b"bXYZ": (0.1492, 0.0632, 0.7446),
    }
    for index in range(struct.unpack(">I", data[128:132])[0]):
        signature, offset, _ = struct.unpack(">4sII", data[132 + 12 * index : 144 + 12 * index])
        if signature in colorants:
            values = [round(value * 65536) for value in colorants[signature]]
            data[offset + 8 : offset + 20] = struct.pack(">3i", *values)
    name = "sRGB".encode("utf-16-be")
    start = data.index(name)
    data[start : start + len(name)] = "wRGB".encode("utf-16-be")
    return bytes(data)


def register_tiny_backbone():
    """Nothing: importing this module registers the backbone (a Ray worker's setup hook)."""
