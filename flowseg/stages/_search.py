"""Finding a lost object again: where its appearance is densest at its scale, anywhere in the frame."""

from __future__ import annotations

import cv2
import numpy as np

from ..types import Mask, ProbMap

__all__ = ["SEARCH_STEP", "densest_region"]

SEARCH_STEP: int = 4
"""The search runs on a grid this many pixels apart each way (an object is found, not outlined)."""


def densest_region(
    posterior: ProbMap, *, size: float, near: tuple[float, float] | None = None, spread: float = np.inf
) -> tuple[Mask, float]:
    """The region where `posterior` is densest over windows of half the object's size.

    Parameters
    ----------
    posterior : (H, W) float32 ndarray
        Per-pixel probability of the object's appearance, in [0, 1].
    size : float
        The object's expected size in pixels (square root of its area).
        Windows of half that size fit inside it at up to twice that size.
    near : (x, y), optional
        Where the object is expected; windows are weighed by a Gaussian of
        their distance to it, of standard deviation `spread` pixels.
    spread : float
        See `near`; infinite (the default) searches the whole frame alike.

    Returns
    -------
    region : (H, W) bool ndarray
        The connected region of smoothed posterior above 0.5 around the
        best window (empty when none is above 0.5).
    density : float
        The best window's mean posterior, in [0, 1] (before the distance weight).

    Examples
    --------
    >>> p = np.zeros((64, 96), np.float32); p[8:24, 60:76] = 0.9; p[40:44, 10:14] = 1.0
    >>> region, density = densest_region(p, size=16)
    >>> round(density, 2), bool(region[16, 68]), bool(region[42, 12])
    (0.9, True, False)
    """
    h, w = posterior.shape
    small_size = (max(w // SEARCH_STEP, 1), max(h // SEARCH_STEP, 1))
    small = cv2.resize(posterior, small_size, interpolation=cv2.INTER_AREA)
    window = max(int(round(size / 2 / SEARCH_STEP)), 1)
    density = cv2.blur(small, (window, window), borderType=cv2.BORDER_CONSTANT)
    score = density
    if near is not None and np.isfinite(spread):
        ys, xs = np.mgrid[0:small.shape[0], 0:small.shape[1]].astype(np.float32)
        xs, ys = (xs + 0.5) * (w / small.shape[1]), (ys + 0.5) * (h / small.shape[0])
        score = density * np.exp(-((xs - near[0]) ** 2 + (ys - near[1]) ** 2) / (2 * spread**2))
    y, x = np.unravel_index(int(np.argmax(score)), score.shape)
    smooth = cv2.blur(small, (max(window // 2, 1),) * 2) > 0.5
    count, labels = cv2.connectedComponents(smooth.view(np.uint8), connectivity=8)
    if not smooth[y, x]:
        return np.zeros((h, w), bool), float(density[y, x])
    region = cv2.resize((labels == labels[y, x]).view(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
    return region, float(density[y, x])
