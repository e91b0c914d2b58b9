"""Presentation times for decoded video frames, repaired where the container's timestamps lie.

Decoders hand frames out in presentation order, but the timestamps on them
are only as good as the container's: AVI stores none, so an H.264 stream
with B-frames comes out with its decode-order times shuffled (1, 3, 4, 2,
6, 7, 5, ...); raw elementary streams and some cameras give frames without
a timestamp, or the same one twice. :class:`FrameClock` gives every frame a
time that increases, keeps the container's times where they are sound (a
variable frame rate and the gaps of dropped frames survive), and counts
what it had to repair, for ``summary.json``.

Times are integers in the stream's ``time_base``, as in FFmpeg.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["REORDER_WINDOW", "FrameTime", "FrameClock", "TimingReport"]

_T = TypeVar("_T")

REORDER_WINDOW: int = 8
"""Frames held back to put shuffled timestamps in order: enough for the B-frame runs of
common encoders (x264's default is 3; a hierarchical group of 8 displaces a time by 7)."""

GAP_FACTOR: float = 1.5
"""A step between frames longer than this many average frame durations counts as a gap
(a camera that dropped frames, or a frame that could not be decoded)."""


@dataclass(frozen=True)
class FrameTime:
    """When a frame is shown: ``pts`` and ``duration`` in the stream's ``time_base``."""

    pts: int
    duration: int


@dataclass
class TimingReport:
    """What :class:`FrameClock` did to the container's timestamps.

    Attributes
    ----------
    frames : int
        Frames timed.
    reordered : int
        Frames whose timestamp belonged to another frame (shuffled decode-order
        times, as AVI gives for B-frames); each got its place's time.
    regenerated : int
        Frames without a usable timestamp (none, or not after the previous
        frame's), placed one average frame after the previous.
    gaps : int
        Steps longer than :data:`GAP_FACTOR` average frames (kept: the time
        really passed).
    variable_rate : bool
        Whether the frame durations differ by more than one time unit.
    """

    frames: int = 0
    reordered: int = 0
    regenerated: int = 0
    gaps: int = 0
    variable_rate: bool = False

    @property
    def method(self) -> str:
        """``"container"`` (times used as they are), ``"reordered"`` or ``"regenerated"`` (the worse of the two)."""
        if self.regenerated:
            return "regenerated"
        return "reordered" if self.reordered else "container"

    @property
    def reason(self) -> str:
        """One sentence on why the times are what they are."""
        parts = []
        if self.reordered:
            parts.append(f"{self.reordered} frames carried another frame's timestamp (decode order, as AVI "
                         "stores B-frames) and were given their place's")
        if self.regenerated:
            parts.append(f"{self.regenerated} frames had no timestamp or one not after the previous frame's, and "
                         "were placed one frame duration after it")
        if not parts:
            parts.append("the container's timestamps increase frame by frame and were used as they are")
        if self.gaps:
            parts.append(f"{self.gaps} gaps longer than {GAP_FACTOR} frame durations were kept (dropped or "
                         "undecodable frames)")
        return "; ".join(parts)


class FrameClock(Generic[_T]):
    """Gives decoded frames increasing presentation times.

    Frames go in as decoded, with the timestamp the decoder put on them (or
    None); they come out in the same order, at most :data:`REORDER_WINDOW`
    frames later, each with the smallest timestamp not yet given out. Where
    the container's times are right this changes nothing; where they are a
    decode-order shuffle, it puts them back in order. A frame without a
    timestamp, or whose time would not come after the previous frame's, is
    placed one `step` after the previous frame.

    Parameters
    ----------
    step : int
        One average frame duration, in the time base (>= 1).
    origin : int
        Subtracted from every time, so that the container's start is 0.
    window : int
        Frames held back to reorder (>= 0).

    Attributes
    ----------
    report : TimingReport
        What was repaired so far.

    Examples
    --------
    >>> clock = FrameClock(step=1)
    >>> released = [clock.push(name, pts) for name, pts in zip("abcdefg", [1, 3, 4, 2, 6, 7, 5])]
    >>> [(name, time.pts) for batch in released + [clock.flush()] for name, time in batch]
    [('a', 1), ('b', 2), ('c', 3), ('d', 4), ('e', 5), ('f', 6), ('g', 7)]
    >>> clock.report.method, clock.report.reordered
    ('reordered', 6)
    """

    def __init__(self, *, step: int, origin: int = 0, window: int = REORDER_WINDOW) -> None:
        if step < 1:
            raise ValueError(f"step is {step}; expected at least 1 time unit")
        if window < 0:
            raise ValueError(f"window is {window}; expected 0 or more frames")
        self.step = step
        self.origin = origin
        self.window = window
        self.report = TimingReport()
        self._held: deque[tuple[_T, int | None, int | None]] = deque()  # (item, raw pts, raw duration)
        self._times: list[int] = []  # heap of the held frames' timestamps
        self._last: int | None = None  # the time given to the previous frame
        self._last_duration: int | None = None

    def push(self, item: _T, pts: int | None, duration: int | None = None) -> list[tuple[_T, FrameTime]]:
        """Take the next decoded frame; return the frames now timed, oldest first.

        Parameters
        ----------
        item : any
            The frame (or anything that stands for it).
        pts : int or None
            The timestamp the decoder put on it.
        duration : int or None
            Its duration, if the container says (used for the last frame).
        """
        self._held.append((item, pts, duration))
        if pts is not None:
            heapq.heappush(self._times, pts)
        released = []
        while len(self._held) > self.window:
            released.append(self._release())
        return released

    def flush(self) -> list[tuple[_T, FrameTime]]:
        """Time every frame still held (at the end of the stream)."""
        return [self._release() for _ in range(len(self._held))]

    def _release(self) -> tuple[_T, FrameTime]:
        item, raw, raw_duration = self._held.popleft()
        time = heapq.heappop(self._times) if raw is not None else None
        if time is None or (self._last is not None and time <= self._last):
            time = self.origin if self._last is None else self._last + self.step
            self.report.regenerated += 1
        elif time != raw:
            self.report.reordered += 1
        following = self._times[0] if self._times else None
        if following is not None and following > time:
            duration = following - time
        else:
            duration = raw_duration or self.step
        if self._last is not None and time - self._last > GAP_FACTOR * self.step:
            self.report.gaps += 1
        if self._last_duration is not None and abs(duration - self._last_duration) > 1 and self._times:
            self.report.variable_rate = True
        self._last, self._last_duration = time, duration
        self.report.frames += 1
        return item, FrameTime(time - self.origin, duration)
