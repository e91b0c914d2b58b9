"""DAVIS video object segmentation measures: J, F, their statistics and flicker.

The region similarity J, the boundary measure F and the per-sequence
statistics (mean, recall, decay) follow the official DAVIS evaluation code
(``davis2017-evaluation``, ``davis2017/metrics.py`` and ``davis2017/utils.py``,
and the DAVIS-2016 python code, ``python/lib/davis/measures``) so that the
numbers agree with it on the same binary masks. The code here is our own; the
places where it deliberately differs from the official code are listed in the
Notes of each function (they never occur on DAVIS data).

Masks are ``(H, W)`` bool arrays, ``True`` = object. Integer arrays are
accepted and read as 0 = background, non-zero = object.

References
----------
.. [1] F. Perazzi, J. Pont-Tuset, B. McWilliams, L. Van Gool, M. Gross and
   A. Sorkine-Hornung, "A Benchmark Dataset and Evaluation Methodology for
   Video Object Segmentation", CVPR 2016. :doi:`10.1109/CVPR.2016.85`
.. [2] D. Martin, C. Fowlkes and J. Malik, "Learning to Detect Natural Image
   Boundaries Using Local Brightness, Color, and Texture Cues", IEEE TPAMI
   26(5), 2004. :doi:`10.1109/TPAMI.2004.1273918`
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from flowseg._validate import check_mask
from flowseg.errors import ShapeError

__all__ = [
    "region_similarity",
    "boundary_map",
    "boundary_tolerance",
    "boundary_measure",
    "sequence_statistics",
    "temporal_instability",
    "evaluate_sequence",
]

DEFAULT_BOUND_TH: float = 0.008
"""DAVIS boundary tolerance: a fraction of the image diagonal (0.008 of it,
i.e. 8 px at 480p), or a number of pixels when >= 1."""

RECALL_THRESHOLD: float = 0.5
"""A frame counts towards recall when its score is strictly above this."""

N_DECAY_BINS: int = 4
"""Number of temporal bins of the DAVIS decay statistic."""


# --------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------
def _check_same_shape(
    pred: NDArray[np.bool_], gt: NDArray[np.bool_], where: str = ""
) -> None:
    """Raise ShapeError if `pred` and `gt` differ in shape."""
    if pred.shape != gt.shape:
        raise ShapeError(
            f"pred has shape {pred.shape} but gt has shape {gt.shape}{where}; "
            "both masks must have the same (H, W)",
            expected=f"(H, W) = {gt.shape}",
            actual=tuple(pred.shape),
        )


# --------------------------------------------------------------------------
# per-frame measures
# --------------------------------------------------------------------------
def region_similarity(pred: ArrayLike, gt: ArrayLike) -> float:
    """Region similarity J: the Jaccard index (IoU) of two masks.

    ``J = |pred & gt| / |pred | gt|``, and 1.0 when both masks are empty, as
    in the official DAVIS ``db_eval_iou``.

    Parameters
    ----------
    pred : (H, W) bool or integer array_like
        Predicted mask; non-zero = object.
    gt : (H, W) bool or integer array_like
        Ground-truth mask, same shape as `pred`; non-zero = object.

    Returns
    -------
    j : float
        In [0, 1]; 1 is a perfect match.

    Raises
    ------
    ShapeError
        If either mask is not 2-D, or their shapes differ (both are named).
    DTypeError
        If a mask is a float array.

    Notes
    -----
    DAVIS-2017 also accepts "void" pixels that are left out of both counts.
    Its evaluation script compares the void label against masks that are
    already boolean, so no pixel is ever void there; this function has no
    void argument.

    Examples
    --------
    >>> import numpy as np
    >>> gt = np.zeros((4, 4), bool); gt[:2, :2] = True      # 4 pixels
    >>> pred = np.zeros((4, 4), bool); pred[:2, :3] = True  # 6 pixels
    >>> region_similarity(pred, gt)                         # 4 / 6
    0.6666666666666666
    >>> region_similarity(np.zeros((2, 2), bool), np.zeros((2, 2), bool))
    1.0
    """
    p = check_mask(pred, "pred")
    g = check_mask(gt, "gt")
    _check_same_shape(p, g)
    union = np.count_nonzero(p | g)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(p & g) / union)


def boundary_map(mask: ArrayLike) -> NDArray[np.bool_]:
    """One-pixel-wide boundary of a mask, as DAVIS ``seg2bmap`` computes it.

    A pixel is on the boundary when it differs from its right, lower or
    lower-right neighbour (neighbours outside the image count as background).
    On the last row only the right neighbour is compared and on the last
    column only the lower one; the bottom-right pixel is never a boundary.
    The boundary therefore lies half a pixel towards the origin from the true
    object edge: it holds the background pixels just outside the object's top
    and left sides, and the object's own pixels along its bottom and right
    sides.

    Parameters
    ----------
    mask : (H, W) bool or integer array_like
        Non-zero = object.

    Returns
    -------
    bmap : (H, W) bool ndarray
        ``True`` on boundary pixels. Identical to the official ``seg2bmap``
        called without `width` / `height` (same-size output).

    Raises
    ------
    ShapeError
        If `mask` is not a non-empty 2-D array.
    DTypeError
        If `mask` is a float array.

    Examples
    --------
    A 2x2 square at rows and columns 1-2: the ring is shifted up and left,
    so the square's top-left pixel (1, 1) is not marked but (0, 0) is.

    >>> import numpy as np
    >>> m = np.zeros((4, 4), bool); m[1:3, 1:3] = True
    >>> boundary_map(m).astype(int)
    array([[1, 1, 1, 0],
           [1, 0, 1, 0],
           [1, 1, 1, 0],
           [0, 0, 0, 0]])
    """
    seg = check_mask(mask, "mask")
    right = np.zeros_like(seg)
    below = np.zeros_like(seg)
    diag = np.zeros_like(seg)
    right[:, :-1] = seg[:, 1:]
    below[:-1, :] = seg[1:, :]
    diag[:-1, :-1] = seg[1:, 1:]
    bmap = (seg ^ right) | (seg ^ below) | (seg ^ diag)
    bmap[-1, :] = seg[-1, :] ^ right[-1, :]
    bmap[:, -1] = seg[:, -1] ^ below[:, -1]
    bmap[-1, -1] = False
    return bmap


def boundary_tolerance(shape: tuple[int, int], bound_th: float = DEFAULT_BOUND_TH) -> int:
    """Boundary matching radius in pixels for an image of `shape`.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` of the masks.
    bound_th : float, optional
        If >= 1, the radius in pixels (must be a whole number). If in (0, 1),
        a fraction of the image diagonal: the radius is
        ``ceil(bound_th * sqrt(H**2 + W**2))``.

    Returns
    -------
    radius : int
        At least 1.

    Raises
    ------
    ValueError
        If `bound_th` is not positive, or is >= 1 and not a whole number.

    Notes
    -----
    The official code passes a fractional ``bound_th >= 1`` straight to
    ``skimage.morphology.disk``, which then builds an even-sized disk with no
    centre pixel (e.g. 4x4 for 1.5), and the 2016 (scipy) and 2017 (OpenCV)
    versions place that kernel differently. Rather than pick one, such values
    are refused.

    Examples
    --------
    >>> boundary_tolerance((480, 854))   # DAVIS 480p: ceil(0.008 * 979.6)
    8
    >>> boundary_tolerance((32, 48))     # ceil(0.008 * 57.7) = ceil(0.46)
    1
    >>> boundary_tolerance((32, 48), bound_th=3)
    3
    """
    if not bound_th > 0:
        raise ValueError(f"bound_th is {bound_th!r}; expected a positive number")
    if bound_th >= 1:
        if bound_th != int(bound_th):
            raise ValueError(
                f"bound_th is {bound_th!r}; a tolerance of 1 or more is a radius in "
                "pixels and must be a whole number (or give a fraction of the "
                "diagonal below 1)"
            )
        return int(bound_th)
    return int(math.ceil(bound_th * math.hypot(shape[0], shape[1])))


def _within_radius(points: NDArray[np.bool_], radius: int) -> NDArray[np.bool_]:
    """Binary dilation of `points` by ``skimage.morphology.disk(radius)``.

    ``disk(r)`` for an integer ``r`` holds the offsets with
    ``dy**2 + dx**2 <= r**2``: for each row offset ``dy`` a horizontal run of
    half-width ``isqrt(r**2 - dy**2)``. The dilation is therefore the union
    over ``dy`` of the mask dilated along rows by that half-width (a sliding
    window sum on cumulative sums) and shifted by ``dy`` rows. Exact integer
    arithmetic, O(H * W * r) instead of O(H * W * r**2).
    """
    h, w = points.shape
    csum = np.zeros((h, w + 2 * radius + 1), dtype=np.int32)
    np.cumsum(np.pad(points, ((0, 0), (radius, radius))), axis=1, out=csum[:, 1:])
    out = np.zeros((h + 2 * radius, w), dtype=bool)
    by_half_width: dict[int, NDArray[np.bool_]] = {}
    for dy in range(-radius, radius + 1):
        k = math.isqrt(radius * radius - dy * dy)
        if k not in by_half_width:
            hi = csum[:, radius + k + 1 : radius + k + 1 + w]
            lo = csum[:, radius - k : radius - k + w]
            by_half_width[k] = hi > lo
        out[radius + dy : radius + dy + h] |= by_half_width[k]
    return out[radius : radius + h]


def _boundary_precision_recall(
    pred_b: NDArray[np.bool_], gt_b: NDArray[np.bool_], radius: int
) -> tuple[float, float]:
    """Boundary precision and recall with the official empty-boundary rules."""
    n_pred = int(np.count_nonzero(pred_b))
    n_gt = int(np.count_nonzero(gt_b))
    if n_pred == 0 and n_gt > 0:
        return 1.0, 0.0
    if n_pred > 0 and n_gt == 0:
        return 0.0, 1.0
    if n_pred == 0 and n_gt == 0:
        return 1.0, 1.0
    # Only pixels near some boundary pixel can match: crop to the boundaries'
    # joint bounding box grown by the radius (exact, and much faster).
    rows = np.flatnonzero((pred_b | gt_b).any(axis=1))
    cols = np.flatnonzero((pred_b | gt_b).any(axis=0))
    r0, r1 = max(rows[0] - radius, 0), rows[-1] + radius + 1
    c0, c1 = max(cols[0] - radius, 0), cols[-1] + radius + 1
    pb = pred_b[r0:r1, c0:c1]
    gb = gt_b[r0:r1, c0:c1]
    pred_match = np.count_nonzero(pb & _within_radius(gb, radius))
    gt_match = np.count_nonzero(gb & _within_radius(pb, radius))
    return pred_match / n_pred, gt_match / n_gt


def boundary_measure(
    pred: ArrayLike, gt: ArrayLike, *, bound_th: float = DEFAULT_BOUND_TH
) -> float:
    """Boundary measure F: F-score of boundary precision and recall.

    Both boundaries come from :func:`boundary_map`. A predicted boundary
    pixel is correct (precision) when a ground-truth boundary pixel lies
    within the tolerance radius of it, and a ground-truth boundary pixel is
    found (recall) when a predicted one lies within the radius;
    ``F = 2 P R / (P + R)``, and 0 when ``P + R == 0``.

    Parameters
    ----------
    pred : (H, W) bool or integer array_like
        Predicted mask; non-zero = object.
    gt : (H, W) bool or integer array_like
        Ground-truth mask, same shape as `pred`; non-zero = object.
    bound_th : float, optional
        Tolerance: a fraction of the image diagonal when below 1 (DAVIS uses
        0.008, i.e. 8 px at 480x854), else a whole number of pixels. See
        :func:`boundary_tolerance`.

    Returns
    -------
    f : float
        In [0, 1]; 1 is a perfect match.

    Raises
    ------
    ShapeError
        If either mask is not 2-D, or their shapes differ (both are named).
    DTypeError
        If a mask is a float array.
    ValueError
        If `bound_th` is not positive, or is >= 1 and fractional.

    Notes
    -----
    Empty boundaries follow the official ``f_measure`` exactly:

    ===========================  =========  ======  =====
    case                         precision  recall  F
    ===========================  =========  ======  =====
    both boundaries empty        1          1       1
    prediction empty, gt not     1          0       0
    gt empty, prediction not     0          1       0
    ===========================  =========  ======  =====

    The official code dilates each boundary with
    ``skimage.morphology.disk(radius)`` and intersects it with the other
    boundary. Here the same dilation is built from the disk's horizontal runs
    (one row-wise sliding window per row offset), restricted to the
    boundaries' bounding box; the counts are identical and it is several
    times faster.

    Examples
    --------
    >>> import numpy as np
    >>> gt = np.zeros((32, 48), bool); gt[10:20, 10:20] = True
    >>> pred = np.roll(gt, 1, axis=1)    # 1 px shift, tolerance is 1 px here
    >>> boundary_measure(pred, gt)
    1.0
    >>> boundary_measure(np.zeros_like(gt), gt)   # empty prediction
    0.0
    """
    p = check_mask(pred, "pred")
    g = check_mask(gt, "gt")
    _check_same_shape(p, g)
    radius = boundary_tolerance(g.shape, bound_th)
    precision, recall = _boundary_precision_recall(boundary_map(p), boundary_map(g), radius)
    if precision + recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))


# --------------------------------------------------------------------------
# sequence statistics
# --------------------------------------------------------------------------
def sequence_statistics(values: ArrayLike) -> dict[str, float]:
    """DAVIS mean, recall and decay of per-frame scores.

    Parameters
    ----------
    values : (N,) float array_like
        Per-frame scores (J or F) in temporal order, usually in [0, 1]. NaN
        marks a frame without a score.

    Returns
    -------
    stats : dict of str to float
        ``"mean"``: mean of the non-NaN values.
        ``"recall"``: fraction of the N frames whose value is > 0.5 (strictly).
        ``"decay"``: mean of the first temporal bin minus mean of the last
        (positive when quality drops over time), NaN-safe.
        All three are NaN when `values` is empty.

    Raises
    ------
    ShapeError
        If `values` is not 1-D.

    Notes
    -----
    As in the official ``db_statistics``:

    - the N frames are split into 4 bins by the edges
      ``ids = round(linspace(1, N, 5) + 1e-10) - 1``; bin ``k`` is
      ``values[ids[k] : ids[k + 1] + 1]``, so both edges are included and
      neighbouring bins share their edge frame;
    - NaN values are skipped by the mean and the decay, but count as failures
      in the recall (``NaN > 0.5`` is false), so the recall's denominator is
      all N frames.

    The official code stores the bin edges as ``uint8``, which wraps around
    for sequences longer than 256 frames; here they are ordinary integers.
    All DAVIS sequences are shorter, so the results agree there.

    Examples
    --------
    >>> s = sequence_statistics([1.0, 1.0, 0.8, 0.6, 0.4, 0.2, 0.0, 0.0, 0.0])
    >>> round(s["mean"], 6), round(s["recall"], 6)   # 4 of 9 frames > 0.5
    (0.444444, 0.444444)
    >>> round(s["decay"], 6)   # bins [0:3] and [6:9]: mean(1, 1, .8) - 0
    0.933333
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ShapeError(
            f"values has shape {v.shape}; expected a 1-D sequence of per-frame scores",
            expected="(N,)",
            actual=tuple(v.shape),
        )
    n = v.size
    if n == 0:
        return {"mean": math.nan, "recall": math.nan, "decay": math.nan}
    ids = (np.round(np.linspace(1, n, N_DECAY_BINS + 1) + 1e-10) - 1).astype(np.intp)
    first = v[ids[0] : ids[1] + 1]
    last = v[ids[N_DECAY_BINS - 1] : ids[N_DECAY_BINS] + 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)  # all-NaN bins
        mean = float(np.nanmean(v))
        decay = float(np.nanmean(first) - np.nanmean(last))
    recall = float(np.mean(v > RECALL_THRESHOLD))
    return {"mean": mean, "recall": recall, "decay": decay}


def _pair_instability(prev: NDArray[np.bool_], cur: NDArray[np.bool_]) -> float:
    """``1 - IoU`` of two same-shape masks (0 when both are empty)."""
    return 1.0 - region_similarity(cur, prev)


def temporal_instability(masks: Iterable[ArrayLike]) -> float:
    """Flicker of a mask sequence: mean of ``1 - IoU`` between consecutive masks.

    ``T = mean_t (1 - J(mask[t], mask[t + 1]))`` over the ``N - 1``
    consecutive pairs, with ``J`` from :func:`region_similarity` (two empty
    masks have J = 1, so a pair of empty masks adds 0).

    Parameters
    ----------
    masks : iterable of (H, W) bool or integer array_like
        The masks in temporal order, all of one shape. Read one at a time.

    Returns
    -------
    t : float
        In [0, 1]. 0 means the mask never changes; higher means more change
        between frames. NaN when fewer than 2 masks are given.

    Raises
    ------
    ShapeError
        If a mask is not 2-D or differs in shape from the previous one.
    DTypeError
        If a mask is a float array.

    Notes
    -----
    This is a flowseg measure, not the DAVIS-2016 temporal stability T
    (which matches shape contexts along the contour). It counts every change,
    including real motion, so compare it between methods on the same
    sequence, or against the same measure on the ground truth.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((2, 2), bool); a[0, 0] = True
    >>> b = a.copy(); b[0, 1] = True             # IoU(a, b) = 1/2
    >>> temporal_instability([a, a, b])           # (0 + 1/2) / 2
    0.25
    """
    prev: NDArray[np.bool_] | None = None
    total = 0.0
    pairs = 0
    for i, mask in enumerate(masks):
        cur = check_mask(mask, f"masks[{i}]")
        if prev is not None:
            if cur.shape != prev.shape:
                raise ShapeError(
                    f"masks[{i}] has shape {cur.shape} but masks[{i - 1}] has shape "
                    f"{prev.shape}; all masks of a sequence must have one shape",
                    expected=f"(H, W) = {prev.shape}",
                    actual=tuple(cur.shape),
                )
            total += _pair_instability(prev, cur)
            pairs += 1
        prev = cur
    return total / pairs if pairs else math.nan


# --------------------------------------------------------------------------
# whole sequence
# --------------------------------------------------------------------------
def evaluate_sequence(
    preds: Iterable[ArrayLike],
    gts: Iterable[ArrayLike],
    *,
    bound_th: float = DEFAULT_BOUND_TH,
) -> dict[str, Any]:
    """Score one sequence with the DAVIS protocol.

    J and F are computed for every frame; then the first frame (given to
    semi-supervised methods) and the last frame are left out, as the
    official DAVIS-2017 semi-supervised evaluation does, and the statistics
    of :func:`sequence_statistics` are taken over the remaining frames.

    Parameters
    ----------
    preds : iterable of (H, W) bool or integer array_like
        Predicted masks, one per ground-truth frame, in temporal order.
        Non-zero = object. Consumed one frame at a time (generators are fine).
    gts : iterable of (H, W) bool or integer array_like
        Ground-truth masks, same count and shape as `preds`.
    bound_th : float, optional
        Boundary tolerance for F, see :func:`boundary_measure`.

    Returns
    -------
    report : dict
        ``"J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay"``
        (float): :func:`sequence_statistics` of the scored frames.
        ``"JF_mean"`` (float): ``(J_mean + F_mean) / 2``.
        ``"T"`` (float): :func:`temporal_instability` of the predicted masks
        over the scored frames (NaN with fewer than 2 scored frames).
        ``"frames"`` (int): number of scored frames.
        ``"J_per_frame", "F_per_frame"`` (list of float): the scores of the
        scored frames only, in order (frame 1 to frame N - 2).

    Raises
    ------
    ShapeError
        If the two iterables differ in length or are empty, a mask is not
        2-D, or a prediction's shape differs from its ground truth or from
        the previous frame (the frame index is named).
    DTypeError
        If a mask is a float array.

    Notes
    -----
    Sequences of fewer than 3 frames have nothing left after removing the
    first and last frames; for them every given frame is scored instead.

    Examples
    --------
    >>> import numpy as np
    >>> gt = np.zeros((8, 8), bool); gt[2:6, 2:6] = True
    >>> wrong = np.zeros_like(gt)
    >>> r = evaluate_sequence([wrong, gt, gt, wrong], [gt] * 4)
    >>> r["frames"], r["J_mean"], r["F_mean"], r["JF_mean"]
    (2, 1.0, 1.0, 1.0)
    """
    j_all: list[float] = []
    f_all: list[float] = []
    flicker: list[float] = []  # flicker[t] is between frames t and t + 1
    prev: NDArray[np.bool_] | None = None
    gt_iter = iter(gts)
    n = 0
    for t, pred in enumerate(preds):
        try:
            gt = next(gt_iter)
        except StopIteration:
            raise ShapeError(
                f"preds has more masks than gts ({t} ground-truth frames); "
                "give one predicted mask per ground-truth frame",
                expected=f"{t} masks",
                actual=(t + 1,),
            ) from None
        p = check_mask(pred, f"preds[{t}]")
        g = check_mask(gt, f"gts[{t}]")
        _check_same_shape(p, g, where=f" at frame {t}")
        if prev is not None:
            if p.shape != prev.shape:
                raise ShapeError(
                    f"preds[{t}] has shape {p.shape} but preds[{t - 1}] has shape "
                    f"{prev.shape}; all frames of a sequence must have one shape",
                    expected=f"(H, W) = {prev.shape}",
                    actual=tuple(p.shape),
                )
            flicker.append(_pair_instability(prev, p))
        j_all.append(region_similarity(p, g))
        f_all.append(boundary_measure(p, g, bound_th=bound_th))
        prev = p
        n = t + 1
    extra = sum(1 for _ in gt_iter)
    if extra:
        raise ShapeError(
            f"preds has {n} masks but gts has {n + extra}; "
            "give one predicted mask per ground-truth frame",
            expected=f"{n + extra} masks",
            actual=(n,),
        )
    if n == 0:
        raise ShapeError(
            "preds and gts are empty; expected at least one frame",
            expected="at least 1 mask",
            actual=(0,),
        )

    if n >= 3:
        j_scored, f_scored = j_all[1:-1], f_all[1:-1]
        flicker_scored = flicker[1:-1]
    else:
        j_scored, f_scored, flicker_scored = j_all, f_all, flicker
    j_stats = sequence_statistics(j_scored)
    f_stats = sequence_statistics(f_scored)
    return {
        "J_mean": j_stats["mean"],
        "J_recall": j_stats["recall"],
        "J_decay": j_stats["decay"],
        "F_mean": f_stats["mean"],
        "F_recall": f_stats["recall"],
        "F_decay": f_stats["decay"],
        "JF_mean": (j_stats["mean"] + f_stats["mean"]) / 2,
        "T": float(np.mean(flicker_scored)) if flicker_scored else math.nan,
        "frames": len(j_scored),
        "J_per_frame": j_scored,
        "F_per_frame": f_scored,
    }
