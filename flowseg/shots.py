"""Shot boundaries of a video on their own: ``detect(frames)`` and the shot list.

Examples
--------
>>> from flowseg.shots import detect, shots_from_boundaries
>>> boundaries = detect(frames)                                  # doctest: +SKIP
>>> shots_from_boundaries(boundaries, frames=120)                # doctest: +SKIP
[(0, 41), (42, 119)]
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from ._validate import check_image, check_same_size
from .stages.flow import FlowEstimator
from .stages.shots import Boundary, ShotDetector, frame_signature
from .types import Frame, Image

__all__ = ["Boundary", "detect", "shots_from_boundaries", "shot_list", "timecode"]

_FLOW_WIDTH = 160


def detect(frames: Iterable[Image], *, sensitivity: float = 3.0) -> list[Boundary]:
    """Find the cuts and gradual transitions of a video.

    Parameters
    ----------
    frames : iterable of (H, W, 3) uint8 ndarray
        RGB frames, all the same size; consumed one at a time (constant memory).
    sensitivity : float
        See :class:`~flowseg.stages.shots.ShotDetector`.

    Returns
    -------
    list of Boundary
        In frame order.

    Notes
    -----
    The flow consistency comes from DIS (ultrafast) on frames scaled to 160
    pixels wide: a few milliseconds a frame.
    """
    detector = ShotDetector(sensitivity=sensitivity)
    flow: FlowEstimator | None = None
    size: tuple[int, int] | None = None
    found: list[Boundary] = []
    for index, image in enumerate(frames):
        check_image(image, f"frame {index}")
        if size is None:
            size = image.shape[:2]
            flow = FlowEstimator(method="dis_ultrafast", scale=min(1.0, _FLOW_WIDTH / size[1]))
        check_same_size(image, size, f"frame {index}")
        confidence = flow.process(Frame(index, image))["flow_confidence"]
        found += detector.push(frame_signature(image), float(np.mean(confidence)))
    return found + detector.finish()


def shots_from_boundaries(boundaries: Iterable[Boundary], frames: int) -> list[tuple[int, int]]:
    """The shots between boundaries, as ``(first, last)`` zero-based inclusive frame numbers.

    A gradual transition's frames between its ``start`` and ``end`` belong to
    neither shot.

    Examples
    --------
    >>> shots_from_boundaries([Boundary("cut", 41, 42), Boundary("gradual", 80, 92)], frames=120)
    [(0, 41), (42, 80), (92, 119)]
    """
    shots, first = [], 0
    for boundary in boundaries:
        shots.append((first, boundary.start))
        first = boundary.end
    if frames > first:
        shots.append((first, frames - 1))
    return shots


def timecode(frame: int, fps: float) -> str:
    """``HH:MM:SS.mmm`` of a frame's start time.

    Examples
    --------
    >>> timecode(90, 30.0)
    '00:00:03.000'
    """
    seconds = frame / fps
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{int(hours):02d}:{int(minutes):02d}:{seconds:06.3f}"


def shot_list(boundaries: Iterable[Boundary], *, frames: int, fps: float) -> dict:
    """The shot list as ``flowseg shots --json`` writes it.

    Returns
    -------
    dict
        ``{"fps", "frames", "shots": [{"start", "end", "start_timecode",
        "end_timecode"}], "boundaries": [{"kind", "start", "end"}]}``, frame
        numbers zero-based and inclusive.

    Examples
    --------
    >>> shot_list([Boundary("cut", 1, 2)], frames=4, fps=2.0)["shots"][1]
    {'start': 2, 'end': 3, 'start_timecode': '00:00:01.000', 'end_timecode': '00:00:01.500'}
    """
    boundaries = list(boundaries)
    return {
        "fps": fps,
        "frames": frames,
        "shots": [{"start": a, "end": b, "start_timecode": timecode(a, fps), "end_timecode": timecode(b, fps)}
                  for a, b in shots_from_boundaries(boundaries, frames)],
        "boundaries": [{"kind": b.kind, "start": b.start, "end": b.end} for b in boundaries],
    }
