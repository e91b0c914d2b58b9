"""Tests of the embedded person model (flowseg.models.person) on real DAVIS-2016 frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from flowseg.errors import WeightsError
from flowseg.evaluation import read_mask_png
from flowseg.metrics import region_similarity
from flowseg.models import PersonModel
from flowseg.models.person import PERSON_MODEL_FILES

FRAMES_PER_SEQUENCE = 8


def sampled_frames(davis_root: Path, sequence: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """`FRAMES_PER_SEQUENCE` RGB frames spread evenly over `sequence`, with their true masks."""
    files = sorted((davis_root / "JPEGImages" / "480p" / sequence).glob("*.jpg"))
    assert files, f"no frames for {sequence} under {davis_root}"
    picks = np.linspace(0, len(files) - 1, FRAMES_PER_SEQUENCE).round().astype(int)
    pairs = []
    for i in picks:
        image = cv2.cvtColor(cv2.imread(str(files[i])), cv2.COLOR_BGR2RGB)
        truth = read_mask_png(davis_root / "Annotations" / "480p" / sequence / f"{files[i].stem}.png")
        pairs.append((image, truth))
    return pairs


@pytest.mark.parametrize(
    ("sequence", "min_mean", "min_frame"),
    [
        # Measured (opencv 5.1.0, zoomed second pass on): per-frame IoU at 0.5
        # on frames 0, 14, 28, 42, 57, 71, 85, 99 = 0.802 0.777 0.598 0.909
        # 0.732 0.826 0.841 0.739, mean 0.778. The whole-frame pass alone
        # reaches only 0.660 (worst 0.527), so the limits (0.10 below the
        # mean, about one per-frame standard deviation, and 0.15 below the
        # worst frame) also check that the zoom pass works, with room for
        # other OpenCV and JPEG decoder versions.
        pytest.param("parkour", 0.68, 0.45, id="parkour"),
        # Measured: 0.730 0.815 0.553 0.272 0.294 0.634 0.743 0.310 (frames 0,
        # 14, ..., 98), mean 0.544. The ground truth is rider and soapbox
        # together while the model sees only the rider, and the rider is
        # small and hunched in frames 42-56, so only the mean is bounded.
        pytest.param("soapbox", 0.45, 0.0, id="soapbox"),
    ],
)
def test_person_iou_on_davis(davis_root: Path, sequence: str, min_mean: float, min_frame: float) -> None:
    model = PersonModel()
    ious = []
    for image, truth in sampled_frames(davis_root, sequence):
        prob = model.predict(image)
        assert prob.shape == truth.shape and prob.dtype == np.float32
        assert prob.min() >= 0.0 and prob.max() <= 1.0
        ious.append(region_similarity(prob > 0.5, truth))
    listed = " ".join(f"{j:.3f}" for j in ious)
    assert np.mean(ious) >= min_mean, f"{sequence}: mean IoU {np.mean(ious):.3f} (frames: {listed}), limit {min_mean}"
    assert min(ious) >= min_frame, f"{sequence}: worst frame IoU {min(ious):.3f} (frames: {listed}), limit {min_frame}"


def test_missing_model_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / PERSON_MODEL_FILES["landscape"][0]
    with pytest.raises(WeightsError, match=rf"person model file {missing} is missing"):
        PersonModel(model_dir=tmp_path)


def test_unreadable_model_file_is_named(tmp_path: Path) -> None:
    broken = tmp_path / PERSON_MODEL_FILES["landscape"][0]
    broken.write_bytes(b"not a tflite model")
    with pytest.raises(WeightsError, match=rf"person model file {broken} cannot be loaded by OpenCV"):
        PersonModel(model_dir=tmp_path)
