"""The web app's speed on DAVIS-2016, through its HTTP API as the page uses it: a prompt's answer, propagation, export.

Usage::

    python benchmarks/app.py [--root ../shared/data/davis2016] [--sequences a,b]
                             [--out /tmp/flowseg-app] [--record benchmarks/RESULTS.md]

For each sequence, :class:`flowseg.app.EditingSession` opens its 854x480
JPEG frames and :class:`flowseg.app.server.BackgroundServer` serves it on
127.0.0.1; every step is an HTTP request, as the page makes it, timed from
sending it to the answer's last byte (``time.perf_counter``):

1. **Box**: the truth's tight box on frame 0 (``POST /api/marks/0``): the
   preview mask's answer.
2. **Click**: that box and one click from the simulated user of
   ``benchmarks/prompts.py`` (``next_click``; ``first_click`` where the box's
   mask is exact) on frame 0: the answer to a click that fixes the mask.
3. **Propagate** (``POST /api/propagate``, then ``GET /api/state`` every
   0.05 s until the job ends): frames segmented per second.
4. **Step**: ``GET /api/frames/<t>.jpg`` and ``GET /api/masks/<t>.png``
   for every frame, one after the other, as stepping with the arrow keys
   does: seconds per frame.
5. **Correction**: the truth's tight box on the least confident frame the
   state lists (its preview's answer), then propagate again: frames
   recomputed and their rate. Where the truth is empty on that frame, the
   next least confident frame.
6. **Export** (``POST /api/export`` with the cut-out as WebM): frames written
   per second (masks, matte, overlay and cut-out videos).

J&F (DAVIS measures, frames but the first and last, as
``benchmarks/corrections.py``) of the masks after the box alone and after
the box and the one correction. Figures over sequences: median and greatest
answer times, mean rates; J&F means over all sequences and per fold of
``folds.json``.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from _common import display_path, environment, fix_seeds, format_number, markdown_table, peak_rss_mb, publish
from corrections import fold_groups, j_and_f, jf_by_fold
from davis import load_folds
from prompts import first_click, next_click, parse_sequence_args, tight_box
from flowseg.app import EditingSession
from flowseg.app.server import TOKEN_HEADER, BackgroundServer
from flowseg.evaluation import read_mask_png

POLL_SECONDS = 0.05
"""How often the job's state is asked for while it runs."""


class _Client:
    """Timed requests to the app, with the token in the header as the page sends it."""

    def __init__(self, app: BackgroundServer) -> None:
        self.app = app

    def __call__(self, path: str, body: Mapping[str, Any] | None = None) -> tuple[float, Any]:
        """Seconds from sending to the answer's last byte, and the answer (parsed where it is JSON)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.app.base + path, data=data, method="GET" if body is None else "POST",
                                         headers={TOKEN_HEADER: self.app.token, "Content-Type": "application/json"})
        start = time.perf_counter()
        with urllib.request.urlopen(request, timeout=600) as response:
            payload = response.read()
            kind = response.headers.get("Content-Type", "")
        return time.perf_counter() - start, json.loads(payload) if kind.startswith("application/json") else payload

    def job(self, path: str, body: Mapping[str, Any]) -> tuple[float, dict[str, Any]]:
        """Start a job, poll until it ends; its seconds and final state."""
        start = time.perf_counter()
        self(path, body)
        while True:
            _, state = self("/api/state")
            if not state["job"]["running"]:
                break
            time.sleep(POLL_SECONDS)
        if state["job"]["error"]:
            raise RuntimeError(state["job"]["error"])
        return time.perf_counter() - start, state


def score_sequence(folder: Path, truths: list[np.ndarray], out: Path) -> dict[str, Any]:
    """Every timing and J&F of one sequence (see the module's steps)."""
    session = EditingSession(folder, out)
    count = len(session.frames)
    with BackgroundServer(session) as app:
        ask = _Client(app)
        box = list(tight_box(truths[0]))
        box_seconds, _ = ask("/api/marks/0", {"box": box})
        preview = session.mask(0)  # the simulated user's click where it is wrong; on it where it is exact
        (x, y), positive = first_click(truths[0]) if np.array_equal(preview, truths[0]) else next_click(preview,
                                                                                                        truths[0])
        click_seconds, _ = ask("/api/marks/0", {"box": box, **{"points" if positive else "negative_points": [[x, y]]}})
        ask("/api/marks/0", {"box": box})  # the box alone is what is followed
        propagate_seconds, state = ask.job("/api/propagate", {})
        step_seconds = [ask(f"/api/frames/{t}.jpg")[0] + ask(f"/api/masks/{t}.png")[0] for t in range(count)]
        first = j_and_f([session.mask(t) for t in range(count)], truths)
        frame = next(t for t in state["suspects"] if truths[t].any())
        correction_seconds, _ = ask(f"/api/marks/{frame}", {"box": list(tight_box(truths[frame]))})
        computed = session.annotations.frames_computed
        recompute_seconds, _ = ask.job("/api/propagate", {})
        recomputed = session.annotations.frames_computed - computed
        corrected = j_and_f([session.mask(t) for t in range(count)], truths)
        export_seconds, _ = ask.job("/api/export", {"alpha": ["webm"]})
    return {
        "frames": count, "box_seconds": box_seconds, "click_seconds": click_seconds,
        "propagate_fps": computed / propagate_seconds, "step_seconds": statistics.median(step_seconds),
        "corrected_at": frame, "correction_seconds": correction_seconds, "recomputed": recomputed,
        "recompute_fps": recomputed / recompute_seconds, "export_fps": count / export_seconds,
        "J&F": [first, corrected],
    }  # fmt: skip


def summarise(per_sequence: Mapping[str, Mapping[str, Any]], folds: Mapping[str, Sequence[str]] | None) -> dict:
    """Median and greatest answer times, mean rates, J&F means (all and per fold) and worst sequences."""
    runs = list(per_sequence.values())
    seconds = {key: {"median": statistics.median(run[key] for run in runs), "max": max(run[key] for run in runs)}
               for key in ("box_seconds", "click_seconds", "correction_seconds", "step_seconds")}  # fmt: skip
    rates = {key: float(np.mean([run[key] for run in runs])) for key in ("propagate_fps", "recompute_fps",
                                                                         "export_fps")}  # fmt: skip
    return {
        "seconds": seconds, "rates": rates,
        "recomputed_share": float(np.mean([run["recomputed"] / run["frames"] for run in runs])),
        **jf_by_fold(per_sequence, fold_groups(per_sequence, folds), 2),
    }  # fmt: skip


def report_lines(report: Mapping[str, Any]) -> list[str]:
    """The markdown description of a run."""
    summary, per_sequence = report["summary"], report["per_sequence"]
    seconds, rates = summary["seconds"], summary["rates"]
    names = {"box_seconds": "box on frame 0 -> its mask", "click_seconds": "a click that fixes it -> the mask",
             "correction_seconds": "box on the least confident frame -> its mask",
             "step_seconds": "one step: frame JPEG + mask PNG"}  # fmt: skip
    groups = list(summary["J&F"][0])
    return [
        f"- Data: `{report['root']}`, {len(per_sequence)} sequences at 854x480, each served by `flowseg app`'s "
        "server on 127.0.0.1 and driven through its HTTP API as the page drives it",
        f"- Peak RSS of the process (server, session and client): {report['peak_rss_mb']:.0f} MB",
        "",
        markdown_table(["answer", "median s", "greatest s"],
                       [[names[key], f"{value['median']:.3f}", f"{value['max']:.3f}"]
                        for key, value in seconds.items()]),  # fmt: skip
        "",
        markdown_table(["job", "frames per second (mean over sequences)"],
                       [["propagate from the box (frames segmented)", f"{rates['propagate_fps']:.2f}"],
                        ["propagate the correction (frames recomputed: "
                         f"{100 * summary['recomputed_share']:.0f}% of the clip on average)",
                         f"{rates['recompute_fps']:.2f}"],
                        ["export (masks, matte, overlay, WebM cut-out)", f"{rates['export_fps']:.2f}"]]),
        "",
        markdown_table(["masks", *(f"J&F {g}" for g in groups), "worst sequence"],
                       [[label, *(format_number(scores[g]) for g in groups), f"{worst[0]} {format_number(worst[1])}"]
                        for label, scores, worst in zip(("box on frame 0", "+ one box correction"),
                                                        summary["J&F"], summary["worst"])]),  # fmt: skip
        "",
        "Per sequence:",
        "",
        markdown_table(["sequence", "box s", "click s", "propagate fps", "corrected at", "recomputed", "J&F box",
                        "J&F +1"],
                       [[name, f"{run['box_seconds']:.3f}", f"{run['click_seconds']:.3f}",
                         f"{run['propagate_fps']:.2f}", str(run["corrected_at"]), str(run["recomputed"]),
                         *(format_number(value) for value in run["J&F"])] for name, run in per_sequence.items()]),
    ]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    args = parse_sequence_args(argv, description=__doc__.split("\n")[0], out=Path("/tmp/flowseg-app"))
    env = environment()  # first: the load average before our own work
    fix_seeds()
    per_sequence = {}
    for name in args.sequences:
        truths = [read_mask_png(path) for path in sorted((args.root / "Annotations" / "480p" / name).glob("*.png"))]
        start = time.perf_counter()
        per_sequence[name] = score_sequence(args.root / "JPEGImages" / "480p" / name, truths, args.out / name)
        print(f"[app] {name}: J&F {per_sequence[name]['J&F'][0]:.3f} -> {per_sequence[name]['J&F'][1]:.3f} "
              f"in {time.perf_counter() - start:.0f} s", flush=True)  # fmt: skip
    report = {"environment": env, "root": display_path(args.root), "peak_rss_mb": peak_rss_mb(),
              "summary": summarise(per_sequence, load_folds(args.root)), "per_sequence": per_sequence}
    publish(report, report_lines(report), title="The web app (flowseg app, DAVIS-2016)", out=args.out,
            record=args.record)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
