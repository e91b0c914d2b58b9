"""The QA report: each frame's confidence, the suspect frames, quality.csv."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from flowseg import Pipeline, segment_video
from flowseg.metrics import region_similarity
from flowseg.stages import QUALITY_TERMS, MaskQuality, mask_quality
from flowseg.types import Frame

from davis_clips import davis_clip
from synthetic import moving_object_clip
from test_io import write_folder


def square(shape: tuple[int, int], top: int, left: int, side: int) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[top:top + side, left:left + side] = True
    return mask


class TestMaskQuality:
    def test_a_sure_mask_where_it_was_carried_is_trusted(self) -> None:
        mask = square((40, 60), 10, 20, 16)
        prob = mask.astype(np.float32)
        assert mask_quality(mask, prob, mask).tolist() == [1.0, 1.0, 1.0, 1.0]

    def test_each_term_lowers_the_confidence(self) -> None:
        mask = square((40, 60), 10, 20, 16)
        unsure = np.where(mask, 0.6, 0.4).astype(np.float32)  # evidence barely on either side
        moved = square((40, 60), 10, 28, 16)  # the flow carried the last mask half a width away
        confidence, boundary, sureness, shape = mask_quality(mask, unsure, moved)
        assert boundary == pytest.approx(0.2) and sureness == pytest.approx(0.6)
        assert shape == pytest.approx(8 / 24)
        assert confidence == pytest.approx(boundary * sureness * shape)

    def test_an_object_that_just_vanished_is_in_doubt_one_long_gone_is_not(self) -> None:
        empty = np.zeros((40, 60), bool)
        nothing = np.zeros((40, 60), np.float32)
        assert mask_quality(empty, nothing, square((40, 60), 10, 20, 16))[0] == 0.0  # it was there a frame ago
        assert mask_quality(empty, nothing, empty).tolist() == [1.0, 1.0, 1.0, 1.0]
        unsure = np.full((40, 60), 0.4, np.float32)
        assert mask_quality(empty, unsure, empty)[0] == pytest.approx(0.2 * 0.6)
        assert len(QUALITY_TERMS) == 4

    @pytest.mark.parametrize("left, in_doubt", [(20, True), (0, False)])
    def test_a_followed_object_lost_in_view_stays_in_doubt(self, left: int, in_doubt: bool) -> None:
        """Lost away from the frame's edges, an object is not gone: its empty masks stay in doubt. Last seen at an
        edge it may have left the view, and its empty masks are trusted from the second on."""
        stage, shape = MaskQuality(), (40, 60)
        seen, empty = square(shape, 10, left, 16), np.zeros(shape, bool)
        still = {"flow_bwd": np.zeros((*shape, 2), np.float32), "prob": np.zeros(shape, np.float32)}
        confidences = []
        for index, (mask, given) in enumerate([(seen, "init_mask"), (seen, "previous_mask"), (empty, "previous_mask"),
                                                (empty, "previous_mask"), (empty, "previous_mask")]):
            data = {**still, "mask": mask, given: seen.astype(np.float32)}
            confidences.append(float(stage.process(Frame(index, np.zeros((*shape, 3), np.uint8), data))["quality"][0]))
        assert confidences[2] == 0.0  # it was there a frame ago
        assert confidences[3:] == ([0.0, 0.0] if in_doubt else [1.0, 1.0])


def test_every_result_has_a_quality_and_the_given_frame_is_trusted() -> None:
    frames, masks = moving_object_clip(5)
    results = Pipeline().run(frames, init_mask=masks[0])
    assert results[0].quality == dict.fromkeys(QUALITY_TERMS, 1.0)
    assert all(0.0 <= value <= 1.0 for result in results for value in result.quality.values())
    assert all(result.quality["confidence"] > 0.5 for result in results)  # an easy clip, followed well


def test_summary_and_csv_name_the_suspect_frames(tmp_path: Path) -> None:
    frames, masks = moving_object_clip(6)
    folder = write_folder(tmp_path / "clip", frames)
    summary = segment_video(folder, tmp_path / "out", init_mask=masks[2], init_frame=2, videos=False)
    quality = summary["quality"]  # frames 0 and 1 followed backwards from frame 2 have theirs too
    assert len(quality["confidence"]) == 6 and quality["confidence"][2] == 1.0
    suspects = quality["suspect_frames"]
    assert len(suspects) == 5 and [s["confidence"] for s in suspects] == sorted(s["confidence"] for s in suspects)
    assert 2 not in [s["index"] for s in suspects]
    assert all(s["name"] == f"frame_{s['index']:03d}" for s in suspects)
    with open(tmp_path / "out" / "quality.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["name"] for row in rows] == [f"frame_{i:03d}" for i in range(6)]
    assert list(rows[0])[2:] == list(QUALITY_TERMS)
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["quality"] == quality


def test_confidence_ranks_frames_as_their_true_iou_does_on_davis(davis_root: Path) -> None:
    # DAVIS breakdance: the dancer's spinning limbs come and go; the frames whose masks are worst should be the
    # least trusted.
    frames, truths = davis_clip(davis_root, "breakdance", 40)
    results = Pipeline().run(frames, init_mask=truths[0])
    ious = [region_similarity(result.mask, truth) for result, truth in zip(results[1:], truths[1:])]
    confidences = [result.quality["confidence"] for result in results[1:]]
    assert spearmanr(confidences, ious).correlation > 0.4
