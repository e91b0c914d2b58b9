"""Tests of ``app.py`` (run: ``python -m pytest benchmarks``): one tiny clip through the real server; no shared data."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("uvicorn", reason="the app extra (pip install 'flowseg[app]') is not installed")
import app  # noqa: E402 -- needs the app extra


def _clip(folder: Path, count: int = 8) -> list[np.ndarray]:
    """PNG frames of a bright textured square moving 3 px a frame over a dark textured background; true masks."""
    rng = np.random.default_rng(0)
    background = cv2.GaussianBlur(rng.integers(0, 120, (96, 128, 3), dtype=np.uint8), (5, 5), 0)
    square = cv2.GaussianBlur(rng.integers(140, 255, (24, 24, 3), dtype=np.uint8), (3, 3), 0)
    folder.mkdir()
    truths = []
    for t in range(count):
        frame, truth = background.copy(), np.zeros((96, 128), bool)
        frame[36:60, 20 + 3 * t:44 + 3 * t] = square
        truth[36:60, 20 + 3 * t:44 + 3 * t] = True
        cv2.imwrite(str(folder / f"{t:05d}.png"), frame)
        truths.append(truth)
    return truths


def test_a_sequence_is_timed_and_scored_through_the_server(tmp_path: Path) -> None:
    truths = _clip(tmp_path / "clip")
    run = app.score_sequence(tmp_path / "clip", truths, tmp_path / "out")
    assert run["frames"] == 8 and 0 < run["box_seconds"] < 30 and run["propagate_fps"] > 0
    assert run["J&F"][0] > 0.8 and run["J&F"][1] > 0.8
    assert 0 < run["recomputed"] <= 8 + 7  # the correction recomputes no more than the frames it can reach
    assert (tmp_path / "out" / "cutout.webm").is_file() and len(list((tmp_path / "out" / "masks").iterdir())) == 8


def test_summary_takes_medians_rates_and_fold_means() -> None:
    run = {"frames": 10, "box_seconds": 0.2, "click_seconds": 0.3, "correction_seconds": 0.1, "step_seconds": 0.01,
           "propagate_fps": 10.0, "recompute_fps": 12.0, "export_fps": 30.0, "recomputed": 5, "J&F": [0.5, 0.7]}
    other = run | {"box_seconds": 0.6, "propagate_fps": 20.0, "J&F": [0.7, 0.9]}
    summary = app.summarise({"a": run, "b": other}, {"A": ["a"], "B": ["b"]})
    assert summary["seconds"]["box_seconds"] == {"median": pytest.approx(0.4), "max": 0.6}
    assert summary["rates"]["propagate_fps"] == 15.0 and summary["recomputed_share"] == 0.5
    assert summary["J&F"][1] == {"all": pytest.approx(0.8), "A": 0.7, "B": 0.9}
    assert summary["worst"][0] == ("a", 0.5)
