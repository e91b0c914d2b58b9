"""Knowing when a followed object is lost, and finding it again where its appearance is densest at its scale."""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np

from ..types import Flow, Mask, ProbMap
from ._sampling import flow_matches

__all__ = ["SEARCH_STEP", "COLLAPSE", "RECENT_FRAMES", "FOUND_DENSITY", "FOUND_SCALE", "densest_region", "ObjectTrack"]

COLLAPSE: float = 0.5
"""The object counts as lost when the mask the flow carries covers less than this fraction of the object's
largest area over the last :data:`RECENT_FRAMES` frames it was followed well, or looks less than this
fraction as much like it as it did then (mean appearance in the mask).

Scaling those recent areas by how the object's own motion (a similarity fitted to its trusted flow) scaled
it, so that an object shrinking as it recedes does not count as lost, left the 34 DAVIS-2016 sequences at
J&F 0.770 (first mask given). With ``target="moving"`` the figure went from 0.649 to 0.650 (bmx-trees
0.411 to 0.456), but fold A lost (0.718 to 0.717, swing 0.812 to 0.808), so the change was not kept."""

RECENT_FRAMES: int = 10
"""Frames whose areas say how large the object is now (the largest of them)."""

FOUND_DENSITY: float = 0.6
"""A lost object is found where windows of half its size are at least this much object-like on average."""

FOUND_SCALE: float = 4.0
"""...and only in a region whose area is within this factor of the object's (DAVIS bmx-bumps: a bystander in
black passing before the camera is not the rider in black).

On the composites of ``benchmarks/instances.py --configs objects`` (seed 0: J&F 0.635, seed 1: 0.617), 2 gave
0.642 and 0.607 (c03-dog 0.745 -> 0.786, but seed 1's c02-cows 0.595 -> 0.545). The object's size taken as the
median of its recent areas rather than the largest (so that a spill onto the background does not inflate it:
c04-blackswan's second person, at a reference area of 39 000 pixels where it held 20 000, was found again as a
71 000-pixel region of itself and the swan) gave 0.639 and 0.620, but the 34 DAVIS-2016 sequences fell from
0.781 to 0.780 (bmx-trees 0.529 -> 0.487)."""

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
        The regions of smoothed posterior above 0.5 that reach within half
        the object's size of the best window's centre (empty when that
        window is not above 0.5).
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
    if not smooth[y, x]:
        return np.zeros((h, w), bool), float(density[y, x])
    # The parts within the object's size of the best window: an object split by a thin occluder is one.
    count, labels = cv2.connectedComponents(smooth.view(np.uint8), connectivity=8)
    reach = max(int(round(size / 2 / SEARCH_STEP)), 1)
    near_parts = np.unique(labels[max(y - reach, 0): y + reach + 1, max(x - reach, 0): x + reach + 1])
    parts = np.isin(labels, near_parts[near_parts > 0]).view(np.uint8)
    return cv2.resize(parts, (w, h), interpolation=cv2.INTER_NEAREST) > 0, float(density[y, x])


class ObjectTrack:
    """What is known of a followed object's recent state: its size, how much it looked like itself, how it moved.

    Parameters
    ----------
    mask : (H, W) bool ndarray
        The object where it was given.
    likeness : float
        How object-like it looked there: the mean of its appearance posterior over `mask`.
    relates_to_given : bool
        Keep :attr:`to_given` and :attr:`rigidity` (a motion fit each frame),
        and `mask` for :meth:`given_share`; False where nothing reads them:
        `to_given` is None from the start.

    Attributes
    ----------
    last_seen : (H, W) bool ndarray
        Where the object was last followed or found.
    lost_for : int
        Frames since it was last followed well (0 while it is).
    anywhere : bool
        Whether it is looked for over the whole frame alike: after a shot
        boundary, where it was says nothing of where it is.
    to_given : (2, 3) float64 ndarray or None
        The affine map from the current frame's pixels (x, y) to where they
        were, on the object, in the frame it was given: the object's own
        motions composed (a similarity fitted to its trusted flow each frame
        it is followed well); None once it has been found again after being
        lost (where each of its parts was then is not known).
    rigidity : float
        The share, in [0, 1], of its trusted flow that the last of those
        similarities explains (RANSAC inliers): near 1 for a boat, about a
        half for a dancer. 1 until it is first followed; not updated while
        `to_given` is None.
    """

    LIKENESS_RATE: float = 0.2
    """Weight of each frame in the running mean of how object-like the followed mask looks."""

    def __init__(self, mask: Mask, likeness: float, *, relates_to_given: bool = True) -> None:
        self.last_seen = mask
        self.lost_for = 0
        self.anywhere = False
        self._areas: deque[int] = deque([int(np.count_nonzero(mask))], maxlen=RECENT_FRAMES)
        self._likeness = likeness
        self._given_likeness = likeness
        self._velocity = np.zeros(2, np.float32)  # (dx, dy) pixels a frame
        self.to_given: np.ndarray | None = np.eye(2, 3) if relates_to_given else None
        self.rigidity = 1.0
        self._given = mask if relates_to_given else None

    @property
    def size(self) -> float:
        """The object's size now in pixels: the square root of its largest recent area."""
        return float(np.sqrt(max(max(self._areas), 1)))

    def is_lost(self, carried: Mask, appearance: ProbMap) -> bool:
        """Whether the carried mask has collapsed or no longer looks like the object."""
        return any(self._collapsed(carried, appearance))

    def is_remnant(self, carried: Mask, appearance: ProbMap) -> bool:
        """Whether the carried mask has collapsed both in area and in looks (or is empty): what the flow kept of
        something else, as an occluder's edge, rather than of the object."""
        return all(self._collapsed(carried, appearance))

    def _collapsed(self, carried: Mask, appearance: ProbMap) -> tuple[bool, bool]:
        """Whether `carried` covers less than :data:`COLLAPSE` of the object's recent area, and whether it looks
        less than that fraction as much like it (both where it is empty)."""
        area = np.count_nonzero(carried)
        if area == 0:
            return True, True
        return area < COLLAPSE * max(self._areas), float(appearance[carried].mean()) < COLLAPSE * self._likeness

    def follow_rescaled(self, carried: Mask, appearance: ProbMap, flow_bwd: Flow, trusted: Mask) -> bool:
        """Follow the lost object at `carried`, at a new size, where it looks at least as much like the object as
        the mask it was given did (it was lost by its size alone); whether it did.

        Its earlier areas are forgotten: its size is `carried`'s from now on (see :meth:`follow`).
        """
        if not carried.any() or float(appearance[carried].mean()) < self._given_likeness:
            return False
        self._areas.clear()
        self.follow(carried, appearance, flow_bwd, trusted)
        return True

    def follow(self, carried: Mask, appearance: ProbMap, flow_bwd: Flow, trusted: Mask) -> None:
        """Record a frame where the object was followed well: its area, likeness and motion."""
        self._areas.append(int(np.count_nonzero(carried)))
        self._likeness += self.LIKENESS_RATE * (float(appearance[carried].mean()) - self._likeness)
        moving = carried & trusted
        if moving.any():
            self._velocity = -np.median(flow_bwd[moving], axis=0).astype(np.float32)
            if self.to_given is not None:
                self._compose_to_given(moving, flow_bwd)
        self.last_seen = carried
        self.lost_for = 0

    def given_share(self, mask: Mask) -> float:
        """The share, in [0, 1], of the object as it was given that :attr:`to_given` takes onto `mask` (where it
        is now): about 1 while the composed motions still say where each part was, falling as they drift from it
        (the similarities of a spinning dancer); 0 when `to_given` is None."""
        if self.to_given is None or self._given is None:
            return 0.0
        given_here = cv2.warpAffine(self._given.view(np.uint8), self.to_given, mask.shape[::-1],
                                    flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP) > 0  # each pixel, where it was
        return float(np.count_nonzero(given_here & mask)) / max(np.count_nonzero(given_here), 1)

    def _compose_to_given(self, moving: Mask, flow_bwd: Flow) -> None:
        """Fit the similarity that takes `moving`'s pixels where the flow says they were; compose it into
        :attr:`to_given` and keep its inlier share as :attr:`rigidity`."""
        here, there = flow_matches(moving, flow_bwd)
        step, inliers = (cv2.estimateAffinePartial2D(here, there, method=cv2.RANSAC) if len(here) >= 2
                         else (None, None))  # a similarity needs two matches
        self.rigidity = 0.0 if inliers is None else float(inliers.mean())
        if step is not None:  # then back from the previous frame to the given one
            self.to_given = np.hstack([self.to_given[:, :2] @ step[:, :2],
                                       self.to_given[:, :2] @ step[:, 2:] + self.to_given[:, 2:]])

    def found(self, region: Mask, appearance: ProbMap) -> None:
        """Record that the object was found again at `region` after being lost."""
        self._areas.clear()
        self._areas.append(int(np.count_nonzero(region)))
        self._likeness = float(appearance[region].mean())
        self.to_given = None  # found as a whole: which part is where, as it was given, is not known
        self.last_seen = region
        self.lost_for = 0
        self.anywhere = False

    def ahead(self, mask: Mask) -> Mask:
        """`mask` moved by the object's last motion: where its hidden parts should now be."""
        dx, dy = (float(v) for v in self._velocity)
        if abs(dx) < 0.5 and abs(dy) < 0.5:
            return mask
        shift = np.float32([[1, 0, dx], [0, 1, dy]])
        moved = cv2.warpAffine(mask.view(np.uint8), shift, mask.shape[::-1], flags=cv2.INTER_NEAREST)
        return moved > 0

    def search(self, appearance: ProbMap, carried: Mask) -> Mask | None:
        """Look for the lost object over the frame; the region to resume from, or None.

        The search centres on where the object would be had it kept its
        motion, and widens by its size each frame it stays lost (or covers
        the frame alike, :attr:`anywhere`). A region is taken when its
        windows are at least :data:`FOUND_DENSITY` object-like, its area is
        within :data:`FOUND_SCALE` of the object's, and it explains the
        object better than the carried mask: nearer its size, or more like it.
        """
        self.lost_for += 1
        seen = self.ahead(self.last_seen)
        ys, xs = np.nonzero(seen if seen.any() else self.last_seen)
        if xs.size == 0:
            return None
        size = self.size
        reference = size**2
        region, density = densest_region(appearance, size=size, near=(float(xs.mean()), float(ys.mean())),
                                         spread=np.inf if self.anywhere else size * (1 + self.lost_for))
        found = np.count_nonzero(region)
        if density < FOUND_DENSITY or not reference / FOUND_SCALE <= found <= reference * FOUND_SCALE:
            return None
        area = np.count_nonzero(carried)
        nearer_in_size = abs(np.log(found / reference)) < abs(np.log(max(area, 1) / reference))
        likelier = area == 0 or density > float(appearance[carried].mean())
        return region if (nearer_in_size or likelier) and not (region & carried).sum() > 0.5 * found else None
