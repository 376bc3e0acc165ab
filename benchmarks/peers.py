"""The peer's speed: Zhang et al.'s eccv16 colorization network, forward only, PyTorch CPU.

    python benchmarks/peers.py                # eccv16 images/s (batch 16 at 256x256)
    python benchmarks/peers.py --compare      # and deepkoala end to end, with the ratios

The network is rebuilt from its layer sizes (Zhang, Isola and Efros,
"Colorful Image Colorization", ECCV 2016; the generator of
richzhang/colorization): eight blocks of 3x3 convolutions, 64 to 512
channels, dilated in the middle, a transposed convolution, 313 color classes
and their annealed-mean projection to a*b*, with random weights (speed does
not depend on the values). Only the forward pass is timed, on a batch
already in memory: no decoding, no color conversion. `--compare` then times
`benchmarks/colorize.py`'s end-to-end figures in the same run and prints
each one per image as a multiple of the peer's forward pass.

PyTorch is needed for this benchmark only (`pip install torch`); without it
the script says so and exits.
"""

import argparse
import json
import os
import sys
import time


def eccv16(torch):
    """The eccv16 generator's layers (random weights), in evaluation mode."""
    nn = torch.nn

    def convs(inputs, outputs, count, stride_last=1, dilation=1):
        layers = []
        for index in range(count):
            stride = stride_last if index == count - 1 else 1
            layers += [
                nn.Conv2d(
                    inputs if index == 0 else outputs, outputs, 3, stride=stride,
                    padding=dilation, dilation=dilation,
                ),
                nn.ReLU(True),
            ]  # fmt: skip
        return layers + [nn.BatchNorm2d(outputs)]

    layers = (
        convs(1, 64, 2, stride_last=2)
        + convs(64, 128, 2, stride_last=2)
        + convs(128, 256, 3, stride_last=2)
        + convs(256, 512, 3)
        + convs(512, 512, 3, dilation=2)
        + convs(512, 512, 3, dilation=2)
        + convs(512, 512, 3)
        + [nn.ConvTranspose2d(512, 256, 4, stride=2, padding=1), nn.ReLU(True)]
        + [nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(True)]
        + [nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(True)]
        + [nn.Conv2d(256, 313, 1)]
        + [nn.Softmax(dim=1), nn.Conv2d(313, 2, 1, bias=False)]
        + [nn.Upsample(scale_factor=4, mode="bilinear")]
    )
    return nn.Sequential(*layers).eval()


def eccv16_rate(batch_size=16, image_size=256, batches=4, repeats=3):
    """The eccv16 generator's forward images/s (best of `repeats`), or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    network = eccv16(torch)
    batch = torch.rand(batch_size, 1, image_size, image_size) * 100.0 - 50.0
    best = float("inf")
    with torch.inference_mode():
        network(batch)  # warm-up
        for _ in range(repeats):
            started = time.perf_counter()
            for _ in range(batches):
                network(batch)
            best = min(best, time.perf_counter() - started)
    return {
        "benchmark": "peer",
        "network": "eccv16 generator (Zhang et al. 2016), random weights",
        "framework": f"PyTorch {torch.__version__} CPU, {torch.get_num_threads()} threads",
        "image_size": image_size,
        "batch_size": batch_size,
        "forward_images_per_s": round(batch_size * batches / best, 3),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", action="store_true", help="also time deepkoala and compare")
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=64, help="photos for deepkoala's figures")
    parser.add_argument(
        "--backbones", nargs="+", default=["inception_resnet_v2", "efficientnet_lite0"]
    )
    parser.add_argument(
        "--precision", default="auto", choices=("auto", "float32", "bfloat16", "float16")
    )
    args = parser.parse_args(argv)
    peer = eccv16_rate(batches=args.batches, repeats=args.repeats)
    if peer is None:
        print("benchmarks/peers.py needs PyTorch: pip install torch", file=sys.stderr)
        return 1
    print(json.dumps(peer), flush=True)
    if not args.compare:
        return 0
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from colorize import throughput  # noqa: E402 (the sibling benchmark)

    for backbone in args.backbones:
        figures = throughput(backbone, 16, args.images, args.repeats, args.precision)
        peer_rate = peer["forward_images_per_s"]
        for key in ("forward", "list", "list_png", "cli", "cli_png"):
            figures[f"{key}_vs_eccv16_forward"] = round(
                figures[f"{key}_images_per_s"] / peer_rate, 2
            )
        print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
