"""Interpolate two trained colorizers of the same architecture, weight by weight.

Usage:
    python tools/blend_weights.py last_step.keras averaged.keras --weight 0.5 \\
        --out blended.keras

Writes `(1 - weight) * first + weight * second` for every weight, with the
first model's settings. Meaningful for two points of one training run (for
example the last step's weights and their moving average, which
`tools/train_preset.py` gives with and without `--ema-momentum` from the same
seed): the blend then averages over a shorter stretch of the run than the
moving average does.
"""

import argparse
import sys

from deepkoala import Colorizer


def blend(first, second, weight):
    """A copy of `first` whose weights are interpolated toward `second`'s."""
    if first.get_config() != {**second.get_config(), "name": first.name}:
        raise ValueError("the two colorizers have different settings")
    blended = Colorizer.from_config(first.get_config())
    blended.set_weights(
        [
            (1.0 - weight) * a + weight * b
            for a, b in zip(first.get_weights(), second.get_weights(), strict=True)
        ]
    )
    return blended


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", help="a .keras file saved by deepkoala")
    parser.add_argument("second", help="another, with the same settings")
    parser.add_argument("--weight", type=float, required=True, help="share of the second, 0-1")
    parser.add_argument("--out", required=True, help="the .keras file to write")
    args = parser.parse_args(argv)
    if not 0.0 <= args.weight <= 1.0:
        parser.error(f"--weight must be in [0, 1], got {args.weight}")
    blend(Colorizer.load(args.first), Colorizer.load(args.second), args.weight).save(args.out)
    print(f"Wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
