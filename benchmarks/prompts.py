"""Masks from prompts on the first frames of DAVIS-2016: a box, or clicks from a simulated user.

Usage::

    python benchmarks/prompts.py [--root ../shared/data/davis2016] [--sequences a,b]
                                 [--out /tmp/flowseg-prompts] [--record benchmarks/RESULTS.md]

Every sequence's first frame (``JPEGImages/480p/<sequence>/00000.jpg``, its
truth ``Annotations/480p/<sequence>/00000.png``) is segmented from a prompt
by two methods:

- ``mask_from_prompt``: :func:`flowseg.mask_from_prompt` with a
  :class:`flowseg.Prompt` holding the box, helped by the motion against
  the second frame (:func:`flowseg.prompts.motion_evidence`, as
  ``flowseg run --box`` does), or the clicks alone (``points`` and
  ``negative_points``).
- ``GrabCut``: plain OpenCV GrabCut [1]_ on the full frame, 5 iterations,
  ``cv2.setRNGSeed(0)`` first. Given a box ``(x0, y0, x1, y1)``:
  ``GC_INIT_WITH_RECT`` with the rectangle ``(x0, y0, x1 - x0 + 1, y1 - y0 + 1)``.
  Given clicks: ``GC_INIT_WITH_MASK``, every pixel likely background, a disk
  of radius ``max(2, round(0.01 * diagonal))`` (10 px at 854x480) around
  each positive click surely object, then around each negative click surely
  background. Where a side has no pixel (GrabCut cannot learn its colours)
  the mask is what is marked as object.

Scoring rule
------------
- **Box**: J (region IoU, :func:`flowseg.metrics.region_similarity`) of the
  mask given the truth's tight box (the least and greatest column and row of
  its pixels, corners included); **loose box**: given that box grown by
  :data:`LOOSE` of its width and height on each side (:func:`loose_box`), as
  a hand draws it around the object.
- **Clicks**: the simulated user of interactive segmentation benchmarks
  (Xu et al. [2]_, as RITM [3]_ and f-BRS run it; :func:`next_click`).
  The first click is positive, at the object's pixel farthest from its
  boundary; each next one goes to the pixel farthest from the boundary of
  the errors (false negatives and false positives), positive in a false
  negative. After each click the mask is computed again from all the clicks
  so far. **NoC@85**, **NoC@90**: the clicks needed to reach IoU 0.85,
  0.90 (:func:`noc`), :data:`MAX_CLICKS` when never reached; **IoU@k**: the
  IoU after k clicks; **setbacks**: the clicks after which the IoU fell by
  more than :data:`SETBACK` (:func:`setbacks`), of all the clicks made: a
  user who clicks to mend a part and sees the rest of the object lost
  (the mask is computed anew from all the clicks each time). The user
  stops once at least ``max(IOU_AFTER)`` clicks are made and IoU 0.90 is
  reached, or when the mask is exact (it then stays exact), or after
  :data:`MAX_CLICKS` clicks.
- Every figure is a mean over sequences, except the worst box J (the
  sequence with the lowest), the setbacks (a count) and the seconds.
- **Seconds**: wall time (``time.perf_counter``) of one call on the
  854x480 frame: given the box, and given 5 clicks (the call after the 5th
  click); median and greatest over sequences. Frame reading is excluded.

References
----------
.. [1] C. Rother, V. Kolmogorov and A. Blake, "GrabCut: interactive
   foreground extraction using iterated graph cuts", SIGGRAPH 2004.
   :doi:`10.1145/1015706.1015720`
.. [2] N. Xu, B. Price, S. Cohen, J. Yang and T. Huang, "Deep Interactive
   Object Selection", CVPR 2016. :doi:`10.1109/CVPR.2016.47`
.. [3] K. Sofiiuk, I. Petrov and A. Konushin, "Reviving Iterative Training
   with Mask Guidance for Interactive Segmentation", ICIP 2022.
   :doi:`10.1109/ICIP46576.2022.9897365`
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy import ndimage

from _common import (
    add_output_options,
    comma_list,
    davis_sequences,
    display_path,
    environment,
    fix_seeds,
    format_number,
    markdown_table,
    mask_from_box,
    publish,
)
from davis import default_root, worst_sequence
from flowseg import Prompt, mask_from_prompt
from flowseg.evaluation import read_mask_png
from flowseg.metrics import region_similarity

MAX_CLICKS = 20
"""Clicks the simulated user makes at most; NoC when a threshold is never reached."""

THRESHOLDS: tuple[float, ...] = (0.85, 0.90)
"""IoU thresholds of the NoC columns."""

NOC_KEYS: tuple[str, ...] = tuple(f"NoC@{round(100 * t)}" for t in THRESHOLDS)
"""Report keys of the NoC at each threshold (``"NoC@85"``, ...)."""

IOU_AFTER: tuple[int, ...] = (1, 3, 5)
"""Click counts after which the IoU is reported."""

TIMED_CLICKS = 5
"""The click-prompt call that is timed: the one given this many clicks."""

SETBACK = 0.2
"""A click is a setback where the IoU after it is this much lower than before it: what the user had is lost."""

GRABCUT_ITERATIONS = 5
"""Iterations of the GrabCut baseline."""

LOOSE = 0.1
"""How far the loose box reaches past the tight one on each side, as a fraction of its width and height."""

Point = tuple[int, int]
Click = tuple[Point, bool]
"""A click: its ``(x, y)`` pixel and whether it is positive (on the object)."""


def tight_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """The least box holding every pixel of a non-empty mask, ``(x0, y0, x1, y1)``, corners included.

    Examples
    --------
    >>> mask = np.zeros((5, 6), bool)
    >>> mask[1:3, 2:5] = True
    >>> tight_box(mask)
    (2, 1, 4, 2)
    """
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def loose_box(box: tuple[int, int, int, int], shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """`box` grown by :data:`LOOSE` of its width and height on each side, within a frame of ``(H, W)`` `shape`.

    Examples
    --------
    >>> loose_box((10, 20, 30, 60), (100, 100))
    (8, 16, 32, 64)
    """
    x0, y0, x1, y1 = box
    dx, dy = round(LOOSE * (x1 - x0)), round(LOOSE * (y1 - y0))
    return max(x0 - dx, 0), max(y0 - dy, 0), min(x1 + dx, shape[1] - 1), min(y1 + dy, shape[0] - 1)


def _inner_distance(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance of each pixel of `mask` to the nearest one outside it; beyond the border is outside."""
    return ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]  # not OpenCV's: see spatial_prior


def next_click(prediction: np.ndarray, truth: np.ndarray) -> Click:
    """The simulated user's next click: at the centre of the largest error.

    Parameters
    ----------
    prediction, truth : (H, W) bool ndarray
        The current mask and the true one.

    Returns
    -------
    ((x, y), bool)
        The pixel of the false negatives (``truth & ~prediction``) or false
        positives (``prediction & ~truth``) farthest from their boundary
        (Euclidean distance transform, the frame's border counting as
        boundary), and True when it is a false negative (a positive click).
        As in RITM's clicker: false positives win a tie between the two,
        and the first pixel in raster order a tie within one.

    Raises
    ------
    ValueError
        If `prediction` equals `truth`: there is nothing to correct.

    Examples
    --------
    >>> truth = np.zeros((7, 9), bool)
    >>> truth[1:6, 1:6] = True
    >>> prediction = truth.copy()
    >>> prediction[2:5, 6:9] = True  # a 3x3 blob off the object, on the border
    >>> next_click(prediction, truth)
    ((7, 3), False)
    """
    false_negative = _inner_distance(truth & ~prediction)
    false_positive = _inner_distance(prediction & ~truth)
    positive = bool(false_negative.max() > false_positive.max())
    distance = false_negative if positive else false_positive
    if distance.max() == 0:
        raise ValueError("the prediction equals the truth: there is nothing to correct")
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return (int(x), int(y)), positive


def first_click(truth: np.ndarray) -> Click:
    """The simulated user's first click: positive, at the object's pixel farthest from its boundary.

    Parameters
    ----------
    truth : (H, W) bool ndarray
        The true mask, not empty.

    Returns
    -------
    ((x, y), True)
        :func:`next_click` of an empty prediction.

    Examples
    --------
    >>> truth = np.zeros((8, 10), bool)
    >>> truth[1:6, 3:8] = True
    >>> first_click(truth)
    ((5, 3), True)
    """
    return next_click(np.zeros_like(truth, dtype=bool), truth)


def noc(ious: Sequence[float], threshold: float, cap: int = MAX_CLICKS) -> int:
    """Number of clicks to reach an IoU: the first k with ``ious[k - 1] >= threshold``, `cap` when none is within `cap`.

    Examples
    --------
    >>> noc([0.5, 0.86, 0.95], 0.85), noc([0.5, 0.86, 0.95], 0.99), noc([0.5, 0.86, 0.95], 0.9, cap=2)
    (2, 20, 2)
    """
    return next((k for k, iou in enumerate(ious[:cap], start=1) if iou >= threshold), cap)


def iou_after(ious: Sequence[float], clicks: int) -> float:
    """The IoU after `clicks` clicks, the last one when the user stopped earlier (an exact mask stays exact)."""
    return ious[min(clicks, len(ious)) - 1]


def _user_stops(ious: Sequence[float]) -> bool:
    """Whether the simulated user stops after clicks that gave `ious` (see :func:`simulate_user`)."""
    if len(ious) >= MAX_CLICKS:
        return True
    return bool(ious) and (ious[-1] == 1.0 or (len(ious) >= max(IOU_AFTER) and ious[-1] >= max(THRESHOLDS)))


def simulate_user(segment: Callable[[list[Point], list[Point]], np.ndarray], truth: np.ndarray, *,
                  start: np.ndarray | None = None,
                  stops: Callable[[Sequence[float]], bool] = _user_stops) -> dict[str, Any]:
    """Click as the simulated user does, segmenting from all the clicks so far after each one.

    Parameters
    ----------
    segment : callable
        ``segment(positives, negatives)`` -> (H, W) bool mask, from lists of ``(x, y)``.
    truth : (H, W) bool ndarray
        The true mask, not empty.
    start : (H, W) bool ndarray, optional
        The mask the user sees before the first click (default: none), not
        equal to `truth`.
    stops : callable
        ``stops(ious)``: whether the user stops after clicks that gave
        `ious`; by default after :data:`MAX_CLICKS` clicks, when the mask is
        exact, or once ``max(IOU_AFTER)`` clicks or more reached
        ``max(THRESHOLDS)``.

    Returns
    -------
    dict
        ``"clicks"``: ``[x, y, positive]`` per click; ``"ious"``: the IoU
        after each; ``"seconds"``: the time of each `segment` call.
    """
    clicks: list[list[Any]] = []
    ious: list[float] = []
    seconds: list[float] = []
    prediction = np.zeros_like(truth, dtype=bool) if start is None else start
    while not stops(ious):
        (x, y), positive = next_click(prediction, truth)
        clicks.append([x, y, positive])
        start = time.perf_counter()
        prediction = segment([(cx, cy) for cx, cy, p in clicks if p], [(cx, cy) for cx, cy, p in clicks if not p])
        seconds.append(time.perf_counter() - start)
        ious.append(region_similarity(prediction, truth))
    return {"clicks": clicks, "ious": ious, "seconds": seconds}


# --------------------------------------------------------------------------
# the methods
# --------------------------------------------------------------------------
def flowseg_box(image: np.ndarray, box: tuple[int, int, int, int], neighbour: np.ndarray) -> np.ndarray:
    """:func:`flowseg.mask_from_prompt` given a box, with the motion against the next frame (as ``flowseg run``)."""
    return mask_from_box(image, neighbour, box)


def flowseg_clicks(image: np.ndarray, positives: Sequence[Point], negatives: Sequence[Point]) -> np.ndarray:
    """:func:`flowseg.mask_from_prompt` given clicks alone."""
    return mask_from_prompt(image, Prompt(points=tuple(positives), negative_points=tuple(negatives)))


def _grabcut(image: np.ndarray, labels: np.ndarray, rect: tuple[int, int, int, int] | None, mode: int) -> np.ndarray:
    """Plain GrabCut from `labels` (``cv2.GC_*``, as `mode` sets them); the object as given where a side is empty."""
    given = np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD))
    if given.all() or not given.any():
        return given
    cv2.setRNGSeed(0)
    cv2.grabCut(image, labels, rect, np.zeros((1, 65)), np.zeros((1, 65)), GRABCUT_ITERATIONS, mode)
    return np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD))


def grabcut_box(image: np.ndarray, box: tuple[int, int, int, int], neighbour: np.ndarray) -> np.ndarray:
    """Plain GrabCut initialised with the box as its rectangle (the `neighbour` frame unused)."""
    x0, y0, x1, y1 = box
    labels = np.full(image.shape[:2], cv2.GC_BGD, np.uint8)
    labels[y0 : y1 + 1, x0 : x1 + 1] = cv2.GC_PR_FGD  # what GC_INIT_WITH_RECT sets
    return _grabcut(image, labels, (x0, y0, x1 - x0 + 1, y1 - y0 + 1), cv2.GC_INIT_WITH_RECT)


def grabcut_clicks(image: np.ndarray, positives: Sequence[Point], negatives: Sequence[Point]) -> np.ndarray:
    """Plain GrabCut from click disks: likely background everywhere, sure object or background on the disks."""
    h, w = image.shape[:2]
    radius = max(2, round(0.01 * math.hypot(h, w)))
    labels = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
    for points, label in ((positives, cv2.GC_FGD), (negatives, cv2.GC_BGD)):
        for point in points:
            cv2.circle(labels, point, radius, label, -1)
    return _grabcut(image, labels, None, cv2.GC_INIT_WITH_MASK)


METHODS: dict[str, tuple[Callable[..., np.ndarray], Callable[..., np.ndarray]]] = {
    "mask_from_prompt": (flowseg_box, flowseg_clicks),
    "GrabCut": (grabcut_box, grabcut_clicks),
}
"""Method name to its ``(from_box(image, box, next_frame), from_clicks(image, positives, negatives))``."""


def score_frame(image: np.ndarray, truth: np.ndarray, neighbour: np.ndarray) -> dict[str, Any]:
    """Every method's box J, clicks and seconds on one frame, given its truth and the next frame."""
    box = tight_box(truth)
    scores: dict[str, Any] = {"box": list(box)}
    for name, (from_box, from_clicks) in METHODS.items():
        start = time.perf_counter()
        mask = from_box(image, box, neighbour)
        seconds = time.perf_counter() - start
        loose = from_box(image, loose_box(box, truth.shape), neighbour)
        user = simulate_user(lambda positives, negatives: from_clicks(image, positives, negatives), truth)
        scores[name] = {"box_J": region_similarity(mask, truth), "loose_box_J": region_similarity(loose, truth),
                        "box_seconds": seconds, **user,
                        **{key: noc(user["ious"], t) for key, t in zip(NOC_KEYS, THRESHOLDS)}}  # fmt: skip
    return scores


def summarise(per_sequence: Mapping[str, Mapping[str, Any]], method: str) -> dict[str, Any]:
    """One method's means over sequences, worst box J, and median and greatest seconds."""
    runs = {name: scores[method] for name, scores in per_sequence.items()}
    box_j = {name: run["box_J"] for name, run in runs.items()}
    timed = [run["seconds"][TIMED_CLICKS - 1] for run in runs.values() if len(run["seconds"]) >= TIMED_CLICKS]
    return {
        "box_J": float(np.mean(list(box_j.values()))),
        "box_J_worst": worst_sequence(box_j),
        "loose_box_J": float(np.mean([run["loose_box_J"] for run in runs.values()])),
        **{key: float(np.mean([run[key] for run in runs.values()])) for key in NOC_KEYS},
        **{f"IoU@{k}": float(np.mean([iou_after(run["ious"], k) for run in runs.values()])) for k in IOU_AFTER},
        "setbacks": sum(setbacks(run["ious"]) for run in runs.values()),
        "clicks": sum(len(run["ious"]) for run in runs.values()),
        "box_seconds": _spread([run["box_seconds"] for run in runs.values()]),
        "click_seconds": _spread(timed),
    }


def setbacks(ious: Sequence[float]) -> int:
    """How many clicks of a run lowered the IoU by more than :data:`SETBACK` (the first is measured against 0)."""
    return sum(after < before - SETBACK for before, after in zip([0.0, *ious], ious))


def _spread(seconds: Sequence[float]) -> dict[str, float] | None:
    """Median and greatest of some timings; None without any."""
    return {"median": statistics.median(seconds), "max": max(seconds)} if seconds else None


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------
def _seconds(spread: Mapping[str, float] | None) -> str:
    return f"{spread['median']:.2f} / {spread['max']:.2f}" if spread else "—"


def report_lines(report: Mapping[str, Any]) -> list[str]:
    """The markdown description of a run."""
    summary, per_sequence = report["summary"], report["per_sequence"]
    rows = [[name, format_number(s["box_J"]), f"{s['box_J_worst'][0]} {format_number(s['box_J_worst'][1])}",
             format_number(s["loose_box_J"]),
             *(format_number(s[key], 2) for key in NOC_KEYS), *(format_number(s[f"IoU@{k}"]) for k in IOU_AFTER),
             f"{s['setbacks']} of {s['clicks']}", _seconds(s["box_seconds"]), _seconds(s["click_seconds"])]
            for name, s in summary.items()]  # fmt: skip
    headers = ["method", "box J", "box J worst", f"loose box J (+{LOOSE:.0%})", *NOC_KEYS,
               *(f"IoU@{k}" for k in IOU_AFTER), "setbacks",
               "box s (median / max)", f"{TIMED_CLICKS} clicks s (median / max)"]  # fmt: skip
    per_rows = [[sequence, *(format_number(scores[m]["box_J"]) for m in METHODS),
                 *(str(scores[m][NOC_KEYS[0]]) for m in METHODS)]
                for sequence, scores in per_sequence.items()]  # fmt: skip
    sizes = ", ".join(sorted(set(report["sizes"].values())))
    return [
        f"- Data: `{report['root']}`, first frame of {len(per_sequence)} sequences ({sizes}): "
        + ", ".join(per_sequence),
        "- Methods: `flowseg.mask_from_prompt` given the box (with the motion to the second frame) or the clicks "
        f"alone; plain OpenCV GrabCut ({GRABCUT_ITERATIONS} iterations, full frame) given the box as its rectangle, "
        "or the clicks as disks of sure object or background, every other pixel likely background",
        "",
        markdown_table(headers, rows),
        "",
        "Per sequence:",
        "",
        markdown_table(["sequence", *(f"box J {m}" for m in METHODS), *(f"{NOC_KEYS[0]} {m}" for m in METHODS)],
                       per_rows),  # fmt: skip
        "",
        f"Box: the truth's tight box; loose box: that box grown by {LOOSE:.0%} of its width and height on each "
        "side. Clicks: the simulated user of Xu et al. 2016 (as RITM): each click at the "
        "centre of the largest error, positive on a false negative; the mask recomputed from all clicks after each. "
        f"NoC capped at {MAX_CLICKS}; means over sequences; setbacks: the clicks after which the IoU fell by more "
        f"than {SETBACK} (of all the clicks made); seconds of one call (box; {TIMED_CLICKS} clicks), "
        "median / max over sequences. See the module docstring of benchmarks/prompts.py.",
    ]


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    return parse_sequence_args(argv, description=__doc__.split("\n\n")[0], out=Path("/tmp/flowseg-prompts"))


def parse_sequence_args(argv: Sequence[str] | None, *, description: str, out: Path,
                        more: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    """``--root``, ``--sequences`` (checked against the folder; default: all), the output options, and `more`."""
    parser = argparse.ArgumentParser(description=description)
    if more is not None:
        more(parser)
    parser.add_argument("--root", type=Path, default=default_root(),
                        help="DAVIS-2016 folder with JPEGImages/480p and Annotations/480p "
                             "(default: $FLOWSEG_SHARED/data/davis2016 or ../shared/data/davis2016)")  # fmt: skip
    parser.add_argument("--sequences", type=comma_list, default=None, help="comma-separated (default: all)")
    add_output_options(parser, out=out)
    args = parser.parse_args(argv)
    args.sequences = davis_sequences(parser, args.root, "--root", args.sequences)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    args = _parse_args(argv)
    env = environment()  # first: the load average before our own work
    fix_seeds()
    per_sequence, sizes = {}, {}
    for name in args.sequences:
        image, neighbour = (cv2.cvtColor(cv2.imread(str(args.root / "JPEGImages" / "480p" / name / f"{i:05d}.jpg")),
                                         cv2.COLOR_BGR2RGB) for i in (0, 1))  # fmt: skip
        truth = read_mask_png(args.root / "Annotations" / "480p" / name / "00000.png")
        sizes[name] = f"{image.shape[1]}x{image.shape[0]}"
        per_sequence[name] = score_frame(image, truth, neighbour)
        print(f"[prompts] {name}", flush=True)
    report = {
        "environment": env,
        "root": display_path(args.root),
        "sizes": sizes,
        "protocol": {"max_clicks": MAX_CLICKS, "thresholds": THRESHOLDS, "iou_after": IOU_AFTER,
                     "timed_clicks": TIMED_CLICKS, "grabcut_iterations": GRABCUT_ITERATIONS},  # fmt: skip
        "summary": {method: summarise(per_sequence, method) for method in METHODS},
        "per_sequence": per_sequence,
    }
    publish(report, report_lines(report), title="Prompts (first frames of DAVIS-2016)", out=args.out,
            record=args.record)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
