"""FrameClock (flowseg/io/timing.py): increasing presentation times from the timestamps containers really give."""

from __future__ import annotations

import pytest

from flowseg.io.timing import REORDER_WINDOW, FrameClock


def timed(raw: list[int | None], *, step: int = 1, origin: int = 0, window: int = REORDER_WINDOW,
          durations: list[int | None] | None = None) -> tuple[list[tuple[int, int, int]], FrameClock]:
    """``(frame, pts, duration)`` for frames decoded with timestamps `raw`, and the clock that timed them."""
    clock: FrameClock[int] = FrameClock(step=step, origin=origin, window=window)
    out = []
    for index, pts in enumerate(raw):
        out += clock.push(index, pts, durations[index] if durations else None)
    out += clock.flush()
    return [(frame, time.pts, time.duration) for frame, time in out], clock


def test_sound_timestamps_are_kept_frame_for_frame() -> None:
    got, clock = timed([0, 40, 80, 120], step=40)
    assert got == [(0, 0, 40), (1, 40, 40), (2, 80, 40), (3, 120, 40)]
    assert clock.report.method == "container" and clock.report.frames == 4
    assert "used as they are" in clock.report.reason


def test_decode_order_timestamps_of_avi_b_frames_are_put_in_order() -> None:
    # What FFmpeg gives for H.264 with two B-frames in AVI: the frames are in order, their times are not.
    raw = [1, 3, 4, 2, 6, 7, 5, 9, 10, 8, 12, 13, 11]
    got, clock = timed(raw)
    assert [frame for frame, _, _ in got] == list(range(13))  # frames keep their (presentation) order
    assert [pts for _, pts, _ in got] == list(range(1, 14))
    assert all(duration == 1 for _, _, duration in got)
    assert clock.report.method == "reordered" and clock.report.regenerated == 0


def test_missing_timestamps_are_one_step_after_the_previous() -> None:
    got, clock = timed([None, None, 80, None, 160], step=40)
    assert [pts for _, pts, _ in got] == [0, 40, 80, 120, 160]
    assert clock.report.method == "regenerated" and clock.report.regenerated == 3


def test_a_duplicated_timestamp_takes_the_free_place_after_it() -> None:
    # A camera wrote 40 twice and never 80.
    got, clock = timed([0, 40, 40, 120, 160], step=40)
    assert [pts for _, pts, _ in got] == [0, 40, 80, 120, 160]
    assert clock.report.regenerated == 1 and clock.report.gaps == 0


def test_a_clock_that_jumps_back_continues_the_timeline() -> None:
    # Two recordings joined: the second starts from 0 again.
    got, clock = timed([0, 1, 2, 3, 0, 1, 2], window=2)
    assert [pts for _, pts, _ in got] == [0, 1, 2, 3, 4, 5, 6]
    assert clock.report.method == "regenerated"


def test_dropped_frames_keep_their_gap() -> None:
    got, clock = timed([0, 40, 80, 240, 280], step=40)
    assert [pts for _, pts, _ in got] == [0, 40, 80, 240, 280]
    assert got[2][2] == 160  # the frame before the gap is shown until the next one
    assert clock.report.gaps == 1 and clock.report.method == "container"
    assert "1 gaps longer than 1.5 frame durations were kept" in clock.report.reason


def test_variable_frame_rate_is_noticed_and_kept() -> None:
    got, clock = timed([0, 30, 90, 100, 180], step=40)
    assert [pts for _, pts, _ in got] == [0, 30, 90, 100, 180]
    assert [duration for _, _, duration in got[:4]] == [30, 60, 10, 80]
    assert clock.report.variable_rate and not timed([0, 40, 80], step=40)[1].report.variable_rate


def test_times_count_from_the_origin_and_the_last_frame_keeps_its_own_duration() -> None:
    got, _ = timed([900000, 903600, 907200], step=3600, origin=898080, durations=[3600, 3600, 1800])
    assert got == [(0, 1920, 3600), (1, 5520, 3600), (2, 9120, 1800)]


def test_without_a_window_shuffled_times_are_regenerated_not_reordered() -> None:
    got, clock = timed([1, 3, 4, 2], window=0)
    assert [pts for _, pts, _ in got] == [1, 3, 4, 5]  # increasing, though not the true order
    assert clock.report.method == "regenerated"


@pytest.mark.parametrize(("step", "window", "fragment"), [(0, 8, "step is 0"), (1, -1, "window is -1")])
def test_bad_settings_are_refused(step: int, window: int, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        FrameClock(step=step, window=window)
