"""Tests of ``shots.py``'s scoring and set builder (run: ``python -m pytest benchmarks``).

They need no shared data and no PySceneDetect (one check of its glue runs
only where it is installed), and start no benchmark run.
"""

from __future__ import annotations

import doctest
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

import shots
from shots import Boundary, Clip, Pan, SetPlan, Shot, Stretch, Transition

CUT, GRADUAL = "cut", "gradual"


def test_doctests() -> None:
    failures, tried = doctest.testmod(shots, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried > 0 and failures == 0, f"{failures} of {tried} doctest examples failed in shots"


# --------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------
def _counts(row: dict[str, object]) -> tuple[object, ...]:
    return row["true"], row["detected"], row["matched"]


def test_exact_matches_score_one() -> None:
    truths = [Boundary(CUT, 41, 42), Boundary(GRADUAL, 99, 112), Boundary(CUT, 150, 151)]
    rows = shots.score_detector(truths, list(truths))
    assert _counts(rows["cut"]) == (2, 2, 2) and _counts(rows["gradual"]) == (1, 1, 1)
    assert rows["any"] == {"true": 3, "detected": 3, "matched": 3, "precision": 1.0, "recall": 1.0, "f1": 1.0}


@pytest.mark.parametrize(
    ("detected_start", "matches"),
    [
        pytest.param(41, True, id="exact"),
        pytest.param(40, True, id="one-early"),
        pytest.param(42, True, id="one-late"),
        pytest.param(39, False, id="two-early"),
        pytest.param(43, False, id="two-late"),
    ],
)
def test_cut_tolerance_is_one_frame(detected_start: int, matches: bool) -> None:
    row = shots.score([Boundary(CUT, 41, 42)], [Boundary(CUT, detected_start, detected_start + 1)])
    assert row["matched"] == int(matches)
    assert row["precision"] == row["recall"] == row["f1"] == float(matches)


@pytest.mark.parametrize(
    ("span", "matches"),
    [
        pytest.param((99, 112), True, id="same"),
        pytest.param((105, 107), True, id="inside"),
        pytest.param((90, 99), True, id="touches-start"),
        pytest.param((112, 130), True, id="touches-end"),
        pytest.param((80, 98), False, id="before"),
        pytest.param((113, 120), False, id="after"),
    ],
)
def test_gradual_matches_when_spans_overlap(span: tuple[int, int], matches: bool) -> None:
    row = shots.score([Boundary(GRADUAL, 99, 112)], [Boundary(GRADUAL, *span)])
    assert row["matched"] == int(matches)


def test_wrong_kind_is_a_false_positive_of_its_kind() -> None:
    truths = [Boundary(CUT, 41, 42), Boundary(GRADUAL, 99, 112)]
    detections = [Boundary(GRADUAL, 40, 43), Boundary(CUT, 105, 106)]
    rows = shots.score_detector(truths, detections)
    assert _counts(rows["cut"]) == (1, 1, 0) and rows["cut"]["precision"] == 0.0
    assert _counts(rows["gradual"]) == (1, 1, 0) and rows["gradual"]["recall"] == 0.0
    assert _counts(rows["any"]) == (2, 2, 2), "row any ignores kinds"


def test_matching_is_one_to_one() -> None:
    two_detections = shots.score([Boundary(CUT, 41, 42)], [Boundary(CUT, 41, 42), Boundary(CUT, 42, 43)])
    assert _counts(two_detections) == (1, 2, 1) and two_detections["precision"] == 0.5
    two_truths = shots.score([Boundary(CUT, 40, 41), Boundary(CUT, 42, 43)], [Boundary(CUT, 41, 42)])
    assert _counts(two_truths) == (2, 1, 1) and two_truths["recall"] == 0.5
    gradual = shots.score([Boundary(GRADUAL, 10, 30)], [Boundary(GRADUAL, 12, 15), Boundary(GRADUAL, 20, 25)])
    assert _counts(gradual) == (1, 2, 1)


def test_matching_takes_the_closest_pair_first() -> None:
    truths = [Boundary(CUT, 10, 11), Boundary(CUT, 12, 13)]
    detections = [Boundary(CUT, 11, 12), Boundary(CUT, 12, 13)]
    assert shots.match(truths, detections) == [(0, 0), (1, 1)], "the exact detection belongs to the truth at 12"
    assert shots.match(truths[::-1], detections) == [(0, 1), (1, 0)]


def test_ratios_without_truths_or_detections() -> None:
    empty = shots.score([], [])
    assert empty == {"true": 0, "detected": 0, "matched": 0, "precision": None, "recall": None, "f1": None}
    nothing_found = shots.score([Boundary(CUT, 1, 2)], [])
    assert (nothing_found["precision"], nothing_found["recall"], nothing_found["f1"]) == (None, 0.0, 0.0)


def test_cut_only_detector_gets_gradual_credit_inside_or_one_frame_beyond() -> None:
    truths = [Boundary(CUT, 41, 42), Boundary(GRADUAL, 99, 112), Boundary(GRADUAL, 200, 210)]
    cuts = [Boundary(CUT, 41, 42), Boundary(CUT, 112, 113), Boundary(CUT, 197, 198), Boundary(CUT, 300, 301)]
    rows = shots.score_detector(truths, cuts, reports_kinds=False)
    assert _counts(rows["cut"]) == (1, 4, 1), "every detection is scored as a cut"
    # the new scene starting at 113 is one frame after the first pure frame 112: it matches (99, 112);
    # one starting at 198 is two frames before the first mixed frame 201: it does not match (200, 210)
    assert _counts(rows["gradual"]) == (2, 3, 1), "the detections that matched no true cut, as gradual claims"
    assert _counts(rows["any"]) == (3, 4, 2)
    assert shots.score_detector(truths, [Boundary(CUT, 98, 99)], reports_kinds=False)["gradual"]["matched"] == 1
    assert shots.score_detector(truths, [Boundary(CUT, 97, 98)], reports_kinds=False)["gradual"]["matched"] == 0


def test_false_alarms_by_stretch() -> None:
    truths = [Boundary(CUT, 49, 50)]
    stretches = [Stretch("moving objects", 0, 49), Stretch("flash", 20, 21), Stretch("fast pan", 50, 80)]
    detections = [Boundary(CUT, 49, 50), Boundary(CUT, 21, 22), Boundary(CUT, 30, 31), Boundary(GRADUAL, 60, 70),
                  Boundary(CUT, 90, 91)]  # fmt: skip
    assert shots.false_alarms(truths, detections, stretches) == {
        "flash": 1, "fast pan": 1, "moving objects": 1, "other": 1,
    }  # fmt: skip


# --------------------------------------------------------------------------
# the set builder, on tiny synthetic clips
# --------------------------------------------------------------------------
def _texture_clips(names: str, frames: int, *, moving: bool = True) -> dict[str, list[np.ndarray]]:
    """Random 32x24 textures: a new one every frame (`moving`), or one per clip."""
    rng = np.random.default_rng(7)
    clips = {}
    for name in names:
        if moving:
            clips[name] = [rng.integers(1, 256, (24, 32, 3), dtype=np.uint8) for _ in range(frames)]
        else:
            clips[name] = [rng.integers(1, 256, (24, 32, 3), dtype=np.uint8)] * frames
    return clips


def _render(plan: SetPlan, clips: dict[str, list[np.ndarray]]) -> list[np.ndarray]:
    frames = shots.render(plan, lambda name: iter(clips[name]))
    assert iter(frames) is frames, "the set must be a generator"
    out = list(frames)
    assert len(out) == plan.frames
    return out


def test_cut_frame_is_the_next_clips_first_frame() -> None:
    clips = _texture_clips("abc", 10)
    plan = SetPlan((Shot("a", 10), Shot("b", 10), Shot("c", 10)), (Transition("cut"), Transition("cut")))
    frames = _render(plan, clips)
    assert plan.boundaries() == [Boundary(CUT, 9, 10), Boundary(CUT, 19, 20)]
    assert np.array_equal(frames[9], clips["a"][9]) and np.array_equal(frames[10], clips["b"][0])
    assert np.array_equal(frames[19], clips["b"][9]) and np.array_equal(frames[20], clips["c"][0])


def test_dissolve_mixes_both_moving_clips() -> None:
    clips = _texture_clips("ab", 12)
    plan = SetPlan((Shot("a", 12), Shot("b", 12)), (Transition("dissolve", 5),))
    frames = _render(plan, clips)
    assert plan.boundaries() == [Boundary(GRADUAL, 6, 12)]  # mixed frames 7..11
    assert np.array_equal(frames[6], clips["a"][6]), "the boundary starts at the old shot's last pure frame"
    assert np.array_equal(frames[12], clips["b"][5]), "and ends at the new shot's first pure frame"
    middle = frames[9]  # step 2 of 5: a's frame 9 and b's frame 2, half each
    expected = (clips["a"][9].astype(float) + clips["b"][2].astype(float)) / 2
    assert np.abs(middle - expected).max() <= 0.5 + 1e-9
    for step, index in enumerate(range(7, 12)):
        weight = (step + 1) / 6
        expected = (1 - weight) * clips["a"][index].astype(float) + weight * clips["b"][step].astype(float)
        assert np.abs(frames[index] - expected).max() <= 1, f"frame {index}"


def test_fade_goes_through_black() -> None:
    clips = _texture_clips("ab", 12)
    plan = SetPlan((Shot("a", 12), Shot("b", 12)), (Transition("fade", 6),))
    frames = _render(plan, clips)
    assert plan.boundaries() == [Boundary(GRADUAL, 5, 12)]
    assert np.array_equal(frames[5], clips["a"][5]) and np.array_equal(frames[12], clips["b"][6])
    means = [float(frames[i].mean()) for i in range(5, 13)]
    assert means[3] == means[4] == 0.0, "frames 8 and 9 are black"
    assert means[0] > means[1] > means[2] > 0 and 0 < means[5] < means[6] < means[7]


def test_ground_truth_is_where_frames_change() -> None:
    """With a still texture per clip, frames change exactly inside the true boundaries, and only there."""
    clips = _texture_clips("abcdef", 30, moving=False)
    plan = shots.plan_set([Clip(name, 30) for name in clips], seed=3, pans=(), flash_lengths=())
    frames = _render(plan, clips)
    boundaries = plan.boundaries()
    assert {b.kind for b in boundaries} == {CUT, GRADUAL}
    assert sorted(t.kind for t in plan.transitions) == ["cut", "cut", "cut", "dissolve", "fade"]
    inside = {k for b in boundaries for k in range(b.start, b.end)}
    for k in range(len(frames) - 1):
        if k not in inside:
            assert np.array_equal(frames[k], frames[k + 1]), f"frames {k} and {k + 1} differ outside a boundary"
    for b, old, new in zip(boundaries, plan.shots, plan.shots[1:]):
        assert np.array_equal(frames[b.start], clips[old.clip][0]), f"{b}: start is the old clip's"
        assert np.array_equal(frames[b.end], clips[new.clip][0]), f"{b}: end is the new clip's"
        for k in range(b.start + 1, b.end):
            assert not np.array_equal(frames[k], clips[old.clip][0]), f"{b}: frame {k} is not mixed"
            assert not np.array_equal(frames[k], clips[new.clip][0]), f"{b}: frame {k} is not mixed"


def test_flash_is_no_boundary() -> None:
    clips = _texture_clips("ab", 16, moving=False)
    plan = SetPlan((Shot("a", 16, flash=(6, 2)), Shot("b", 16)), (Transition("cut"),))
    frames = _render(plan, clips)
    assert plan.boundaries() == [Boundary(CUT, 15, 16)]
    assert plan.stretches() == [Stretch("flash", 6, 7)]
    changed = [k for k in range(len(frames) - 1) if not np.array_equal(frames[k], frames[k + 1])]
    assert changed == [5, 7, 15], "the flash starts after frame 5, ends after 7; the cut is after 15"
    assert np.array_equal(frames[5], frames[8]), "the shot is the same before and after the flash"
    assert frames[6].mean() > clips["a"][0].mean() + 60 and np.array_equal(frames[6], frames[7])


def test_fast_pan_slides_over_the_scaled_image() -> None:
    image = np.random.default_rng(1).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    views = list(shots.fast_pan(image, 5, Pan(True, False, 2.0)))
    big = cv2.resize(image, (64, 48), interpolation=cv2.INTER_LINEAR)
    assert [v.shape for v in views] == [(24, 32, 3)] * 5
    for step, view in enumerate(views):  # x from 0 to 32 in steps of 8, y centred
        assert np.array_equal(view, big[12:36, 8 * step : 8 * step + 32]), f"step {step}"
    diagonal = list(shots.fast_pan(image, 3, Pan(True, True, 2.0)))
    assert np.array_equal(diagonal[-1], big[24:, 32:])


def test_pan_shot_is_a_negative_stretch() -> None:
    clips = _texture_clips("ab", 20)
    plan = SetPlan((Shot("a", 20), Shot("b", 12, "fast pan", pan=Pan(True, True, 1.5))), (Transition("dissolve", 4),))
    frames = _render(plan, clips)
    assert plan.boundaries() == [Boundary(GRADUAL, 15, 20)]
    assert plan.stretches() == [Stretch("fast pan", 20, 27)]
    views = list(shots.fast_pan(clips["b"][0], 12, Pan(True, True, 1.5)))
    assert all(np.array_equal(frames[16 + k], view) for k, view in enumerate(views) if k >= 4)


def test_plan_is_deterministic_and_keeps_pure_frames() -> None:
    clips = [Clip(f"c{i}", 12 + 4 * i, "moving objects") for i in range(6)]
    plan = shots.plan_set(clips, seed=5, pan_frames=10)
    assert plan == shots.plan_set(clips, seed=5, pan_frames=10)
    assert plan != shots.plan_set(clips, seed=6, pan_frames=10)
    assert sum(shot.pan is not None for shot in plan.shots) == len(shots.PANS)
    assert sum(shot.flash is not None for shot in plan.shots) == len(shots.FLASH_LENGTHS)
    assert all(shot.flash is None for shot in plan.shots if shot.pan is not None), "flashes go into clip shots"
    for index, shot in enumerate(plan.shots):
        head, tail = plan.overlaps(index)
        assert shot.frames - head - tail >= shots.MIN_PURE, f"shot {index}"
    assert all(t.kind == "cut" or t.length >= 2 for t in plan.transitions)
    boundaries = plan.boundaries()
    assert all(0 <= b.start < b.end < plan.frames for b in boundaries)
    assert all(a.end < b.start for a, b in zip(boundaries, boundaries[1:])), "pure frames between boundaries"


def test_plan_rejects_too_few_pure_frames() -> None:
    with pytest.raises(ValueError, match="keeps 2 untouched frames"):
        SetPlan((Shot("a", 8), Shot("b", 20)), (Transition("dissolve", 6),))
    with pytest.raises(ValueError, match="need 2 transitions"):
        SetPlan((Shot("a", 8), Shot("b", 20), Shot("c", 9)), (Transition("cut"),))


def test_short_clip_is_an_error_not_a_shifted_truth() -> None:
    clips = _texture_clips("ab", 10)
    plan = SetPlan((Shot("a", 12), Shot("b", 10)), (Transition("cut"),))
    with pytest.raises(ValueError, match="clip 'a' gave 10 frames; its shot needs 12"):
        list(shots.render(plan, lambda name: iter(clips[name])))


def test_render_opens_clips_lazily() -> None:
    clips = _texture_clips("abc", 10)
    opened: list[str] = []

    def opener(name: str) -> Iterator[np.ndarray]:
        opened.append(name)
        return iter(clips[name])

    plan = SetPlan((Shot("a", 10), Shot("b", 10), Shot("c", 10)), (Transition("cut"), Transition("cut")))
    frames = shots.render(plan, opener)
    next(frames)
    assert opened == ["a"]


# --------------------------------------------------------------------------
# files, detectors, report
# --------------------------------------------------------------------------
def _write_sequence(folder: Path, frames: int, seed: int, *, still: bool = False) -> None:
    """PNG frames of 16x12 random texture: a new one every frame, or one for all (`still`)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    for i in range(frames):
        assert cv2.imwrite(str(folder / f"{i:05d}.png"), image)
        if not still:
            image = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)


def test_find_clips_and_open_clip(tmp_path: Path) -> None:
    davis = tmp_path / "davis2016" / "JPEGImages" / "480p"
    _write_sequence(davis / "seq-b", 12, 0)
    _write_sequence(davis / "seq-a", 20, 1)
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "notes.txt").write_text("not a clip")
    clips, paths = shots.find_clips(tmp_path, 15)
    assert clips == [Clip("davis2016/seq-a", 15, "moving objects"), Clip("davis2016/seq-b", 12, "moving objects")]
    assert Path(paths["davis2016/seq-b"]) == davis / "seq-b"
    frames = list(shots.open_clip(paths["davis2016/seq-b"], (32, 24)))
    assert len(frames) == 12 and frames[0].shape == (24, 32, 3) and frames[0].dtype == np.uint8
    with pytest.raises(FileNotFoundError, match="no DAVIS sequence"):
        shots.find_clips(tmp_path / "missing", 15)


def _tiny_set(tmp_path: Path, *, still: bool = False) -> tuple[SetPlan, dict[str, str]]:
    for i, name in enumerate("ab"):
        _write_sequence(tmp_path / name, 20, i, still=still)
    plan = SetPlan((Shot("a", 20), Shot("b", 20)), (Transition("cut"),))
    return plan, {"a": str(tmp_path / "a"), "b": str(tmp_path / "b")}


def test_flowseg_missing_is_reported_as_not_available(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "flowseg.shots", None)  # import raises ImportError
    plan, paths = _tiny_set(tmp_path)
    result = shots.run_detector("flowseg", plan, paths, (16, 12))
    assert result["unavailable"].startswith("not available: ModuleNotFoundError")


def test_flowseg_detect_is_called_per_contract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    class Found:  # the contract's Boundary: kind, start, end
        def __init__(self, kind: str, start: int, end: int) -> None:
            self.kind, self.start, self.end = kind, start, end

    def detect(frames: object) -> list[Found]:
        images = list(frames)  # type: ignore[call-overload]
        seen.update(count=len(images), shape=images[0].shape, dtype=images[0].dtype)
        return [Found("gradual", 30, 33), Found("cut", 19, 20)]

    monkeypatch.setitem(sys.modules, "flowseg.shots", types.SimpleNamespace(detect=detect))
    plan, paths = _tiny_set(tmp_path)
    result = shots.run_detector("flowseg", plan, paths, (16, 12))
    assert seen == {"count": 40, "shape": (12, 16, 3), "dtype": np.uint8}
    assert result["detections"] == [Boundary(CUT, 19, 20), Boundary(GRADUAL, 30, 33)]
    assert result["frames"] == 40 and result["reports_kinds"] and result["notes"] == []

    found = [Found("cut", 39, 40)]  # end past the last frame

    def past_the_end(frames: object) -> list[Found]:
        for _ in frames:  # type: ignore[attr-defined]
            pass
        return found

    monkeypatch.setitem(sys.modules, "flowseg.shots", types.SimpleNamespace(detect=past_the_end))
    with pytest.raises(ValueError, match="breaks the contract"):
        shots.run_detector("flowseg", plan, paths, (16, 12))
    found[0] = Found("dissolve", 9, 20)
    with pytest.raises(ValueError, match="breaks the contract"):
        shots.run_detector("flowseg", plan, paths, (16, 12))

    def stops_early(frames: object) -> list[Found]:
        next(frames)  # type: ignore[call-overload]
        return []

    monkeypatch.setitem(sys.modules, "flowseg.shots", types.SimpleNamespace(detect=stops_early))
    with pytest.raises(ValueError, match="stopped after 1 of 40 frames"):
        shots.run_detector("flowseg", plan, paths, (16, 12))


def test_pyscenedetect_cut_frame_numbers(tmp_path: Path) -> None:
    pytest.importorskip("scenedetect")
    plan, paths = _tiny_set(tmp_path, still=True)
    for name in ("content", "adaptive"):
        result = shots.run_detector(name, plan, paths, (16, 12))
        assert result["detections"] == [Boundary(CUT, 19, 20)], name
        assert not result["reports_kinds"]


def _run_result(fps: float) -> dict[str, object]:
    return {"detections": [], "reports_kinds": True, "frames": 100, "seconds": 100 / fps, "fps": fps,
            "notes": [], "peak_rss_mb": 123.4}  # fmt: skip


def test_report_lines() -> None:
    plan = SetPlan((Shot("davis2016/a", 10, "moving objects", flash=(4, 1)), Shot("videos/b.mp4", 10)),
                   (Transition("fade", 2),))  # fmt: skip
    truths = plan.boundaries()
    detections = [Boundary(GRADUAL, 7, 10), Boundary(CUT, 4, 5)]
    report = {
        "data": "../shared/data", "seed": 0, "max_clip_frames": 10, "set": shots.describe_set(plan),
        "detectors": {"flowseg": {"run": _run_result(50.0), "scores": shots.score_detector(truths, detections),
                                  "false_alarms": shots.false_alarms(truths, detections, plan.stretches())}},
        "unmeasured": {"content": {"reason": "not measured: ModuleNotFoundError: No module named 'scenedetect'",
                                   "failed": False}},
    }  # fmt: skip
    text = "\n".join(shots.report_lines(report))
    assert "- Set: 18 frames at 854x480 from `../shared/data`, seed 0, at most 10 frames per clip; " in text
    assert "2 clips (davis2016/a, videos/b.mp4) and 0 fast pans" in text
    assert "- Boundaries: 0 cuts, 1 gradual (1 fade of 2 frames)" in text
    assert "- Negative stretches (no boundary): 1 flash, 0 fast pan, 1 moving objects" in text
    assert "- PySceneDetect ContentDetector: not measured: ModuleNotFoundError" in text
    assert "| flowseg.shots.detect | gradual | 1    | 1        | 1       | 1.000     | 1.000  | 1.000 | 50.0 |" in text
    assert "| flowseg.shots.detect | cut     | 0    | 1        | 0       | 0.000     | —      | 0.000 | 50.0 |" in text
    assert "| flowseg.shots.detect | 100    | 50.0 | 123         | 1                   | 0        | 0  " in text


def test_parse_args_rejects_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_sequence(tmp_path / "davis2016" / "JPEGImages" / "480p" / "seq", 9, 0)
    with pytest.raises(SystemExit) as exit_info:
        shots._parse_args(["--data", str(tmp_path), "--max-clip-frames", "5"])
    assert exit_info.value.code == 2 and "expected at least 8" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        shots._parse_args(["--data", str(tmp_path), "--detectors", "flowseg,nope"])
    assert "unknown name(s) 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        shots._parse_args(["--data", str(tmp_path / "missing")])
    assert "no DAVIS sequence" in capsys.readouterr().err
    args = shots._parse_args(["--data", str(tmp_path)])
    assert args.detectors == list(shots.DETECTORS) and args.clips == [Clip("davis2016/seq", 9, "moving objects")]
    _write_sequence(tmp_path / "davis2016" / "JPEGImages" / "480p" / "short", 7, 0)
    with pytest.raises(SystemExit):
        shots._parse_args(["--data", str(tmp_path)])
    assert "davis2016/short has 7 frames; every clip needs at least 8" in capsys.readouterr().err
