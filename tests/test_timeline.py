"""Shot lists as CMX 3600 EDL and OpenTimelineIO: timecode, round trips, independent readers."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowseg.shots import shot_list
from flowseg.stages.shots import Boundary
from flowseg.io.timeline import edl_text, otio_json, otio_timeline, parse_edl, smpte_timecode

FRAMES = 120
BOUNDARIES = [Boundary("cut", 41, 42), Boundary("gradual", 80, 92)]
SHOTS = [(0, 41), (42, 80), (92, 119)]
"""A cut after frame 41 and a dissolve over frames 81..91, which belong to no shot."""


def listing(fps: float) -> dict:
    return shot_list(BOUNDARIES, frames=FRAMES, fps=fps)


@pytest.mark.parametrize(
    ("frame", "fps", "expected"),
    [
        (0, 25.0, "00:00:00:00"),
        (24, 25.0, "00:00:00:24"),
        (25, 25.0, "00:00:01:00"),
        (30 * 61 + 5, 30.0, "00:01:01:05"),
        (1799, 29.97, "00:00:59:29"),  # non-drop at rate 30: no frames skipped at the minute
        (1800, 29.97, "00:01:00:00"),
        (17982, 29.97, "00:09:59:12"),  # drop-frame would say 00:10:00;00 here
        (24 * 60 + 23, 23.976, "00:01:00:23"),
        (24, 24.0, "00:00:01:00"),
        (25 * 3600 - 1, 25.0, "00:59:59:24"),
        (25 * 3600, 25.0, "01:00:00:00"),
        (25 * 86400 - 1, 25.0, "23:59:59:24"),
    ],
)
def test_smpte_timecode(frame: int, fps: float, expected: str) -> None:
    assert smpte_timecode(frame, fps) == expected


@pytest.mark.parametrize(("frame", "fps"), [(-1, 25.0), (25 * 86400, 25.0), (0, 0.0), (0, float("nan"))])
def test_smpte_timecode_rejects(frame: int, fps: float) -> None:
    with pytest.raises(ValueError):
        smpte_timecode(frame, fps)


def test_edl_layout() -> None:
    text = edl_text(listing(25.0), title="my clip", reel="A001", source_name="clip.mp4")
    assert text.endswith("\n") and "\r" not in text
    lines = text.splitlines()
    assert lines[:2] == ["TITLE: my clip", "FCM: NON-DROP FRAME"]
    events = [line for line in lines if line[:1].isdigit()]
    assert events == [
        "001  A001     V     C        00:00:00:00 00:00:01:17 00:00:00:00 00:00:01:17",
        "002  A001     V     C        00:00:01:17 00:00:03:06 00:00:01:17 00:00:03:06",
        "003  A001     V     C        00:00:03:17 00:00:04:20 00:00:03:17 00:00:04:20",
    ]
    # CMX 3600 columns: event 1-3, reel 6-13, track 15, transition 21, source in from 30
    assert all(e[14] == "V" and e[20] == "C" and e[29:40] == e.split()[4] for e in events)
    comments = [lines[i + 1] for i, line in enumerate(lines) if line[:1].isdigit()]
    assert comments == ["* FROM CLIP NAME: clip.mp4"] * 3
    assert "FROM CLIP NAME" not in edl_text(listing(25.0), title="t")


@pytest.mark.parametrize("reel", ["", "TOOLONGNAME", "A B"])
def test_edl_rejects_bad_reel(reel: str) -> None:
    with pytest.raises(ValueError, match="reel"):
        edl_text(listing(25.0), title="t", reel=reel)


@pytest.mark.parametrize("fps", [25.0, 29.97, 30000 / 1001])
def test_edl_round_trip(fps: float) -> None:
    assert parse_edl(edl_text(listing(fps), title="t", source_name="clip.mp4"), fps) == SHOTS


@pytest.mark.parametrize(("fps", "otio_rate"), [(25.0, 25.0), (29.97, 30000 / 1001), (30000 / 1001, 30000 / 1001)])
def test_edl_read_by_otio_cmx3600(fps: float, otio_rate: float) -> None:
    pytest.importorskip("otio_cmx3600_adapter", reason="needs the otio-cmx3600-adapter package (pip install)")
    import opentimelineio as otio

    # OTIO's timecode only knows the exact NTSC rate 30000/1001, not 29.97
    timeline = otio.adapters.read_from_string(edl_text(listing(fps), title="t", source_name="clip.mp4"),
                                              "cmx_3600", rate=otio_rate)
    clips = list(timeline.find_clips())
    assert [(round(c.source_range.start_time.value), round(c.source_range.duration.value)) for c in clips] == [
        (a, b - a + 1) for a, b in SHOTS
    ]
    assert [c.source_range.start_time.rate for c in clips] == [otio_rate] * 3
    assert [round(c.range_in_parent().start_time.value) for c in clips] == [a for a, _ in SHOTS]
    assert [c.name for c in clips] == ["clip.mp4"] * 3


def test_parse_edl_rejects_garbage() -> None:
    text = edl_text(listing(25.0), title="t")
    bad = "002  AX       V     C        00:00:01:17 banana 00:00:01:17 00:00:03:06"
    lines = text.splitlines()
    lines[4] = bad
    with pytest.raises(ValueError, match=r"EDL line 5: .*banana"):
        parse_edl("\n".join(lines), 25.0)
    with pytest.raises(ValueError, match="EDL line 1: .*00:00:00:25"):  # 25 frames is no frame count at 25 fps
        parse_edl("001  AX  V  C  00:00:00:00 00:00:00:25 00:00:00:00 00:00:00:25", 25.0)
    with pytest.raises(ValueError, match="EDL line 2"):
        parse_edl("TITLE: t\n003 AX V C 00:00:00:00\n", 25.0)
    with pytest.raises(ValueError, match="drop-frame"):
        parse_edl("FCM: DROP FRAME\n", 29.97)


def test_parse_edl_skips_audio_and_comments() -> None:
    text = (
        "TITLE: t\nFCM: NON-DROP FRAME\n\n"
        "001  AX       V     C        00:00:00:00 00:00:01:00 00:00:00:00 00:00:01:00\n"
        "* a comment\nM2   AX       050.0                00:00:00:00\n"
        "002  AX       A     C        00:00:01:00 00:00:02:00 00:00:01:00 00:00:02:00\n"
        "003  AX       V     C        00:00:01:00 00:00:01:00 00:00:01:00 00:00:01:00\n"
        "003  AX       V     D    010 00:00:02:00 00:00:03:00 00:00:01:00 00:00:02:00\n"
    )
    assert parse_edl(text, 25.0) == [(0, 24), (50, 74)]


@pytest.mark.parametrize("fps", [25.0, 29.97, 24000 / 1001])
def test_otio_json_round_trip(fps: float, tmp_path: Path) -> None:
    import opentimelineio as otio

    media = tmp_path / "clip.mp4"
    timeline = otio.adapters.read_from_string(otio_json(listing(fps), name="clip", media_path=str(media)), "otio_json")
    assert timeline.name == "clip"
    (track,) = timeline.video_tracks()
    kinds = [type(child).__name__ for child in track]
    assert kinds == ["Clip", "Clip", "Gap", "Clip"]
    clips = [child for child in track if isinstance(child, otio.schema.Clip)]
    assert [c.name for c in clips] == ["shot 001", "shot 002", "shot 003"]
    for clip, (first, last) in zip(clips, SHOTS):
        expected = otio.opentime.TimeRange(otio.opentime.RationalTime(first, fps),
                                           otio.opentime.RationalTime(last - first + 1, fps))
        assert clip.source_range == expected
        assert clip.source_range.start_time.rate == fps  # kept exactly, not rounded
        assert clip.range_in_parent() == expected  # record time = source time
        assert clip.media_reference.target_url == media.as_uri()
        assert clip.media_reference.available_range == otio.opentime.TimeRange(
            otio.opentime.RationalTime(0, fps), otio.opentime.RationalTime(FRAMES, fps))
    gap = track[2]
    assert track.range_of_child_at_index(2) == otio.opentime.TimeRange(otio.opentime.RationalTime(81, fps),
                                                                     otio.opentime.RationalTime(11, fps))
    assert gap.duration().value == 11


def test_otio_without_media_and_cut_only() -> None:
    import opentimelineio as otio

    timeline = otio_timeline(shot_list([Boundary("cut", 9, 10)], frames=20, fps=30.0), name="t")
    (track,) = timeline.video_tracks()
    assert [type(c).__name__ for c in track] == ["Clip", "Clip"]
    assert all(isinstance(c.media_reference, otio.schema.MissingReference) for c in track)
    assert track.duration() == otio.opentime.RationalTime(20, 30.0)


def test_overlapping_shots_rejected() -> None:
    bad = {"fps": 25.0, "frames": 20, "shots": [{"start": 0, "end": 10}, {"start": 5, "end": 19}]}
    with pytest.raises(ValueError, match="shot 1"):
        edl_text(bad, title="t")
    with pytest.raises(ValueError, match="shot 1"):
        otio_timeline(bad, name="t")
