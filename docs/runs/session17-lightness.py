"""The lightness of a decoded 640x480 JPEG as the pipeline reads it (a PIL image), and the
pipeline's reading step (decode, lightness, working copy); one thread, best of 5 rounds.

    PYTHONPATH=CHECKOUT python docs/runs/session17-lightness.py LABEL

Runs against 0.6.1's `pipeline._prepare` (three arguments) and 0.6.2's (four).
"""

import inspect
import json
import os
import sys
import tempfile

from PIL import Image

from deepkoala import full_resolution, images, pipeline

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
from full_resolution import best_milliseconds  # noqa: E402  (the benchmark's timer)


def main(label):
    examples = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "photos")
    source = Image.open(os.path.join(examples, "astronaut.jpg")).convert("RGB")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "photo.jpg")
        source.resize((640, 480), Image.Resampling.BILINEAR).save(path, quality=90)
        photo, _ = images.read_photo(path, as_image=True)
        extra = (8,) if len(inspect.signature(pipeline._prepare).parameters) == 4 else ()
        figures = {
            "lightness_of_pil_image": best_milliseconds(
                lambda: full_resolution.lightness(photo), 20
            ),
            "read_lightness_working_copy": best_milliseconds(
                lambda: pipeline._prepare(path, 224, None, *extra), 20
            ),
        }
    print(json.dumps({"benchmark": "lightness_of_pil_image", "code": label,
                      "input": "640x480 JPEG", "milliseconds": figures}))  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1])
