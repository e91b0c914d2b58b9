"""The first frames of a DAVIS-2016 sequence and their true masks, for the tests on real video."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from flowseg.evaluation import read_mask_png


def davis_clip(root: Path, sequence: str, count: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The first `count` frames of `sequence` under `root` (``(H, W, 3) uint8`` RGB) and their ``(H, W) bool`` masks."""
    files = sorted((root / "JPEGImages" / "480p" / sequence).glob("*.jpg"))[:count]
    frames = [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files]
    truths = [read_mask_png(root / "Annotations" / "480p" / sequence / f"{f.stem}.png") for f in files]
    return frames, truths
