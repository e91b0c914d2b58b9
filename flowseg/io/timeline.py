"""Shot lists in the formats editing software opens: CMX 3600 EDL and OpenTimelineIO.

The input is the dict :func:`flowseg.shots.shot_list` returns, frame numbers
zero-based and inclusive. Both formats place each shot at its own time in the
video: a shot's record (timeline) position equals its source position, so the
frames of a gradual transition, which belong to no shot, are left as a hole
(EDL) or a :class:`~opentimelineio.schema.Gap` (OTIO).

Examples
--------
>>> from flowseg.shots import Boundary, shot_list
>>> listing = shot_list([Boundary("cut", 49, 50)], frames=100, fps=25.0)
>>> print(edl_text(listing, title="clip"), end="")
TITLE: clip
FCM: NON-DROP FRAME
<BLANKLINE>
001  AX       V     C        00:00:00:00 00:00:02:00 00:00:00:00 00:00:02:00
002  AX       V     C        00:00:02:00 00:00:04:00 00:00:02:00 00:00:04:00
>>> parse_edl(edl_text(listing, title="clip"), fps=25.0)
[(0, 49), (50, 99)]
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import opentimelineio as otio

__all__ = ["smpte_timecode", "edl_text", "edl_of_run", "parse_edl", "otio_timeline", "otio_json"]

_TIMECODE = re.compile(r"^(\d{2}):(\d{2}):(\d{2})([:;])(\d{2})$")
_TRANSITIONS = re.compile(r"^(C|D|W\d{3}|K[BO]?)$")


def _nominal_rate(fps: float) -> int:
    """The integer timecode rate of `fps` (29.97 -> 30); ValueError when it is not positive."""
    if not math.isfinite(float(fps)) or round(float(fps)) < 1:
        raise ValueError(f"fps must be a finite number >= 0.5, got {fps!r}")
    return int(round(float(fps)))


def smpte_timecode(frame: int, fps: float) -> str:
    """``HH:MM:SS:FF`` SMPTE timecode of a frame number.

    Timecode is non-drop-frame at the nominal integer rate ``round(fps)``
    (29.97 counts as 30, 23.976 as 24), which is what frame-accurate EDLs use
    (``FCM: NON-DROP FRAME``): it counts frames exactly, and drifts from wall
    clock time at fractional rates (by 3.6 s an hour at 29.97).

    Parameters
    ----------
    frame : int
        Zero-based frame number, ``>= 0``.
    fps : float
        Frame rate in frames per second.

    Returns
    -------
    str
        Hours, minutes, seconds and frames, each two digits.

    Raises
    ------
    ValueError
        If `frame` is negative or 24 hours or more (timecode wraps there), or
        `fps` rounds to less than 1.

    Examples
    --------
    >>> smpte_timecode(90, 30.0)
    '00:00:03:00'
    >>> smpte_timecode(1799, 29.97)
    '00:00:59:29'
    >>> smpte_timecode(25 * 3600 + 7, 25.0)
    '01:00:00:07'
    """
    rate = _nominal_rate(fps)
    if frame < 0 or frame >= 24 * 3600 * rate:
        raise ValueError(f"frame {frame} is outside 00:00:00:00 .. 23:59:59:{rate - 1:02d} at {rate} fps")
    seconds, frames = divmod(int(frame), rate)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}:{frames:02d}"


def _frame_of(timecode: str, rate: int) -> int:
    """Frame number of a non-drop ``HH:MM:SS:FF`` timecode at the integer `rate`; ValueError when malformed."""
    match = _TIMECODE.match(timecode)
    if match is None:
        raise ValueError(f"not a HH:MM:SS:FF timecode: {timecode!r}")
    hours, minutes, seconds, separator, frames = match.groups()
    if separator == ";":
        raise ValueError(f"drop-frame timecode is not supported: {timecode!r}")
    if int(minutes) > 59 or int(seconds) > 59 or int(frames) >= rate:
        raise ValueError(f"timecode out of range at {rate} fps: {timecode!r}")
    return ((int(hours) * 60 + int(minutes)) * 60 + int(seconds)) * rate + int(frames)


def _shots(listing: dict) -> list[tuple[int, int]]:
    """The listing's shots as ``(first, last)`` pairs, checked to be in order and not overlapping."""
    shots, after = [], 0
    for index, shot in enumerate(listing["shots"]):
        first, last = int(shot["start"]), int(shot["end"])
        if first < after or last < first:
            raise ValueError(f"shot {index} ({first}..{last}) is empty, out of order or overlaps the one before")
        shots.append((first, last))
        after = last + 1
    return shots


def _one_line(value: str, what: str) -> str:
    """`value` unchanged; ValueError when it would break the line structure of an EDL."""
    if "\n" in value or "\r" in value:
        raise ValueError(f"{what} must be a single line, got {value!r}")
    return value


def edl_text(listing: dict, *, title: str, reel: str = "AX", source_name: str | None = None) -> str:
    """A CMX 3600 edit decision list of the shots, one cut event per shot.

    Parameters
    ----------
    listing : dict
        A shot list from :func:`flowseg.shots.shot_list`; its ``"fps"`` sets
        the timecode rate (see :func:`smpte_timecode`).
    title : str
        The ``TITLE:`` line.
    reel : str
        Reel (source tape) name of every event: 1 to 8 characters without
        spaces. ``"AX"`` is the usual name for a file-based source.
    source_name : str, optional
        File name written in a ``* FROM CLIP NAME:`` comment after each
        event, which editing software uses to link the events to the media.

    Returns
    -------
    str
        The EDL, every line ending with ``"\\n"``. Source in/out are the shot's
        first frame and its last frame + 1 (EDL out points are exclusive);
        record in/out are the same timecodes, counted from ``00:00:00:00``,
        so the shots lie back to back wherever they touch.

    Raises
    ------
    ValueError
        If the reel name does not fit, a name spans lines, the shots overlap,
        or the video lasts 24 hours or more.

    Notes
    -----
    Every event is a cut (``C``). The frames of a gradual transition belong to
    neither shot, so they are left out of the EDL, as a hole in the record
    timeline; no dissolve events are written. Event numbers past 999, the
    CMX 3600 limit, keep counting with more digits.
    """
    if not re.fullmatch(r"\S{1,8}", reel):
        raise ValueError(f"reel must be 1 to 8 characters without spaces, got {reel!r}")
    fps = listing["fps"]
    lines = [f"TITLE: {_one_line(title, 'title')}", "FCM: NON-DROP FRAME", ""]
    for event, (first, last) in enumerate(_shots(listing), start=1):
        tc_in, tc_out = smpte_timecode(first, fps), smpte_timecode(last + 1, fps)
        lines.append(f"{event:03d}  {reel:<8} V     C        {tc_in} {tc_out} {tc_in} {tc_out}")
        if source_name is not None:
            lines.append(f"* FROM CLIP NAME: {_one_line(source_name, 'source_name')}")
    return "\n".join(lines) + "\n"


def parse_edl(text: str, fps: float) -> list[tuple[int, int]]:
    """The source frames of a CMX 3600 EDL's video events.

    Reads what :func:`edl_text` writes and plain non-drop-frame EDLs: lines
    that do not start with a digit (title, ``FCM:``, comments) are skipped, as
    are audio-only events and zero-length events (the outgoing half of a
    dissolve).

    Parameters
    ----------
    text : str
        The EDL.
    fps : float
        Frame rate in frames per second; timecode counts at ``round(fps)``.

    Returns
    -------
    list of (int, int)
        ``(first, last)`` zero-based inclusive source frame numbers, one pair
        per event, in the order of the EDL.

    Raises
    ------
    ValueError
        On an event line that is not ``NNN reel track transition [length]
        src_in src_out rec_in rec_out``, with out before in, or in drop-frame
        timecode; the message quotes the line and its number.
    """
    rate = _nominal_rate(fps)
    shots = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.upper().startswith("FCM:") and "NON" not in stripped.upper():
            raise ValueError(f"EDL line {number}: drop-frame timecode is not supported: {stripped!r}")
        if not stripped[:1].isdigit():
            continue
        fields = stripped.split()
        try:
            if len(fields) not in (8, 9) or not fields[0].isdigit() or not _TRANSITIONS.match(fields[3]):
                raise ValueError("expected NNN reel track transition [length] src_in src_out rec_in rec_out")
            if len(fields) == 9 and not fields[4].isdigit():
                raise ValueError(f"transition length {fields[4]!r} is not a frame count")
            src_in, src_out, rec_in, rec_out = (_frame_of(tc, rate) for tc in fields[-4:])
            if src_out < src_in or rec_out < rec_in:
                raise ValueError("an out point comes before its in point")
        except ValueError as error:
            raise ValueError(f"EDL line {number}: {error}: {stripped!r}") from None
        track = fields[2].upper()
        if src_out > src_in and (track.startswith("V") or track == "B"):
            shots.append((src_in, src_out - 1))
    return shots


def otio_timeline(listing: dict, *, name: str, media_path: str | None = None) -> otio.schema.Timeline:
    """An OpenTimelineIO timeline of the shots: one video track, one clip per shot.

    Parameters
    ----------
    listing : dict
        A shot list from :func:`flowseg.shots.shot_list`. Its ``"fps"`` is the
        rate of every time, kept exactly (29.97 stays 29.97).
    name : str
        The timeline's name.
    media_path : str, optional
        The video file; clips then refer to it by a ``file://`` URL (made
        absolute) with an available range of all its frames. Without it the
        clips have a ``MissingReference``.

    Returns
    -------
    opentimelineio.schema.Timeline
        Clips named ``shot 001``, ``shot 002``, ... with source range = the
        shot's frames (start frame, frame count). Where frames fall between
        shots (a gradual transition), a ``Gap`` of that many frames sits
        between the clips, so every clip's record time equals its source time.

    Raises
    ------
    ValueError
        If the shots overlap or are out of order.
    """
    import opentimelineio as otio

    rate = float(listing["fps"])
    _nominal_rate(rate)

    def frames(start: int, count: int) -> otio.opentime.TimeRange:
        return otio.opentime.TimeRange(otio.opentime.RationalTime(start, rate), otio.opentime.RationalTime(count, rate))

    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    after = 0
    for index, (first, last) in enumerate(_shots(listing), start=1):
        if first > after:
            track.append(otio.schema.Gap(source_range=frames(0, first - after)))
        if media_path is None:
            reference = otio.schema.MissingReference()
        else:
            reference = otio.schema.ExternalReference(
                target_url=Path(media_path).absolute().as_uri(), available_range=frames(0, int(listing["frames"]))
            )
        track.append(otio.schema.Clip(name=f"shot {index:03d}", media_reference=reference,
                                      source_range=frames(first, last - first + 1)))
        after = last + 1
    timeline = otio.schema.Timeline(name=name)
    timeline.tracks.append(track)
    return timeline


def otio_json(listing: dict, *, name: str, media_path: str | None = None) -> str:
    """The :func:`otio_timeline` of the shots as ``.otio`` JSON text, for the caller to write.

    Parameters are those of :func:`otio_timeline`.

    Returns
    -------
    str
        What ``opentimelineio.adapters.write_to_string(timeline, "otio_json")`` gives.
    """
    import opentimelineio as otio

    return otio.adapters.write_to_string(otio_timeline(listing, name=name, media_path=media_path), "otio_json")


def edl_of_run(shot_changes: list[int], *, frames: int, fps: float, source: Path) -> str:
    """The EDL of a segmentation run: its shots, split at `shot_changes` (first frames of new shots), of `source`.

    Examples
    --------
    >>> print(edl_of_run([2], frames=4, fps=25.0, source=Path("a.mp4")), end="")
    TITLE: a
    FCM: NON-DROP FRAME
    <BLANKLINE>
    001  AX       V     C        00:00:00:00 00:00:00:02 00:00:00:00 00:00:00:02
    * FROM CLIP NAME: a.mp4
    002  AX       V     C        00:00:00:02 00:00:00:04 00:00:00:02 00:00:00:04
    * FROM CLIP NAME: a.mp4
    """
    from ..shots import shot_list
    from ..stages.shots import Boundary

    listing = shot_list([Boundary("cut", frame - 1, frame) for frame in shot_changes], frames=frames, fps=fps)
    return edl_text(listing, title=source.stem, source_name=source.name)
