"""Quality stage: how far each frame's mask can be trusted, for the QA report (where a person should look first)."""

from __future__ import annotations

import cv2
import numpy as np

from ..types import Frame, Mask, ProbMap, StageOutput
from .warp import warp_mask

__all__ = ["QUALITY_TERMS", "BAND", "mask_quality", "MaskQuality"]

QUALITY_TERMS: tuple[str, ...] = ("confidence", "boundary", "sureness", "shape")
"""What :func:`mask_quality` returns, in order: the confidence, then the three terms whose product it is."""

BAND: float = 0.0075
"""Half-width of the band around the mask's edge where :func:`mask_quality` reads the boundary's sureness, as a
fraction of the frame's diagonal (7 pixels at 854x480)."""


def mask_quality(mask: Mask, prob: ProbMap, carried: Mask | None) -> np.ndarray:
    """How far a frame's mask can be trusted: ``(4,) float32``, see :data:`QUALITY_TERMS`, each in [0, 1].

    Parameters
    ----------
    mask : (H, W) bool ndarray
        The frame's final mask.
    prob : (H, W) float32 ndarray
        The probability it was cut from, in [0, 1].
    carried : (H, W) bool ndarray or None
        The previous frame's mask carried into this one by the flow (None on
        a first frame).

    Returns
    -------
    (4,) float32 ndarray
        ``boundary``: the mean sureness ``|2 p - 1|`` of the probability in a
        band of :data:`BAND` around the mask's edge (a mask whose edge the
        evidence does not support is in doubt); ``sureness``: the mean
        probability inside the mask; ``shape``: the IoU of the mask with the
        carried one (1 without one; a mask that jumps away from where the
        flow took the last one is in doubt); ``confidence``: their product.
        For an empty mask (no object) the first two are read over the whole
        frame (``sureness``: the mean of ``1 - p``), and ``shape`` is 0 if the
        carried mask was not empty: an object that has just vanished is in
        doubt, one that left the frame frames ago is not.

    Notes
    -----
    On the 34 DAVIS-2016 sequences followed from their first masks
    (``balanced``), the Spearman rank correlation with each frame's true J,
    over all frames, was 0.67 for the product (folds A 0.75, B 0.57;
    ``benchmarks/corrections.py``), and, measured beforehand, 0.60 for the
    boundary term alone, 0.61 for the sureness, 0.51 for the shape, 0.55 for
    the mean appearance evidence inside the mask against a ring around it,
    0.29 for the change of area and 0.14 for the flow's forward-backward
    consistency around the mask; the product's five least confident frames
    held the worst one in 17 of the 34 sequences. Measured later (ad-hoc, a
    ``Pipeline().stream`` run per sequence at ced4ff9, where the product
    gave 0.683, A 0.767, B 0.584, the worst among the five suspects in 13)
    and not kept: the shape term squared, 0.708 (A 0.766, B 0.641; 14),
    but the least confident frame, where the first correction goes, no
    worse on average (its true J 0.691 either way); a memory of earlier
    frames (the product times its running mean, or its running minimum)
    0.694 (A 0.758, B 0.620-0.626); the product falling with the frames
    since the given one, ``c / (1 + t / 50)``, 0.614. Boundary support
    from the image (the mean, over the mask's edge, of the strongest colour
    gradient within 2 or 7 pixels, against the frame's 75th to 95th
    percentile gradient; 1 for an empty mask) times the product: 0.670 to
    0.686 (A 0.757-0.769, B 0.568-0.588), the worst frame among the five
    suspects in 13 to 16 sequences, the least confident frame's mean true J
    0.682-0.695 against 0.690. Counting an empty mask as unsupported (0)
    instead gave 0.680-0.688 and better first suspects (0.673-0.676), but
    only by putting every empty mask first, an object out of view too.
    """
    if not mask.any():  # no object: as sure as the probability is of that, if the flow brought none either
        boundary, sureness = float(np.abs(2 * prob - 1).mean()), float(1 - prob.mean())
        shape = 1.0 if carried is None or not carried.any() else 0.0
        return np.array([boundary * sureness * shape, boundary, sureness, shape], np.float32)
    h, w = mask.shape
    half = max(1, round(BAND * np.hypot(h, w)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * half + 1, 2 * half + 1))
    band = cv2.dilate(mask.view(np.uint8), kernel).view(bool) & ~cv2.erode(mask.view(np.uint8), kernel).view(bool)
    boundary = float(np.abs(2 * prob[band] - 1).mean())
    sureness = float(prob[mask].mean())
    shape = 1.0 if carried is None else float((carried & mask).sum() / (carried | mask).sum())
    return np.array([boundary * sureness * shape, boundary, sureness, shape], np.float32)


class MaskQuality:
    """The last stage: :func:`mask_quality` of each frame's mask, against the previous mask carried by the flow.

    Attributes
    ----------
    requires : tuple of str
        ``("flow_bwd", "prob", "mask")``.
    provides : tuple of str
        ``("quality",)``: ``(4,) float32``, see :data:`QUALITY_TERMS`; all
        ones on a frame that carries ``"init_mask"`` (given, so trusted).

    Notes
    -----
    Following one given object, an empty mask stays in doubt (``shape`` 0)
    while the object was last seen away from the frame's edges: it was lost
    in view, not gone out of it. An object last seen at an edge may have
    left, and its empty masks are trusted from the second on.
    """

    requires: tuple[str, ...] = ("flow_bwd", "prob", "mask")
    provides: tuple[str, ...] = ("quality",)

    def __init__(self) -> None:
        self.reset()

    def process(self, frame: Frame) -> StageOutput:
        """The quality of ``frame``'s mask."""
        mask = np.asarray(frame.data["mask"], bool)
        if "init_mask" in frame.data:
            quality = np.ones(len(QUALITY_TERMS), np.float32)
        else:
            carried = None
            if self._previous is not None and not frame.data.get("shot_change"):
                carried = warp_mask(self._previous.astype(np.float32), frame.data["flow_bwd"]) > 0.5
                if not (mask.any() or carried.any()) and self._lost_in_view is not None:
                    carried = self._lost_in_view  # lost in view, not gone: still in doubt
            quality = mask_quality(mask, frame.data["prob"], carried)
        if mask.any():
            followed = "init_mask" in frame.data or "previous_mask" in frame.data  # one given object
            self._lost_in_view = mask if followed and not _touches_edge(mask) else None
        self._previous = mask
        return {"quality": quality}

    def reset(self) -> None:
        """Forget the previous mask."""
        self._previous: Mask | None = None
        self._lost_in_view: Mask | None = None


def _touches_edge(mask: Mask) -> bool:
    """Whether a mask reaches the frame's edge (an object that vanishes from there may have left the view)."""
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
