"""benchmarks/prediction.py on a small DAVIS-like folder of synthetic sequences with known motion."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import prediction


def _write_sequence(root: Path, name: str, frames: int = 7, shift: tuple[int, int] = (3, 1)) -> None:
    """A bright textured square moving `shift` px a frame over a still darker texture, as DAVIS lays it out."""
    rng = np.random.default_rng(len(name))
    background = cv2.GaussianBlur(rng.integers(0, 150, (64, 96, 3)).astype(np.uint8), (0, 0), 1.5)
    patch = cv2.GaussianBlur(rng.integers(105, 255, (20, 20, 3)).astype(np.uint8), (0, 0), 1.5)
    (root / "JPEGImages" / "480p" / name).mkdir(parents=True)
    (root / "Annotations" / "480p" / name).mkdir(parents=True)
    for t in range(frames):
        image, mask = background.copy(), np.zeros((64, 96), np.uint8)
        y, x = 20 + t * shift[1], 20 + t * shift[0]
        image[y : y + 20, x : x + 20] = patch
        mask[y : y + 20, x : x + 20] = 255
        cv2.imwrite(str(root / "JPEGImages" / "480p" / name / f"{t:05d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 98])
        cv2.imwrite(str(root / "Annotations" / "480p" / name / f"{t:05d}.png"), mask)


def test_extrapolation_beats_copying_on_known_motion(tmp_path: Path) -> None:
    root = tmp_path / "davis"
    _write_sequence(root, "square")
    _write_sequence(root, "diagonal", shift=(2, 2))
    out = tmp_path / "out"
    assert prediction.main(["--data", str(root), "--horizons", "1,3", "--step", "1", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["sequences"] == ["diagonal", "square"]
    for horizon in ("h1", "h3"):
        frames, masks = report["summary"][horizon]["frames"], report["summary"][horizon]["masks"]
        assert set(frames) == set(prediction.FRAME_METHODS) and set(masks) == set(prediction.MASK_METHODS)
        assert frames["pixel"]["psnr"] > frames["copy"]["psnr"] and masks["pixel"] > masks["copy"] + 0.2
        assert frames["naive"]["psnr"] > frames["copy"]["psnr"]
    # t = 1 .. 5 predict t + 1; t = 1 .. 3 predict t + 3 (7 frames per sequence).
    assert (report["summary"]["h1"]["scored"], report["summary"]["h3"]["scored"]) == (10, 6)


def test_unknown_sequence_is_a_usage_error(tmp_path: Path) -> None:
    root = tmp_path / "davis"
    _write_sequence(root, "square")
    with pytest.raises(SystemExit) as exit_info:
        prediction.main(["--data", str(root), "--sequences", "nope", "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
