"""Sampling an array where a flow field points: the one remap that the flow, warp and keyframe stages share."""

from __future__ import annotations

import functools

import numpy as np

from ..types import Flow

__all__ = ["pixel_grid", "flow_targets"]


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
