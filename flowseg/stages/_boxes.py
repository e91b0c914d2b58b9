"""Boxes around masks, where the stages confine their work, and a mask's connected parts, worked out in its box."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from ..types import Mask

__all__ = ["grown_box", "union_box", "kept_parts"]


def grown_box(mask: Mask, margin: float) -> tuple[slice, slice] | None:
    """The bounding box of `mask` grown by `margin` pixels (rounded up) on every side, within the frame.

    Returns ``(rows, columns)`` slices, or None when `mask` is empty.

    Examples
    --------
    >>> m = np.zeros((5, 8), bool); m[2, 3] = True
    >>> grown_box(m, 1.5)
    (slice(0, 5, None), slice(1, 6, None))
    """
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    m = int(np.ceil(margin))
    h, w = mask.shape
    return (slice(max(0, int(rows[0]) - m), min(h, int(rows[-1]) + 1 + m)),
            slice(max(0, int(cols[0]) - m), min(w, int(cols[-1]) + 1 + m)))  # fmt: skip


def union_box(*boxes: tuple[slice, slice] | None) -> tuple[slice, slice] | None:
    """The smallest box that holds all the `boxes` (None among them are left out; None if all are).

    Examples
    --------
    >>> union_box((slice(0, 2), slice(3, 4)), None, (slice(1, 5), slice(0, 1)))
    (slice(0, 5, None), slice(0, 4, None))
    """
    boxes = tuple(box for box in boxes if box is not None)
    if not boxes:
        return None
    return tuple(slice(min(box[axis].start for box in boxes), max(box[axis].stop for box in boxes))
                 for axis in (0, 1))  # type: ignore[return-value]


def kept_parts(mask: Mask, choose: Callable[[tuple[slice, slice], np.ndarray, np.ndarray], np.ndarray]) -> Mask:
    """`mask` with only the connected parts (8-connected) that `choose` keeps.

    Parameters
    ----------
    mask : (H, W) bool ndarray
        The mask whose parts are chosen.
    choose : callable
        ``choose(box, parts, areas)`` with ``box`` the mask's bounding box
        (rows, columns), ``parts`` ``(h, w) int32`` the label of each pixel of
        the box (1 .. N on the mask's parts, 0 off it) and ``areas`` ``(N,)
        int32`` the parts' areas; returns ``(N,) bool``, the parts kept.
        Called only when the mask has two parts or more.

    Returns
    -------
    (H, W) bool ndarray
        `mask` itself when it has fewer than two parts or every part is kept,
        else a new mask of the kept parts.

    Examples
    --------
    >>> m = np.zeros((1, 7), bool); m[0, [0, 1, 4]] = True
    >>> kept_parts(m, lambda box, parts, areas: areas > 1).astype(int)
    array([[1, 1, 0, 0, 0, 0, 0]])
    """
    box = grown_box(mask, 0)
    if box is None:
        return mask
    count, parts, stats, _ = cv2.connectedComponentsWithStats(mask[box].view(np.uint8), connectivity=8)
    if count <= 2:
        return mask
    kept = np.asarray(choose(box, parts, stats[1:, cv2.CC_STAT_AREA]), bool)
    if kept.all():
        return mask
    out = np.zeros_like(mask)
    out[box] = np.concatenate([[False], kept])[parts]
    return out
