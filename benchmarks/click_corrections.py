"""Clicks that mend a followed mask on DAVIS-2016: where the QA report points, do a few clicks fix the mask?

Usage::

    python benchmarks/click_corrections.py [--root ../shared/data/davis2016] [--sequences a,b]
                                           [--out /tmp/flowseg-click-corrections] [--record benchmarks/RESULTS.md]

Each sequence's object is followed by :class:`flowseg.corrections.Annotations`
(the default ``Pipeline()``) from the truth's tight box on frame 0, as the
web app does; on the least confident frame whose truth is not empty
(:meth:`~flowseg.corrections.Annotations.suspect_frames`) the simulated user
of ``benchmarks/prompts.py`` (:func:`prompts.next_click`: each click at the
centre of the largest error, positive in a false negative) clicks up to
:data:`CLICKS` times, and the mask is computed again from all the clicks so
far, two ways:

- **mended**: :meth:`~flowseg.corrections.Annotations.prompted_mask`, which
  gives :func:`flowseg.mask_from_prompt` the followed mask (``previous``):
  the clicks correct it, near them only;
- **anew**: :func:`flowseg.mask_from_prompt` from the clicks alone, as
  before the followed mask was used, the user clicking as on a frame with no
  mask (the first click at the centre of the object, :func:`prompts.first_click`).

Scoring rule: J (:func:`flowseg.metrics.region_similarity`) on that frame of
the followed mask and after each click, means over sequences and per fold of
``folds.json``; seconds of each mending call (``time.perf_counter``), median
and greatest.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from _common import display_path, environment, fix_seeds, format_number, markdown_table, publish, read_davis_sequence
from corrections import fold_groups
from davis import load_folds
from prompts import flowseg_clicks, iou_after, parse_sequence_args, simulate_user, tight_box
from flowseg import Prompt
from flowseg.corrections import Annotations
from flowseg.metrics import region_similarity

CLICKS = 3
"""Clicks of the simulated user on the corrected frame."""

METHODS = ("mended", "anew")


def click_masks(mend: Callable[[Prompt], np.ndarray], frame: np.ndarray, followed: np.ndarray,
                truth: np.ndarray) -> tuple[dict[str, list[float]], list[float]]:
    """J of the followed mask, then after each of up to :data:`CLICKS` clicks, for each of :data:`METHODS`; and the
    seconds of each mending call.

    `mend(prompt)` gives the mended mask of a :class:`flowseg.Prompt`. The
    clicks are :func:`prompts.simulate_user`'s; the user stops once the mask
    is exact (it then stays exact, :func:`prompts.iou_after`).
    """
    before = region_similarity(followed, truth)
    scores, seconds = {}, []
    for method, segment, start in (
        ("mended", lambda on, off: mend(Prompt(points=tuple(on), negative_points=tuple(off))), followed),
        ("anew", lambda on, off: flowseg_clicks(frame, on, off), None),  # clicks as on an unmarked frame
    ):
        if start is not None and before == 1.0:  # nothing to mend
            scores[method] = [1.0] * (CLICKS + 1)
            continue
        user = simulate_user(segment, truth, start=start, stops=_stops)
        scores[method] = [before, *(iou_after(user["ious"], clicks) for clicks in range(1, CLICKS + 1))]
        if method == "mended":
            seconds = user["seconds"]
    return scores, seconds


def _stops(ious: Sequence[float]) -> bool:
    """Whether the user stops after clicks that gave `ious`: after :data:`CLICKS`, or once the mask is exact."""
    return len(ious) >= CLICKS or bool(ious) and ious[-1] == 1.0


def score_sequence(frames: list[np.ndarray], truths: list[np.ndarray]) -> dict[str, Any]:
    """Follow the object from a box on frame 0, then mend its least confident frame with clicks (module docstring)."""
    video = Annotations(frames)
    video.prompt(Prompt(frame=0, box=tight_box(truths[0])))
    frame = next((t for t in video.suspect_frames(len(frames)) if truths[t].any()), None)
    if frame is None:
        return {"frame": None, "J": {method: [] for method in METHODS}, "seconds": []}

    def mend(prompt: Prompt) -> np.ndarray:
        return video.prompted_mask(Prompt(frame=frame, points=prompt.points, negative_points=prompt.negative_points))

    scores, seconds = click_masks(mend, frames[frame], video.mask(frame), truths[frame])
    return {"frame": frame, "J": scores, "seconds": seconds}


def summarise(per_sequence: Mapping[str, Mapping[str, Any]], folds: Mapping[str, Sequence[str]] | None) -> dict:
    """Mean J after 0..:data:`CLICKS` clicks per method, over all sequences and per fold; seconds of mending."""
    scored = {name: run for name, run in per_sequence.items() if run["frame"] is not None}
    groups = fold_groups(scored, folds)
    seconds = [s for run in scored.values() for s in run["seconds"]]
    return {
        "J": {method: [{group: float(np.mean([scored[s]["J"][method][k] for s in names]))
                        for group, names in groups.items()} for k in range(CLICKS + 1)]
              for method in METHODS},
        "seconds": {"median": statistics.median(seconds), "max": max(seconds)} if seconds else None,
    }  # fmt: skip


def report_lines(report: Mapping[str, Any]) -> list[str]:
    """The markdown description of a run."""
    summary, per_sequence = report["summary"], report["per_sequence"]
    groups = list(summary["J"][METHODS[0]][0])
    rows = [["followed mask", *(format_number(summary["J"]["mended"][0][g]) for g in groups)]]
    rows += [[f"{method}, {k} click{'s' if k > 1 else ''}", *(format_number(summary["J"][method][k][g])
                                                               for g in groups)]
             for k in range(1, CLICKS + 1) for method in METHODS]  # fmt: skip
    per_rows = [[name, str(run["frame"]), *(format_number(j) for j in run["J"]["mended"]),
                 *(format_number(j) for j in run["J"]["anew"][1:])]
                for name, run in per_sequence.items() if run["frame"] is not None]  # fmt: skip
    seconds = summary["seconds"]
    return [
        f"- Data: `{report['root']}`, {len(per_sequence)} sequences, each followed from the truth's box on frame 0; "
        "the least confident frame (truth not empty) mended by the simulated user's clicks",
        "- Seconds of a mending click (854x480): "
        + (f"{seconds['median']:.2f} median, {seconds['max']:.2f} at most" if seconds else "none"),
        "",
        markdown_table(["J on the corrected frame", *(f"J {g}" for g in groups)], rows),
        "",
        "Per sequence (J; mended: the followed mask, then after 1, 2, 3 clicks; anew: after 1, 2, 3):",
        "",
        markdown_table(["sequence", "frame", "followed", *(f"mended {k}" for k in range(1, CLICKS + 1)),
                        *(f"anew {k}" for k in range(1, CLICKS + 1))], per_rows),  # fmt: skip
        "",
        "See the module docstring of benchmarks/click_corrections.py.",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    args = parse_sequence_args(argv, description=__doc__.split("\n\n")[0],
                               out=Path("/tmp/flowseg-click-corrections"))  # fmt: skip
    env = environment()
    fix_seeds()
    per_sequence = {}
    for name in args.sequences:
        per_sequence[name] = run = score_sequence(*read_davis_sequence(args.root, name))
        print(f"[clicks] {name}: frame {run['frame']}, J mended " + " ".join(f"{j:.3f}" for j in run["J"]["mended"])
              + ", anew " + " ".join(f"{j:.3f}" for j in run["J"]["anew"][1:]), flush=True)
    report = {"environment": env, "root": display_path(args.root), "per_sequence": per_sequence,
              "summary": summarise(per_sequence, load_folds(args.root))}
    publish(report, report_lines(report), title="Clicks mending a followed mask (DAVIS-2016)", out=args.out,
            record=args.record)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
