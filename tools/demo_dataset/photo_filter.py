"""The filter that tells colour photographs from drawings (documented thresholds)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from deepkoala.metrics import colorfulness


@dataclass
class PhotoStats:
    width: int
    height: int
    transparent: float = 0.0
    colorfulness: float = 0.0
    unique: float = 0.0
    top8: float = 0.0
    edges: float = 0.0

    def as_dict(self) -> dict[str, str]:
        return {
            "src_width": str(self.width),
            "src_height": str(self.height),
            "transparent": f"{self.transparent:.3f}",
            "colorfulness": f"{self.colorfulness:.1f}",
            "unique": f"{self.unique:.3f}",
            "top8": f"{self.top8:.3f}",
            "edges": f"{self.edges:.4f}",
        }


@dataclass
class PhotoFilter:
    """Thresholds that tell colour photographs from drawings (see module docstring).

    All statistics but `unique` use a copy whose long side is at most 256 px
    (box filter), so they do not depend much on the source resolution.
    """

    min_short_side: int = 128
    max_transparent: float = 0.01
    min_colorfulness: float = 12.0
    min_unique: float = 0.025
    max_top8: float = 0.85
    min_edges: float = 0.005
    max_edges: float = 0.90
    edge_step: int = 24

    def stats(self, image: Image.Image) -> PhotoStats:
        stats = PhotoStats(*image.size)
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            alpha = np.asarray(image.convert("RGBA").getchannel("A"))
            stats.transparent = float(np.mean(alpha < 250))
        rgb = image.convert("RGB")
        work = rgb.copy()
        work.thumbnail((256, 256), Image.Resampling.BOX)
        arr = np.asarray(work, dtype=np.int16)
        stats.colorfulness = colorfulness(arr, absolute=False)
        small = np.asarray(rgb.resize((64, 64), Image.Resampling.BOX), dtype=np.int32) >> 3
        codes = (small[..., 0] << 10) | (small[..., 1] << 5) | small[..., 2]
        stats.unique = len(np.unique(codes)) / codes.size
        stats.top8 = top_colours_share(arr, 8)
        stats.edges = edge_fraction(arr, self.edge_step)
        return stats

    def reason(self, stats: PhotoStats) -> str:
        """Why the image is not a colour photo, or "" if it looks like one."""
        if stats.transparent > self.max_transparent:
            return f"transparent cut-out ({stats.transparent:.0%} of pixels)"
        if min(stats.width, stats.height) < self.min_short_side:
            return f"too small ({stats.width}x{stats.height} < {self.min_short_side} px)"
        if stats.colorfulness < self.min_colorfulness:
            return f"near-gray (colorfulness {stats.colorfulness:.1f} < {self.min_colorfulness})"
        if stats.unique < self.min_unique:
            return f"drawing: few colours (unique {stats.unique:.3f} < {self.min_unique})"
        if stats.top8 >= self.max_top8:
            return (
                f"drawing or blank background: flat colours (8 colours cover "
                f"{stats.top8:.0%} >= {self.max_top8:.0%})"
            )
        if stats.edges < self.min_edges:
            return f"synthetic gradient: no edges (edges {stats.edges:.4f} < {self.min_edges})"
        if stats.edges > self.max_edges:
            return (
                f"synthetic pattern: edges everywhere (edges {stats.edges:.3f} > {self.max_edges})"
            )
        return ""


def top_colours_share(arr: np.ndarray, count: int = 8) -> float:
    """Share of the pixels taken by the `count` most frequent exact RGB colours."""
    arr = arr.astype(np.int32)
    codes = (arr[..., 0] << 16) | (arr[..., 1] << 8) | arr[..., 2]
    _, counts = np.unique(codes, return_counts=True)
    return float(np.sort(counts)[::-1][:count].sum() / codes.size)


def edge_fraction(arr: np.ndarray, step: int = 24) -> float:
    """Fraction of pixels where a right or lower neighbour differs by more than `step`."""
    arr = arr.astype(np.int16)
    dx = np.abs(np.diff(arr, axis=1)).max(axis=2)[:-1, :]
    dy = np.abs(np.diff(arr, axis=0)).max(axis=2)[:, :-1]
    return float(np.mean(np.maximum(dx, dy) > step))
