"""Tests of flowseg.stages.warp: warp_mask, fuse_evidence and MaskWarper."""

from __future__ import annotations

import numpy as np
import pytest

from flowseg.errors import ShapeError
from flowseg.metrics import region_similarity
from flowseg.stages.flow import FlowEstimator
from flowseg.stages.warp import MaskWarper, fuse_evidence, warp_mask
from flowseg.types import Frame
from synthetic import SHAPE, object_mask

CENTER = (SHAPE[1] / 2, SHAPE[0] / 2)
"""(x, y) centre of the test object, far from the frame's border."""


def constant_flow(dx: float, dy: float, shape: tuple[int, int] = SHAPE) -> np.ndarray:
    flow = np.empty((*shape, 2), np.float32)
    flow[..., 0], flow[..., 1] = dx, dy
    return flow


def random_probs(n: int, seed: int, shape: tuple[int, int] = SHAPE) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random(shape, dtype=np.float32) for _ in range(n)]


def centroid(prob: np.ndarray) -> np.ndarray:
    """(x, y) centre of mass of a soft mask."""
    ys, xs = np.indices(prob.shape)
    return np.array([(xs * prob).sum(), (ys * prob).sum()]) / prob.sum()


class TestWarpMask:
    @pytest.mark.parametrize("motion", [(3, -2), (-5, 4)], ids=["+3,-2", "-5,+4"])
    @pytest.mark.parametrize("kind", ["square", "disk"])
    def test_mask_moves_with_the_flow(self, motion: tuple[int, int], kind: str) -> None:
        dx, dy = motion
        previous = object_mask(SHAPE, CENTER, 30, kind=kind)
        moved = object_mask(SHAPE, (CENTER[0] + dx, CENTER[1] + dy), 30, kind=kind)
        # Every pixel of frame t came from (-dx, -dy) away in frame t - 1.
        warped = warp_mask(previous.astype(np.float32), constant_flow(-dx, -dy))
        assert warped.shape == SHAPE and warped.dtype == np.float32
        iou = region_similarity(warped > 0.5, moved)
        assert iou == 1.0, f"IoU with the shifted mask {iou:.4f}; an integer flow must move it exactly"

    def test_fractional_flow_moves_the_centre_of_mass(self) -> None:
        dx, dy = 2.5, -1.25
        previous = object_mask(SHAPE, CENTER, 30, kind="disk").astype(np.float32)
        warped = warp_mask(previous, constant_flow(-dx, -dy))
        shift = centroid(warped) - centroid(previous)
        assert np.abs(shift - (dx, dy)).max() < 0.01, f"centre moved by {shift}, expected ({dx}, {dy}) within 0.01 px"
        assert warped.sum() == pytest.approx(previous.sum(), rel=1e-4), "bilinear warping must keep the mask's area"

    @pytest.mark.parametrize("seed", range(3))
    def test_zero_flow_is_the_identity(self, seed: int) -> None:
        (prob,) = random_probs(1, seed)
        np.testing.assert_array_equal(warp_mask(prob, constant_flow(0, 0)), prob)

    def test_pixels_from_outside_the_frame_are_zero(self) -> None:
        prob = np.ones(SHAPE, np.float32)
        warped = warp_mask(prob, constant_flow(-5, 0))
        np.testing.assert_array_equal(warped[:, :5], 0.0)
        np.testing.assert_array_equal(warped[:, 5:], 1.0)

    def test_estimated_flow_carries_the_true_mask(self, moving_clip) -> None:
        frames, masks = moving_clip
        estimator = FlowEstimator(method="dis")
        estimator.process(Frame(index=0, image=frames[0]))
        for t in range(1, len(frames)):
            flow_bwd = estimator.process(Frame(index=t, image=frames[t]))["flow_bwd"]
            warped = warp_mask(masks[t - 1].astype(np.float32), flow_bwd)
            iou = region_similarity(warped > 0.5, masks[t])
            assert iou > 0.9, f"frame {t}: IoU of the warped true mask {iou:.3f}, limit 0.9"

    def test_flow_of_the_wrong_shape_is_refused(self) -> None:
        with pytest.raises(ShapeError, match=r"flow_bwd has shape \(96, 128, 3\); expected \(H, W, 2\)"):
            warp_mask(np.zeros(SHAPE, np.float32), np.zeros((*SHAPE, 3), np.float32))


class TestFuseEvidence:
    def test_no_confidence_keeps_the_evidence(self) -> None:
        evidence, warped = random_probs(2, seed=0)
        fused = fuse_evidence(evidence, warped, np.zeros(SHAPE, np.float32), temporal_weight=0.9)
        np.testing.assert_array_equal(fused, evidence)

    @pytest.mark.parametrize("weight", [0.0, 0.3, 0.5, 1.0])
    def test_full_confidence_blends_with_the_temporal_weight(self, weight: float) -> None:
        evidence, warped = random_probs(2, seed=1)
        fused = fuse_evidence(evidence, warped, np.ones(SHAPE, np.float32), temporal_weight=weight)
        assert fused.dtype == np.float32
        np.testing.assert_allclose(fused, (1 - weight) * evidence + weight * warped, rtol=0, atol=1e-6)

    def test_partial_confidence_scales_the_weight(self) -> None:
        evidence, warped, confidence = random_probs(3, seed=2)
        fused = fuse_evidence(evidence, warped, confidence, temporal_weight=0.5)
        np.testing.assert_allclose(fused, evidence + 0.5 * confidence * (warped - evidence), rtol=0, atol=1e-6)
        assert fused.min() >= 0.0 and fused.max() <= 1.0

    @pytest.mark.parametrize("weight", [-0.1, 1.5])
    def test_weight_outside_unit_interval_is_refused(self, weight: float) -> None:
        evidence, warped = random_probs(2, seed=3)
        with pytest.raises(ValueError, match=rf"temporal_weight is {weight}; expected a value in \[0, 1\]"):
            fuse_evidence(evidence, warped, evidence, temporal_weight=weight)


class TestMaskWarper:
    def frames(self, seed: int, n: int = 3) -> list[Frame]:
        """Frames whose data hold random evidence, flow and confidence."""
        rng = np.random.default_rng(seed)
        return [
            Frame(
                index=t,
                image=np.zeros((*SHAPE, 3), np.uint8),
                data={
                    "evidence": rng.random(SHAPE, dtype=np.float32),
                    "flow_bwd": rng.normal(0, 2, (*SHAPE, 2)).astype(np.float32),
                    "flow_confidence": rng.random(SHAPE, dtype=np.float32),
                },
            )
            for t in range(n)
        ]

    def test_first_frame_returns_the_evidence(self) -> None:
        first = self.frames(seed=0, n=1)[0]
        out = MaskWarper(temporal_weight=0.7).process(first)
        assert set(out) == {"prob"} and out["prob"].dtype == np.float32
        np.testing.assert_array_equal(out["prob"], first.data["evidence"])
        assert not np.shares_memory(out["prob"], first.data["evidence"])

    def test_stage_equals_op(self) -> None:
        frames = self.frames(seed=1)
        warper = MaskWarper(temporal_weight=0.7)
        prob = warper.process(frames[0])["prob"]
        for frame in frames[1:]:
            expected = fuse_evidence(
                frame.data["evidence"], warp_mask(prob, frame.data["flow_bwd"]), frame.data["flow_confidence"],
                temporal_weight=0.7,
            )  # fmt: skip
            prob = warper.process(frame)["prob"]
            np.testing.assert_array_equal(prob, expected)

    def test_reset_equals_new(self) -> None:
        warper = MaskWarper(temporal_weight=0.7)
        for frame in self.frames(seed=2):
            warper.process(frame)
        warper.reset()
        fresh = MaskWarper(temporal_weight=0.7)
        for frame in self.frames(seed=3):
            np.testing.assert_array_equal(warper.process(frame)["prob"], fresh.process(frame)["prob"])

    def test_weight_outside_unit_interval_is_refused_at_construction(self) -> None:
        with pytest.raises(ValueError, match=r"temporal_weight is 2; expected a value in \[0, 1\]"):
            MaskWarper(temporal_weight=2)
