"""Tests of ``corrections.py``'s scoring (run: ``python -m pytest benchmarks``); no shared data, no benchmark run."""

from __future__ import annotations

import numpy as np
import pytest

import corrections


def test_j_and_f_skips_the_first_and_last_frames() -> None:
    truth = np.zeros((20, 20), bool)
    truth[5:15, 5:15] = True
    wrong = np.zeros_like(truth)
    assert corrections.j_and_f([wrong, truth, truth, wrong], [truth] * 4) == pytest.approx(1.0)
    assert corrections.j_and_f([truth, wrong, truth, truth], [truth] * 4) == pytest.approx(0.5)


def test_summary_ranks_and_averages_per_fold() -> None:
    runs = {
        "a": {"ious": [0.9, 0.5, 0.1], "confidences": [0.8, 0.4, 0.2], "worst_in_suspects": True,
              "J&F": [0.6, 0.8], "J&F oracle": [0.6, 0.9], "frames_computed_per_frame": 2.0,
              "corrected_at": [7], "oracle_at": [3]},
        "b": {"ious": [0.7, 0.3], "confidences": [0.1, 0.9], "worst_in_suspects": False,
              "J&F": [0.4, 0.6], "J&F oracle": [0.4, 0.5], "frames_computed_per_frame": 3.0,
              "corrected_at": [2], "oracle_at": [2]},
    }
    summary = corrections.summarise(runs, {"A": ["a"], "B": ["b", "not-run"]}, corrections=1)
    assert summary["spearman"]["A"] == pytest.approx(1.0) and summary["spearman"]["B"] == pytest.approx(-1.0)
    assert summary["worst_in_suspects"] == 1
    assert summary["J&F"] == [{"all": 0.5, "A": 0.6, "B": 0.4}, {"all": pytest.approx(0.7), "A": 0.8, "B": 0.6}]
    assert summary["worst"][0] == ("b", 0.4) and summary["frames_computed_per_frame"] == 2.5
    assert summary["oracle"]["J&F"][1] == {"all": pytest.approx(0.7), "A": 0.9, "B": 0.5}
    table = "\n".join(corrections.report_lines({"summary": summary, "per_sequence": runs, "root": "davis"}))
    assert "| after 1, truly worst frame | 0.700   | 0.900 | 0.500 | b 0.500" in table
    assert "| a        | 0.600 | 0.800 | 7                | yes               | 0.900" in table
