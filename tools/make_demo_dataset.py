"""Rebuild a small, openly licensed set of colour photographs from Debian packages.

Usage:
    python tools/make_demo_dataset.py OUTDIR [--debs DIR] [--heldout-percent 10]
                                      [--max-short-side 512]
                                      [--accept-opencv-catch-all]
                                      [--accept-tuxtype-commons]

for example `python tools/make_demo_dataset.py ~/demo_data --debs ~/debs`. The
sources, licences, photo filter, held-out split and outputs are documented in
tools/demo_dataset/__init__.py; the code is in that package, one module each:
rcc (Qt resources), licences, photo_filter, subjects (the split), sources (the
packages), debian (apt/dpkg) and build.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from demo_dataset.build import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
