"""Fine-tune deepkoala on a folder of color photographs and save the result.

Usage:
    python examples/fine_tune.py examples/photos --epochs 20 --out deepkoala.keras

With `--backbone-weights none` the embedding backbone is randomly
initialized, which works offline but gives a weaker colorizer than ImageNet
weights.
"""

import argparse

from deepkoala import Colorizer


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="folder of color photographs (searched recursively)")
    parser.add_argument("--out", default="deepkoala.keras")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--backbone", default="inception_resnet_v2")
    parser.add_argument("--backbone-weights", default="imagenet", help='"imagenet" or "none"')
    parser.add_argument("--size", type=int, default=224, help="working size, a multiple of 8")
    args = parser.parse_args(argv)

    colorizer = Colorizer(
        backbone=args.backbone,
        backbone_weights=None if args.backbone_weights == "none" else args.backbone_weights,
        image_size=args.size,
    )
    history = colorizer.fit(args.folder, epochs=args.epochs, batch_size=8, verbose=2)
    colorizer.save(args.out)
    print(f"Final loss {history.history['loss'][-1]:.4f}; saved {args.out}")


if __name__ == "__main__":
    main()
