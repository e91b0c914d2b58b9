"""Shot-boundary stage: find cuts and gradual transitions from content change the flow cannot explain.

Each frame gets two numbers against the frame before it: how much its colour
content changed (:func:`histogram_change`) and how much of the frame the flow
explains (the mean forward-backward flow confidence). A frame is a
*transition frame* when its change stands out from the video's recent
changes while the flow explains less of it than usual; camera pans and
large moving objects change content too, but the flow explains them. Runs
of transition frames become boundaries: a run of one or two frames is a cut,
a longer one a gradual transition (fade or dissolve). A run after which the
content returns to what it was before is a flash, not a boundary.

Everything adapts to the video: "stands out" and "less than usual" are
measured against running medians of the last :data:`HISTORY` frames, so the
detector keeps constant memory.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import cv2
import numpy as np

from .._validate import check_image
from ..types import Frame, Image, StageOutput

__all__ = ["Boundary", "HISTORY", "SPAN", "frame_signature", "histogram_change", "ShotDetector", "ShotBoundaries"]

HISTORY: int = 30
"""Frames of recent history the adaptive thresholds are taken from."""

SPAN: int = 8
"""Frames over which gradual change is measured, and that separate two transitions."""

_SIGNATURE_WIDTH = 128
_BINS = (8, 8, 8)


@dataclass(frozen=True)
class Boundary:
    """A boundary between two shots, in zero-based inclusive frame numbers.

    Attributes
    ----------
    kind : {"cut", "gradual"}
    start : int
        The last frame of the old shot.
    end : int
        The first frame of the new shot (``start + 1`` for a cut).
    """

    kind: str
    start: int
    end: int


def frame_signature(image: Image) -> np.ndarray:
    """Colour signature of a frame: its normalised HSV histogram, ``(512,) float32`` summing to 1.

    Computed on a copy downscaled to 128 pixels wide, so it costs well under
    a millisecond and ignores noise and fine texture.
    """
    image = check_image(image)
    h, w = image.shape[:2]
    small = cv2.resize(image, (_SIGNATURE_WIDTH, max(1, round(h * _SIGNATURE_WIDTH / w))), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, list(_BINS), [0, 180, 0, 256, 0, 256]).ravel()
    return (hist / max(float(hist.sum()), 1.0)).astype(np.float32)


def histogram_change(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of colour mass that moved between two signatures: ``1 - sum(min(a, b))``, in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> histogram_change(np.array([1.0, 0.0]), np.array([0.5, 0.5]))
    0.5
    """
    return float(1.0 - np.minimum(a, b).sum())


class ShotDetector:
    """Streaming shot-boundary detector over per-frame signatures and flow consistency.

    Parameters
    ----------
    sensitivity : float
        How far above its recent median a frame's change must be, in
        multiples of that median (> 1).

    Notes
    -----
    A frame is a *transition frame* when its change from the frame before
    stands out (above ``sensitivity`` times the median of the recent changes,
    and above 0.05, so that a still video's noise does not count) and either
    its flow consistency is below half the recent median or the change over
    the last :data:`SPAN` frames is above 0.5 (a dissolve of still content
    keeps the flow consistent); or when its change is above 0.5 whatever
    else. For slower gradual transitions it is also one when the change over
    the last :data:`SPAN` frames is above 0.5 while its own change is above
    ``sensitivity / 2`` times the recent median and its flow consistency
    below the recent median.

    Transition frames closer than :data:`SPAN` frames form one run; after an
    abrupt change the change over :data:`SPAN` frames is measured from that
    frame on, so a cut does not echo as a gradual transition. A run is
    reported by :meth:`push` :data:`SPAN` frames after its last frame: as
    nothing if the frame right after it matches the frame right before it (a
    flash), as a cut if it is one or two frames long, else as a gradual
    transition. :meth:`finish` reports a run still open at the end.

    Attributes
    ----------
    last_was_transition : bool
        Whether the frame last pushed is a transition frame.
    """

    def __init__(self, *, sensitivity: float = 3.0) -> None:
        if not sensitivity > 1:
            raise ValueError(f"sensitivity is {sensitivity}; expected a factor above 1")
        self.sensitivity = sensitivity
        self.reset()

    def is_transition(self, change: float, long_change: float, consistency: float) -> bool:
        """Whether a frame belongs to a transition (see Notes).

        Parameters
        ----------
        change : float
            :func:`histogram_change` from the previous frame.
        long_change : float
            :func:`histogram_change` from :data:`SPAN` frames before.
        consistency : float
            Mean flow confidence from the previous frame, in [0, 1].
        """
        if change > 0.5:
            return True
        usual_change = self._usual_change(change)
        usual_consistency = float(np.median(self._consistency)) if self._consistency else consistency
        stands_out = change > self._standout_threshold(usual_change)
        abrupt = stands_out and (consistency < 0.5 * usual_consistency or long_change > 0.5)
        gradual = (long_change > 0.5 and change > 0.5 * self.sensitivity * usual_change
                   and consistency < usual_consistency)
        return abrupt or gradual

    def push(self, signature: np.ndarray, consistency: float) -> list[Boundary]:
        """Add the next frame; return the boundaries now complete.

        Parameters
        ----------
        signature : (512,) float32 ndarray
            :func:`frame_signature` of the frame.
        consistency : float
            Mean flow confidence between the previous frame and this one, in
            [0, 1] (ignored for the first frame).
        """
        index = self._index
        self._index += 1
        recent = self._recent
        self._recent.append(signature)
        self.last_was_transition = False
        if len(recent) < 2:
            return []
        change = histogram_change(recent[-2], signature)
        long_change = histogram_change(recent[0], signature)
        self.last_was_transition = self.is_transition(change, long_change, consistency)
        if self.last_was_transition:
            if self._run is None:
                self._run = [index, index, recent[-2], None]
            self._run[1], self._run[3] = index, None
            if change > self._standout_threshold(self._usual_change(change)):
                # An abrupt change: later frames measure their gradual change from here on.
                recent.clear()
                recent.append(signature)
        else:
            self._changes.append(change)
            self._consistency.append(consistency)
            if self._run is not None and self._run[3] is None:
                self._run[3] = signature
        if self._run is not None and index - self._run[1] >= SPAN:
            return self._close_run()
        return []

    def _usual_change(self, default: float) -> float:
        return float(np.median(self._changes)) if self._changes else default

    def _standout_threshold(self, usual_change: float) -> float:
        """The change above which a frame stands out: `sensitivity` times the usual, and at least 0.05."""
        return max(self.sensitivity * usual_change, 0.05)

    def _close_run(self) -> list[Boundary]:
        (first, last, before, after), self._run = self._run, None
        if after is None:
            after = self._recent[-1]
        if histogram_change(before, after) < self._standout_threshold(self._usual_change(0.0)):
            return []  # right after the run the content is what it was before: a flash
        if last - first <= 1:
            return [Boundary("cut", first - 1, first)]
        return [Boundary("gradual", first - 1, last)]

    def finish(self) -> list[Boundary]:
        """Report a transition still open at the end of the video."""
        if self._run is None:
            return []
        return self._close_run()

    def reset(self) -> None:
        """Forget the video."""
        self._index = 0
        self._recent: collections.deque[np.ndarray] = collections.deque(maxlen=SPAN + 1)
        self._changes: collections.deque[float] = collections.deque(maxlen=HISTORY)
        self._consistency: collections.deque[float] = collections.deque(maxlen=HISTORY)
        self._run: list | None = None  # [first frame, last frame, signatures before and right after the run]
        self.last_was_transition = False


class ShotBoundaries:
    """Pipeline stage: flags the frames where a new shot starts, so propagation restarts there.

    It decides frame by frame (no look-ahead): a frame is flagged when it is a
    transition frame of :class:`ShotDetector` (a cut, or a frame inside a
    fade or dissolve). :class:`~flowseg.stages.MaskWarper` then drops the
    warped past and starts from the frame's evidence.

    Attributes
    ----------
    requires : tuple of str
        ``("flow_confidence",)``.
    provides : tuple of str
        ``("shot_change",)``: 0-d bool array.
    boundary_frames : list of int
        Frames flagged since the last :meth:`reset`.
    """

    requires: tuple[str, ...] = ("flow_confidence",)
    provides: tuple[str, ...] = ("shot_change",)

    def __init__(self, *, sensitivity: float = 3.0) -> None:
        self._detector = ShotDetector(sensitivity=sensitivity)
        self.sensitivity = sensitivity
        self.reset()

    def process(self, frame: Frame) -> StageOutput:
        """Whether ``frame`` starts a new shot (or lies inside a transition)."""
        self._detector.push(frame_signature(frame.image), float(np.mean(frame.data["flow_confidence"])))
        flagged = self._detector.last_was_transition
        if flagged:
            self._boundary_frames.append(frame.index)
        return {"shot_change": np.array(flagged)}

    def reset(self) -> None:
        """Forget the video."""
        self._detector.reset()
        self._boundary_frames: list[int] = []

    @property
    def boundary_frames(self) -> list[int]:
        """Frames flagged as the first of a new shot since the last :meth:`reset`."""
        return list(self._boundary_frames)
