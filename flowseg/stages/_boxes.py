"""The box around a mask, grown by a margin: where the refine and appearance stages confine their work."""

from __future__ import annotations

import numpy as np

from ..types import Mask

__all__ = ["grown_box"]


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
