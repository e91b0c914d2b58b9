"""Keyframe scheduling: run the semantic model only where the flow can no longer carry its answer.

On a keyframe the wrapped semantics stage runs; on every other frame the last
keyframe's evidence is warped along the backward flow, together with a trust
map that multiplies the flow confidence of every step it was carried. Where
the trust has faded, the carried evidence gives way to the keyframe's colour
model (:class:`~flowseg.stages.appearance.ColourModel`) applied to the
current frame near the target. A new keyframe is due when too much of the
target, or of the frame, is covered by evidence that is no longer trusted
(occlusions, new content entering the frame, a shot cut where the flow
collapses), or when the interval runs out.
"""

from __future__ import annotations

import numpy as np

from ..types import Frame, Image, Mask, ProbMap, Stage, StageOutput
from ._wrapping import SemanticsWrapper
from ._colours import ColourModel
from .appearance import DEFAULT_LOCALITY, spatial_prior
from .warp import warp_mask

__all__ = ["DEFAULT_MAX_INTERVAL", "DEFAULT_MAX_STALE", "stale_fraction", "KeyframeScheduler"]

DEFAULT_MAX_INTERVAL: int = 8
"""Default largest number of frames from one keyframe to the next."""

_NEGLIGIBLE = 0.01
"""Colour evidence is looked up only where its weight in a propagated frame's evidence is above this."""

DEFAULT_MAX_STALE: float = 0.2
"""Default largest stale fraction of the target (see :func:`stale_fraction`) a
propagated frame may have before a keyframe is due."""


def stale_fraction(evidence: ProbMap, trust: ProbMap) -> tuple[float, float]:
    """How much of the propagated evidence is no longer trusted.

    A pixel is stale where its trust is below 0.5.

    Parameters
    ----------
    evidence : (H, W) float32 ndarray
        Propagated target probability in [0, 1].
    trust : (H, W) float32 ndarray
        Accumulated flow confidence of that evidence, in [0, 1].

    Returns
    -------
    of_target : float
        Stale fraction of the target's soft area, ``sum(evidence * stale) /
        sum(evidence)`` (0 without a target): it is occluded, or its motion
        is too fast or too complex for the flow.
    of_frame : float
        Stale fraction of the frame: new content entered, or a shot cut.

    Examples
    --------
    >>> import numpy as np
    >>> evidence = np.zeros((4, 4), np.float32); evidence[:2, :2] = 1
    >>> trust = np.ones((4, 4), np.float32); trust[0, :2] = 0
    >>> stale_fraction(evidence, trust)
    (0.5, 0.125)
    """
    stale = trust < 0.5
    area = float(evidence.sum())
    of_target = float(evidence[stale].sum()) / area if area > 0 else 0.0
    return of_target, float(stale.mean())


class KeyframeScheduler(SemanticsWrapper):
    """A semantics stage that runs only on keyframes; the flow carries its evidence in between.

    A frame is a keyframe when

    1. it is the first frame (or the first after :meth:`reset`), or a shot
       boundary flags it (``"shot_change"``, when the pipeline has
       :class:`~flowseg.stages.ShotBoundaries`), or
    2. more than `max_stale` of the target's carried evidence is stale, or
       more than half of the frame is (a shot cut: the flow confidence
       collapses); see :func:`stale_fraction`, or
    3. `max_interval` frames have passed since the last keyframe.

    On a propagated frame the evidence is ``trust * carried + (1 - trust) *
    colour``, with ``colour`` the posterior of a colour model fitted on the
    last keyframe (target where its evidence is above 0.5, background
    elsewhere; 0 when the keyframe had no target), times a
    :func:`~flowseg.stages.appearance.spatial_prior` that falls off over a
    quarter of the target's size (the square root of the carried target's
    area) from it, as in semi-supervised mode (flat when nothing of the
    target is left): what the flow can no longer vouch for is judged by its
    appearance in the current frame, near where the target was.

    Rules 2 and 3 wait while the frame's data says ``"behind_schedule"``
    (the pipeline's speed budget, see :mod:`flowseg.budget`), so keyframes
    spread out as far as a ``target_fps`` requires.

    Parameters
    ----------
    semantics : Stage
        A stage that provides ``"evidence"`` from the image alone, such as
        :class:`~flowseg.stages.SemanticSegmenter`.
    max_interval : int
        Largest number of frames from one keyframe to the next (>= 1; 1 runs
        the semantics on every frame).
    max_stale : float
        Largest stale fraction of the target, in [0, 1], a propagated frame may have.

    Attributes
    ----------
    requires : tuple of str
        ``("flow_bwd", "flow_confidence")``, and whatever `semantics` requires.
    provides : tuple of str
        ``("evidence", "keyframe")``: ``(H, W) float32`` target probability in
        [0, 1] and a 0-d bool array, True on keyframes.
    """

    provides: tuple[str, ...] = ("evidence", "keyframe")

    def __init__(
        self,
        semantics: Stage,
        *,
        max_interval: int = DEFAULT_MAX_INTERVAL,
        max_stale: float = DEFAULT_MAX_STALE,
    ) -> None:
        super().__init__(semantics)
        if max_interval < 1:
            raise ValueError(f"max_interval is {max_interval}; expected at least 1")
        if not 0.0 <= max_stale <= 1.0:
            raise ValueError(f"max_stale is {max_stale}; expected a value in [0, 1]")
        self.max_interval = max_interval
        self.max_stale = max_stale
        self.reset()

    @property
    def keyframes(self) -> int:
        """Keyframes since the last :meth:`reset`."""
        return self._keyframes

    def _is_due(self, frame: Frame) -> bool:
        flow_confidence = frame.data["flow_confidence"]
        if self._evidence is None or self._evidence.shape != flow_confidence.shape or frame.data.get("shot_change"):
            return True
        if frame.data.get("behind_schedule", False):
            return False
        if self._since_keyframe + 1 >= self.max_interval:
            return True
        of_target, of_frame = stale_fraction(self._evidence, self._trust)
        return of_target > self.max_stale or of_frame > 0.5

    def _keyframe_colours(self) -> ColourModel | None:
        """The last keyframe's colour model (None without a target), fitted on first use: not on every keyframe."""
        if self._keyframe is not None:
            image, target = self._keyframe
            self._colours = ColourModel().fit(image, target, ~target) if target.any() else None
            self._keyframe = None
        return self._colours

    def process(self, frame: Frame) -> StageOutput:
        """Evidence for ``frame``: fresh on a keyframe, carried by the flow otherwise."""
        flow_bwd = frame.data["flow_bwd"]
        confidence = frame.data["flow_confidence"]
        if self._evidence is not None and self._evidence.shape == confidence.shape:
            self._evidence = warp_mask(self._evidence, flow_bwd)
            self._trust = warp_mask(self._trust, flow_bwd) * confidence
        keyframe = self._is_due(frame)
        if keyframe:
            self._evidence = np.asarray(self._semantics.process(frame)["evidence"], dtype=np.float32)
            self._trust = np.ones_like(self._evidence)
            self._keyframe = (frame.image, self._evidence > 0.5)
            self._since_keyframe = 0
            self._keyframes += 1
            return {"evidence": self._evidence.copy(), "keyframe": np.array(True)}
        self._since_keyframe += 1
        evidence = self._trust * self._evidence
        colours = self._keyframe_colours()
        if colours is not None:
            target = self._evidence > 0.5
            size = max(float(np.sqrt(target.sum())), 1.0)
            fill = (1.0 - self._trust) * spatial_prior(target, DEFAULT_LOCALITY * size)
            where = fill > _NEGLIGIBLE
            if where.any():
                evidence[where] += fill[where] * colours.posterior(frame.image[where][np.newaxis])[0]
        return {"evidence": evidence.astype(np.float32, copy=False), "keyframe": np.array(False)}

    def reset(self) -> None:
        """Forget the carried evidence: the next frame is a keyframe."""
        self._semantics.reset()
        self._evidence: ProbMap | None = None
        self._trust: ProbMap | None = None
        self._keyframe: tuple[Image, Mask] | None = None
        self._colours: ColourModel | None = None
        self._since_keyframe = 0
        self._keyframes = 0
