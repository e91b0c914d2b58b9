"""The speed budget: behind or ahead of a target frame rate, and the stages' cheaper settings."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from flowseg import FlowEstimator, MaskRefiner, Pipeline, SpeedBudget, budget
from flowseg.types import Frame

from synthetic import KnownMasks, moving_object_clip, soft_prob


class FakeClock:
    """Stands in for time.perf_counter: each reading advances it by `step` seconds."""

    def __init__(self, step: float) -> None:
        self.step = step
        self.now = 0.0

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock(0.05)
    monkeypatch.setattr(budget, "time", SimpleNamespace(perf_counter=fake))
    return fake


class TestSpeedBudget:
    def test_on_schedule_spends_freely(self, clock: FakeClock) -> None:
        """Frames of 0.05 s against a 10 fps budget: always ahead, never economy."""
        speed = SpeedBudget(10)
        for _ in range(20):
            speed.start_frame(keyframe=False)
            assert speed.affords_keyframe() and not speed.economy
        assert speed.behind_seconds == pytest.approx(-0.95)  # the credit stops at 1 s

    def test_waiting_keyframes_suffice(self, clock: FakeClock) -> None:
        """Propagated frames (0.05 s) are within a 15 fps budget: keyframes wait, stages do not economise."""
        speed = SpeedBudget(15)
        speed.start_frame(keyframe=True)
        clock.now += 0.2  # an expensive keyframe puts the run behind
        speed.start_frame(keyframe=True)
        assert not speed.affords_keyframe() and not speed.economy
        speed.start_frame(keyframe=False)
        assert not speed.affords_keyframe() and not speed.economy

    def test_too_slow_without_keyframes_economises(self, clock: FakeClock) -> None:
        """Propagated frames of 0.05 s against 40 fps: only the stages' cheaper settings can help."""
        speed = SpeedBudget(40)
        for _ in range(2):
            speed.start_frame(keyframe=False)
        assert speed.economy and speed.economy_frames == 1
        # Economy frames' cost is unknown yet: waiting may still help, so no keyframe.
        assert not speed.affords_keyframe()
        speed.start_frame(keyframe=False)  # now economy costs 0.05 s too: out of reach either way
        assert speed.economy and speed.affords_keyframe()

    def test_reset_forgets(self, clock: FakeClock) -> None:
        speed = SpeedBudget(40)
        for _ in range(3):
            speed.start_frame(keyframe=False)
        speed.reset()
        speed.start_frame(keyframe=False)
        assert not speed.economy and speed.economy_frames == 0 and speed.behind_seconds == 0.0

    @pytest.mark.parametrize("fps", [0, -1.0])
    def test_bad_rate(self, fps: float) -> None:
        with pytest.raises(ValueError, match=f"target_fps is {fps}; expected a positive number"):
            SpeedBudget(fps)
        with pytest.raises(ValueError, match="target_fps"):
            Pipeline(target_fps=fps)


class RecordingEconomy:
    """A pass-through stage that records the economy setting of every frame."""

    requires: tuple[str, ...] = ("evidence",)
    provides: tuple[str, ...] = ("prob",)

    def __init__(self) -> None:
        self.settings: list[bool] = []
        self._on = False

    def economise(self, on: bool) -> None:
        self._on = on

    def process(self, frame: Frame) -> dict[str, np.ndarray]:
        self.settings.append(self._on)
        return {"prob": np.asarray(frame.data["evidence"])}

    def reset(self) -> None:
        self._on = False


def test_pipeline_economises_only_under_a_budget(clock: FakeClock) -> None:
    frames, masks = moving_object_clip(5, shift=(1, 0), size=16)
    recorder = RecordingEconomy()
    stages = [KnownMasks(masks), recorder, MaskRefiner(method="none")]
    results = Pipeline(stages, target_fps=40).run(frames)
    # Without keyframes to wait on, economy starts once the first frame's cost is known.
    assert recorder.settings == [r.economy for r in results] == [False, True, True, True, True]
    recorder.settings.clear()
    assert not any(r.economy for r in Pipeline(stages).run(frames)) and recorder.settings == [False] * 5


def test_flow_economy_is_dis_ultrafast() -> None:
    frames, _ = moving_object_clip(2, shift=(3, 1), size=20)

    def flow(estimator: FlowEstimator) -> np.ndarray:
        estimator.process(Frame(0, frames[0], {}))
        return estimator.process(Frame(1, frames[1], {}))["flow_bwd"]

    economical = FlowEstimator(method="dis", scale=0.5)
    economical.economise(True)
    np.testing.assert_array_equal(flow(economical), flow(FlowEstimator(method="dis_ultrafast", scale=0.5)))
    economical.economise(False)
    np.testing.assert_array_equal(flow(economical), flow(FlowEstimator(method="dis", scale=0.5)))
    assert not np.array_equal(flow(FlowEstimator(method="dis", scale=0.5)),
                              flow(FlowEstimator(method="dis_ultrafast", scale=0.5)))  # fmt: skip


def test_refine_economy_thresholds() -> None:
    frames, masks = moving_object_clip(1, size=20)
    prob = soft_prob(masks[0], blur=3.0, noise=0.2, seed=1)
    refiner = MaskRefiner(method="crf")
    refiner.economise(True)
    np.testing.assert_array_equal(refiner.process(Frame(0, frames[0], {"prob": prob}))["mask"], prob > 0.5)
    refiner.economise(False)
    assert not np.array_equal(refiner.process(Frame(0, frames[0], {"prob": prob}))["mask"], prob > 0.5)
