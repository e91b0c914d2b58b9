"""Warping stage: carry the previous frame's soft mask along the flow and fuse it with the current evidence."""

from __future__ import annotations

import cv2
import numpy as np

from .._validate import check_flow, check_prob
from ..types import Flow, Frame, ProbMap, StageOutput
from ._sampling import flow_targets

__all__ = ["DEFAULT_TEMPORAL_WEIGHT", "warp_mask", "fuse_evidence", "MaskWarper"]

DEFAULT_TEMPORAL_WEIGHT: float = 0.8
"""Default weight of the warped past where the flow is trusted.

On the six DAVIS-2016 person sequences (embedded person model, DIS flow, no
refinement) J&F was 0.454 per frame, 0.466 at 0.5, 0.481 at 0.8; 0.7 and 0.9
were within 0.01 of 0.8 either way, sequence by sequence. Above 0.5 the past
can fill a frame where the per-frame model misses entirely, which 0.5 cannot
(the fused value stays at or below 0.5).

Following a given object (34 DAVIS-2016 sequences, ``benchmarks/davis.py
--configs object``) 0.9 gave J&F 0.778 against 0.776 at 0.8 (fold A 0.785,
B 0.772; boat 0.588 -> 0.632, soccerball 0.791 -> 0.765) and 0.95 gave
0.776 (bmx-trees below 0.45); with ``target="moving"`` 0.9 gave 0.643
against 0.649 (A 0.718 -> 0.698). A gain under 0.005 in one mode, a loss in
another: 0.8 stays, one value for all."""


def warp_mask(prob_prev: ProbMap, flow_bwd: Flow) -> ProbMap:
    """Warp the previous frame's soft mask into the current frame.

    Parameters
    ----------
    prob_prev : (H, W) float32 ndarray
        Soft mask of frame t - 1, values in [0, 1].
    flow_bwd : (H, W, 2) float32 ndarray
        Flow from frame t to frame t - 1 in pixels, dx first.

    Returns
    -------
    (H, W) float32 ndarray
        ``prob_prev`` sampled bilinearly at ``x + flow_bwd(x)``; 0 where that
        falls outside the frame.

    Examples
    --------
    A one-pixel mask moves one column right when every pixel of frame t came
    from one column to its left:

    >>> import numpy as np
    >>> prev = np.zeros((1, 4), np.float32); prev[0, 1] = 1
    >>> flow = np.zeros((1, 4, 2), np.float32); flow[..., 0] = -1
    >>> warp_mask(prev, flow)
    array([[0., 0., 1., 0.]], dtype=float32)
    """
    h, w = prob_prev.shape[:2]
    prob_prev = check_prob(prob_prev, (h, w), "prob_prev")
    flow_bwd = check_flow(flow_bwd, (h, w), "flow_bwd")
    return cv2.remap(prob_prev, flow_targets(flow_bwd), None, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)  # fmt: skip


def fuse_evidence(
    evidence: ProbMap, warped: ProbMap, confidence: ProbMap, *, temporal_weight: float = DEFAULT_TEMPORAL_WEIGHT
) -> ProbMap:
    """Fuse the current frame's evidence with the warped previous mask.

    ``prob = evidence + temporal_weight * confidence * (warped - evidence)``:
    where the flow is trusted this is an exponential moving average of the
    mask along motion trajectories (the previous mask weighs `temporal_weight`);
    where it is not (occlusions, frame borders, the first frame) the current
    evidence alone decides.

    Parameters
    ----------
    evidence : (H, W) float32 ndarray
        Current frame's target probability in [0, 1].
    warped : (H, W) float32 ndarray
        Previous soft mask warped into the current frame, in [0, 1].
    confidence : (H, W) float32 ndarray
        Trust in the flow, in [0, 1].
    temporal_weight : float
        Weight of the past in [0, 1]. 0 ignores it; near 1 follows the flow
        and ignores new evidence.

    Returns
    -------
    (H, W) float32 ndarray
        Fused probability in [0, 1].

    Notes
    -----
    Trusting the past more where the evidence is unsure (near 0.5), so that
    parts whose colours the background shares stay in the mask (breakdance's
    jeans before a crowd in jeans), lowered J&F on the 34 DAVIS-2016
    sequences (first mask given; 0.7837 as it is): `confidence` replaced by
    ``max(c, 1 - |2 e - 1|)`` gave 0.7705 (A 0.7716, B 0.7694), by
    ``c + (1 - c) (1 - |2 e - 1|)^2`` 0.7768; breakdance did not move.

    Examples
    --------
    >>> import numpy as np
    >>> e = np.array([[0.0, 0.0]], np.float32); p = np.array([[1.0, 1.0]], np.float32)
    >>> fuse_evidence(e, p, np.array([[1.0, 0.0]], np.float32), temporal_weight=0.5)
    array([[0.5, 0. ]], dtype=float32)
    """
    if not 0.0 <= temporal_weight <= 1.0:
        raise ValueError(f"temporal_weight is {temporal_weight}; expected a value in [0, 1]")
    shape = evidence.shape[:2]
    evidence = check_prob(evidence, shape, "evidence")
    warped = check_prob(warped, shape, "warped")
    confidence = check_prob(confidence, shape, "confidence")
    return (evidence + (temporal_weight * confidence) * (warped - evidence)).astype(np.float32, copy=False)


class MaskWarper:
    """Temporal fusion: the previous soft mask, warped by the flow, joins the current evidence.

    Parameters
    ----------
    temporal_weight : float
        Weight of the warped past in [0, 1] (see :func:`fuse_evidence`).

    Attributes
    ----------
    requires : tuple of str
        ``("evidence", "flow_bwd", "flow_confidence")``.
    provides : tuple of str
        ``("prob",)``: ``(H, W) float32`` fused probability in [0, 1].

    Notes
    -----
    Keeps its own previous output; :meth:`reset` forgets it, so the next frame
    starts from its evidence alone, as does a frame whose ``"shot_change"``
    (from :class:`~flowseg.stages.ShotBoundaries`, when the pipeline has one)
    or ``"redetected"`` (from :class:`~flowseg.stages.ObjectAppearance`: a
    lost object found again elsewhere) is true. On a frame whose data holds
    ``"init_mask"`` (semi-supervised mode) that mask is the output. Where the
    data holds ``"previous_prob"`` (``(H, W) float32``; the pipeline gives it
    when several objects compete: 0 where another object won) it stands in
    for the previous output.
    """

    requires: tuple[str, ...] = ("evidence", "flow_bwd", "flow_confidence")
    provides: tuple[str, ...] = ("prob",)

    def __init__(self, *, temporal_weight: float = DEFAULT_TEMPORAL_WEIGHT) -> None:
        if not 0.0 <= temporal_weight <= 1.0:
            raise ValueError(f"temporal_weight is {temporal_weight}; expected a value in [0, 1]")
        self.temporal_weight = temporal_weight
        self._prob_prev: ProbMap | None = None

    def process(self, frame: Frame) -> StageOutput:
        """Fused probability of ``frame``."""
        evidence = frame.data["evidence"]
        previous = frame.data.get("previous_prob", self._prob_prev)
        if "init_mask" in frame.data:  # semi-supervised mode: the given mask is the truth
            prob = np.array(frame.data["init_mask"], dtype=np.float32)
        elif (previous is None or previous.shape != evidence.shape or frame.data.get("shot_change")
              or frame.data.get("redetected")):
            prob = np.array(evidence, dtype=np.float32)
        else:
            warped = warp_mask(previous, frame.data["flow_bwd"])
            prob = fuse_evidence(evidence, warped, frame.data["flow_confidence"],
                                 temporal_weight=self.temporal_weight)
        self._prob_prev = prob
        return {"prob": prob}

    def reset(self) -> None:
        """Forget the previous mask."""
        self._prob_prev = None
