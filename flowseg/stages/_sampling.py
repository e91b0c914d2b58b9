"""Sampling where a flow field points: the one remap that the flow, warp and keyframe stages share, and the
pixel matches that motion fits take."""

from __future__ import annotations

import functools

import numpy as np

from ..types import Flow

__all__ = ["pixel_grid", "flow_targets", "flow_matches"]


@functools.lru_cache(maxsize=8)
def pixel_grid(height: int, width: int) -> np.ndarray:
    """``(H, W, 2) float32`` read-only array whose pixel ``[y, x]`` holds ``(x, y)`` (cached per size)."""
    grid = np.empty((height, width, 2), np.float32)
    grid[..., 0] = np.arange(width, dtype=np.float32)
    grid[..., 1] = np.arange(height, dtype=np.float32)[:, None]
    grid.flags.writeable = False
    return grid


def flow_targets(flow: Flow) -> np.ndarray:
    """Where each pixel's flow points: ``(H, W, 2) float32`` positions ``(x + dx, y + dy)``.

    The result is a map that ``cv2.remap`` takes as its only map argument.
    """
    return pixel_grid(*flow.shape[:2]) + flow


def flow_matches(mask: np.ndarray, flow: Flow, count: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Where up to `count` pixels of `mask` are and where their flow points, for fitting a motion to them.

    An even, deterministic sample of the pixels in row order.

    Returns
    -------
    here, there : (N, 2) float32 ndarray
        Their positions (x, y) and ``here + flow`` there (``N <= count``).
    """
    ys, xs = np.nonzero(mask)
    take = np.linspace(0, len(ys) - 1, min(len(ys), count)).astype(np.int64)
    here = np.stack([xs[take], ys[take]], axis=1).astype(np.float32)
    return here, here + flow[ys[take], xs[take]]
