"""The QA report and corrections on DAVIS-2016: does the confidence point at the bad frames, and do corrections mend them?

Usage::

    python benchmarks/corrections.py [--root ../shared/data/davis2016] [--sequences a,b]
                                     [--corrections 3] [--out /tmp/flowseg-corrections]
                                     [--record benchmarks/RESULTS.md]

Each sequence's object is followed from its true first mask by
:class:`flowseg.corrections.Annotations` (the default ``Pipeline()``, causal
runs). Scoring rule:

- **QA**: over every frame but the first, the Spearman rank correlation of
  the frame's confidence (:attr:`flowseg.Result.quality`, what
  ``quality.csv`` reports, from a plain ``Pipeline().stream`` run) with its
  true J, over all frames of all sequences and per fold of ``folds.json``;
  and in how many sequences the five least confident frames
  (``suspect_frames``) hold the frame of lowest true J.
- **Corrections**: J&F (DAVIS measures, first and last frame not scored) from
  the first mask alone, then after each of ``--corrections`` corrections:
  the true mask given at the frame :meth:`~flowseg.corrections.Annotations.suspect_frames`
  ranks least confident. Also the frames segmented per frame of the clip
  (what the corrections cost), and, beside, the J&F after corrections at
  the frame of lowest true J each time: what a perfect QA ranking gives, so
  a shortfall shows whether the ranking or the propagation is to blame.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from _common import display_path, environment, fix_seeds, format_number, markdown_table, publish, read_davis_sequence
from davis import load_folds, worst_sequence
from prompts import parse_sequence_args
from flowseg import Pipeline
from flowseg.corrections import Annotations
from flowseg.metrics import boundary_measure, region_similarity

SUSPECTS = 5
"""Suspect frames that must hold the worst one (as ``summary.json`` lists)."""


def j_and_f(masks: Sequence[np.ndarray], truths: Sequence[np.ndarray]) -> float:
    """DAVIS J&F of a sequence: mean J and mean F over its frames but the first and last, averaged."""
    scored = list(zip(masks, truths))[1:-1]
    return float(np.mean([region_similarity(m, t) for m, t in scored]) + np.mean([boundary_measure(m, t)
                                                                                 for m, t in scored])) / 2


def correct(frames: list[np.ndarray], truths: list[np.ndarray], corrections: int,
            pick: Callable[[Annotations, list[np.ndarray]], int]) -> tuple[list[float], list[int], Annotations]:
    """J&F from the first true mask, then after each of `corrections` true masks at the frame `pick` chooses.

    ``pick(video, masks)`` gets the annotations and their masks of every frame.
    Returns the J&F after 0..`corrections` corrections, the corrected frames
    and the annotations.
    """
    video = Annotations(frames)
    video.annotate(0, truths[0])
    scores, corrected_at = [], []
    for done in range(corrections + 1):
        masks = [video.mask(t) for t in range(len(frames))]
        scores.append(j_and_f(masks, truths))
        if done < corrections:
            corrected_at.append(pick(video, masks))
            video.annotate(corrected_at[-1], truths[corrected_at[-1]])
    return scores, corrected_at, video


def score_sequence(frames: list[np.ndarray], truths: list[np.ndarray], corrections: int) -> dict[str, Any]:
    """The QA figures and the J&F after 0..`corrections` corrections of one sequence, at the least confident frame
    and (``"J&F oracle"``) at the truly worst one."""
    results = list(Pipeline().stream(frames, init_mask=truths[0]))
    ious = [region_similarity(r.mask, t) for r, t in zip(results, truths)][1:]
    confidences = [r.quality["confidence"] for r in results][1:]
    suspects = np.argsort(confidences, kind="stable")[:SUSPECTS]
    start = time.perf_counter()
    scores, corrected_at, video = correct(frames, truths, corrections, lambda video, _: video.suspect_frames(1)[0])
    seconds = time.perf_counter() - start

    def truly_worst(video: Annotations, masks: list[np.ndarray]) -> int:
        given = set(video.given)
        return min((t for t in range(len(frames)) if t not in given),
                   key=lambda t: region_similarity(masks[t], truths[t]))  # fmt: skip

    oracle_scores, oracle_at, _ = correct(frames, truths, corrections, truly_worst)
    return {"ious": ious, "confidences": confidences, "worst_in_suspects": bool(int(np.argmin(ious)) in suspects),
            "J&F": scores, "corrected_at": corrected_at, "J&F oracle": oracle_scores, "oracle_at": oracle_at,
            "seconds": seconds, "frames_computed_per_frame": video.frames_computed / len(frames)}  # fmt: skip


def _spearman(runs: Sequence[Mapping[str, Any]]) -> float:
    confidences = [c for run in runs for c in run["confidences"]]
    return float(spearmanr(confidences, [j for run in runs for j in run["ious"]]).correlation)


def fold_groups(per_sequence: Mapping[str, Any], folds: Mapping[str, Sequence[str]] | None) -> dict[str, list[str]]:
    """``"all"`` the scored sequences, then each fold's scored sequences (empty folds left out)."""
    groups = {"all": list(per_sequence), **{name: [s for s in members if s in per_sequence]
                                            for name, members in (folds or {}).items()}}  # fmt: skip
    return {group: names for group, names in groups.items() if names}


def jf_by_fold(per_sequence: Mapping[str, Mapping[str, Any]], groups: Mapping[str, Sequence[str]],
               count: int, key: str = "J&F") -> dict[str, list[Any]]:
    """``"J&F"``: for each of the `count` J&F each sequence lists under `key`, its mean over each group;
    ``"worst"``: the sequence with the lowest, and that J&F (see :func:`davis.worst_sequence`)."""
    return {
        "J&F": [{group: float(np.mean([per_sequence[s][key][k] for s in names])) for group, names in groups.items()}
                for k in range(count)],
        "worst": [worst_sequence({s: run[key][k] for s, run in per_sequence.items()}) for k in range(count)],
    }  # fmt: skip


def summarise(per_sequence: Mapping[str, Mapping[str, Any]], folds: Mapping[str, Sequence[str]] | None,
              corrections: int) -> dict[str, Any]:
    """Rank correlations, suspect hits and J&F after each correction, over all sequences and per fold."""
    groups = fold_groups(per_sequence, folds)
    return {
        "spearman": {group: _spearman([per_sequence[s] for s in names]) for group, names in groups.items()},
        "worst_in_suspects": sum(run["worst_in_suspects"] for run in per_sequence.values()),
        **jf_by_fold(per_sequence, groups, corrections + 1),
        "oracle": jf_by_fold(per_sequence, groups, corrections + 1, key="J&F oracle"),
        "frames_computed_per_frame": float(np.mean([run["frames_computed_per_frame"]
                                                    for run in per_sequence.values()])),  # fmt: skip
    }


def report_lines(report: Mapping[str, Any]) -> list[str]:
    """The markdown description of a run."""
    summary, per_sequence = report["summary"], report["per_sequence"]
    groups = list(summary["spearman"])
    rows = [[f"after {k}{where}" if k else "first mask only", *(format_number(scores[g]) for g in groups),
             f"{worst[0]} {format_number(worst[1])}"]
            for where, jf in (("", summary), (", truly worst frame", summary["oracle"]))
            for k, (scores, worst) in enumerate(zip(jf["J&F"], jf["worst"])) if k or not where]  # fmt: skip
    per_rows = [[name, *(format_number(x) for x in run["J&F"]), ", ".join(map(str, run["corrected_at"])),
                 "yes" if run["worst_in_suspects"] else "no", format_number(run["J&F oracle"][-1]),
                 ", ".join(map(str, run["oracle_at"]))] for name, run in per_sequence.items()]  # fmt: skip
    return [
        f"- Data: `{report['root']}`, {len(per_sequence)} sequences, each followed from its true first mask",
        f"- QA: Spearman rank correlation of each frame's confidence with its true J, "
        + ", ".join(f"{g} {format_number(v)}" for g, v in summary["spearman"].items())
        + f"; the {SUSPECTS} least confident frames hold the worst in {summary['worst_in_suspects']} of "
        f"{len(per_sequence)} sequences",
        f"- Corrections: the true mask at the least confident frame, each time; frames segmented per frame of the "
        f"clip: {summary['frames_computed_per_frame']:.2f}. Beside them, the true mask at the frame of lowest true "
        f"J each time (truly worst): what a perfect QA ranking would give",
        "",
        markdown_table(["corrections", *(f"J&F {g}" for g in groups), "worst sequence"], rows),
        "",
        "Per sequence:",
        "",
        markdown_table(["sequence", *(f"J&F {k}" for k in range(len(summary["J&F"]))), "corrected frames",
                        "worst in suspects", f"J&F {len(summary['J&F']) - 1}, truly worst", "its frames"],
                       per_rows),  # fmt: skip
        "",
        "See the module docstring of benchmarks/corrections.py.",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    args = parse_sequence_args(argv, description=__doc__.split("\n\n")[0], out=Path("/tmp/flowseg-corrections"),
                               more=lambda parser: parser.add_argument(
                                   "--corrections", type=int, default=3, help="corrections per sequence (default 3)"))
    corrections = args.corrections
    env = environment()
    fix_seeds()
    per_sequence = {}
    for name in args.sequences:
        per_sequence[name] = score_sequence(*read_davis_sequence(args.root, name), corrections)
        print(f"[corrections] {name}: J&F " + " ".join(f"{x:.3f}" for x in per_sequence[name]["J&F"]), flush=True)
    report = {"environment": env, "root": display_path(args.root), "corrections": corrections,
              "summary": summarise(per_sequence, load_folds(args.root), corrections), "per_sequence": per_sequence}
    publish(report, report_lines(report), title="QA report and corrections (DAVIS-2016)", out=args.out,
            record=args.record)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
