"""Colorize a photo with an exported ONNX model: only onnxruntime, numpy and Pillow.

Export first, in an environment with deepkoala:
    colorizer = Colorizer.load("mine.keras"); colorizer.export("deepkoala.onnx")
then, anywhere:
    python examples/colorize_onnx.py deepkoala.onnx photo.jpg colorized.png --size 224

The color formulas are those of `deepkoala.color` (sRGB D65 <-> CIE Lab), in numpy.
"""

import argparse

import numpy as np
import onnxruntime
from PIL import Image, ImageOps

XYZ_FROM_RGB = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
D65_WHITE = np.array([0.95047, 1.0, 1.08883])


def srgb_to_linear(v):
    return np.where(v > 0.04045, ((np.maximum(v, 0.04045) + 0.055) / 1.055) ** 2.4, v / 12.92)


def linear_to_srgb(v):
    return np.where(v > 0.0031308, 1.055 * np.maximum(v, 0.0031308) ** (1 / 2.4) - 0.055, v * 12.92)


def lab_f(t):
    return np.where(t > 0.008856, np.cbrt(t), 7.787 * t + 16 / 116)


def lab_f_inverse(f):
    return np.where(f > 0.2068966, f**3, (f - 16 / 116) / 7.787)


def lightness(rgb):
    """CIE L of sRGB in [0, 1], shape (H, W, 3) -> (H, W)."""
    return 116 * lab_f(srgb_to_linear(rgb) @ XYZ_FROM_RGB[1]) - 16


def lab_to_rgb(lab):
    """CIE Lab -> sRGB in [0, 1], desaturating out-of-gamut colors at constant L."""
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, np.maximum(fy - lab[..., 2] / 200, 0)], -1)
    linear = (lab_f_inverse(f) * D65_WHITE) @ np.linalg.inv(XYZ_FROM_RGB).T
    luminance = np.clip(linear @ XYZ_FROM_RGB[1], 0, 1)[..., None]
    offset = linear - luminance
    with np.errstate(divide="ignore", invalid="ignore"):
        high = np.where(offset > 1e-12, (1 - luminance) / offset, 1.0)
        low = np.where(offset < -1e-12, luminance / -offset, 1.0)
    step = np.clip(np.minimum(high, low).min(-1, keepdims=True), 0, 1)
    return np.clip(linear_to_srgb(luminance + step * offset), 0, 1)


def resize(channel, height, width):
    image = Image.fromarray(channel.astype(np.float32), mode="F")
    return np.asarray(image.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float64)


def colorize(session, path, size):
    photo = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    full_lightness = lightness(np.asarray(photo, dtype=np.float64) / 255)
    height, width = full_lightness.shape
    small = resize(full_lightness, size, size) / 50 - 1  # the network's input scaling
    inputs = {session.get_inputs()[0].name: small[None, :, :, None].astype(np.float32)}
    chroma = session.run(None, inputs)[0][0] * 128  # a*b* at the working size
    a, b = (resize(chroma[..., i], height, width) for i in range(2))
    rgb = lab_to_rgb(np.stack([full_lightness, a, b], -1))
    return Image.fromarray(np.round(rgb * 255).astype(np.uint8))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the .onnx file from Colorizer.export")
    parser.add_argument("image")
    parser.add_argument("output")
    parser.add_argument("--size", type=int, default=224, help="the colorizer's working size")
    args = parser.parse_args(argv)
    session = onnxruntime.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    colorize(session, args.image, args.size).save(args.output)
    print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
