"""Accuracy, speed and memory of flowseg's pipelines on DAVIS-2016 sequences.

Usage::

    python benchmarks/davis.py [--root DAVIS] [--sequences a,b] [--configs name,...]
                               [--out /tmp/flowseg-bench] [--max-frames N] [--record benchmarks/RESULTS.md]

Every named configuration (:data:`_common.PIPELINE_CONFIGS`) runs in a fresh
process over all its sequences and writes masks in the DAVIS results layout,
``<out>/<config>/<sequence>/<frame>.png`` (0 / 255). The baseline
``copy-first-gt`` copies each sequence's first ground-truth mask to every
frame. Each configuration is then scored against the ground truth.

Scoring rule
------------
The DAVIS protocol of Perazzi et al. [1]_ as :mod:`flowseg.metrics` implements
it (:func:`flowseg.evaluation.evaluate_folders`):

- J, region similarity: intersection over union of the predicted and true
  masks (1 when both are empty).
- F, boundary measure: F-score of boundary precision and recall [2]_, a
  boundary pixel counting as matched within ``0.008`` of the image diagonal
  (8 px at 854x480).
- Per sequence, J and F are averaged over every frame but the first (given
  to semi-supervised methods) and the last; J-recall is the fraction of those
  frames with J > 0.5; J-decay is the mean J of the first quarter of them
  minus that of the last quarter.
- T is flowseg's flicker, the mean ``1 - IoU`` of consecutive predicted
  masks over the same frames (lower is steadier), not the DAVIS-2016 contour
  measure.
- Every reported value is the mean over sequences (each sequence weighs the
  same, whatever its length); J&F is ``(J + F) / 2``.
- Beside the mean over all scored sequences, the summary gives J&F over the
  scored sequences of each fold of ``folds.json`` (two halves, A and B, to
  tune on one and confirm on the other; the columns are left out without
  that file), the worst sequence with its J&F, and how many sequences score
  below :data:`LOW_JF`.
- Only the sequences that every compared configuration produced are scored.
  A sequence is skipped when its target (``targets.json``) names no VOC
  class, or when the available models cannot serve it (``WeightsError``:
  e.g. ``dog`` without DeepLabV3 weights); a configuration is skipped when
  its RAFT weights are missing.

Speed is end to end: frames / seconds of reading the JPEGs, running
:meth:`flowseg.Pipeline.stream_two_pass` (as ``flowseg run``) and writing the PNGs, summed over the scored
sequences; model loading is left out. Seconds per stage come from
:attr:`flowseg.Pipeline.stage_seconds`. Peak memory is the configuration
process's ``ru_maxrss``.

``--max-frames`` limits every sequence to its first N frames (and scores
them against the first N ground-truth frames). It is for iteration only;
published numbers use full sequences.

References
----------
.. [1] F. Perazzi, J. Pont-Tuset, B. McWilliams, L. Van Gool, M. Gross and
   A. Sorkine-Hornung, "A Benchmark Dataset and Evaluation Methodology for
   Video Object Segmentation", CVPR 2016. :doi:`10.1109/CVPR.2016.85`
.. [2] D. Martin, C. Fowlkes and J. Malik, "Learning to Detect Natural Image
   Boundaries Using Local Brightness, Color, and Texture Cues", IEEE TPAMI
   26(5), 2004. :doi:`10.1109/TPAMI.2004.1273918`
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import shutil
import sys
import time
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from _common import (
    PIPELINE_CONFIGS,
    add_shared_options,
    attempt,
    build_pipeline,
    comma_list,
    display_path,
    environment,
    fix_seeds,
    follows_object,
    is_causal,
    format_number,
    format_stage_seconds,
    markdown_table,
    mask_from_box,
    needs_no_class,
    peak_rss_mb,
    publish,
    shared_dir,
    starts_from_box,
)
from flowseg import Pipeline, WeightsError
from flowseg.evaluation import evaluate_folders, read_mask_png
from flowseg.io import FrameSource

BASELINE = "copy-first-gt"
"""The baseline configuration: the first frame's ground truth copied to every frame."""

NO_CLASS_REASON = "no VOC class (targets.json lists none)"
"""Why a sequence whose object belongs to no VOC class is skipped."""

LOW_JF = 0.45
"""J&F under which a sequence counts as a failure in the summary table."""

_FRAMES = Path("JPEGImages") / "480p"
_ANNOTATIONS = Path("Annotations") / "480p"

SequenceRun = dict[str, Any]
"""What running one configuration on one sequence measured: ``"frames"``,
``"seconds"``, ``"stage_seconds"`` (by stage class name) and ``"model"``."""


def default_root() -> Path:
    """The DAVIS-2016 folder: ``data/davis2016`` in :func:`_common.shared_dir`."""
    return shared_dir() / "data" / "davis2016"


def _load_name_lists(path: Path, expected: str) -> dict[str, list[str]]:
    """The lists of names of a JSON object, keys starting with ``_`` (comments) left out.

    Parameters
    ----------
    path : Path
        The JSON file, an object of lists of strings.
    expected : str
        What a list holds, for the error message (e.g. ``"VOC class names"``).

    Returns
    -------
    dict of str to list of str
        In the file's order.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If an entry is not a list of strings.
    """
    with open(path, encoding="utf-8") as file:
        raw = json.load(file)
    lists: dict[str, list[str]] = {}
    for key, names in raw.items():
        if key.startswith("_"):
            continue
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise ValueError(f"{path.name}: {key!r} is {names!r}; expected a list of {expected}")
        lists[key] = names
    return lists


def load_targets(root: Path) -> dict[str, list[str]]:
    """The VOC target classes of every sequence, from ``<root>/targets.json``.

    Parameters
    ----------
    root : Path
        The DAVIS folder.

    Returns
    -------
    dict of str to list of str
        Sequence name to class names (empty where the object is no VOC
        class), in the file's order; keys starting with ``_`` (comments)
        are left out.

    Raises
    ------
    FileNotFoundError
        If there is no ``targets.json``.
    ValueError
        If an entry is not a list of strings.
    """
    return _load_name_lists(root / "targets.json", "VOC class names")


def load_folds(root: Path) -> dict[str, list[str]] | None:
    """Fold name to sequence names (e.g. halves ``"A"`` and ``"B"``), from ``<root>/folds.json``; None without it.

    Read as :func:`load_targets` reads ``targets.json``: in the file's order,
    comments left out, :class:`ValueError` on an entry that is not a list of
    strings.
    """
    path = root / "folds.json"
    return _load_name_lists(path, "sequence names") if path.exists() else None


def common_sequences(produced: Mapping[str, Collection[str]], order: Sequence[str]) -> list[str]:
    """The sequences every configuration produced, in the order asked for.

    Parameters
    ----------
    produced : mapping of str to collection of str
        Per configuration, the sequences it produced.
    order : sequence of str
        The sequences asked for, in report order.

    Returns
    -------
    list of str
        The members of `order` found in every collection; empty when
        `produced` is.

    Examples
    --------
    >>> common_sequences({"a": {"x", "y"}, "b": {"y", "z", "x"}}, ["z", "y", "x"])
    ['y', 'x']
    """
    if not produced:
        return []
    return [name for name in order if all(name in done for done in produced.values())]


def timing_totals(runs: Mapping[str, SequenceRun], sequences: Sequence[str]) -> dict[str, Any]:
    """Frames, seconds, fps and seconds per stage summed over some sequences of one configuration.

    Parameters
    ----------
    runs : mapping of str to SequenceRun
        The configuration's per-sequence measurements.
    sequences : sequence of str
        The sequences to sum over (all must be in `runs`).

    Returns
    -------
    dict
        ``"frames"``, ``"seconds"``, ``"fps"`` (None without time) and
        ``"stage_seconds"`` (by stage class name, in first-seen order).

    Examples
    --------
    >>> runs = {"a": {"frames": 4, "seconds": 2.0, "stage_seconds": {"S": 1.0}},
    ...         "b": {"frames": 6, "seconds": 3.0, "stage_seconds": {"S": 2.0}}}
    >>> timing_totals(runs, ["a", "b"])
    {'frames': 10, 'seconds': 5.0, 'fps': 2.0, 'stage_seconds': {'S': 3.0}}
    """
    frames = sum(runs[name]["frames"] for name in sequences)
    seconds = sum(runs[name]["seconds"] for name in sequences)
    stages: Counter[str] = Counter()
    for name in sequences:
        stages.update(runs[name]["stage_seconds"])
    return {
        "frames": frames,
        "seconds": seconds,
        "fps": frames / seconds if seconds > 0 else None,
        "stage_seconds": dict(stages),
    }


def fold_means(jf: Mapping[str, float], folds: Mapping[str, Collection[str]]) -> dict[str, float | None]:
    """Mean J&F over the scored sequences of each fold.

    Parameters
    ----------
    jf : mapping of str to float
        J&F of each scored sequence; NaN (no frame scored) is left out, as
        in the mean over all sequences.
    folds : mapping of str to collection of str
        Sequence names per fold (:func:`load_folds`).

    Returns
    -------
    dict of str to float or None
        Per fold, in `folds`' order, the mean over its sequences found in
        `jf`; None where there is none.

    Examples
    --------
    >>> jf = {"a": 0.25, "b": 0.75, "c": 0.9, "d": float("nan")}
    >>> fold_means(jf, {"A": ["a", "b", "x"], "B": ["c", "d"], "C": ["x"]})
    {'A': 0.5, 'B': 0.9, 'C': None}
    """
    means: dict[str, float | None] = {}
    for fold, names in folds.items():
        values = [jf[name] for name in names if name in jf and not math.isnan(jf[name])]
        means[fold] = sum(values) / len(values) if values else None
    return means


def worst_sequence(jf: Mapping[str, float]) -> tuple[str, float] | None:
    """The sequence with the lowest J&F, and that J&F.

    Parameters
    ----------
    jf : mapping of str to float
        J&F of each scored sequence; NaN (no frame scored) is left out.

    Returns
    -------
    (str, float) or None
        The first of equals in `jf`'s order; None when no J&F is a number.

    Examples
    --------
    >>> worst_sequence({"a": 0.7, "b": 0.39, "c": float("nan"), "d": 0.39})
    ('b', 0.39)
    >>> worst_sequence({}) is None
    True
    """
    scored = [(name, value) for name, value in jf.items() if not math.isnan(value)]
    return min(scored, key=lambda item: item[1]) if scored else None


def sequence_summary(jf: Mapping[str, float], folds: Mapping[str, Collection[str]] | None) -> dict[str, Any]:
    """What the summary table tells of the per-sequence J&F of one configuration, beside its mean.

    Parameters
    ----------
    jf : mapping of str to float
        J&F of each scored sequence.
    folds : mapping of str to collection of str or None
        Sequence names per fold; None without ``folds.json``.

    Returns
    -------
    dict
        ``"JF_folds"``: :func:`fold_means` (empty without folds);
        ``"worst"``: :func:`worst_sequence`; ``"below_low"``: the number of
        sequences with J&F under :data:`LOW_JF`.

    Examples
    --------
    >>> sequence_summary({"a": 0.3, "b": 0.8, "c": 0.4}, {"A": ["a", "b"], "B": ["c"]})
    {'JF_folds': {'A': 0.55, 'B': 0.4}, 'worst': ('a', 0.3), 'below_low': 2}
    """
    return {
        "JF_folds": fold_means(jf, folds or {}),
        "worst": worst_sequence(jf),
        "below_low": sum(value < LOW_JF for value in jf.values()),
    }


def section_title(configs: Collection[str], target: str | None) -> str:
    """The title of a run's section in the results file: the same for every run of these configurations.

    Parameters
    ----------
    configs : collection of str
        The configurations asked for (the baseline is left out), named in
        :data:`_common.PIPELINE_CONFIGS`'s order whatever the order given.
    target : str or None
        The ``--target`` class, if any.

    Returns
    -------
    str

    Examples
    --------
    >>> section_title(["moving", "moving-naive"], None)
    'DAVIS-2016: moving-naive, moving'
    >>> section_title(["balanced"], "person")
    'DAVIS-2016: balanced (target person)'
    """
    names = ", ".join(name for name in PIPELINE_CONFIGS if name in configs)
    return f"DAVIS-2016: {names}" + (f" (target {target})" if target else "")


def skip_reasons(skipped: Mapping[str, Mapping[str, str]], sequences: Sequence[str]) -> list[str]:
    """One markdown bullet per skipped sequence, saying which configurations skipped it and why.

    Parameters
    ----------
    skipped : mapping of str to mapping of str to str
        Per configuration, the skipped sequences and the reason.
    sequences : sequence of str
        The sequences to describe, in order.

    Returns
    -------
    list of str
        ``"- `seq`: reason"`` where all configurations that skipped it give
        one reason, else the reasons by configuration.

    Examples
    --------
    >>> skip_reasons({"warp": {"dog": "no weights"}, "semantics": {"dog": "no weights"}}, ["dog"])
    ['- `dog`: no weights (warp, semantics)']
    """
    lines = []
    for name in sequences:
        by_reason: dict[str, list[str]] = {}
        for config, reasons in skipped.items():
            if name in reasons:
                by_reason.setdefault(reasons[name], []).append(config)
        described = "; ".join(f"{reason} ({', '.join(configs)})" for reason, configs in by_reason.items())
        lines.append(f"- `{name}`: {described}")
    return lines


# --------------------------------------------------------------------------
# one configuration, in its own process
# --------------------------------------------------------------------------
def _write_mask(path: Path, mask: np.ndarray) -> None:
    """Write a bool mask as a 0 / 255 PNG."""
    if not cv2.imwrite(str(path), mask.astype(np.uint8) * 255):
        raise OSError(f"cannot write {path}")


def _segment_sequence(
    pipeline: Pipeline,
    frames_dir: Path,
    dest: Path,
    max_frames: int | None,
    init_mask: np.ndarray | None = None,
    causal: bool = False,
    init_mask_exact: bool = True,
) -> SequenceRun:
    """Run `pipeline` on the frames of one sequence (from `init_mask` when given) and write its masks to `dest`.

    As ``flowseg run`` does (:meth:`~flowseg.Pipeline.stream_two_pass`), or forward only when `causal`;
    `init_mask_exact`: see :meth:`~flowseg.Pipeline.stream` (False for a box's mask).
    """
    names: list[str] = []

    def images() -> Iterator[np.ndarray]:
        for name, image in itertools.islice(FrameSource(frames_dir), max_frames):
            names.append(name)
            yield image

    start = time.perf_counter()
    stream = pipeline.stream if causal else pipeline.stream_two_pass
    for result in stream(images(), init_mask=init_mask, init_mask_exact=init_mask_exact):
        _write_mask(dest / f"{names[result.index]}.png", result.mask)
    return {
        "frames": len(names),
        "seconds": time.perf_counter() - start,
        "stage_seconds": dict(pipeline.stage_seconds),
        "model": pipeline.model_used,
    }


def _copy_first_gt(gt_dir: Path, dest: Path, max_frames: int | None) -> SequenceRun:
    """Write the first ground-truth mask of a sequence under the name of each of its frames."""
    start = time.perf_counter()
    files = sorted(gt_dir.glob("*.png"))[:max_frames]
    first = read_mask_png(files[0])
    for file in files:
        _write_mask(dest / file.name, first)
    return {"frames": len(files), "seconds": time.perf_counter() - start, "stage_seconds": {}, "model": None}


def _pipeline_or_reason(config: str, targets: Sequence[str]) -> Pipeline | str:
    """The configuration's pipeline for these target classes, or why it cannot run here.

    Semi-supervised configurations run on every sequence: without a class (or
    without its weights) the person model stands by as class evidence, used
    only where it covers the given object.
    """
    if needs_no_class(config):
        try:
            return build_pipeline(config, targets or "person")
        except WeightsError:
            return build_pipeline(config, "person")
    if not targets:
        return NO_CLASS_REASON
    try:
        return build_pipeline(config, targets)
    except WeightsError as error:
        return str(error)


def run_config(
    config: str, root: str, jobs: Sequence[tuple[str, Sequence[str]]], out: str, max_frames: int | None
) -> dict[str, Any]:
    """Run one configuration on its sequences; meant for a fresh process (:func:`_common.run_isolated`).

    Parameters
    ----------
    config : str
        A key of :data:`_common.PIPELINE_CONFIGS` or :data:`BASELINE`.
    root : str
        The DAVIS folder.
    jobs : sequence of (str, sequence of str)
        Sequence names and their target classes.
    out : str
        This configuration's results folder; ``<out>/<sequence>/`` is
        deleted, then written again when the sequence runs.
    max_frames : int or None
        Only the first frames of each sequence.

    Returns
    -------
    dict
        ``"sequences"``: :data:`SequenceRun` by sequence name;
        ``"skipped"``: reason by sequence name; ``"peak_rss_mb"``: this
        process's peak resident memory.
    """
    runs: dict[str, SequenceRun] = {}
    skipped: dict[str, str] = {}
    pipelines: dict[tuple[str, ...], Pipeline | str] = {}  # one per target, reused across sequences
    for name, targets in jobs:
        dest = Path(out) / name
        shutil.rmtree(dest, ignore_errors=True)
        pipeline: Pipeline | str | None = None  # None: the baseline
        if config != BASELINE:
            key = tuple(targets)
            if key not in pipelines:
                pipelines[key] = _pipeline_or_reason(config, key)
            pipeline = pipelines[key]
        if isinstance(pipeline, str):
            skipped[name] = pipeline
            print(f"[{config}] {name}: skipped ({pipeline})", file=sys.stderr, flush=True)
            continue
        dest.mkdir(parents=True)
        fix_seeds()
        if pipeline is None:
            runs[name] = _copy_first_gt(Path(root) / _ANNOTATIONS / name, dest, max_frames)
        else:
            first = sorted((Path(root) / _ANNOTATIONS / name).glob("*.png"))[0]
            init_mask = read_mask_png(first) if follows_object(config) else None
            if init_mask is not None and starts_from_box(config):
                (_, image), (_, neighbour) = itertools.islice(FrameSource(Path(root) / _FRAMES / name), 2)
                rows, cols = np.nonzero(init_mask)
                init_mask = mask_from_box(image, neighbour, (cols.min(), rows.min(), cols.max(), rows.max()))
            runs[name] = _segment_sequence(pipeline, Path(root) / _FRAMES / name, dest, max_frames, init_mask,
                                           is_causal(config), init_mask_exact=not starts_from_box(config))
        print(f"[{config}] {name}: {runs[name]['frames']} frames in {runs[name]['seconds']:.1f} s",
              file=sys.stderr, flush=True)  # fmt: skip
    return {"sequences": runs, "skipped": skipped, "peak_rss_mb": peak_rss_mb()}


# --------------------------------------------------------------------------
# scoring and reporting
# --------------------------------------------------------------------------
def ground_truth_folder(root: Path, sequences: Sequence[str], max_frames: int | None, out: Path) -> Path:
    """The ground truth to score against: `root`, or its first `max_frames` frames linked under `out`.

    Parameters
    ----------
    root : Path
        The DAVIS folder.
    sequences : sequence of str
        The sequences to score.
    max_frames : int or None
        None to score full sequences.
    out : Path
        Results folder; with `max_frames`, ``<out>/_ground_truth/<sequence>/``
        is rebuilt with links to the first frames.

    Returns
    -------
    Path
        A folder :func:`flowseg.evaluation.evaluate_folders` takes as ground truth.
    """
    if max_frames is None:
        return root
    folder = out / "_ground_truth"
    shutil.rmtree(folder, ignore_errors=True)
    for name in sequences:
        (folder / name).mkdir(parents=True)
        for file in sorted((root / _ANNOTATIONS / name).glob("*.png"))[:max_frames]:
            (folder / name / file.name).symlink_to(file.resolve())
    return folder


def summary_table(configs: Mapping[str, Mapping[str, Any]], folds: Sequence[str]) -> str:
    """The markdown table of scores, speed and memory, one row per configuration.

    Parameters
    ----------
    configs : mapping of str to dict
        Per configuration, ``"scores"`` (:func:`flowseg.evaluation.evaluate_folders`),
        ``"summary"`` (:func:`sequence_summary`), ``"totals"``
        (:func:`timing_totals`) and ``"run"`` (:func:`run_config`).
    folds : sequence of str
        The fold names, a J&F column each (none without ``folds.json``).

    Returns
    -------
    str
    """
    headers = ["config", "J&F", *(f"J&F {fold}" for fold in folds), "worst sequence", f"J&F < {LOW_JF}",
               "J", "F", "T", "J-recall", "J-decay", "fps", "s/frame per stage", "peak RSS MB"]  # fmt: skip
    rows = []
    for name, result in configs.items():
        scores, summary, totals = result["scores"], result["summary"], result["totals"]
        worst = summary["worst"]
        rows.append([
            name,
            format_number(scores["JF_mean"]),
            *(format_number(summary["JF_folds"][fold]) for fold in folds),
            f"{worst[0]} {format_number(worst[1])}" if worst else "—",
            str(summary["below_low"]),
            *(format_number(scores[key]) for key in ("J_mean", "F_mean", "T_mean", "J_recall", "J_decay")),
            format_number(totals["fps"], 2),
            format_stage_seconds(totals["stage_seconds"], totals["frames"]),
            format_number(result["run"]["peak_rss_mb"], 0),
        ])
    return markdown_table(headers, rows)


def per_sequence_table(configs: Mapping[str, Mapping[str, Any]], sequences: Sequence[str]) -> str:
    """The markdown table of J&F per sequence (rows) and configuration (columns)."""
    rows = [
        [name, *(format_number(result["scores"]["sequences"][name]["JF_mean"]) for result in configs.values())]
        for name in sequences
    ]
    return markdown_table(["sequence", *configs], rows)


def report_lines(report: Mapping[str, Any]) -> list[str]:
    """The markdown lines describing a run: data, skips, models, then the two tables."""
    scored = report["sequences_scored"]
    max_frames = report["max_frames"]
    skipped_names = [name for name in report["sequences_requested"] if name not in scored]
    skipped_by_config = {name: c["run"]["skipped"] for name, c in report["configs"].items()}
    skipped_by_config.update({name: c["run"]["skipped"] for name, c in report["unscored"].items() if "run" in c})
    models = sorted({run["model"] for c in report["configs"].values() for run in c["run"]["sequences"].values()
                     if run["model"]})  # fmt: skip
    lines = [
        f"- Data: `{report['root']}`, "
        + ("full sequences" if max_frames is None else f"first {max_frames} frames per sequence (iteration only)"),
        f"- Sequences scored ({len(scored)}): {', '.join(scored) or 'none'}",
    ]
    if skipped_names:
        lines += ["- Sequences skipped:", *("  " + line for line in skip_reasons(skipped_by_config, skipped_names))]
    for name, result in report["unscored"].items():
        lines.append(f"- Configuration `{name}` not scored: {result['reason']}")
    lines.append(f"- Semantic model: {'; '.join(models) or '—'}")
    folds = report["folds"] or {}
    if report["configs"]:
        in_fold = ", ".join(f"{fold} ({len(set(names) & set(scored))})" for fold, names in folds.items())
        fold_note = f"J&F {in_fold}: over the scored sequences of each fold of folds.json. " if folds else ""
        lines += ["", summary_table(report["configs"], list(folds)), "",
                  f"Means over the scored sequences. {fold_note}worst sequence: the lowest J&F; J&F < {LOW_JF}: "
                  "the number of sequences below. T: flicker, mean 1 - IoU of consecutive masks (lower is "
                  "steadier). fps: reading, segmenting and writing. See benchmarks/README.md.",
                  "", "J&F per sequence:", "", per_sequence_table(report["configs"], scored)]  # fmt: skip
    return lines


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=default_root(),
                        help="DAVIS-2016 folder (JPEGImages/480p, Annotations/480p, targets.json); "
                             "default: $FLOWSEG_SHARED/data/davis2016 or ../shared/data/davis2016")
    parser.add_argument("--sequences", type=comma_list, default=None,
                        help="comma-separated sequence names (default: every sequence in targets.json)")
    add_shared_options(parser, out=Path("/tmp/flowseg-bench"), configs_note=f"; the baseline {BASELINE} always runs")
    parser.add_argument("--target", default=None, metavar="CLASS",
                        help="segment only this VOC class, in the sequences whose targets.json lists it "
                             "(e.g. person: the rider of bmx-trees without the bike); other sequences are left out")
    parser.add_argument("--max-frames", type=int, default=None, metavar="N",
                        help="only the first N frames of each sequence (iteration only; publish full sequences)")
    args = parser.parse_args(argv)
    if args.max_frames is not None and args.max_frames < 1:
        parser.error(f"--max-frames is {args.max_frames}; expected at least 1")
    try:
        args.targets = load_targets(args.root)
        args.folds = load_folds(args.root)
    except (OSError, ValueError) as error:
        parser.error(f"--root {args.root}: cannot read targets.json or folds.json ({error})")
    if args.target is not None:
        args.targets = {name: [args.target] for name, classes in args.targets.items() if args.target in classes}
        if not args.targets:
            parser.error(f"--target {args.target}: no sequence in targets.json lists it")
    args.sequences = args.sequences or list(args.targets)
    unknown = [name for name in args.sequences if name not in args.targets]
    if unknown:
        parser.error(f"--sequences: {', '.join(unknown)} not in {args.root / 'targets.json'}; "
                     f"valid: {', '.join(args.targets)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns the exit status (1 when a configuration failed or nothing was scored)."""
    args = _parse_args(argv)
    env = environment()  # first: the load average before our own work
    jobs = [(name, args.targets[name]) for name in args.sequences]
    runs: dict[str, dict[str, Any]] = {}
    unscored: dict[str, dict[str, Any]] = {}
    for config in [*args.configs, BASELINE]:
        outcome = attempt(config, run_config, config, str(args.root), jobs, str(args.out / config), args.max_frames)
        if outcome.reason is None:
            runs[config] = outcome.result
        else:
            unscored[config] = {"reason": outcome.reason, "failed": outcome.failed}

    scored = common_sequences({name: run["sequences"] for name, run in runs.items()}, args.sequences)
    configs: dict[str, dict[str, Any]] = {}
    if scored:
        ground_truth = ground_truth_folder(args.root, scored, args.max_frames, args.out)
        for name, run in runs.items():
            scores = evaluate_folders(args.out / name, ground_truth, sequences=scored)
            jf = {sequence: values["JF_mean"] for sequence, values in scores["sequences"].items()}
            configs[name] = {"run": run, "totals": timing_totals(run["sequences"], scored), "scores": scores,
                             "summary": sequence_summary(jf, args.folds)}  # fmt: skip
    else:
        unscored.update({name: {"reason": "no sequence produced by every configuration", "failed": False, "run": run}
                         for name, run in runs.items()})  # fmt: skip

    report = {
        "environment": env,
        "root": display_path(args.root),
        "max_frames": args.max_frames,
        "sequences_requested": args.sequences,
        "sequences_scored": scored,
        "folds": args.folds,
        "configs": configs,
        "unscored": unscored,
    }
    title = section_title(args.configs, args.target)
    publish(report, report_lines(report), title=title, out=args.out, record=args.record)
    return 1 if any(c["failed"] for c in unscored.values()) or not scored else 0


if __name__ == "__main__":
    sys.exit(main())
