"""Tests of flowseg.models.weights and the torch stages, with randomly initialised checkpoints.

The official torchvision weights cannot be fetched in CI, so each test saves a
randomly initialised model of the same architecture to a temporary file and
loads that: the loading, hashing and error paths are the real ones.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from flowseg.errors import WeightsError  # noqa: E402
from flowseg.models import WEIGHTS, find_weights_file, load_state_dict  # noqa: E402
from flowseg.stages.flow import FlowEstimator, estimate_flow  # noqa: E402
from flowseg.stages.semantics import SemanticSegmenter  # noqa: E402
from flowseg.types import Frame  # noqa: E402
from synthetic import moving_object_clip  # noqa: E402


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    sha256: str
    state: dict


def save_checkpoint(model: torch.nn.Module, path: Path) -> Checkpoint:
    state = model.state_dict()
    torch.save(state, path)
    return Checkpoint(path, hashlib.sha256(path.read_bytes()).hexdigest(), state)


@pytest.fixture(scope="module")
def deeplab(tmp_path_factory: pytest.TempPathFactory) -> Checkpoint:
    """Random-init DeepLabV3-MobileNetV3 (VOC head, aux head) saved to a temporary file."""
    torch.manual_seed(0)
    model = torchvision.models.segmentation.deeplabv3_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=21, aux_loss=True
    )
    return save_checkpoint(model, tmp_path_factory.mktemp("deeplab") / "deeplab_random.pth")


@pytest.fixture(scope="module")
def raft(tmp_path_factory: pytest.TempPathFactory) -> Checkpoint:
    """Random-init RAFT-small saved to a temporary file."""
    torch.manual_seed(0)
    model = torchvision.models.optical_flow.raft_small(weights=None)
    return save_checkpoint(model, tmp_path_factory.mktemp("raft") / "raft_random.pth")


class TestLoadStateDict:
    @pytest.mark.parametrize(
        ("name", "checkpoint"),
        [
            pytest.param("deeplabv3_mobilenet_v3_large", "deeplab", id="deeplab"),
            pytest.param("raft_small", "raft", id="raft"),
        ],
    )
    def test_checked_file_loads(self, name: str, checkpoint: str, request: pytest.FixtureRequest) -> None:
        saved: Checkpoint = request.getfixturevalue(checkpoint)
        state = load_state_dict(name, path=saved.path, sha256=saved.sha256)
        assert state.keys() == saved.state.keys()
        for key, tensor in saved.state.items():
            assert torch.equal(state[key], tensor), key

    def test_sha256_prefix_is_accepted(self, raft: Checkpoint) -> None:
        state = load_state_dict("raft_small", path=raft.path, sha256=raft.sha256[:8].upper())
        assert state.keys() == raft.state.keys()

    def test_wrong_sha256_is_refused(self, raft: Checkpoint) -> None:
        wrong = "0" * 64
        expected = rf"has SHA-256 {raft.sha256}, expected {wrong} for raft_small; the file is corrupt or not the right"
        with pytest.raises(WeightsError, match=expected):
            load_state_dict("raft_small", path=raft.path, sha256=wrong)

    def test_user_file_is_checked_against_the_official_hash_by_default(self, raft: Checkpoint) -> None:
        with pytest.raises(WeightsError, match=rf"expected {WEIGHTS['raft_small'].sha256} for raft_small"):
            load_state_dict("raft_small", path=raft.path)

    def test_missing_file_is_named(self, tmp_path: Path) -> None:
        missing = tmp_path / "nowhere" / "raft.pth"
        with pytest.raises(WeightsError, match=rf"weights file {missing} for raft_small does not exist"):
            load_state_dict("raft_small", path=missing)

    def test_not_found_without_download_says_what_and_where(self, no_weights: tuple[Path, Path]) -> None:
        weights_dir, checkpoints = no_weights
        spec = WEIGHTS["deeplabv3_mobilenet_v3_large"]
        expected = rf"weights file {spec.filename} for {spec.name} is not on this machine"
        with pytest.raises(WeightsError, match=expected) as info:
            load_state_dict(spec.name, download=False)
        message = str(info.value)
        for part in (spec.url, str(weights_dir), str(checkpoints), "FLOWSEG_WEIGHTS_DIR"):
            assert part in message, f"{part!r} missing from: {message}"

    def test_file_in_weights_dir_is_found_under_its_official_name(self, no_weights, raft: Checkpoint) -> None:
        weights_dir, _ = no_weights
        official = weights_dir / WEIGHTS["raft_small"].filename
        official.symlink_to(raft.path)
        assert find_weights_file("raft_small") == official
        state = load_state_dict("raft_small", sha256=raft.sha256)
        assert state.keys() == raft.state.keys()

    def test_state_dict_of_another_model_is_refused(self, raft: Checkpoint) -> None:
        with pytest.raises(WeightsError, match=r"weights do not fit deeplabv3_mobilenet_v3_large: "):
            SemanticSegmenter(target="person", model="deeplabv3_mobilenet_v3_large", weights=raft.path,
                              sha256=raft.sha256, device="cpu")  # fmt: skip


class TestTorchStages:
    def test_deeplab_segmenter_returns_a_probability_map(self, deeplab: Checkpoint) -> None:
        segmenter = SemanticSegmenter(
            target="person", model="deeplabv3_mobilenet_v3_large", weights=deeplab.path, sha256=deeplab.sha256,
            device="cpu", input_size=64,
        )  # fmt: skip
        frames, _ = moving_object_clip(1, shape=(45, 61), size=16)
        prob = segmenter.process(Frame(index=0, image=frames[0]))["evidence"]
        assert prob.shape == (45, 61) and prob.dtype == np.float32
        assert np.isfinite(prob).all() and prob.min() >= 0.0 and prob.max() <= 1.0

    def test_raft_estimator_returns_flow(self, raft: Checkpoint) -> None:
        # Two frames, so RAFT runs once (one batch of both directions): at its
        # 128x128 minimum that takes seconds on a small CPU.
        estimator = FlowEstimator(method="raft_small", weights=raft.path, sha256=raft.sha256, device="cpu")
        frames, _ = moving_object_clip(2, shape=(45, 61), size=16)
        first, second = (estimator.process(Frame(index=t, image=image)) for t, image in enumerate(frames))
        assert not first["flow_bwd"].any() and not first["flow_confidence"].any()
        flow, confidence = second["flow_bwd"], second["flow_confidence"]
        assert flow.shape == (45, 61, 2) and flow.dtype == np.float32 and np.isfinite(flow).all()
        assert confidence.shape == (45, 61) and confidence.min() >= 0.0 and confidence.max() <= 1.0

    def test_raft_estimate_flow_checks_the_given_sha256(self, raft: Checkpoint) -> None:
        frames, _ = moving_object_clip(2, shape=(45, 61), size=16)
        with pytest.raises(WeightsError, match=rf"has SHA-256 {raft.sha256}, expected {'f' * 64}"):
            estimate_flow(frames[0], frames[1], method="raft_small", weights=raft.path, sha256="f" * 64,
                          device="cpu")  # fmt: skip


CUDA = torch.cuda.is_available()


class TestDevice:
    @pytest.mark.skipif(CUDA, reason="this machine has a CUDA device; 'auto' picks it")
    def test_auto_picks_the_cpu_without_warnings(self, deeplab: Checkpoint) -> None:
        import warnings

        from flowseg.stages.semantics import resolve_device

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert resolve_device("auto") == "cpu"
            SemanticSegmenter(model="deeplabv3_mobilenet_v3_large", weights=deeplab.path, sha256=deeplab.sha256,
                              device="auto", input_size=64)  # fmt: skip

    @pytest.mark.skipif(CUDA, reason="this machine has a CUDA device")
    def test_cuda_without_a_device_is_a_clear_error(self, deeplab: Checkpoint) -> None:
        from flowseg.errors import ConfigError

        with pytest.raises(ConfigError, match="device 'cuda' was asked for but torch sees no CUDA device"):
            SemanticSegmenter(model="deeplabv3_mobilenet_v3_large", weights=deeplab.path, sha256=deeplab.sha256,
                              device="cuda")  # fmt: skip

    @pytest.mark.skipif(not CUDA, reason="no CUDA device on this machine")
    def test_cuda_gives_the_cpu_answer(self, deeplab: Checkpoint, raft: Checkpoint) -> None:
        frames, _ = moving_object_clip(2, shape=(128, 160), size=40)
        probs = [
            SemanticSegmenter(model="deeplabv3_mobilenet_v3_large", weights=deeplab.path, sha256=deeplab.sha256,
                              device=device, input_size=128).predict(frames[0])
            for device in ("cpu", "cuda")
        ]  # fmt: skip
        np.testing.assert_allclose(probs[1], probs[0], atol=1e-3)
        flows = [
            estimate_flow(frames[1], frames[0], method="raft_small", weights=raft.path, sha256=raft.sha256,
                          device=device)
            for device in ("cpu", "cuda")
        ]  # fmt: skip
        np.testing.assert_allclose(flows[1], flows[0], atol=0.05)


class TestObjectClasses:
    @pytest.fixture
    def segmenter(self, deeplab: Checkpoint) -> SemanticSegmenter:
        return SemanticSegmenter(target="person", model="deeplabv3_mobilenet_v3_large", weights=deeplab.path,
                                 sha256=deeplab.sha256, device="cpu", input_size=64)  # fmt: skip

    def test_class_probabilities_are_a_distribution(self, segmenter: SemanticSegmenter) -> None:
        frames, _ = moving_object_clip(1, shape=(45, 61), size=16)
        probs = segmenter._backend.class_probabilities(frames[0])
        assert probs.shape == (21, 45, 61) and probs.dtype == np.float32
        np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-3)
        person = segmenter.predict(frames[0])
        np.testing.assert_allclose(person, probs[15], atol=1e-3)

    def test_classes_in_picks_what_the_mask_covers(self, segmenter: SemanticSegmenter, monkeypatch) -> None:
        frames, masks = moving_object_clip(1, shape=(45, 61), size=16)
        probs = np.zeros((21, 45, 61), np.float32)
        probs[0] = 1.0
        probs[:, masks[0]] = 0.0
        probs[12, masks[0]], probs[8, masks[0]], probs[0, masks[0]] = 0.6, 0.3, 0.1  # dog, cat, background
        monkeypatch.setattr(segmenter._backend, "class_probabilities", lambda image: probs)
        assert segmenter.classes_in(frames[0], masks[0]) == ("dog", "cat")
        assert segmenter.classes_in(frames[0], masks[0], min_share=0.5) == ("dog",)
        segmenter.retarget(("dog", "cat"))
        assert segmenter.target == ("dog", "cat") and segmenter._targets == (12, 8)

    def test_object_mode_retargets_and_restores(self, segmenter: SemanticSegmenter, monkeypatch) -> None:
        from flowseg import Pipeline

        frames, masks = moving_object_clip(3, shape=(45, 61), size=16)
        monkeypatch.setattr(segmenter, "classes_in", lambda image, mask, **_: ("horse",))
        pipeline = Pipeline(["flow", segmenter, "warp", "refine"])
        pipeline.run(frames, init_mask=masks[0])
        appearance = pipeline.object_stages()[1]
        assert appearance.object_classes == ("horse",) and segmenter.target == ("horse",)
        pipeline.run(frames)  # target mode again: the pipeline's own target is back
        assert segmenter.target == ("person",)

    def test_person_model_knows_only_person(self) -> None:
        from flowseg import UnknownTargetError

        segmenter = SemanticSegmenter(model="selfie")
        with pytest.raises(UnknownTargetError, match="only segments the target 'person'"):
            segmenter.retarget("dog")
        frames, masks = moving_object_clip(1, shape=(45, 61), size=16)
        assert segmenter.classes_in(frames[0], masks[0]) in ((), ("person",))
