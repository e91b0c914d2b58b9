"""Tests of flowseg.stages.refine: crf_refine, graphcut_refine and MaskRefiner."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from flowseg.errors import ConfigError
from flowseg.metrics import region_similarity
from flowseg.stages.refine import MaskRefiner, crf_refine, graphcut_refine
from flowseg.types import Frame
from synthetic import degrade_mask, moving_object_clip, soft_prob

CASES = [
    pytest.param(kind, damage, seed, id=f"{kind}/{name}/seed{seed}")
    for kind in ("square", "disk")
    for name, damage in (("dilated", {"dilate": 2}), ("eroded", {"erode": 2}))
    for seed in (0, 1)
]


def degraded_case(kind: str, damage: dict[str, int], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A textured object, its true mask, and a soft, noisy probability of a damaged mask.

    The probability comes from the true mask grown or shrunk by 2 px with three
    blobs of the wrong label, blurred (sigma 2 px) and with noise (sigma 0.25):
    thresholded at 0.5 it scores IoU 0.59-0.68 against the truth.
    """
    frames, masks = moving_object_clip(1, kind=kind, size=40, seed=seed)
    damaged = degrade_mask(masks[0], blobs=3, seed=seed, **damage)
    return frames[0], masks[0], soft_prob(damaged, blur=2.0, noise=0.25, seed=seed)


class TestRefinementImprovesMasks:
    # Measured over these 8 cases: the CRF gains 0.105-0.15 IoU (it removes the
    # noise and blobs but moves a boundary inside texture only a little); the
    # graph cut reaches IoU >= 0.999 (its colour models separate the object)
    # when no pixel is sure (sure=1): the wrong blobs are sure (0.97 plus noise),
    # and with the default 0.9 they would stay.
    @pytest.mark.parametrize(("kind", "damage", "seed"), CASES)
    def test_crf_gains_iou(self, kind: str, damage: dict[str, int], seed: int) -> None:
        image, truth, prob = degraded_case(kind, damage, seed)
        before = region_similarity(prob > 0.5, truth)
        after = region_similarity(crf_refine(image, prob) > 0.5, truth)
        assert after - before > 0.08, f"IoU {before:.3f} -> {after:.3f}; expected a gain above 0.08"

    @pytest.mark.parametrize(("kind", "damage", "seed"), CASES)
    def test_graphcut_recovers_the_object(self, kind: str, damage: dict[str, int], seed: int) -> None:
        image, truth, prob = degraded_case(kind, damage, seed)
        before = region_similarity(prob > 0.5, truth)
        after = region_similarity(graphcut_refine(image, prob, sure=1.0), truth)
        assert after > 0.95, f"IoU {before:.3f} -> {after:.3f}; expected above 0.95"


class TestCrfRefine:
    @pytest.mark.parametrize("seed", range(4))
    def test_confident_pixels_never_flip(self, seed: int) -> None:
        # The pairwise term lies in [-w, w], so a pixel whose logit exceeds w in
        # magnitude keeps its side of 0.5.
        image, _, prob = degraded_case("disk", {"dilate": 2}, seed)
        weight = 2.0
        refined = crf_refine(image, prob, pairwise_weight=weight)
        confident = np.abs(np.log(prob + 1e-4) - np.log1p(1e-4 - prob)) > weight + 0.01
        flipped = (refined > 0.5) != (prob > 0.5)
        assert not (flipped & confident).any(), f"{(flipped & confident).sum()} confident pixels flipped"

    @pytest.mark.parametrize("seed", [*range(3), "flat"])
    def test_window_gives_the_whole_frame_mask(self, seed: int | str) -> None:
        # The mask from the window (cut to the reach of the pixels above 0.5) is that of mean-field inference over
        # the whole frame, with undecided background (0.2-0.45) far from the object on every side; at most a thin
        # rim differs. "flat": a grey frame, a square at 0.9 in background at 0.45 that the object's neighbourhood
        # pulls over beyond its box (16 of 6812 pixels differ; 3356 with a window only 2 px around the square).
        if seed == "flat":
            frame = np.full((288, 384, 3), 128, np.uint8)
            big = np.full(frame.shape[:2], 0.45, np.float32)
            big[120:170, 160:220] = 0.9
        else:
            image, _, prob = degraded_case("disk", {"dilate": 2}, seed)
            frame = np.tile(image, (3, 3, 1))
            big = np.random.default_rng(seed).uniform(0.2, 0.45, frame.shape[:2]).astype(np.float32)
            h, w = prob.shape
            big[h:2 * h, w:2 * w] = prob
        q = np.clip(big, 1e-4, 1 - 1e-4)
        unary = np.log(q) - np.log1p(-q)
        for _ in range(2):  # crf_refine's defaults, over the whole frame
            smoothed = cv2.ximgproc.dtFilter(frame, q, 20.0, 20.0, mode=cv2.ximgproc.DTF_NC)
            q = 1.0 / (1.0 + np.exp(-(unary + 3.0 * (2.0 * smoothed - 1.0))))
        differing = np.count_nonzero((crf_refine(frame, big) > 0.5) != (q > 0.5))
        assert differing <= 0.005 * np.count_nonzero(q > 0.5), f"{differing} pixels differ"

    def test_output_contract(self) -> None:
        image, _, prob = degraded_case("square", {}, 0)
        refined = crf_refine(image, prob)
        assert refined.shape == prob.shape and refined.dtype == np.float32
        assert refined.min() >= 0.0 and refined.max() <= 1.0

    def test_bad_parameters_are_refused(self) -> None:
        image, _, prob = degraded_case("square", {}, 0)
        with pytest.raises(ValueError, match=r"iterations is 0; expected at least 1"):
            crf_refine(image, prob, iterations=0)
        with pytest.raises(ValueError, match=r"color_sigma=0; expected pairwise_weight >= 0 and both sigmas > 0"):
            crf_refine(image, prob, color_sigma=0)


class TestGraphcutRefine:
    @pytest.mark.parametrize("seed", range(2))
    def test_pixels_outside_the_band_keep_their_label(self, seed: int) -> None:
        image, _, prob = degraded_case("square", {"dilate": 2}, seed)
        band = 3
        initial = prob > 0.5
        refined = graphcut_refine(image, prob, band=band)
        # Distance of each pixel to the nearest pixel of the other label.
        to_other = np.where(
            initial,
            cv2.distanceTransform(initial.astype(np.uint8), cv2.DIST_L2, 5),
            cv2.distanceTransform((~initial).astype(np.uint8), cv2.DIST_L2, 5),
        )
        far = to_other > band + 1
        assert far.any()
        np.testing.assert_array_equal(refined[far], initial[far])

    def test_sure_pixels_stay_object_when_they_share_the_background_colours(self) -> None:
        # A 40 px square on grey texture: its left half red, its right half the
        # background's grey. All of it lies in the band, so only `sure` keeps
        # the grey half. Measured: IoU 0.891 with the default, 0.5 (the red half
        # alone) with sure=1.
        rng = np.random.default_rng(0)
        image = rng.integers(150, 200, (96, 96, 1), dtype=np.uint8).repeat(3, axis=2)
        truth = np.zeros((96, 96), bool)
        truth[28:68, 28:68] = True
        image[28:68, 28:48] = (200, 40, 40)
        prob = cv2.GaussianBlur(np.where(truth, 0.97, 0.03).astype(np.float32), (0, 0), 2)
        kept = region_similarity(graphcut_refine(image, prob, band=20), truth)
        by_colour = region_similarity(graphcut_refine(image, prob, band=20, sure=1.0), truth)
        assert kept > 0.85 and by_colour < 0.6, f"IoU {kept:.3f} with sure=0.9, {by_colour:.3f} with sure=1"

    def test_sure_outside_its_range_is_refused(self) -> None:
        image, _, prob = degraded_case("square", {}, 0)
        with pytest.raises(ValueError, match=r"sure is 0.3; expected a probability in \[0.5, 1\]"):
            graphcut_refine(image, prob, sure=0.3)

    @pytest.mark.parametrize("fill", [0.0, 1.0], ids=["empty", "full"])
    def test_one_sided_mask_is_returned_thresholded(self, fill: float) -> None:
        image, _, _ = degraded_case("square", {}, 0)
        prob = np.full(image.shape[:2], fill, np.float32)
        np.testing.assert_array_equal(graphcut_refine(image, prob), prob > 0.5)


class TestMaskRefiner:
    def test_none_thresholds_at_one_half(self) -> None:
        image = np.zeros((1, 5, 3), np.uint8)
        prob = np.array([[0.0, 0.49, 0.5, 0.51, 1.0]], np.float32)
        mask = MaskRefiner(method="none").refine(image, prob)
        assert mask.dtype == np.bool_
        np.testing.assert_array_equal(mask, [[False, False, False, True, True]])

    @pytest.mark.parametrize("method", ["crf", "graphcut"])
    def test_stage_equals_op(self, method: str) -> None:
        image, _, prob = degraded_case("disk", {"erode": 2}, 0)
        out = MaskRefiner(method=method).process(Frame(index=0, image=image, data={"prob": prob}))
        assert set(out) == {"mask"} and out["mask"].dtype == np.bool_
        expected = crf_refine(image, prob) > 0.5 if method == "crf" else graphcut_refine(image, prob)
        np.testing.assert_array_equal(out["mask"], expected)

    def test_unknown_method_is_a_typed_error(self) -> None:
        expected = r"unknown refine method 'bilateral'; valid methods: crf, graphcut, none"
        with pytest.raises(ConfigError, match=expected):
            MaskRefiner(method="bilateral")
