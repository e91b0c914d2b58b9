"""Tests of ``instances.py``: the multi-object metrics, the composite generator and the harness.

The fast tests use hand-made label sequences and small synthetic stand-ins for
the DAVIS frames and masks; they need no shared data and run no pipeline. The
check on the real DAVIS data is marked ``slow`` and skips without it.
"""

from __future__ import annotations

import doctest
import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

import instances
from instances import (
    HIDDEN_FRAMES,
    Composite,
    Source,
    build_clip,
    id_switches,
    identity_scores,
    ids_on_object,
    label_problem,
    match_tracks,
    object_scores,
    prepare_set,
    read_clip,
    render,
    run_config,
    score_clip,
    shown_ids,
    summarise,
)

T = 8  # frames of the hand-made sequences


def test_doctests() -> None:
    failures, tried = doctest.testmod(instances, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried > 0 and failures == 0, f"{failures} of {tried} doctest examples failed in instances"


# --------------------------------------------------------------------------
# metrics on hand-made sequences
# --------------------------------------------------------------------------
def _two_objects(frames: int = T) -> list[np.ndarray]:
    """Two 6x6 squares walking towards each other on a 20x40 frame, never touching: labels 1 and 2."""
    seq = []
    for t in range(frames):
        lab = np.zeros((20, 40), np.uint8)
        lab[4:10, 2 + t : 8 + t] = 1
        lab[10:16, 32 - t : 38 - t] = 2
        seq.append(lab)
    return seq


def _relabel(seq: list[np.ndarray], mapping: dict[int, int], frames: range | None = None) -> list[np.ndarray]:
    """`seq` with labels renamed by `mapping` (missing: unchanged) in `frames` (default all), as uint16."""
    out = []
    for t, lab in enumerate(seq):
        new = lab.astype(np.uint16)
        if frames is None or t in frames:
            lut = np.arange(max([255, *mapping.values(), *mapping.keys()]) + 1, dtype=np.uint16)
            for old, value in mapping.items():
                lut[old] = value
            new = lut[lab]
        out.append(new)
    return out


def test_perfect_prediction_scores_one() -> None:
    gt = _two_objects()
    for given in (True, False):
        s = score_clip(_relabel(gt, {}), gt, given_ids=given)
        assert (s["J"], s["F"], s["JF"]) == (1.0, 1.0, 1.0)
        assert s["switches"] == 0 and s["idf1"] == 1.0 and s["idtp"] == 2 * T
        assert (s["idfp"], s["idfn"]) == (0, 0) and s["ids"] == 2
        assert {k: o["id"] for k, o in s["objects"].items()} == {"1": 1, "2": 2}


def test_ids_shown_and_ids_on_the_object() -> None:
    gt = _two_objects()
    truth = [lab == 1 for lab in gt]
    pieces = [lab.copy() for lab in gt]
    for lab in pieces[T // 2:]:
        lab[lab == 1] = np.where(np.arange(lab.shape[1]) % 2 == 0, 1, 9)[np.nonzero(lab == 1)[1]]  # 1 in two IDs
    assert shown_ids(pieces) == {1, 2, 9}
    assert score_clip(pieces, gt, given_ids=False)["ids"] == 3
    assert ids_on_object(pieces, truth) == (2, 1)  # 1 and 9 lie on object 1; 2 elsewhere


def test_permuted_ids_are_perfect_after_matching() -> None:
    gt = _two_objects()
    pred = _relabel(gt, {1: 700, 2: 3})
    assert match_tracks(pred, gt) == {1: 700, 2: 3}
    s = score_clip(pred, gt, given_ids=False)
    assert (s["JF"], s["switches"], s["idf1"]) == (1.0, 0, 1.0)
    # Told the IDs are the objects' own (semi-supervised), the same prediction is all wrong for J&F,
    # while the ID measures, which pair IDs with objects themselves, stay perfect.
    given = score_clip(pred, gt, given_ids=True)
    assert given["JF"] == 0.0 and given["idf1"] == 1.0 and given["switches"] == 0


def test_ids_exchanged_halfway() -> None:
    """CLEAR-MOT counts one switch per object whose ID changes: 2 in all; IDF1 is exactly 1/2."""
    gt = _two_objects()
    pred = _relabel(gt, {1: 2, 2: 1}, frames=range(T // 2, T))
    assert id_switches(pred, gt) == {1: 1, 2: 1}
    ids = identity_scores(pred, gt)
    assert ids["idtp"] == T and ids["idfp"] == T and ids["idfn"] == T
    assert ids["idf1"] == 0.5 and ids["idp"] == 0.5 and ids["idr"] == 0.5
    s = score_clip(pred, gt, given_ids=True)
    assert s["switches"] == 2 and s["idf1"] == 0.5
    # Semi-supervised: object k is scored against ID k; frames 1..T-2 are scored and 3 of those 6
    # (frames 1, 2, 3) precede the exchange.
    assert s["objects"]["1"]["J"] == pytest.approx(3 / 6) and s["J"] == pytest.approx(0.5)


def test_switch_counting_skips_gaps() -> None:
    gt = _two_objects()
    gap = range(3, 5)  # object 1 missed in frames 3 and 4
    missed = [np.where((lab == 1) & (t in gap), 0, lab).astype(np.uint16) for t, lab in enumerate(gt)]
    assert id_switches(missed, gt) == {1: 0, 2: 0}  # the same ID after the gap: no switch
    other = [np.where((lab == 1) & (t >= 5), 9, lab).astype(np.uint16) for t, lab in enumerate(missed)]
    assert id_switches(other, gt) == {1: 1, 2: 0}  # another ID after the gap: one switch


def test_missed_object() -> None:
    gt = _two_objects()
    pred = [np.where(lab == 2, 0, lab).astype(np.uint16) for lab in gt]
    s = score_clip(pred, gt, given_ids=False)
    # IDTP = T (object 1 all along), T + 2T detections: IDF1 = 2T / 3T.
    assert (s["idtp"], s["idfp"], s["idfn"]) == (T, 0, T)
    assert s["idf1"] == pytest.approx(2 / 3) and s["idp"] == 1.0 and s["idr"] == 0.5
    assert s["objects"]["2"]["id"] is None
    assert (s["objects"]["2"]["J"], s["objects"]["2"]["F"]) == (0.0, 0.0)
    assert (s["J"], s["F"], s["JF"]) == (0.5, 0.5, 0.5) and s["switches"] == 0


def test_hidden_object_frames() -> None:
    """A fully hidden object scores J = F = 1 where nothing is predicted for it, 0 where something is."""
    gt = _two_objects()
    hidden = range(2, 4)
    gt_hidden = [np.where((lab == 2) & (t in hidden), 0, lab) for t, lab in enumerate(gt)]
    right = _relabel(gt_hidden, {})
    s = score_clip(right, gt_hidden, given_ids=True)
    assert s["JF"] == 1.0 and s["idf1"] == 1.0 and s["objects"]["2"]["hidden"] == 2
    stale = _relabel(gt, {})  # still predicts object 2 where it is hidden
    s = score_clip(stale, gt_hidden, given_ids=True)
    assert s["objects"]["2"]["J"] == pytest.approx(4 / 6)  # 2 of the 6 scored frames are wrong
    assert s["objects"]["2"]["F"] == pytest.approx(4 / 6)
    assert (s["idtp"], s["idfp"], s["idfn"]) == (2 * T - 2, 2, 0)


def test_spurious_ids_and_matching() -> None:
    gt = _two_objects()
    pred = _relabel(gt, {1: 5, 2: 6})
    for lab in pred:
        lab[0, 0] = 40  # a one-pixel track that is no object
    assert match_tracks(pred, gt) == {1: 5, 2: 6}
    ids = identity_scores(pred, gt)
    assert (ids["idtp"], ids["idfp"], ids["idfn"]) == (2 * T, T, 0) and ids["idp"] == pytest.approx(2 / 3)


def test_object_scores_low_overlap_is_partial() -> None:
    gt = _two_objects()
    shifted = [np.roll(lab, 3, axis=1).astype(np.uint16) for lab in gt]  # half of each square overlaps
    scores = object_scores(shifted, gt, {1: 1, 2: 2})
    assert scores[1]["J"] == pytest.approx(18 / 54)  # 3 of 6 columns shared: 18 px / (36 + 36 - 18)
    assert id_switches(shifted, gt) == {1: 0, 2: 0}
    assert identity_scores(shifted, gt)["idtp"] == 0  # IoU 1/3 < 0.5: no frame matches


def test_label_problems_and_bad_input() -> None:
    assert label_problem(np.zeros((4, 5), np.uint16), (4, 5)) is None
    assert "shape" in label_problem(np.zeros((5, 4), np.uint16), (4, 5))
    assert label_problem(np.zeros((4, 5), bool), (4, 5)) == "dtype bool, expected an integer type"
    assert "dtype float" in label_problem(np.zeros((4, 5)), (4, 5))
    assert "negative" in label_problem(-np.ones((4, 5), np.int32), (4, 5))
    assert "ndarray" in label_problem([[0]], (1, 1))
    gt = _two_objects()
    with pytest.raises(ValueError, match="predicted and"):
        match_tracks(gt[:-1], gt)
    with pytest.raises(ValueError, match="integer label map"):
        identity_scores([lab.astype(np.float32) for lab in gt], gt)


# --------------------------------------------------------------------------
# the composite generator, on synthetic stand-ins
# --------------------------------------------------------------------------
BACKS = ("back-a", "back-b")
PEOPLE = ("stand-1", "stand-2", "stand-3")
SOURCE_FRAMES, CLIP = 20, 16


def _person(t: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A stand-in for a DAVIS person frame: a stout figure (body, head, a swinging arm) on noise."""
    rng = np.random.default_rng(100 * seed + t)
    image = rng.integers(0, 90, (120, 200, 3)).astype(np.uint8)
    mask = np.zeros((120, 200), np.uint8)
    cx = 80 + 2 * t
    cv2.ellipse(mask, (cx, 70), (24, 36), 0, 0, 360, 1, -1)
    cv2.circle(mask, (cx, 28), 11, 1, -1)
    angle = np.deg2rad(30 + 8 * t)
    cv2.line(mask, (cx, 55), (int(cx + 26 * np.cos(angle)), int(55 + 26 * np.sin(angle))), 1, 8)
    colour = np.array([[200, 60, 60], [60, 200, 60], [60, 60, 200]][seed % 3], np.uint8)
    image[mask > 0] = colour
    return image, mask


def _write_davis(root: Path) -> None:
    for name in BACKS + PEOPLE:
        (root / "JPEGImages" / "480p" / name).mkdir(parents=True)
        (root / "Annotations" / "480p" / name).mkdir(parents=True)
        for t in range(SOURCE_FRAMES):
            if name in BACKS:
                image = cv2.GaussianBlur(np.random.default_rng(t).integers(0, 255, (90, 160, 3)).astype(np.uint8),
                                         (0, 0), 2)  # fmt: skip
                mask = np.zeros((90, 160), np.uint8)
            else:
                image, mask = _person(t, PEOPLE.index(name))
            cv2.imwrite(str(root / "JPEGImages" / "480p" / name / f"{t:05d}.jpg"), image)
            cv2.imwrite(str(root / "Annotations" / "480p" / name / f"{t:05d}.png"), mask * 255)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    root = tmp_path_factory.mktemp("davis")
    _write_davis(root)
    return Source(root, backgrounds=BACKS, people=PEOPLE)


@pytest.fixture(scope="module")
def clips(source: Source) -> list[Composite]:
    return [build_clip(source, index, seed=3, height=72, frames=CLIP) for index in range(2)]


def test_composite_labels_follow_depth_order(clips: list[Composite]) -> None:
    for clip in clips:
        n = len(clip.spec["objects"])
        assert len(clip.frames) == len(clip.labels) == CLIP and n == (3 if clip.spec["index"] % 2 == 0 else 2)
        assert clip.frames[0].shape == (72, 128, 3) and clip.labels[0].dtype == np.uint8
        background = [np.zeros_like(f) for f in clip.frames]
        # Each object rendered alone gives its whole pasted mask.
        full = [[lab > 0 for _, lab in render(background, [place])] for place in clip.placements]
        crossed = False
        for t, lab in enumerate(clip.labels):
            assert set(np.unique(lab)) <= set(range(n + 1))
            covered = np.zeros(lab.shape, bool)
            for k in reversed(range(n)):  # front to back
                visible = full[k][t] & ~covered
                assert np.array_equal(lab == k + 1, visible), f"frame {t}, object {k + 1}"
                crossed |= bool(np.any(full[k][t] & covered))
                covered |= full[k][t]
            assert np.array_equal(lab > 0, covered)
        assert crossed, f"{clip.spec['name']}: no object ever passes in front of another"


def test_three_people_cross(clips: list[Composite]) -> None:
    clip = clips[0]
    paths = [np.array(o["path"]) for o in clip.spec["objects"]]
    # The middle one goes the other way and crosses both others' x over the clip.
    dx = [p[1, 0] - p[0, 0] for p in paths]
    assert np.sign(dx[1]) == -np.sign(dx[0]) == -np.sign(dx[2])
    for k in (0, 2):
        before, after = paths[1][0, 0] - paths[k][0, 0], paths[1][1, 0] - paths[k][1, 0]
        assert before * after < 0
    heights = [o["height"] for o in clip.spec["objects"]]
    assert heights == sorted(heights) and heights[0] == instances.FAR_HEIGHT and heights[-1] == instances.NEAR_HEIGHT


def test_one_person_is_fully_hidden(clips: list[Composite]) -> None:
    clip = clips[1]
    hidden = clip.spec["hidden"]["1"]
    assert len(hidden) >= HIDDEN_FRAMES and hidden == list(range(hidden[0], hidden[0] + len(hidden)))
    for t in range(CLIP):
        assert np.any(clip.labels[t] == 1) == (t not in hidden)
        # Hidden means behind the front person, not out of the frame.
        assert np.any(clip.placements[0].cutout.mask[t]) and t not in clip.spec["hidden"]["2"]
    assert hidden[0] > 0 and all(np.any(clip.labels[0] == k) for k in (1, 2))  # all there in frame 0
    # The back person walks the same way, slower, and is overtaken.
    (b0, b1), (f0, f1) = (np.array(o["path"])[:, 0] for o in clip.spec["objects"])
    assert (b1 - b0) == pytest.approx(instances.SLOW * (f1 - f0), abs=2e-3) and (b0 - f0) * (b1 - f1) < 0


def test_set_is_deterministic_and_cached(source: Source, clips: list[Composite], tmp_path: Path) -> None:
    again = build_clip(source, 1, seed=3, height=72, frames=CLIP)
    assert again.spec == clips[1].spec and all(np.array_equal(a, b) for a, b in zip(again.frames, clips[1].frames))
    other = build_clip(source, 1, seed=4, height=72, frames=CLIP)
    assert other.spec != clips[1].spec
    built: list[str] = []
    folders = prepare_set(source, tmp_path, clips=2, seed=3, height=72, frames=CLIP, log=built.append)
    assert len(built) == 2 and [f.parent for f in folders] == [folders[0].parent] * 2
    assert prepare_set(source, tmp_path, clips=2, seed=3, height=72, frames=CLIP, log=built.append) == folders
    assert len(built) == 2  # the second call built nothing
    read = read_clip(folders[1])
    assert read.spec == json.loads(json.dumps(clips[1].spec))
    assert all(np.array_equal(a, b) for a, b in zip(read.labels, clips[1].labels))
    assert all(np.abs(a.astype(int) - b).mean() < 3 for a, b in zip(read.frames, clips[1].frames))  # JPEG


# --------------------------------------------------------------------------
# the harness, end to end with stand-in trackers
# --------------------------------------------------------------------------
SWAP_AT = 8


def _swapping_tracker(clip: Composite) -> Iterator[np.ndarray]:
    """The ground truth with new, arbitrary IDs, whose first two are exchanged from frame SWAP_AT on."""
    for t, lab in enumerate(clip.labels):
        ids = {1: 31, 2: 17, 3: 5} if t < SWAP_AT else {1: 17, 2: 31, 3: 5}
        yield _relabel([lab], ids)[0]


def _expected_swap(labels: list[np.ndarray]) -> tuple[int, int, int]:
    """Switches, IDTP and detections of :func:`_swapping_tracker` worked out from the objects' visibility."""
    visible = np.array([[np.any(lab == k) for k in (1, 2, 3)] for lab in labels])  # (T, 3)
    before, after = visible[:SWAP_AT, :2].sum(), visible[SWAP_AT:, :2].sum()
    switches = sum(int(visible[:SWAP_AT, k].any() and visible[SWAP_AT:, k].any()) for k in (0, 1))
    return switches, int(max(before, after) + visible[:, 2].sum()), int(visible.sum())


def test_harness_with_stand_in_trackers(source: Source, clips: list[Composite], tmp_path: Path) -> None:
    folders = [str(f) for f in prepare_set(source, tmp_path, clips=2, seed=3, height=72, frames=CLIP)]
    run = run_config("instances", folders, tracker=_swapping_tracker)
    assert run["model"] is None and run["peak_rss_mb"] > 0
    totals = np.zeros(3, int)
    for clip in clips:
        got = run["clips"][clip.spec["name"]]
        switches, idtp, detections = _expected_swap(clip.labels)
        assert (got["switches"], got["idtp"], got["gt_detections"], got["pred_detections"]) == (
            switches, idtp, detections, detections)  # fmt: skip
        assert got["idf1"] == pytest.approx(idtp / detections) and got["bad_frames"] == 0
        assert got["frames"] == CLIP and got["dtypes"] == ["uint16"]
        totals += (switches, idtp, detections)
    # Object 1 of the 2-person clip has a gap (hidden) near the exchange; both objects still count one switch.
    assert clips[1].spec["hidden"]["1"] and _expected_swap(clips[1].labels)[0] == 2
    total = summarise(run)
    assert (total["switches"], total["idtp"], total["gt_detections"]) == tuple(totals)
    assert total["idf1"] == pytest.approx(totals[1] / totals[2]) and total["objects"] == 5
    assert total["ids_per_object"] == 1.0  # the swapping tracker shows the objects' own two or three IDs

    # The semi-supervised harness with the ground truth itself, and the copy-first baseline.
    perfect = run_config("objects", folders, tracker=lambda clip: iter(clip.labels))
    assert summarise(perfect)["JF"] == 1.0 and summarise(perfect)["idf1"] == 1.0
    copy = run_config("copy-first", folders)
    first = summarise(copy)
    # The people move: their frozen frame-0 masks score low (and may even be matched by another person
    # walking into them, a switch).
    assert first["JF"] < 0.5 and first["objects"] == 5

    # Frames that are no label map are counted and scored as empty.
    bad = run_config("objects", folders, tracker=lambda clip: (lab.astype(np.float32) for lab in clip.labels))
    assert summarise(bad)["bad_frames"] == 2 * CLIP and summarise(bad)["idtp"] == 0

    report = {"data": "x", "work": "w", "seed": 3, "size": [128, 72], "set": [c.spec for c in clips],
              "configs": {"instances": run, "objects": perfect, "copy-first": copy},
              "summary": {"instances": total, "objects": summarise(perfect), "copy-first": first},
              "not_run": {"components": {"reason": "failed: TypeError", "failed": True}},
              "people": {"davis": {"tennis": {"on_person": 1, "elsewhere": 0}, "swing": {"on_person": 4, "elsewhere": 1}},
                         "clips": {"juggle.mp4": {"ids": 2, "people": 1}}}}  # fmt: skip
    text = "\n".join(instances.report_lines(report))
    assert "| instances " in text and "| copy-first " in text and "`components` not measured" in text
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]]
            for line in text.splitlines() if line.startswith("| ")}  # fmt: skip
    assert rows["mean"] == ["2.50", "0.50"] and rows["juggle.mp4"] == ["1", "2", "2.00"]
    assert clips[1].spec["name"] in text


# --------------------------------------------------------------------------
# real data
# --------------------------------------------------------------------------
@pytest.mark.slow
def test_real_davis_composites_meet_the_design() -> None:
    root = instances.default_root()
    if not all((root / "JPEGImages" / "480p" / n).is_dir() for n in instances.BACKGROUNDS + instances.PERSON_SOURCES):
        pytest.skip(f"no DAVIS-2016 sequences in {root}")
    for index in range(4):
        clip = build_clip(Source(root), index, height=240)
        assert all(np.any(clip.labels[0] == o["label"]) for o in clip.spec["objects"])
        if index % 2:
            hidden = clip.spec["hidden"]["1"]
            assert len(hidden) >= HIDDEN_FRAMES and instances._hidden_runs(clip.labels, 1) >= HIDDEN_FRAMES
        else:
            assert sum(len(v) for v in clip.spec["occluded"].values()) > 0


def test_missing_sequences_are_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        instances.main(["--data", str(tmp_path), "--out", str(tmp_path / "out"), "--work", str(tmp_path / "w")])
    assert exit_info.value.code == 2


@pytest.mark.slow
def test_main_records_a_run(tmp_path: Path) -> None:
    """The whole script on stand-ins named like the DAVIS sequences (slow: a fresh process, torch imported)."""
    global BACKS, PEOPLE
    saved = BACKS, PEOPLE
    BACKS, PEOPLE = instances.BACKGROUNDS, instances.PERSON_SOURCES
    try:
        _write_davis(tmp_path / "davis")
    finally:
        BACKS, PEOPLE = saved
    out, record = tmp_path / "out", tmp_path / "results.md"
    argv = ["--data", str(tmp_path / "davis"), "--configs", "copy-first", "--height", "48", "--frames", "16",
            "--clips", "2", "--work", str(tmp_path / "work"), "--out", str(out), "--record", str(record)]
    assert instances.main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    assert [s["name"] for s in report["set"]] == ["c00-blackswan", "c01-camel"]
    assert report["summary"]["copy-first"]["objects"] == 5 and report["not_run"] == {}
    text = record.read_text()
    assert "## Video instance segmentation (composites)" in text and "| copy-first " in text


def test_split_objects_gives_the_first_objects_or_their_halves() -> None:
    labels = np.zeros((10, 12), np.uint8)
    labels[0:4, 0:3], labels[2:10, 5:8], labels[6:8, 9:12] = 1, 2, 3
    assert np.array_equal(instances.split_objects(labels, 1), np.where(labels == 1, 1, 0))
    assert np.array_equal(instances.split_objects(labels, 3), labels)
    six = instances.split_objects(labels, 6)
    assert six.dtype == np.uint16 and set(np.unique(six)) == set(range(7))
    assert np.array_equal(six > 0, labels > 0)
    rows_of = {value: np.nonzero(six == value)[0] for value in range(1, 7)}
    assert rows_of[3].max() < rows_of[4].min(), "object 2's upper half above its lower half"
