"""Tests of flowseg.stages.flow: estimate_flow, flow_confidence, flow_error and FlowEstimator (OpenCV methods)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from flowseg.errors import ConfigError, ShapeError
from flowseg.stages.flow import FlowEstimator, estimate_flow, flow_confidence, flow_error
from flowseg.types import Frame
from davis_clips import davis_clip
from synthetic import degrade_mask, shifted_pair

SHIFT = (3, -2)
"""True motion (dx, dy) of the synthetic scenes, in pixels a frame."""

INTERIOR = (slice(8, -8), slice(8, -8))
"""Pixels at least 8 px from the border: no method is judged where content leaves the frame."""

METHODS = [
    pytest.param("dis", id="dis"),
    pytest.param("dis_fine", id="dis_fine"),
    pytest.param("dis_fast", id="dis_fast"),
    pytest.param("dis_ultrafast", id="dis_ultrafast"),
    pytest.param("farneback", id="farneback"),
]


def endpoint_error(flow: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Per-pixel distance between `flow` and the constant flow (dx, dy), in pixels."""
    return np.hypot(flow[..., 0] - dx, flow[..., 1] - dy)


def run(estimator: FlowEstimator, frames: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
    return [estimator.process(Frame(index=i, image=image)) for i, image in enumerate(frames)]


class TestEstimateFlow:
    @pytest.mark.parametrize("scale", [1.0, 0.5], ids=["scale1", "scale0.5"])  # 0.5: vectors rescaled
    @pytest.mark.parametrize("method", METHODS)
    def test_global_shift_is_recovered_with_dx_first(self, method: str, scale: float) -> None:
        previous, current = shifted_pair(SHIFT, seed=1)
        flow_fwd = estimate_flow(previous, current, method=method, scale=scale)
        error = endpoint_error(flow_fwd, *SHIFT)[INTERIOR]
        assert np.median(error) < 0.5, f"median EPE {np.median(error):.3f} px, limit 0.5 px"
        # A swapped axis or sign would put the median near (-2, 3) or (-3, 2), far outside 0.5 px.
        assert np.median(flow_fwd[..., 0][INTERIOR]) == pytest.approx(SHIFT[0], abs=0.5)
        assert np.median(flow_fwd[..., 1][INTERIOR]) == pytest.approx(SHIFT[1], abs=0.5)

    @pytest.mark.parametrize("method", METHODS)
    def test_backward_flow_points_to_previous_frame(self, method: str) -> None:
        # flowseg.types: flow_bwd maps a pixel of frame t to its position in t - 1,
        # so for content moving by SHIFT it is -SHIFT.
        previous, current = shifted_pair(SHIFT, seed=2)
        flow_bwd = estimate_flow(current, previous, method=method)
        error = endpoint_error(flow_bwd, -SHIFT[0], -SHIFT[1])[INTERIOR]
        assert np.median(error) < 0.5, f"median EPE {np.median(error):.3f} px, limit 0.5 px"

    @pytest.mark.parametrize("seed", [0, 1])
    def test_dis_fine_follows_a_small_object_closer(self, seed: int) -> None:
        """A 16 px square moving 3 px over a still background: DIS refined down to full resolution keeps its motion
        to its edges, where the medium preset, which stops at half size, blurs it into the background's."""
        rng = np.random.default_rng(seed)
        previous = cv2.GaussianBlur((rng.random((120, 160, 3)) * 255).astype(np.uint8), (3, 3), 0)
        current = previous.copy()
        square = cv2.GaussianBlur((rng.random((16, 16, 3)) * 255).astype(np.uint8), (3, 3), 0)
        previous[44:60, 60:76], current[44:60, 63:79] = square, square
        truth = np.zeros((120, 160, 2), np.float32)
        truth[44:60, 60:76, 0] = 3
        around = (slice(36, 68), slice(52, 84))  # the square and 8 px about it
        errors = {}
        for method in ("dis", "dis_fine"):
            offset = (estimate_flow(previous, current, method=method) - truth)[around]
            errors[method] = float(np.hypot(offset[..., 0], offset[..., 1]).mean())
        # Measured (seeds 0 and 1): mean EPE 0.50 and 0.67 px with dis, 0.13 and 0.18 with dis_fine.
        assert errors["dis_fine"] < 0.3 and errors["dis_fine"] < 0.5 * errors["dis"], errors

    @pytest.mark.parametrize("shape", [(96, 128), (45, 61)], ids=["96x128", "45x61"])
    @pytest.mark.parametrize("method", METHODS)
    def test_output_is_hw2_float32(self, method: str, shape: tuple[int, int]) -> None:
        previous, current = shifted_pair(SHIFT, shape, seed=3)
        flow = estimate_flow(previous, current, method=method, scale=0.5)
        assert flow.shape == (*shape, 2)
        assert flow.dtype == np.float32

    @pytest.mark.parametrize(
        ("method", "interior_limit"),
        [
            pytest.param("dis", 0.0, id="dis"),
            # OpenCV's Farneback is not exactly zero on identical frames: up to
            # 0.32 px in the outer rows and columns and under 3.2e-4 px inside
            # (measured with seeds 0-5; it comes from OpenCV's border handling).
            pytest.param("farneback", 1e-3, id="farneback"),
        ],
    )
    def test_identical_frames_give_zero_flow(self, method: str, interior_limit: float) -> None:
        frame, _ = shifted_pair(SHIFT, seed=4)
        flow = estimate_flow(frame, frame.copy(), method=method)
        largest = np.abs(flow[INTERIOR]).max()
        assert largest <= interior_limit, f"largest interior flow {largest} px, limit {interior_limit} px"
        assert np.abs(flow).mean() < 0.01, f"mean |flow| {np.abs(flow).mean()} px, limit 0.01 px"

    def test_unknown_method_is_a_typed_error(self) -> None:
        frame, _ = shifted_pair(SHIFT)
        with pytest.raises(ConfigError, match=r"unknown flow method 'lucas'; valid methods: dis, dis_fine, dis_fast, dis_ultrafast, farneback"):
            estimate_flow(frame, frame, method="lucas")

    def test_frames_of_different_size_are_refused(self) -> None:
        frame, _ = shifted_pair(SHIFT)
        with pytest.raises(ShapeError, match=r"moving has shape \(90, 128, 3\); expected the shape of reference"):
            estimate_flow(frame, frame[:90], method="dis")

    def test_scale_out_of_range_is_refused(self) -> None:
        frame, _ = shifted_pair(SHIFT)
        with pytest.raises(ValueError, match=r"scale is 1.5; expected 0 < scale <= 1"):
            estimate_flow(frame, frame, scale=1.5)


class TestFlowConfidence:
    SHAPE = (40, 50)

    def constant(self, dx: float, dy: float) -> np.ndarray:
        flow = np.empty((*self.SHAPE, 2), np.float32)
        flow[..., 0], flow[..., 1] = dx, dy
        return flow

    def test_consistent_flows_are_trusted_and_outside_is_zero(self) -> None:
        dx, dy = SHIFT
        confidence = flow_confidence(self.constant(-dx, -dy), self.constant(dx, dy))
        assert confidence.shape == self.SHAPE and confidence.dtype == np.float32
        # x + flow_bwd(x) leaves the frame in the first 3 columns and the last 2 rows.
        outside = np.zeros(self.SHAPE, bool)
        outside[:, :dx] = True
        outside[self.SHAPE[0] + dy :, :] = True
        np.testing.assert_array_equal(confidence[outside], 0.0)
        assert confidence[~outside].min() > 0.999, f"min confidence {confidence[~outside].min()}, limit 0.999"

    def test_disagreeing_flows_are_not_trusted(self) -> None:
        dx, dy = SHIFT
        flow_fwd = self.constant(dx, dy)
        flow_fwd[10:30, 10:30] = 0.0  # frame t-1 pixels whose forward flow is wrong
        confidence = flow_confidence(self.constant(-dx, -dy), flow_fwd)
        # Pixels of frame t that land well inside the wrong patch (1 px margin for bilinear sampling).
        disagree = confidence[11 + dy : 29 + dy, 11 + dx : 29 + dx]
        assert disagree.max() < 0.1, f"max confidence where the flows disagree {disagree.max()}, limit 0.1"
        agree = confidence[: self.SHAPE[0] + dy, 35:]
        assert agree.min() > 0.999, f"min confidence where they agree {agree.min()}, limit 0.999"

    @pytest.mark.parametrize("method", METHODS)
    def test_estimated_pair_is_trusted(self, method: str) -> None:
        previous, current = shifted_pair(SHIFT, seed=5)
        confidence = flow_confidence(
            estimate_flow(current, previous, method=method), estimate_flow(previous, current, method=method)
        )[INTERIOR]
        share = np.mean(confidence > 0.8)
        assert share > 0.99, f"{share:.1%} of interior pixels have confidence > 0.8, limit 99%"

    def test_error_is_how_far_the_round_trip_misses_in_frame_pixels(self) -> None:
        dx, dy = SHIFT
        flow_fwd = self.constant(dx, dy)
        flow_fwd[10:30, 10:30] = 0.0  # the forward flow misses by (dx, dy) there
        for scale in (1.0, 2.0):  # flows of a frame at half size: their pixels are 2 frame pixels
            error = flow_error(self.constant(-dx, -dy), flow_fwd, pixel_scale=scale)
            assert error.shape == self.SHAPE and error.dtype == np.float32
            np.testing.assert_allclose(error[11 + dy : 29 + dy, 11 + dx : 29 + dx], scale * np.hypot(dx, dy),
                                       rtol=1e-5)  # fmt: skip
            np.testing.assert_allclose(error[: self.SHAPE[0] + dy, 35:], 0.0, atol=1e-5)

    def test_mismatched_shapes_are_refused(self) -> None:
        expected = r"flow_fwd has shape \(40, 49, 2\); expected \(H, W, 2\) with H, W = 40, 50"
        with pytest.raises(ShapeError, match=expected):
            flow_confidence(self.constant(0, 0), self.constant(0, 0)[:, :49])


class TestFlowEstimator:
    def test_frames_smaller_than_dis_accepts(self) -> None:
        """DIS refuses images under 12 px a side; at half size a 20x14 frame is 10x7: padded, not an error."""
        first, second = shifted_pair((1, 0), (14, 20))
        estimator = FlowEstimator(method="dis", scale=0.5)
        estimator.process(Frame(0, first))
        out = estimator.process(Frame(1, second))
        assert out["flow_bwd"].shape == (14, 20, 2) and np.isfinite(out["flow_bwd"]).all()

    def test_first_frame_has_zero_flow_and_zero_confidence(self, moving_clip) -> None:
        frames, _ = moving_clip
        out = FlowEstimator(method="dis").process(Frame(index=0, image=frames[0]))
        assert set(out) == {"flow_bwd", "flow_confidence", "flow_error"}
        assert out["flow_bwd"].shape == (*frames[0].shape[:2], 2) and out["flow_bwd"].dtype == np.float32
        for name in ("flow_confidence", "flow_error"):
            assert out[name].shape == frames[0].shape[:2] and out[name].dtype == np.float32
        assert not out["flow_bwd"].any() and not out["flow_confidence"].any() and not out["flow_error"].any()

    # The coarser DIS presets miss these limits on a 32 px object (dis_fast:
    # 0.57 px on the object, 84% of the background trusted); the translation
    # test above covers them.
    @pytest.mark.parametrize("method", [m for m in METHODS if m.id in ("dis", "farneback")])
    def test_moving_object_flow_points_back(self, method: str, moving_clip) -> None:
        frames, masks = moving_clip
        outputs = run(FlowEstimator(method=method), frames)
        for t in range(1, len(frames)):
            # Judge the interior of the frame, the object 4 px inside its edge, and
            # the background 12 px away from it (Farneback's 15 px window spreads
            # the motion that far).
            flow_bwd = outputs[t]["flow_bwd"][INTERIOR]
            confidence = outputs[t]["flow_confidence"][INTERIOR]
            inner = degrade_mask(masks[t], erode=4)[INTERIOR]
            background = ~degrade_mask(masks[t] | masks[t - 1], dilate=12)[INTERIOR]
            object_error = np.median(endpoint_error(flow_bwd[inner], -SHIFT[0], -SHIFT[1]))
            background_error = np.median(endpoint_error(flow_bwd[background], 0, 0))
            assert object_error < 0.5, f"frame {t}: median EPE on the object {object_error:.3f} px, limit 0.5 px"
            assert background_error < 0.1, f"frame {t}: median background flow {background_error:.3f} px, limit 0.1 px"
            trusted = np.mean(confidence[background] > 0.8)
            assert trusted > 0.95, f"frame {t}: {trusted:.1%} of the still background trusted, limit 95%"

    def test_a_coarse_check_agrees_with_a_precise_one(self, davis_root: Path) -> None:
        # bmx-trees: a rider passing a tree, so some pixels do fail the round trip.
        frames, _ = davis_clip(davis_root, "bmx-trees", 4)
        outputs = run(FlowEstimator(method="dis", coarse_check=True), frames)
        for t in range(1, len(frames)):
            flow_bwd = estimate_flow(frames[t], frames[t - 1], method="dis")
            precise = flow_confidence(flow_bwd, estimate_flow(frames[t - 1], frames[t], method="dis")) > 0.5
            trusted = outputs[t]["flow_confidence"] > 0.5
            np.testing.assert_array_equal(outputs[t]["flow_bwd"], flow_bwd)  # the flow itself is not coarser
            agree = np.mean(trusted == precise)
            assert agree > 0.95, f"frame {t}: the checks agree on {agree:.1%} of the pixels, limit 95%"
            untrusted, untrusted_precisely = np.mean(~trusted), np.mean(~precise)
            assert untrusted_precisely > 0.05  # the tree: there is something to find
            assert abs(untrusted - untrusted_precisely) < 0.03, (
                f"frame {t}: {untrusted:.1%} untrusted, {untrusted_precisely:.1%} by the precise check")

    def test_reset_equals_new(self, moving_clip) -> None:
        frames, _ = moving_clip
        used = FlowEstimator(method="dis")
        run(used, frames[::-1])
        used.reset()
        for got, want in zip(run(used, frames), run(FlowEstimator(method="dis"), frames)):
            for key in FlowEstimator.provides:
                np.testing.assert_array_equal(got[key], want[key], err_msg=key)

    def test_unknown_method_is_refused_at_construction(self) -> None:
        expected = r"unknown flow method 'DIS'; valid methods: dis, dis_fine, dis_fast, dis_ultrafast, farneback, raft_small, raft_large"
        with pytest.raises(ConfigError, match=expected):
            FlowEstimator(method="DIS")

    def test_scale_out_of_range_is_refused_at_construction(self) -> None:
        with pytest.raises(ValueError, match=r"scale is 0; expected 0 < scale <= 1"):
            FlowEstimator(scale=0)

