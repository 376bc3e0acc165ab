"""The embedding cache's cost per photo, per backbone: seconds to build and bytes on disk.

    python benchmarks/cache.py [DATA] [--photos 48] [--views 8] [--stored-size 224]

Builds the training cache (`deepkoala cache`'s work: read, cut `--views`
views, embed, write HDF5) of the first `--photos` photos of DATA (default:
crops of the example photos at 768 pixels) for each backbone, with the
mid-level maps where the bundled recipe fuses them (EfficientNet-Lite), and
prints one JSON object per backbone: seconds per photo and per view, and
bytes per view on disk. The backbones run with random weights where their
ImageNet weights are not at hand (the cost is the same). These are the
figures the ImageNet-scale plan in docs/distributed.md multiplies; compare
them within one run only (CPU flags printed).
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
from archive import EXAMPLES, _cpu_flags  # noqa: E402

BACKBONES = (
    ("efficientnet_lite0", True),
    ("efficientnet_lite2", True),
    ("inception_resnet_v2", False),
)


def _example_photos(folder, count):
    names = sorted(name for name in os.listdir(EXAMPLES) if name.endswith(".jpg"))
    for number in range(count):
        source = Image.open(os.path.join(EXAMPLES, names[number % len(names)])).convert("RGB")
        left = number % 7 * source.width // 40
        crop = source.crop((left, 0, source.width - left, source.height))
        crop = crop.resize((1024, 768), Image.Resampling.BICUBIC)
        crop.save(os.path.join(folder, f"photo{number:04d}.jpg"), quality=90)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", nargs="?", help="a folder of photos (default: example crops)")
    parser.add_argument("--photos", type=int, default=48)
    parser.add_argument("--views", type=int, default=8)
    parser.add_argument("--stored-size", type=int, default=224)
    args = parser.parse_args(argv)

    from deepkoala import Colorizer
    from deepkoala.image_files import find_images
    from deepkoala.training import backbone_id
    from deepkoala.training_data import TrainingData

    with tempfile.TemporaryDirectory() as scratch:
        if args.data:
            paths = find_images(args.data)[: args.photos]
        else:
            _example_photos(scratch, args.photos)
            paths = find_images(scratch)
        for backbone, mid_level in BACKBONES:
            # Lite0's weights ship with the package; the others' cost is the same without.
            weights = "imagenet" if backbone == "efficientnet_lite0" else None
            colorizer = Colorizer(
                backbone=backbone, backbone_weights=weights, mid_level_features=mid_level
            )
            cache_dir = os.path.join(scratch, f"cache-{backbone}")
            # Built before the clock starts: a one-off cost, not a per-photo one.
            colorizer.embed(np.zeros((1, args.stored_size, args.stored_size, 3), "uint8"))
            started = time.perf_counter()
            with TrainingData(
                paths, args.stored_size, colorizer.embed, backbone_id(colorizer), cache_dir,
                args.views, verbose=False,
            ) as data:  # fmt: skip
                views = len(data.store)
            seconds = time.perf_counter() - started
            size = sum(entry.stat().st_size for entry in os.scandir(cache_dir))
            print(
                json.dumps(
                    {
                        "backbone": backbone,
                        "mid_level_maps": mid_level,
                        "photos": len(paths),
                        "views": views,
                        "stored_size": args.stored_size,
                        "seconds_per_photo": round(seconds / len(paths), 4),
                        "seconds_per_view": round(seconds / views, 4),
                        "bytes_per_view": round(size / views),
                        "cpus": os.cpu_count(),
                        "cpu_flags": _cpu_flags(),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
