"""Tests of ``click_corrections.py``'s simulated clicks and summary (run: ``python -m pytest benchmarks``); no shared
data, no benchmark run."""

from __future__ import annotations

import numpy as np
import pytest

import click_corrections
from flowseg import mask_from_prompt


def _disk(shape: tuple[int, int], centre: tuple[int, int], radius: int) -> np.ndarray:
    rows, cols = np.ogrid[: shape[0], : shape[1]]
    return (cols - centre[0]) ** 2 + (rows - centre[1]) ** 2 <= radius**2


def test_clicks_mend_a_mask_and_anew_starts_from_them_alone() -> None:
    """A warm disk on a cool ground, followed without its right third: mended clicks fill that in; a user whose mask
    is exact stops clicking."""
    shape = (90, 120)
    truth = _disk(shape, (60, 45), 22)
    rng = np.random.default_rng(0)
    frame = np.where(truth[..., None], [220, 120, 40], [40, 110, 170]).astype(np.int16)
    frame = np.clip(frame + rng.integers(-15, 16, (*shape, 3)), 0, 255).astype(np.uint8)
    followed = truth & (np.arange(shape[1]) < 68)
    scores, _ = click_corrections.click_masks(lambda prompt: mask_from_prompt(frame, prompt, previous=followed),
                                              frame, followed, truth)
    assert set(scores) == {"mended", "anew"} and all(len(j) == click_corrections.CLICKS + 1 for j in scores.values())
    assert scores["mended"][0] == scores["anew"][0] < 0.85 and scores["mended"][-1] > 0.95
    exact, _ = click_corrections.click_masks(lambda prompt: truth, frame, truth, truth)
    assert exact["mended"] == [1.0] * (click_corrections.CLICKS + 1)


def test_summary_and_report_per_fold() -> None:
    runs = {"a": {"frame": 7, "J": {"mended": [0.5, 0.7, 0.8, 0.9], "anew": [0.5, 0.1, 0.2, 0.3]}, "seconds": [0.2]},
            "b": {"frame": 3, "J": {"mended": [0.3, 0.5, 0.6, 0.7], "anew": [0.3, 0.3, 0.4, 0.5]}, "seconds": [0.4]},
            "c": {"frame": None, "J": {"mended": [], "anew": []}, "seconds": []}}
    summary = click_corrections.summarise(runs, {"A": ["a"], "B": ["b", "c"]})
    assert summary["J"]["mended"][3] == {"all": pytest.approx(0.8), "A": 0.9, "B": 0.7}
    assert summary["J"]["anew"][1] == {"all": pytest.approx(0.2), "A": 0.1, "B": 0.3}
    assert summary["seconds"] == {"median": pytest.approx(0.3), "max": 0.4}
    table = "\n".join(click_corrections.report_lines({"summary": summary, "per_sequence": runs, "root": "davis"}))
    assert "| mended, 3 clicks         | 0.800 | 0.900 | 0.700 |" in table
    assert "| a        | 7     | 0.500    | 0.700    | 0.800    | 0.900    | 0.100  | 0.200  | 0.300  |" in table
    assert "| c " not in table
