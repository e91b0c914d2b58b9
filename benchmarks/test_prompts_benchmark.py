"""Tests of ``prompts.py``'s simulated user, NoC and GrabCut baseline (run: ``python -m pytest benchmarks``).

They need no shared data: the one run of the script is on a tiny DAVIS-like folder made here.
"""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import prompts
from flowseg.metrics import region_similarity


def test_doctests() -> None:
    failures, tried = doctest.testmod(prompts)
    assert tried > 0 and failures == 0, f"{failures} of {tried} doctest examples failed in prompts"


def _square(shape: tuple[int, int], top: int, left: int, side: int) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[top : top + side, left : left + side] = True
    return mask


# --------------------------------------------------------------------------
# the simulated user
# --------------------------------------------------------------------------
def test_first_click_is_the_centre_of_a_square() -> None:
    assert prompts.first_click(_square((40, 60), 10, 30, 9)) == ((34, 14), True)


def test_the_frame_border_counts_as_boundary() -> None:
    # without the border as boundary, the farthest pixel of a square in the corner would be the corner
    assert prompts.first_click(_square((20, 30), 0, 0, 9)) == ((4, 4), True)


def test_an_empty_prediction_gets_a_positive_click_inside_the_truth() -> None:
    truth = _square((30, 30), 5, 12, 7) | _square((30, 30), 20, 2, 3)
    (x, y), positive = prompts.next_click(np.zeros_like(truth), truth)
    assert positive and truth[y, x] and (x, y) == (15, 8)  # the larger square's centre


def test_a_blob_far_from_the_object_gets_a_negative_click() -> None:
    truth = _square((50, 80), 10, 5, 11)
    blob = _square((50, 80), 30, 60, 9)
    (x, y), positive = prompts.next_click(truth | blob, truth)
    assert not positive and (x, y) == (64, 34)


def test_a_missed_part_of_the_object_gets_a_positive_click() -> None:
    truth = _square((40, 60), 5, 5, 21)
    prediction = truth.copy()
    prediction[5:26, 16:26] = False  # the right half missed
    prediction |= _square((40, 60), 30, 40, 3)  # and a small false blob
    (x, y), positive = prompts.next_click(prediction, truth)
    assert positive and 16 <= x <= 25 and 5 <= y <= 25


def test_false_positives_win_a_tie() -> None:
    truth = _square((20, 40), 5, 5, 5)
    prediction = _square((20, 40), 5, 25, 5)
    assert prompts.next_click(prediction, truth) == ((27, 7), False)


def test_nothing_to_correct_is_an_error() -> None:
    truth = _square((10, 10), 2, 2, 4)
    with pytest.raises(ValueError, match="nothing to correct"):
        prompts.next_click(truth.copy(), truth)


@pytest.mark.parametrize("threshold, expected", [(0.85, 2), (0.86, 2), (0.9, 3), (0.99, 20), (0.1, 1)])
def test_noc(threshold: float, expected: int) -> None:
    assert prompts.noc([0.5, 0.86, 0.95], threshold) == expected


def test_noc_counts_only_clicks_within_the_cap() -> None:
    assert prompts.noc([0.5, 0.86, 0.95], 0.9, cap=2) == 2
    assert prompts.noc([], 0.5) == 20


def test_simulate_user_stops_when_the_mask_is_exact() -> None:
    truth = _square((30, 30), 8, 8, 9)
    user = prompts.simulate_user(lambda positives, negatives: truth.copy(), truth)
    assert user["clicks"] == [[12, 12, True]] and user["ious"] == [1.0] and len(user["seconds"]) == 1
    assert [prompts.iou_after(user["ious"], k) for k in prompts.IOU_AFTER] == [1.0, 1.0, 1.0]


def test_simulate_user_makes_five_clicks_then_stops_at_090() -> None:
    truth = _square((30, 30), 5, 5, 20)
    almost = truth.copy()
    almost[5:7, 5:25] = False  # IoU 0.9
    seen: list[tuple[list[tuple[int, int]], list[tuple[int, int]]]] = []

    def segment(positives: list[tuple[int, int]], negatives: list[tuple[int, int]]) -> np.ndarray:
        seen.append((positives, negatives))
        return almost

    user = prompts.simulate_user(segment, truth)
    assert user["ious"] == [0.9] * 5 and len(user["clicks"]) == 5
    assert seen[0] == ([(14, 14)], []) and all(x and not y for x, y in seen)
    assert prompts.noc(user["ious"], 0.85) == 1 and prompts.noc(user["ious"], 0.9) == 1


def test_simulate_user_gives_up_after_max_clicks() -> None:
    truth = _square((30, 30), 5, 5, 20)
    user = prompts.simulate_user(lambda positives, negatives: np.zeros_like(truth), truth)
    assert user["ious"] == [0.0] * prompts.MAX_CLICKS and user["clicks"] == [[14, 14, True]] * prompts.MAX_CLICKS
    assert prompts.noc(user["ious"], 0.85) == 20


# --------------------------------------------------------------------------
# GrabCut baseline
# --------------------------------------------------------------------------
def _scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A noisy bright square on a noisy dark background, RGB, and its mask."""
    rng = np.random.default_rng(seed)
    truth = _square((60, 80), 15, 25, 30)
    image = rng.normal(60, 10, (60, 80, 3))
    image[truth] = rng.normal([200, 150, 60], 10, (int(truth.sum()), 3))
    return np.clip(image, 0, 255).astype(np.uint8), truth


def test_grabcut_baseline() -> None:
    image, truth = _scene()
    assert region_similarity(prompts.grabcut_box(image, prompts.tight_box(truth), image), truth) > 0.95
    clicked = prompts.grabcut_clicks(image, [(39, 29)], [(5, 5)])
    assert clicked[29, 39] and not clicked[5, 5] and not (clicked & ~truth).any()


def test_grabcut_keeps_what_is_marked_when_a_side_is_empty() -> None:
    image, _ = _scene()
    assert prompts.grabcut_box(image, (0, 0, 79, 59), image).all()
    small = np.ascontiguousarray(image[:3, :3])
    assert prompts.grabcut_clicks(small, [(1, 1)], []).all()  # the disk (radius 2) covers the frame
    assert not prompts.grabcut_clicks(small, [(1, 1)], [(1, 1)]).any()  # negative disks win


# --------------------------------------------------------------------------
# the script
# --------------------------------------------------------------------------
def _write_davis(root: Path, names: list[str]) -> None:
    for seed, name in enumerate(names):
        image, truth = _scene(seed)
        (root / "JPEGImages" / "480p" / name).mkdir(parents=True)
        (root / "Annotations" / "480p" / name).mkdir(parents=True)
        for frame in ("00000", "00001"):  # the square keeps still: no motion to help
            cv2.imwrite(str(root / "JPEGImages" / "480p" / name / f"{frame}.jpg"), image[..., ::-1],
                        [cv2.IMWRITE_JPEG_QUALITY, 98])  # fmt: skip
        cv2.imwrite(str(root / "Annotations" / "480p" / name / "00000.png"), truth.astype(np.uint8) * 255)


def test_main_writes_report_and_section(tmp_path: Path) -> None:
    root, out, record = tmp_path / "davis", tmp_path / "out", tmp_path / "RESULTS.md"
    _write_davis(root, ["b", "a", "c"])
    argv = ["--root", str(root), "--sequences", "b,a", "--out", str(out), "--record", str(record)]
    assert prompts.main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    assert list(report["per_sequence"]) == ["b", "a"] and report["sizes"] == {"b": "80x60", "a": "80x60"}
    assert report["per_sequence"]["a"]["box"] == [25, 15, 54, 44]
    for method in prompts.METHODS:
        summary = report["summary"][method]
        assert set(summary) >= {"box_J", "box_J_worst", "NoC@85", "NoC@90", "IoU@1", "IoU@3", "IoU@5"}
        assert summary["box_J"] > 0.9 and 1 <= summary["NoC@90"] <= 20, method
    text = record.read_text()
    assert text.startswith("## Prompts (first frames of DAVIS-2016)\n")
    assert "| method " in text and "| sequence " in text and "- Git revision:" in text


def test_unknown_sequences_are_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_davis(tmp_path, ["a"])
    with pytest.raises(SystemExit) as exit_info:
        prompts._parse_args(["--root", str(tmp_path), "--sequences", "a,nope"])
    assert exit_info.value.code == 2 and "nope" in capsys.readouterr().err
    assert prompts._parse_args(["--root", str(tmp_path)]).sequences == ["a"]
