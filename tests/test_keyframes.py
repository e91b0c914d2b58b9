"""Keyframe scheduling: when the semantic model runs, and what the flow carries in between."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from flowseg import KeyframeScheduler, MaskRefiner, ObjectAppearance, Pipeline, budget, stale_fraction
from flowseg.metrics import region_similarity
from flowseg.types import Frame, StageOutput

from synthetic import moving_object_clip, soft_prob, texture


class RecordingEvidence:
    """A stand-in semantic stage: soft evidence of known masks; records the frames it ran on."""

    requires: tuple[str, ...] = ()
    provides: tuple[str, ...] = ("evidence",)

    def __init__(self, masks: list[np.ndarray], on_call=None) -> None:
        self.masks = masks
        self.calls: list[int] = []
        self.on_call = on_call

    def process(self, frame: Frame) -> StageOutput:
        self.calls.append(frame.index)
        if self.on_call is not None:
            self.on_call()
        return {"evidence": soft_prob(self.masks[frame.index], blur=1.0, noise=0.0, seed=0)}

    def reset(self) -> None:
        """Stateless."""


def scheduled(semantics: RecordingEvidence, target_fps: float | None = None, **keywords) -> Pipeline:
    stages = ["flow", KeyframeScheduler(semantics, **keywords), "warp", MaskRefiner(method="none")]
    return Pipeline(stages, target_fps=target_fps)


class TestStaleFraction:
    def test_all_trusted(self) -> None:
        evidence = np.full((4, 5), 0.5, np.float32)
        assert stale_fraction(evidence, np.ones((4, 5), np.float32)) == (0.0, 0.0)

    def test_stale_target_is_weighted_by_evidence(self) -> None:
        evidence = np.zeros((4, 4), np.float32)
        evidence[0, :2] = 1.0
        evidence[1, :2] = 0.5
        trust = np.ones((4, 4), np.float32)
        trust[1, :] = 0.2  # the weak half of the target and two background pixels
        of_target, of_frame = stale_fraction(evidence, trust)
        assert of_target == pytest.approx(1.0 / 3.0)
        assert of_frame == pytest.approx(4 / 16)

    def test_no_target(self) -> None:
        assert stale_fraction(np.zeros((3, 3), np.float32), np.zeros((3, 3), np.float32)) == (0.0, 1.0)


class TestSchedule:
    def test_smooth_motion_runs_the_model_only_every_interval(self) -> None:
        frames, masks = moving_object_clip(9, shift=(1, 0), size=36)
        semantics = RecordingEvidence(masks)
        results = scheduled(semantics, max_interval=4).run(frames)
        assert semantics.calls == [0, 4, 8]
        assert [r.keyframe for r in results] == [i in (0, 4, 8) for i in range(9)]
        # In between, the flow carries the object: the masks stay on it.
        carried = [region_similarity(r.mask, m) for r, m in zip(results, masks) if not r.keyframe]
        assert min(carried) > 0.85, carried

    def test_interval_one_runs_every_frame(self, moving_clip) -> None:
        frames, masks = moving_clip
        semantics = RecordingEvidence(masks)
        scheduled(semantics, max_interval=1).run(frames)
        assert semantics.calls == [0, 1, 2, 3]

    def test_a_cut_brings_a_keyframe(self) -> None:
        first, first_masks = moving_object_clip(4, shift=(1, 0), size=36, seed=0)
        second, second_masks = moving_object_clip(4, shift=(0, 1), size=20, seed=7)
        semantics = RecordingEvidence(first_masks + second_masks)
        results = scheduled(semantics, max_interval=100).run(first + second)
        assert semantics.calls[:2] == [0, 4]
        assert region_similarity(results[4].mask, second_masks[0]) > 0.8  # the old, larger square: 0.3

    def test_an_occluded_target_brings_a_keyframe(self) -> None:
        """From frame 3 a still patch hides the object: the flow cannot carry it, the model must look."""
        frames, masks = moving_object_clip(6, shift=(1, 0), size=36)
        occluder = texture((48, 48), seed=11, low=60, high=200)
        for t in range(3, 6):
            frames[t] = frames[t].copy()
            frames[t][24:72, 40:88] = occluder
            masks[t] = masks[t].copy()
            masks[t][24:72, 40:88] = False
        semantics = RecordingEvidence(masks)
        results = scheduled(semantics, max_interval=100).run(frames)
        assert semantics.calls[:2] == [0, 3]
        assert all(r.mask.sum() < 0.1 * masks[0].sum() for r in results[3:])

    def test_reset_starts_with_a_keyframe(self) -> None:
        frames, masks = moving_object_clip(3, shift=(1, 0), size=36)
        semantics = RecordingEvidence(masks)
        pipeline = scheduled(semantics, max_interval=10)
        pipeline.run(frames)
        pipeline.run(frames)
        assert semantics.calls == [0, 0]
        assert pipeline.stages[1].keyframes == 1


class TestColourFill:
    def test_stale_areas_take_the_keyframe_colours_near_the_target(self) -> None:
        """A red target on grey; the next frame shows red where the flow is untrusted, near and far."""
        image = np.full((72, 100, 3), 120, np.uint8)
        image[10:30, 10:30] = (220, 30, 30)
        target = np.zeros((72, 100), bool)
        target[10:30, 10:30] = True
        scheduler = KeyframeScheduler(RecordingEvidence([target]), max_interval=10, max_stale=1.0)
        still = {"flow_bwd": np.zeros((72, 100, 2), np.float32), "flow_confidence": np.ones((72, 100), np.float32)}
        assert scheduler.process(Frame(0, image, still))["keyframe"]
        later = image.copy()
        later[10:30, 30:40] = (220, 30, 30)  # the target grew to the right, where the flow is untrusted ...
        later[55:65, 80:90] = (220, 30, 30)  # ... and a red thing far away, also untrusted
        confidence = np.ones((72, 100), np.float32)
        confidence[:, 30:50] = 0.0
        confidence[50:70, 75:95] = 0.0
        out = scheduler.process(Frame(1, later, {**still, "flow_confidence": confidence}))
        evidence = out["evidence"]
        assert not out["keyframe"]
        np.testing.assert_allclose(evidence[12:28, 12:28], 1.0, atol=0.05)  # trusted: carried
        # Stale and red next to the target: colour posterior (about 1) times the spatial
        # prior exp(-d^2 / (2 * 5^2)) (a quarter of the 20 px target) at d = 1-3 px: 0.98-0.84.
        assert evidence[10:30, 30:33].min() > 0.75
        assert evidence[55:65, 80:90].max() < 0.01  # stale and red, but far away
        assert evidence[35:45, 30:40].max() < 0.1  # stale grey: background colour


class FakeClock:
    """Stands in for time.perf_counter: each reading advances it by `step` seconds."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class TestTargetFps:
    def test_keyframes_wait_while_behind(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Propagated frames take 0.02 s, keyframes 0.22 s; at 20 fps a keyframe must wait for the credit."""
        clock = FakeClock(0.02)
        monkeypatch.setattr(budget, "time", SimpleNamespace(perf_counter=clock))
        frames, masks = moving_object_clip(30, shift=(1, 0), size=36)
        semantics = RecordingEvidence(masks, on_call=lambda: setattr(clock, "now", clock.now + 0.2))
        results = scheduled(semantics, max_interval=1, target_fps=20).run(frames)
        calls = semantics.calls
        # Without the budget every frame would be a keyframe (max_interval=1).
        assert 3 <= len(calls) <= 8, calls
        assert all(b - a >= 4 for a, b in zip(calls, calls[1:])), calls
        assert sum(r.keyframe for r in results) == len(calls)
        assert len(frames) / clock.now >= 20 * 0.9

    def test_unreachable_target_falls_back_to_the_rules(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Propagated frames alone (0.1 s) are slower than 20 fps: spacing keyframes cannot help."""
        monkeypatch.setattr(budget, "time", SimpleNamespace(perf_counter=FakeClock(0.1)))
        frames, masks = moving_object_clip(9, shift=(1, 0), size=36)
        semantics = RecordingEvidence(masks)
        results = scheduled(semantics, max_interval=4, target_fps=20).run(frames)
        assert semantics.calls == [0, 4, 8]
        # The stages economised too, from the first frame whose cost was known (it did not help here).
        assert [r.economy for r in results] == [False, False] + [True] * 7


class TestConfiguration:
    @pytest.mark.parametrize(
        ("keywords", "message"),
        [
            ({"max_interval": 0}, "max_interval is 0; expected at least 1"),
            ({"max_stale": 1.5}, r"max_stale is 1.5; expected a value in \[0, 1\]"),
        ],
        ids=["interval", "stale"],
    )
    def test_bad_values(self, keywords, message) -> None:
        with pytest.raises(ValueError, match=message):
            KeyframeScheduler(RecordingEvidence([]), **keywords)

    def test_pipeline_rejects_interval_zero(self) -> None:
        with pytest.raises(ValueError, match="max_interval is 0; expected at least 1"):
            Pipeline(keyframe_interval=0)

    def test_wraps_only_semantic_stages(self) -> None:
        with pytest.raises(ValueError, match="MaskRefiner provides no 'evidence'; expected a semantics stage"):
            KeyframeScheduler(MaskRefiner())

    def test_pipeline_keywords_build_the_scheduler(self) -> None:
        pipeline = Pipeline(keyframe_interval=5, target_fps=12.5)
        scheduler = pipeline.stages[2]
        assert isinstance(scheduler, KeyframeScheduler)
        assert (scheduler.max_interval, pipeline.target_fps) == (5, 12.5)
        assert scheduler.target == ("person",)
        assert isinstance(Pipeline().stages[2], type(scheduler.semantics))  # the cheap person model: every frame
        assert scheduler.semantics.cheap

    def test_object_mode_follows_with_the_model_itself(self) -> None:
        """Semi-supervised mode replaces the scheduler by the appearance stage, holding the per-frame model."""
        pipeline = Pipeline(keyframe_interval=8)
        appearance = pipeline.object_stages()[2]
        assert isinstance(appearance, ObjectAppearance)
        assert appearance._semantics is pipeline.stages[2].semantics

    def test_scheduler_needs_the_flow_first(self) -> None:
        with pytest.raises(ValueError, match="requires 'flow_bwd'.*FlowEstimator provides it"):
            Pipeline(["semantics", "flow", "warp", "refine"], keyframe_interval=4)

    def test_texture_background_alone_has_no_target(self) -> None:
        """With nothing to segment, carried evidence stays empty and only the interval brings keyframes."""
        frames = [np.ascontiguousarray(np.roll(texture((64, 80), seed=3), t, axis=1)) for t in range(6)]
        empty = [np.zeros((64, 80), bool)] * 6
        semantics = RecordingEvidence(empty)
        results = scheduled(semantics, max_interval=3).run(frames)
        assert semantics.calls == [0, 3]
        assert not any(r.mask.any() for r in results)
