"""Shot boundaries: cuts and gradual transitions found, pans and flashes left alone, propagation reset."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from flowseg import Pipeline, segment_video
from flowseg.cli import main
from flowseg.shots import Boundary, detect, shot_list, shots_from_boundaries
from flowseg.stages import MaskRefiner, ShotBoundaries
from flowseg.types import Frame, StageOutput

from synthetic import texture
from test_io import write_folder, write_video

SHAPE = (72, 128)


def shot(seed: int, tint: tuple[float, float, float], n: int, *, pan: int = 1) -> list[np.ndarray]:
    """`n` frames of a tinted texture panning `pan` pixels a frame: one shot with its own colours."""
    base = (texture((SHAPE[0], SHAPE[1] + pan * n), seed=seed).astype(np.float32) * tint).astype(np.uint8)
    return [np.ascontiguousarray(base[:, pan * t : pan * t + SHAPE[1]]) for t in range(n)]


RED, BLUE, GREEN = (1.0, 0.35, 0.3), (0.3, 0.4, 1.0), (0.35, 1.0, 0.4)


def dissolve(a: np.ndarray, b: np.ndarray, n: int) -> list[np.ndarray]:
    return [(a * (1 - k / (n + 1)) + b * (k / (n + 1))).astype(np.uint8) for k in range(1, n + 1)]


def as_tuples(boundaries: list[Boundary]) -> list[tuple[str, int, int]]:
    return [(b.kind, b.start, b.end) for b in boundaries]


class TestDetect:
    def test_hard_cuts(self) -> None:
        frames = shot(0, RED, 20) + shot(1, BLUE, 20) + shot(2, GREEN, 20)
        assert as_tuples(detect(frames)) == [("cut", 19, 20), ("cut", 39, 40)]

    def test_dissolve_is_gradual(self) -> None:
        a, b = shot(0, RED, 20), shot(1, BLUE, 20)
        frames = a + dissolve(a[-1], b[0], 10) + b
        (found,) = detect(frames)
        # True span: last pure frame 19, first pure frame 30.
        assert found.kind == "gradual" and found.start <= 30 and found.end >= 19, found

    def test_fade_through_black_is_gradual(self) -> None:
        a, b = shot(0, RED, 20), shot(1, BLUE, 20)
        black = np.zeros_like(a[0])
        frames = a + dissolve(a[-1], black, 6) + [black] * 3 + dissolve(black, b[0], 6) + b
        found = detect(frames)
        # True span: last pure frame 19, first pure frame 35 (6 + 3 + 6 frames between).
        assert found and all(f.kind == "gradual" and f.start <= 35 and f.end >= 19 for f in found), found

    def test_fast_pan_is_not_a_boundary(self) -> None:
        assert detect(shot(0, RED, 40, pan=12)) == []

    def test_flash_is_not_a_boundary(self) -> None:
        frames = shot(0, RED, 40)
        for t in (20, 21):
            frames[t] = np.clip(frames[t].astype(np.int16) + 140, 0, 255).astype(np.uint8)
        assert detect(frames) == []

    def test_refuses_mixed_sizes(self) -> None:
        from flowseg import ShapeError

        with pytest.raises(ShapeError, match="frame 1 is 64x72"):
            detect([np.zeros((*SHAPE, 3), np.uint8), np.zeros((72, 64, 3), np.uint8)])


class TestShotList:
    def test_shots_between_boundaries(self) -> None:
        boundaries = [Boundary("cut", 19, 20), Boundary("gradual", 39, 50)]
        assert shots_from_boundaries(boundaries, frames=70) == [(0, 19), (20, 39), (50, 69)]

    def test_no_boundary_is_one_shot(self) -> None:
        assert shots_from_boundaries([], frames=5) == [(0, 4)]

    def test_json_layout(self) -> None:
        listing = shot_list([Boundary("cut", 41, 42)], frames=100, fps=25.0)
        assert listing["fps"] == 25.0 and listing["frames"] == 100
        assert listing["boundaries"] == [{"kind": "cut", "start": 41, "end": 42}]
        assert listing["shots"][1] == {"start": 42, "end": 99, "start_timecode": "00:00:01.680",
                                       "end_timecode": "00:00:03.960"}  # fmt: skip


class Everywhere:
    """A stand-in semantic stage: evidence 1 on a square in shot 1, nothing in shot 2 (the object left with the cut)."""

    requires: tuple[str, ...] = ()
    provides: tuple[str, ...] = ("evidence",)

    def process(self, frame: Frame) -> StageOutput:
        evidence = np.zeros(SHAPE, np.float32)
        if frame.index < 10:
            evidence[20:50, 30:70] = 1.0
        return {"evidence": evidence}

    def reset(self) -> None:
        """Stateless."""


def test_the_pipeline_restarts_at_a_cut() -> None:
    frames = shot(0, RED, 10) + shot(1, BLUE, 10)
    with_shots = Pipeline(["flow", "shots", Everywhere(), "warp", MaskRefiner(method="none")])
    results = with_shots.run(frames)
    assert results[9].mask.sum() > 1000
    assert not any(r.mask.any() for r in results[10:])
    assert next(s for s in with_shots.stages if isinstance(s, ShotBoundaries)).boundary_frames == [10]


def test_shots_command_writes_json_and_csv(tmp_path: Path) -> None:
    video = write_video(tmp_path / "cuts.mp4", shot(0, RED, 15) + shot(1, BLUE, 15))
    runner = CliRunner()
    result = runner.invoke(main, ["shots", str(video), "--json", str(tmp_path / "s.json"),
                                  "--csv", str(tmp_path / "s.csv")])
    assert result.exit_code == 0, result.output
    listing = json.loads((tmp_path / "s.json").read_text())
    assert listing["frames"] == 30
    assert listing["boundaries"] == [{"kind": "cut", "start": 14, "end": 15}]
    assert [(s["start"], s["end"]) for s in listing["shots"]] == [(0, 14), (15, 29)]
    assert (tmp_path / "s.csv").read_text().splitlines()[1:] == [
        f"1,0,14,00:00:00.000,{listing['shots'][0]['end_timecode']}",
        f"2,15,29,{listing['shots'][1]['start_timecode']},{listing['shots'][1]['end_timecode']}",
    ]
    assert "shot   2: frames     15-    29" in result.output


def test_shots_command_on_a_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["shots", str(tmp_path / "absent.mp4")])
    assert result.exit_code == 2
    assert "absent.mp4" in result.stderr and "Traceback" not in result.output


def test_object_mode_says_where_the_object_was_lost(tmp_path: Path) -> None:
    frames = shot(0, RED, 10) + shot(1, BLUE, 10)
    marked = np.zeros(SHAPE, bool)
    marked[20:50, 30:70] = True
    summary = segment_video(write_folder(tmp_path / "clip", frames), tmp_path / "out", init_mask=marked,
                            videos=False)  # fmt: skip
    assert summary["shot_changes"] == [10]
    assert summary["object_lost_at"] == 10
    masks = sorted((tmp_path / "out" / "masks").iterdir())
    assert cv2.imread(str(masks[9]), cv2.IMREAD_UNCHANGED).any()
    assert not any(cv2.imread(str(m), cv2.IMREAD_UNCHANGED).any() for m in masks[10:])
