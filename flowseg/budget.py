"""A speed budget: keep a run up with a target frame rate by spending less where it costs least.

Two levers, in order. First the semantic model waits: the pipeline tells
each frame whether it is ``"behind_schedule"``, and
:class:`~flowseg.stages.KeyframeScheduler` then spends no keyframe the
rules do not force. When even the frames without a keyframe are slower
than the budget, stages economise: the stages that have an
``economise(on)`` method switch to their cheaper setting (the flow to DIS
ultrafast, the refinement to a plain threshold) on the frames that must
catch up. Both levers act only while the run is behind, so the run does as
much of the full work as the budget allows.
"""

from __future__ import annotations

import time

__all__ = ["SpeedBudget"]

_MEAN_RATE = 0.2
"""Weight of the newest frame in the running means of frame cost."""

_MAX_CREDIT_SECONDS = 1.0
"""Time saved ahead of schedule that may be spent later (a cap, so a slow stretch cannot hide behind an early lead)."""


class SpeedBudget:
    """Wall-clock schedule of a run that should keep up with `target_fps`.

    Call :meth:`start_frame` when each frame starts; it books the wall time
    since the previous call (everything the caller did in between included)
    against ``1 / target_fps`` and decides whether this frame economises.

    Parameters
    ----------
    target_fps : float
        Frames per second to keep up with (> 0).

    Attributes
    ----------
    economy : bool
        Whether the current frame's stages economise.
    economy_frames : int
        Frames that economised since the last :meth:`reset`.

    Examples
    --------
    >>> budget = SpeedBudget(1000.0)
    >>> budget.start_frame(keyframe=True)
    >>> budget.affords_keyframe(), budget.economy
    (True, False)
    """

    def __init__(self, target_fps: float) -> None:
        if not target_fps > 0:
            raise ValueError(f"target_fps is {target_fps}; expected a positive number")
        self.target_fps = float(target_fps)
        self.reset()

    @property
    def behind_seconds(self) -> float:
        """Seconds behind schedule (negative: ahead, by at most one second)."""
        return self._behind

    def _too_slow(self, economy: bool) -> bool:
        """Whether frames without a keyframe are known to be slower than the budget, at this economy."""
        cost = self._cost.get((False, economy))
        return cost is not None and cost >= 1.0 / self.target_fps

    def start_frame(self, *, keyframe: bool) -> None:
        """Book the time since the previous call, and decide :attr:`economy` for the frame that starts.

        Parameters
        ----------
        keyframe : bool
            Whether the previous frame was a keyframe (its semantic model ran).
        """
        now = time.perf_counter()
        if self._last_start is not None:
            seconds = now - self._last_start
            self._behind = max(self._behind + seconds - 1.0 / self.target_fps, -_MAX_CREDIT_SECONDS)
            key = (keyframe, self.economy)
            known = self._cost.get(key)
            self._cost[key] = seconds if known is None else known + _MEAN_RATE * (seconds - known)
        self._last_start = now
        self.economy = self._behind > 0 and self._too_slow(economy=False)
        self.economy_frames += self.economy

    def affords_keyframe(self) -> bool:
        """Whether the current frame may run the semantic model: the run is on schedule, or cannot be by waiting."""
        return self._behind <= 0 or self._too_slow(self.economy)

    def reset(self) -> None:
        """Start a new schedule (the costs learnt so far are forgotten too)."""
        self._behind = 0.0
        self._last_start: float | None = None
        self._cost: dict[tuple[bool, bool], float] = {}
        self.economy = False
        self.economy_frames = 0
