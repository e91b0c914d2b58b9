"""Prediction: future frames and masks from the motion measured so far."""

from __future__ import annotations

import numpy as np
import pytest

from flowseg import ConfigError, FlowEstimator, MaskRefiner, Pipeline, predict, predict_video
from flowseg.metrics import region_similarity
from flowseg.stages import (PredictionPrior, extrapolate, flow_error, predict_frame, predict_mask, splat, velocity,
                            velocity_change)
from flowseg.types import Frame

from synthetic import KnownMasks, moving_object_clip, texture


def blob(shape: tuple[int, int], center: tuple[float, float], sigma: float = 4.0) -> np.ndarray:
    """A soft Gaussian blob centred at ``(x, y)``, sub-pixel positions allowed."""
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]]
    return np.exp(-((xs - center[0]) ** 2 + (ys - center[1]) ** 2) / (2 * sigma**2)).astype(np.float32)


def centroid(prob: np.ndarray) -> np.ndarray:
    ys, xs = np.mgrid[0 : prob.shape[0], 0 : prob.shape[1]]
    return np.array([(xs * prob).sum(), (ys * prob).sum()]) / prob.sum()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a.astype(float) - b.astype(float)) ** 2)))


class TestConstantMotion:
    def test_sub_pixel_motion_is_extrapolated(self) -> None:
        """A blob moving (1.3, -0.7) px a frame, with its exact flow: its centroid lands within 0.05 px.

        Bilinear splatting of a translation keeps each pixel's mass and moves
        its centre of mass exactly, so the only error is the blob's tail
        leaving the frame: 0.05 px is well above that and far below a pixel.
        """
        shape, v = (64, 80), np.array([1.3, -0.7])
        prob = blob(shape, (30.0, 34.0))
        flow_bwd = np.zeros((*shape, 2), np.float32)
        flow_bwd[prob > 1e-4] = -v  # where each pixel of the blob came from
        for steps in (1, 3):
            predicted = predict_mask(prob, flow_bwd, steps)
            assert np.abs(centroid(predicted) - (np.array([30.0, 34.0]) + steps * v)).max() < 0.05

    def test_estimated_flow_predicts_the_object_two_frames_on(self) -> None:
        """End to end with DIS flow: frame 1 and its flow predict frame 3 better than copying frame 1."""
        frames, masks = moving_object_clip(4, shift=(3, -2), size=24)
        flow = FlowEstimator(method="dis", scale=1.0)
        flow.process(Frame(0, frames[0], {}))
        flow_bwd = flow.process(Frame(1, frames[1], {}))["flow_bwd"]
        predicted = predict_mask(masks[1].astype(np.float32), flow_bwd, 2) > 0.5
        # Measured: IoU 0.90 against 0.44 for the copied mask (DIS smears the flow over the object's edges);
        # PSNR 28.8 dB against 21.5 dB for the copied frame.
        assert region_similarity(predicted, masks[3]) > 0.85 > 0.5 > region_similarity(masks[1], masks[3])
        image = predict_frame(frames[1], flow_bwd, 2, prob=masks[1].astype(np.float32))
        assert psnr(image, frames[3]) > psnr(frames[1], frames[3]) + 5


class TestHolesAndStillness:
    @pytest.mark.parametrize("shape", [(96, 128), (540, 720)], ids=["small", "inpainted-at-reduced-size"])
    def test_uncovered_background_is_filled(self, shape: tuple[int, int]) -> None:
        """The object moves off; the strip it uncovers is inpainted from the background, not left black."""
        frames, masks = moving_object_clip(2, shape=shape, shift=(6, 0), size=24)
        flow_bwd = np.zeros((*masks[1].shape, 2), np.float32)
        flow_bwd[masks[1]] = (-6, 0)
        predicted = predict_frame(frames[1], flow_bwd, 1, prob=masks[1].astype(np.float32))
        uncovered = masks[1] & ~np.roll(masks[1], 6, axis=1)
        assert uncovered.sum() >= 23 * 6  # a strip the object's height, 6 px wide
        background = frames[1][~masks[1]].mean(axis=0)
        # Filled with background colours (the object's texture is brighter: 105-255 against 0-150).
        assert np.abs(predicted[uncovered].mean(axis=0) - background).max() < 25

    def test_still_video_predicts_itself(self) -> None:
        image = texture((40, 50), seed=2)
        still = np.zeros((40, 50, 2), np.float32)
        np.testing.assert_array_equal(predict_frame(image, still, 3), image)
        prob = blob((40, 50), (20.0, 20.0))
        np.testing.assert_allclose(predict_mask(prob, still, 2), prob, atol=1 / 255)


@pytest.mark.parametrize("error", [(-1, 0), (1, 0), (0, 1), (1, -1), (-1, 1)])
def test_the_hedged_frame_is_nearer_where_the_velocity_is_off(error: tuple[int, int]) -> None:
    """A pan of (3, -2) px a frame, its velocity measured a pixel off: two frames on, the hedged prediction is
    nearer the real frame than the forward warp alone (measured 0.2 to 0.6 dB); with the velocity exact, it costs
    0.2 dB."""
    scene = texture((160, 200), seed=3)

    def frame(t: int) -> np.ndarray:
        return np.roll(scene, (-2 * t, 3 * t), axis=(0, 1))[30:130, 30:170].copy()

    flow_bwd = np.empty((100, 140, 2), np.float32)
    flow_bwd[...] = (-3 - error[0], 2 - error[1])
    hedged, sharp = (predict_frame(frame(1), flow_bwd, 2, sharp=s) for s in (False, True))
    assert psnr(hedged, frame(3)) > psnr(sharp, frame(3)) + 0.1
    flow_bwd[...] = (-3, 2)
    exact = predict_frame(frame(1), flow_bwd, 2, sharp=True)
    assert psnr(exact, frame(3)) > psnr(predict_frame(frame(1), flow_bwd, 2), frame(3)) > 25


def test_the_hedge_blurs_where_the_flow_says_it_is_off() -> None:
    """A pan of (3, -2) px a frame whose backward flow failed in a patch (zero there) while the forward flow is right:
    given the pair's error (flow_error, about 3.6 px in the patch), the prediction two frames on is nearer the real
    frame in the patch and the same elsewhere."""
    scene = texture((160, 200), seed=3)

    def frame(t: int) -> np.ndarray:
        return np.roll(scene, (-2 * t, 3 * t), axis=(0, 1))[30:130, 30:170].copy()

    flow_bwd = np.empty((100, 140, 2), np.float32)
    flow_bwd[...] = (-3, 2)
    flow_fwd = -flow_bwd
    flow_bwd[30:70, 40:90] = 0.0
    error = flow_error(flow_bwd, flow_fwd)
    assert error[35:65, 45:85].min() > 3.5 and error[:, 100:].max() < 1e-5
    told, untold = (predict_frame(frame(1), flow_bwd, 2, flow_error=e) for e in (error, None))
    patch = (slice(40, 60), slice(55, 80))  # well inside where the failed flow put the patch two frames on
    assert psnr(told[patch], frame(3)[patch]) > psnr(untold[patch], frame(3)[patch]) + 1
    far = (slice(0, 100), slice(120, 140))
    np.testing.assert_array_equal(told[far], untold[far])


def test_a_pan_that_speeds_up_is_predicted_nearer_with_the_flow_before() -> None:
    """A pan at 2, then 3 px a frame, then 4: from frame 2 and both flows, frame 3 is predicted nearer than at constant
    velocity (measured 26.2 against 24.1 dB, sharp 26.1 against 24.0); the mask moves as the frame does."""
    scene = texture((100, 220), seed=4)
    positions = (0, 2, 5, 9)

    def frame(t: int) -> np.ndarray:
        return np.roll(scene, positions[t], axis=1)[:, 40:180].copy()

    flow_bwd, flow_before = (np.zeros((100, 140, 2), np.float32) for _ in range(2))
    flow_bwd[..., 0], flow_before[..., 0] = -3, -2  # where each pixel came from, a frame earlier
    change = velocity_change(flow_bwd, flow_before)
    np.testing.assert_array_equal(change[..., 0], 1.0)  # speeding up by 1 px a frame
    np.testing.assert_array_equal(change[..., 1], 0.0)
    for sharp in (False, True):
        told, untold = (predict_frame(frame(2), flow_bwd, 1, sharp=sharp, flow_before=before)
                        for before in (flow_before, None))  # fmt: skip
        assert psnr(told, frame(3)) > psnr(untold, frame(3)) + 1
    prob = blob((100, 140), (60.0, 50.0))
    moved = predict_mask(prob, flow_bwd, 1, flow_before=flow_before)
    assert abs(centroid(moved)[0] - (60.0 + 3.25)) < 0.05  # 3 px and a quarter of the 1 px speed-up


def test_extrapolate_gives_the_frame_and_the_mask_of_predict_mask() -> None:
    frames, masks = moving_object_clip(2, shift=(3, -2), size=24)
    flow_bwd = np.zeros((*masks[1].shape, 2), np.float32)
    flow_bwd[masks[1]] = (-3, 2)
    prob = masks[1].astype(np.float32)
    frame, mask = extrapolate(frames[1], flow_bwd, 2, prob=prob)
    np.testing.assert_array_equal(frame, predict_frame(frames[1], flow_bwd, 2, prob=prob))
    np.testing.assert_array_equal(mask, predict_mask(prob, flow_bwd, 2))
    assert extrapolate(frames[1], flow_bwd)[1] is None


class TestSplat:
    def test_front_wins_an_overlap(self) -> None:
        """Two pixels land on one: the higher priority takes it."""
        values = np.array([[10.0, 20.0, 0.0]], np.float32)
        moves = np.array([[[1, 0], [0, 0], [0, 0]]], np.float32)  # the first lands on the second
        moved, coverage = splat(values, moves, np.array([[5.0, 0.0, 0.0]], np.float32))
        assert moved[0, 1] == pytest.approx(10.0, abs=0.1) and coverage[0, 1] == 2.0
        assert coverage[0, 0] == 0.0

    def test_a_fast_pan_with_a_mover_keeps_its_background(self) -> None:
        """The camera pans 150 px a frame and an object stands still in the frame: its priority (150 px of
        independent motion) is e^150 the background's, which float32 takes for 0: the background came out black."""
        image = texture((64, 400), seed=1, low=60, high=200)
        flow_bwd = np.zeros((64, 400, 2), np.float32)
        flow_bwd[..., 0] = -150
        flow_bwd[20:40, 200:240] = 0
        predicted = predict_frame(image, flow_bwd, 1, sharp=True)
        np.testing.assert_array_equal(predicted[:44, 170:200], image[:44, 20:50])  # background moved 150 px right

    def test_layered_motion_moves_the_object_as_one(self) -> None:
        """Noisy flow under the mask is replaced by its affine fit; the background follows the camera."""
        rng = np.random.default_rng(0)
        flow = np.zeros((96, 128, 2), np.float32)
        flow[..., 0] = -1.0  # camera pan
        prob = np.zeros((96, 128), np.float32)
        prob[20:60, 40:80] = 1.0
        flow[20:60, 40:80] = (2.0, 0.5)
        noisy = flow + rng.normal(0, 0.3, flow.shape).astype(np.float32)
        layered = velocity(noisy, prob, motion="layered")
        pixel = velocity(noisy, prob)
        # 0.3 px of noise per vector: the fits average it away.
        assert np.abs(layered[20:60, 40:80] - (-2.0, -0.5)).max() < 0.1 < np.abs(pixel[20:60, 40:80] - (-2.0, -0.5)).max()
        assert np.abs(layered[70:, :30] - (1.0, 0.0)).max() < 0.15

    def test_bad_arguments(self) -> None:
        with pytest.raises(ConfigError, match="unknown motion model 'wobbly'; valid models: pixel, layered"):
            velocity(np.zeros((4, 4, 2), np.float32), motion="wobbly")
        with pytest.raises(ValueError, match="steps is 0; expected at least 1"):
            predict_mask(np.zeros((4, 4), np.float32), np.zeros((4, 4, 2), np.float32), 0)


class TestPredictionPrior:
    def frame(self, index: int, prob: np.ndarray, flow: np.ndarray, confidence: float, **extra) -> Frame:
        h, w = prob.shape
        data = {"prob": prob, "flow_bwd": flow, "flow_confidence": np.full((h, w), confidence, np.float32), **extra}
        return Frame(index, np.zeros((h, w, 3), np.uint8), data)

    def test_untrusted_flow_takes_the_prediction(self) -> None:
        """The object moved 4 px right a frame; on a frame with no trusted flow and no evidence, the prior keeps it."""
        prior = PredictionPrior(weight=0.5)
        before = np.zeros((32, 48), np.float32)
        before[10:20, 10:20] = 1.0
        moving = np.zeros((32, 48, 2), np.float32)
        moving[..., 0] = -4.0
        prior.process(self.frame(0, before, moving * 0, 0.0))
        prior.process(self.frame(1, before, moving, 1.0))
        out = prior.process(self.frame(2, np.zeros_like(before), moving, 0.0))["prob"]
        assert out[10:20, 14:24].min() == pytest.approx(0.5, abs=0.01) and out[:, :12].max() < 0.01
        trusted = prior.process(self.frame(3, np.zeros_like(before), moving, 1.0))["prob"]
        assert trusted.max() == 0.0  # trusted flow: the prediction has no say

    def test_shot_change_drops_the_prediction(self) -> None:
        prior = PredictionPrior()
        prob = np.ones((8, 8), np.float32)
        prior.process(self.frame(1, prob, np.zeros((8, 8, 2), np.float32), 1.0))
        cut = prior.process(self.frame(2, prob * 0, np.zeros((8, 8, 2), np.float32), 0.0,
                                       shot_change=np.array(True)))["prob"]  # fmt: skip
        assert cut.max() == 0.0

    def test_pipeline_keyword(self) -> None:
        assert any(isinstance(s, PredictionPrior) for s in Pipeline(prediction_weight=0.5).stages)
        assert not any(isinstance(s, PredictionPrior) for s in Pipeline().stages)
        with pytest.raises(ValueError, match=r"prediction_weight is -0.5; expected a value in \[0, 1\]"):
            Pipeline(prediction_weight=-0.5)


class TestPredictVideo:
    def test_predictions_line_up_with_the_frames(self) -> None:
        """Frame t's prediction is made from frame t - horizon; the first `horizon` frames have none."""
        frames, masks = moving_object_clip(6, shift=(3, -2), size=24)
        pipeline = Pipeline([KnownMasks(masks), MaskRefiner(method="none", source="evidence")])
        out = list(predict(frames, horizon=2, pipeline=pipeline))
        assert out[:2] == [None, None] and [p.index for p in out[2:]] == [2, 3, 4, 5]
        # Frame 2 is predicted from frame 0, whose motion is unknown: it stays where it was.
        assert region_similarity(out[2].prob > 0.5, masks[0]) > 0.99
        # Later frames are extrapolated from frame t - 2 and its flow (DIS at full size): measured
        # IoU 0.90 against 0.44 for the mask of frame t - 2 (0.75-0.79 from DIS at half size).
        assert min(region_similarity(p.prob > 0.5, masks[p.index]) for p in out[3:]) > 0.85

    def test_frames_only(self) -> None:
        frames, _ = moving_object_clip(3)
        out = list(predict(frames))
        assert out[0] is None and out[1].prob is None and out[1].image.shape == frames[0].shape

    def test_bad_horizon_and_preset(self) -> None:
        with pytest.raises(ValueError, match="horizon is 0; expected at least 1"):
            next(predict([np.zeros((16, 16, 3), np.uint8)], horizon=0))
        with pytest.raises(ConfigError, match="unknown preset 'best'; expected one of fast, balanced, quality"):
            next(predict([np.zeros((16, 16, 3), np.uint8)], preset="best"))

    def test_failed_video_leaves_no_output(self, tmp_path) -> None:
        from flowseg import VideoOpenError

        broken = tmp_path / "broken.mp4"
        broken.write_bytes(b"not a video")
        with pytest.raises(VideoOpenError):
            predict_video(broken, tmp_path / "out")
        assert not (tmp_path / "out").exists()
