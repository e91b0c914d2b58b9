"""Tests of flowseg.metrics: DAVIS J, F, statistics and flicker.

Expected values are worked out by hand in the comments, following the
official DAVIS definitions (davis2017-evaluation ``metrics.py`` / ``utils.py``).
Images are 32x48 unless stated, where the default tolerance is
``ceil(0.008 * hypot(32, 48)) = ceil(0.008 * 57.69) = ceil(0.46) = 1`` pixel,
i.e. ``skimage.morphology.disk(1)``: the pixel and its 4 neighbours.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from skimage.morphology import disk

from flowseg.errors import DTypeError, ShapeError
from flowseg.metrics import (
    boundary_map,
    boundary_measure,
    boundary_tolerance,
    evaluate_sequence,
    region_similarity,
    sequence_statistics,
    temporal_instability,
)

H, W = 32, 48


def square(top: int, left: int, size: int = 10, shape: tuple[int, int] = (H, W)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[top : top + size, left : left + size] = True
    return mask


EMPTY = np.zeros((H, W), dtype=bool)
SQ = square(10, 10)


# --------------------------------------------------------------------------
# J
# --------------------------------------------------------------------------
class TestRegionSimilarity:
    def test_identical_is_one(self) -> None:
        assert region_similarity(SQ, SQ) == 1.0

    def test_disjoint_is_zero(self) -> None:
        assert region_similarity(square(0, 0, 5), square(25, 40, 5)) == 0.0

    @pytest.mark.parametrize("axis", [0, 1], ids=["down", "right"])
    def test_one_pixel_shift(self, axis: int) -> None:
        # 10x10 squares overlapping in a 9x10 strip: 90 / (100 + 100 - 90).
        shifted = np.roll(SQ, 1, axis=axis)
        assert region_similarity(shifted, SQ) == pytest.approx(90 / 110, abs=1e-12)

    def test_empty_prediction_is_zero(self) -> None:
        assert region_similarity(EMPTY, SQ) == 0.0

    def test_empty_gt_is_zero(self) -> None:
        assert region_similarity(SQ, EMPTY) == 0.0

    def test_both_empty_is_one(self) -> None:
        assert region_similarity(EMPTY, EMPTY) == 1.0

    def test_integer_masks_are_nonzero_is_object(self) -> None:
        pred = SQ.astype(np.uint8) * 255
        gt = np.roll(SQ, 1, axis=1).astype(np.int64) * 7
        assert region_similarity(pred, gt) == region_similarity(SQ, np.roll(SQ, 1, axis=1))

    def test_shape_mismatch_names_both_shapes(self) -> None:
        with pytest.raises(ShapeError, match=r"pred has shape \(32, 48\) but gt has shape \(32, 47\)"):
            region_similarity(SQ, SQ[:, :-1])

    def test_not_2d_raises(self) -> None:
        with pytest.raises(ShapeError, match=r"pred has shape \(32, 48, 1\)"):
            region_similarity(SQ[..., None], SQ)

    def test_float_raises_dtype_error(self) -> None:
        with pytest.raises(DTypeError, match=r"gt has dtype float32.*prob > 0.5"):
            region_similarity(SQ, SQ.astype(np.float32))


# --------------------------------------------------------------------------
# boundary map (seg2bmap)
# --------------------------------------------------------------------------
class TestBoundaryMap:
    # seg2bmap marks a pixel that differs from its right, lower or lower-right
    # neighbour; the last row looks only right, the last column only down, and
    # the bottom-right pixel is never marked. Worked by hand:
    @pytest.mark.parametrize(
        ("mask", "expected"),
        [
            pytest.param(
                [[0, 0, 0, 0],
                 [0, 1, 1, 0],
                 [0, 1, 1, 0],
                 [0, 0, 0, 0]],
                [[1, 1, 1, 0],
                 [1, 0, 1, 0],
                 [1, 1, 1, 0],
                 [0, 0, 0, 0]],
                id="square/ring-shifted-up-left",
            ),
            pytest.param(
                [[0, 0, 1, 1],
                 [0, 0, 1, 1],
                 [0, 0, 1, 1]],
                [[0, 1, 0, 0],
                 [0, 1, 0, 0],
                 [0, 1, 0, 0]],
                id="touches-right-border/background-side",
            ),
            pytest.param(
                [[1, 1, 0, 0],
                 [1, 1, 0, 0],
                 [1, 1, 0, 0]],
                [[0, 1, 0, 0],
                 [0, 1, 0, 0],
                 [0, 1, 0, 0]],
                id="touches-left-border/object-side",
            ),
            pytest.param(
                [[1, 1, 1],
                 [1, 1, 1],
                 [1, 1, 1]],
                [[0, 0, 0],
                 [0, 0, 0],
                 [0, 0, 0]],
                id="full-image/no-boundary",
            ),
            pytest.param(
                [[0, 1, 0, 1]],
                [[1, 1, 1, 0]],
                id="single-row",
            ),
            pytest.param(
                [[0], [1], [0]],
                [[1], [1], [0]],
                id="single-column",
            ),
        ],
    )
    def test_hand_computed(self, mask: list[list[int]], expected: list[list[int]]) -> None:
        out = boundary_map(np.array(mask, dtype=bool))
        assert out.dtype == np.bool_
        np.testing.assert_array_equal(out, np.array(expected, dtype=bool))

    def test_square_ring_size(self) -> None:
        # The boundary of a 10x10 square is the outline of an 11x11 box: 40 px.
        assert int(boundary_map(SQ).sum()) == 4 * 11 - 4

    def test_input_not_modified(self) -> None:
        mask = SQ.copy()
        mask.flags.writeable = False
        boundary_map(mask)
        np.testing.assert_array_equal(mask, SQ)


# --------------------------------------------------------------------------
# F
# --------------------------------------------------------------------------
class TestBoundaryTolerance:
    @pytest.mark.parametrize(
        ("shape", "bound_th", "expected"),
        [
            pytest.param((480, 854), 0.008, 8, id="davis-480p"),
            pytest.param((H, W), 0.008, 1, id="32x48"),
            pytest.param((H, W), 0.05, 3, id="32x48/0.05"),  # ceil(2.88)
            pytest.param((H, W), 2, 2, id="pixels"),
            pytest.param((H, W), 2.0, 2, id="pixels-float"),
        ],
    )
    def test_values(self, shape: tuple[int, int], bound_th: float, expected: int) -> None:
        assert boundary_tolerance(shape, bound_th) == expected

    def test_fractional_pixels_rejected(self) -> None:
        with pytest.raises(ValueError, match=r"bound_th is 1\.5; .*whole number"):
            boundary_tolerance((H, W), 1.5)

    @pytest.mark.parametrize("bad", [0, -0.1, math.nan])
    def test_not_positive_rejected(self, bad: float) -> None:
        with pytest.raises(ValueError, match="expected a positive number"):
            boundary_measure(SQ, SQ, bound_th=bad)


class TestBoundaryMeasure:
    def test_identical_is_one(self) -> None:
        assert boundary_measure(SQ, SQ) == 1.0

    def test_disjoint_far_apart_is_zero(self) -> None:
        # Boundaries more than 1 px apart everywhere: P = R = 0, so F = 0.
        assert boundary_measure(square(0, 0, 5), square(25, 40, 5)) == 0.0

    @pytest.mark.parametrize("axis", [0, 1], ids=["down", "right"])
    def test_one_pixel_shift_within_tolerance(self, axis: int) -> None:
        # Tolerance is 1 px at 32x48 (module docstring). The shifted boundary
        # is the gt boundary moved by 1 px, so every pixel has a match at
        # distance 1 in both directions: P = R = 1.
        assert boundary_measure(np.roll(SQ, 1, axis=axis), SQ) == 1.0

    def test_two_pixel_shift_hand_simulated(self) -> None:
        # Hand simulation of the official f_measure. gt square rows/cols
        # 10-19 -> boundary = outline of the box rows 9-19, cols 9-19 (40 px).
        # pred shifted 2 px right -> outline rows 9-19, cols 11-21 (40 px).
        # Matches within the 1-px cross, for the pred boundary:
        #   top row cols 11-19 lie on gt's top row, col 20 touches (9, 19): 10
        #   bottom row likewise: 10
        #   left col (col 11) rows 10-18: only rows 10 and 18 touch gt's
        #   top/bottom rows: 2;  right col (col 21): 0
        # -> P = 22 / 40, and by mirror symmetry R = 22 / 40, so F = 0.55.
        assert boundary_measure(np.roll(SQ, 2, axis=1), SQ) == pytest.approx(0.55, abs=1e-12)

    def test_two_pixel_shift_with_two_pixel_tolerance(self) -> None:
        assert boundary_measure(np.roll(SQ, 2, axis=1), SQ, bound_th=2) == 1.0

    def test_empty_prediction_is_zero(self) -> None:
        # Official rule: pred boundary empty, gt not -> P = 1, R = 0 -> F = 0.
        assert boundary_measure(EMPTY, SQ) == 0.0

    def test_empty_gt_is_zero(self) -> None:
        # Official rule: gt boundary empty, pred not -> P = 0, R = 1 -> F = 0.
        assert boundary_measure(SQ, EMPTY) == 0.0

    def test_both_empty_is_one(self) -> None:
        assert boundary_measure(EMPTY, EMPTY) == 1.0

    def test_full_image_gt_has_no_boundary(self) -> None:
        # A mask covering the whole image has an empty seg2bmap boundary, so
        # against an empty prediction F follows the "both empty" rule (1)
        # although J is 0. This is the official behaviour.
        full = np.ones((H, W), dtype=bool)
        assert region_similarity(EMPTY, full) == 0.0
        assert boundary_measure(EMPTY, full) == 1.0

    def test_asymmetric_precision_recall(self) -> None:
        # gt: the 10x10 square; pred: the square plus a far 1x1 speck. The
        # speck's seg2bmap boundary is the 2x2 box rows 27-28, cols 39-40
        # (the speck itself differs from all three neighbours): 4 px, all
        # unmatched. P = 40 / 44, R = 40 / 40.
        pred = SQ.copy()
        pred[28, 40] = True
        assert int(boundary_map(pred).sum()) == 44
        p, r = 40 / 44, 1.0
        assert boundary_measure(pred, SQ) == pytest.approx(2 * p * r / (p + r), abs=1e-12)

    @pytest.mark.parametrize("bound_th", [0.008, 0.05, 0.1, 1, 3, 8])
    def test_equals_dilation_with_skimage_disk(self, bound_th: float) -> None:
        # Oracle written from the official definition (DAVIS-2016 form):
        # dilate each boundary with skimage disk(radius) and intersect.
        rng = np.random.default_rng(int(bound_th * 1000))
        for _ in range(10):
            base = ndimage.gaussian_filter(rng.random((H, W)), 2.0)
            gt = base > np.quantile(base, rng.uniform(0.2, 0.9))
            pred = np.roll(gt, tuple(rng.integers(-3, 4, size=2)), axis=(0, 1))
            pred[rng.random((H, W)) < 0.02] ^= True
            radius = boundary_tolerance((H, W), bound_th)
            pb, gb = boundary_map(pred), boundary_map(gt)
            se = disk(radius)
            precision = (pb & ndimage.binary_dilation(gb, structure=se)).sum() / pb.sum()
            recall = (gb & ndimage.binary_dilation(pb, structure=se)).sum() / gb.sum()
            expected = 2 * precision * recall / (precision + recall)
            assert boundary_measure(pred, gt, bound_th=bound_th) == pytest.approx(
                expected, abs=1e-12
            ), f"F differs from the disk-dilation oracle at bound_th={bound_th}"

    def test_shape_mismatch_names_both_shapes(self) -> None:
        with pytest.raises(ShapeError, match=r"pred has shape \(31, 48\) but gt has shape \(32, 48\)"):
            boundary_measure(SQ[1:], SQ)


# --------------------------------------------------------------------------
# statistics
# --------------------------------------------------------------------------
class TestSequenceStatistics:
    def test_hand_written_list(self) -> None:
        values = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
        # ids = round(linspace(1, 8, 5) + 1e-10) - 1 = [0, 2, 4, 5, 7]
        # first bin values[0:3] -> mean 0.8; last bin values[5:8] -> mean 0.3
        # recall: 4 of 8 strictly above 0.5 (0.5 itself does not count)
        stats = sequence_statistics(values)
        assert stats["mean"] == pytest.approx(0.55, abs=1e-12)
        assert stats["recall"] == pytest.approx(0.5, abs=1e-12)
        assert stats["decay"] == pytest.approx(0.5, abs=1e-12)

    def test_tie_break_of_bin_edges(self) -> None:
        # n = 3: linspace(1, 3, 5) = [1, 1.5, 2, 2.5, 3]; the + 1e-10 rounds
        # the .5 cases up -> ids [0, 1, 1, 2, 2]: first bin values[0:2],
        # last bin values[2:3]. (Rounding half to even would make the last
        # bin values[1:3] and the decay 0.4.)
        stats = sequence_statistics([1.0, 0.6, 0.2])
        assert stats["decay"] == pytest.approx(0.8 - 0.2, abs=1e-12)

    def test_nan_skipped_by_mean_counted_by_recall(self) -> None:
        # n = 4: ids [0, 1, 2, 2, 3]; first bin [1, nan] -> 1, last [0, 0] -> 0
        stats = sequence_statistics([1.0, math.nan, 0.0, 0.0])
        assert stats["mean"] == pytest.approx(1 / 3, abs=1e-12)
        assert stats["recall"] == pytest.approx(1 / 4, abs=1e-12)
        assert stats["decay"] == pytest.approx(1.0, abs=1e-12)

    def test_single_value(self) -> None:
        assert sequence_statistics([0.7]) == {"mean": 0.7, "recall": 1.0, "decay": 0.0}

    def test_long_sequence_has_no_uint8_wrap(self) -> None:
        # 300 frames, a linear drop from 1 to 0: the first bin is frames
        # 0-75 (mean 37.5 steps down), the last 224-299 (mean 261.5 steps);
        # decay = (261.5 - 37.5) / 299.
        values = np.linspace(1.0, 0.0, 300)
        assert sequence_statistics(values)["decay"] == pytest.approx(224 / 299, abs=1e-12)

    def test_empty_is_nan(self) -> None:
        stats = sequence_statistics([])
        assert all(math.isnan(v) for v in stats.values())

    def test_2d_raises(self) -> None:
        with pytest.raises(ShapeError, match=r"values has shape \(2, 2\)"):
            sequence_statistics([[1.0, 1.0], [1.0, 1.0]])


class TestTemporalInstability:
    def test_constant_is_zero(self) -> None:
        assert temporal_instability([SQ, SQ, SQ]) == 0.0

    def test_hand_computed(self) -> None:
        # pairs: (SQ, SQ) -> 0; (SQ, shifted) -> 1 - 90/110 = 20/110
        shifted = np.roll(SQ, 1, axis=1)
        assert temporal_instability([SQ, SQ, shifted]) == pytest.approx(10 / 110, abs=1e-12)

    def test_empty_pairs_count_as_stable(self) -> None:
        assert temporal_instability(iter([EMPTY, EMPTY])) == 0.0

    def test_fewer_than_two_is_nan(self) -> None:
        assert math.isnan(temporal_instability([SQ]))

    def test_shape_change_raises(self) -> None:
        with pytest.raises(ShapeError, match=r"masks\[1\] has shape \(31, 48\)"):
            temporal_instability([SQ, SQ[1:]])


# --------------------------------------------------------------------------
# evaluate_sequence
# --------------------------------------------------------------------------
class TestEvaluateSequence:
    def test_first_and_last_frames_are_not_scored(self) -> None:
        gts = [SQ] * 6
        preds = [EMPTY, SQ, SQ, SQ, SQ, square(0, 30, 5)]
        report = evaluate_sequence(preds, gts)
        assert report["frames"] == 4
        for key in ("J_mean", "F_mean", "JF_mean", "J_recall", "F_recall"):
            assert report[key] == 1.0, key
        assert report["J_decay"] == 0.0 and report["F_decay"] == 0.0
        assert report["J_per_frame"] == [1.0] * 4
        assert report["F_per_frame"] == [1.0] * 4
        assert report["T"] == 0.0

    def test_middle_frame_is_scored(self) -> None:
        # Scored frames 1..3 have J = [1, 90/110, 1]; F = [1, 1, 1] (1 px shift).
        gts = [SQ] * 5
        preds = [SQ, SQ, np.roll(SQ, 1, axis=0), SQ, SQ]
        report = evaluate_sequence(preds, gts)
        assert report["J_per_frame"] == pytest.approx([1.0, 90 / 110, 1.0], abs=1e-12)
        assert report["J_mean"] == pytest.approx((2 + 90 / 110) / 3, abs=1e-12)
        assert report["F_mean"] == 1.0
        assert report["JF_mean"] == pytest.approx((report["J_mean"] + 1.0) / 2, abs=1e-12)
        # T over pairs (1, 2) and (2, 3): 2 * (1 - 90/110) / 2
        assert report["T"] == pytest.approx(20 / 110, abs=1e-12)

    def test_decay_over_scored_frames(self) -> None:
        # Scored J = [1, 1, 0]: n = 3 -> first bin [1, 1], last bin [0].
        gts = [SQ] * 5
        preds = [SQ, SQ, SQ, EMPTY, SQ]
        report = evaluate_sequence(preds, gts)
        assert report["J_decay"] == 1.0
        assert report["F_decay"] == 1.0
        assert report["J_recall"] == pytest.approx(2 / 3, abs=1e-12)

    @pytest.mark.parametrize("n", [1, 2], ids=["1-frame", "2-frames"])
    def test_short_sequences_score_every_frame(self, n: int) -> None:
        report = evaluate_sequence([EMPTY] * n, [SQ] * n)
        assert report["frames"] == n
        assert report["J_mean"] == 0.0

    def test_accepts_generators(self) -> None:
        report = evaluate_sequence((m for m in [SQ] * 4), (m for m in [SQ] * 4))
        assert report["JF_mean"] == 1.0

    def test_length_mismatch_raises(self) -> None:
        with pytest.raises(ShapeError, match="preds has 3 masks but gts has 4"):
            evaluate_sequence([SQ] * 3, [SQ] * 4)
        with pytest.raises(ShapeError, match="preds has more masks than gts"):
            evaluate_sequence([SQ] * 4, [SQ] * 3)

    def test_empty_raises(self) -> None:
        with pytest.raises(ShapeError, match="empty"):
            evaluate_sequence([], [])

    def test_shape_mismatch_names_frame(self) -> None:
        with pytest.raises(ShapeError, match=r"\(32, 47\) but gt has shape \(32, 48\) at frame 2"):
            evaluate_sequence([SQ, SQ, SQ[:, 1:]], [SQ] * 3)
