"""The bilinear merge as one numba loop over the pixels, against numpy's (not kept).

    pip install numba && python docs/runs/session17-numba-merge.py

One 640x480 photo per bundled example, koala-lite0's chroma, one thread, the best of
5 rounds of 20 calls; prints one JSON object per photo.
"""

import glob
import json
import os
import time

import numba
import numpy as np
from PIL import Image

from deepkoala import Colorizer, color, images
from deepkoala import full_resolution as fr

KAPPA = np.float32(color._LAB_KAPPA)
OFFSET = np.float32(color._LAB_OFFSET)
KNEE = np.float32(0.2068966)
TO_RGB = np.asarray(color._RGB_FROM_XYZ, np.float32)
WHITE_X, WHITE_Z = np.float32(color._D65_WHITE[0]), np.float32(color._D65_WHITE[2])
STEPS = np.float32(fr._ENCODE_TABLE_SIZE - 1)


@numba.njit(fastmath=True, nogil=True)
def _band(lightness, a_columns, b_columns, upper, lower, weight, to_rgb, table, out):
    one, zero, half = np.float32(1.0), np.float32(0.0), np.float32(0.5)
    for row in range(lightness.shape[0]):
        up, down, w = upper[row], lower[row], weight[row]
        for x in range(lightness.shape[1]):
            a = a_columns[up, x] * (one - w) + a_columns[down, x] * w
            b = b_columns[up, x] * (one - w) + b_columns[down, x] * w
            fy = (lightness[row, x] + np.float32(16.0)) * np.float32(1.0 / 116.0)
            fx = fy + a * np.float32(1.0 / 500.0)
            fz = max(fy - b * np.float32(1.0 / 200.0), zero)
            y = fy * fy * fy if fy > KNEE else (fy - OFFSET) / KAPPA
            xx = (fx * fx * fx if fx > KNEE else (fx - OFFSET) / KAPPA) * WHITE_X
            zz = (fz * fz * fz if fz > KNEE else (fz - OFFSET) / KAPPA) * WHITE_Z
            y = min(max(y, zero), one)
            o0 = to_rgb[0, 0] * xx + to_rgb[0, 1] * y + to_rgb[0, 2] * zz - y
            o1 = to_rgb[1, 0] * xx + to_rgb[1, 1] * y + to_rgb[1, 2] * zz - y
            o2 = to_rgb[2, 0] * xx + to_rgb[2, 1] * y + to_rgb[2, 2] * zz - y
            highest, lowest = max(o0, max(o1, o2)), min(o0, min(o1, o2))
            rise = (one - y) / highest if highest > zero else one
            fall = y / -lowest if lowest < zero else one
            step = min(one, min(rise, fall))
            out[0, row, x] = table[int(min(max(y + step * o0, zero), one) * STEPS + half)]
            out[1, row, x] = table[int(min(max(y + step * o1, zero), one) * STEPS + half)]
            out[2, row, x] = table[int(min(max(y + step * o2, zero), one) * STEPS + half)]


def merge_numba(lightness, chroma):
    height, width = lightness.shape
    columns = [images.resize_channel(chroma[..., c], chroma.shape[0], width) for c in (0, 1)]
    upper, lower, weight = fr._bilinear_taps(chroma.shape[0], height)
    out = np.empty((3, height, width), np.uint8)
    _band(lightness, *columns, upper, lower, weight, TO_RGB, fr._encode_table(), out)
    return Image.merge("RGB", [Image.fromarray(plane) for plane in out])


def best_milliseconds(step):
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(20):
            step()
        best = min(best, (time.perf_counter() - started) / 20)
    return round(best * 1e3, 2)


def figures(name, lightness, chroma):
    started = time.perf_counter()
    merged = merge_numba(lightness, chroma)  # the first call compiles
    compile_seconds = time.perf_counter() - started
    reference = fr.merge(lightness, chroma)
    difference = np.abs(np.asarray(merged, int) - np.asarray(reference, int)).max()
    return {
        "photo": name,
        "numpy_ms": best_milliseconds(lambda: fr.merge(lightness, chroma)),
        "numba_ms": best_milliseconds(lambda: merge_numba(lightness, chroma)),
        "first_call_s": round(compile_seconds, 2),
        "largest_difference_8bit": int(difference),
    }


def main():
    colorizer = Colorizer.from_preset("koala-lite0")
    examples = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "photos")
    for path in sorted(glob.glob(os.path.join(examples, "*.jpg"))):
        photo = Image.open(path).convert("RGB").resize((640, 480))
        lightness = fr.lightness(photo)
        small = images.resize_channel(lightness, colorizer.image_size, colorizer.image_size)
        chroma = colorizer.predict_chroma(small[None])[0]
        print(json.dumps(figures(os.path.basename(path), lightness, chroma)))


if __name__ == "__main__":
    main()
