"""Per-frame speed and peak memory of flowseg's pipelines on a real clip, at several frame heights.

Usage::

    python benchmarks/speed.py [--video ../shared/data/videos/juggle.mp4] [--sizes 480,720]
                               [--configs name,...] [--frames N] [--loop 10] [--record benchmarks/RESULTS.md]

For every frame height and configuration (:data:`_common.PIPELINE_CONFIGS`),
a fresh process decodes the first ``3 + N`` frames of the clip, resizes them
(aspect kept, width rounded to an even number), and runs
:meth:`flowseg.Pipeline.stream` on them as a generator.

What is measured
----------------
- Per-frame seconds: wall time of each step of the stream (decoding and
  resizing that frame included), over the N frames after a warmup of
  :data:`WARMUP_FRAMES` (the first frame has no flow to compute, and
  first calls fill caches). The table gives their median and interquartile
  range (IQR, 75th minus 25th percentile) and fps = N / their sum.
- Seconds per stage per frame, from :attr:`flowseg.Pipeline.stage_seconds`
  over the same N frames; ``other`` is the rest of the wall time (decoding,
  resizing, the pipeline's own checks), negative where the stages running
  at once in two threads (the next frame's flow beside the rest) overlap
  by more than that.
- Peak resident memory of the process (``VmHWM``; model loading included).
- End to end: a third fresh process runs :func:`flowseg.segment_video`
  (what ``flowseg run`` does: decode, segment, write the mask PNGs, the
  mask and overlay videos and ``summary.json``) on the same frames, written
  beforehand to an MP4 at that height; its fps is the summary's.
- Streaming: a second fresh process runs the same frames ``--loop`` times
  over, from a generator that decodes again on every pass (nothing is held
  in a list). Memory that does not grow with the video means its peak stays
  within :data:`FLAT_TOLERANCE` of the single pass: ``flat``, else
  ``GROWS``.

Stages return numpy arrays, so GPU work is finished inside each timed step.
Seeds are fixed (:func:`_common.fix_seeds`). The target class is ``person``
by default, which runs without downloaded weights.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from _common import (
    add_shared_options,
    attempt,
    build_pipeline,
    comma_list,
    display_path,
    environment,
    fix_seeds,
    follows_object,
    format_number,
    format_stage_seconds,
    markdown_table,
    peak_rss_mb,
    publish,
    shared_dir,
)
from flowseg.io import FrameSource

WARMUP_FRAMES = 3
"""Frames run before timing starts, at the start of every stream."""

FLAT_TOLERANCE = 0.05
"""A looped run whose peak memory exceeds the single run's by more than this fraction ``GROWS``."""


def default_video() -> Path:
    """The clip timed by default: ``data/videos/juggle.mp4`` in :func:`_common.shared_dir`."""
    return shared_dir() / "data" / "videos" / "juggle.mp4"


def resized_size(width: int, height: int, new_height: int) -> tuple[int, int]:
    """Frame size at another height, keeping the aspect ratio, with an even width.

    Parameters
    ----------
    width, height : int
        The frame's size in pixels.
    new_height : int
        The height wanted.

    Returns
    -------
    (int, int)
        ``(new_width, new_height)``; the width is rounded to the nearest even
        number (halfway up; at least 2), as video encoders want.

    Examples
    --------
    >>> resized_size(1280, 720, 480)   # 853.3 -> 854, like DAVIS
    (854, 480)
    >>> resized_size(1280, 720, 1080)
    (1920, 1080)
    """
    return max(2, 2 * int(width * new_height / height / 2 + 0.5)), new_height


def time_statistics(seconds: Sequence[float]) -> dict[str, float | None]:
    """Median, interquartile range and throughput of per-frame times.

    Parameters
    ----------
    seconds : sequence of float
        Seconds per frame.

    Returns
    -------
    dict
        ``"median"``, ``"iqr"`` (75th minus 25th percentile, linear
        interpolation) and ``"fps"`` (frames / total seconds); all None
        without frames.

    Examples
    --------
    >>> time_statistics([0.5, 1.0, 1.5, 2.0, 5.0])
    {'median': 1.5, 'iqr': 1.0, 'fps': 0.5}
    """
    if not seconds:
        return {"median": None, "iqr": None, "fps": None}
    q1, q3 = np.percentile(seconds, [25, 75])
    total = sum(seconds)
    return {
        "median": statistics.median(seconds),
        "iqr": float(q3 - q1),
        "fps": len(seconds) / total if total > 0 else None,
    }


def memory_verdict(peak_once: float, peak_looped: float, tolerance: float = FLAT_TOLERANCE) -> str:
    """Whether peak memory grew when the same clip was streamed several times over.

    Parameters
    ----------
    peak_once : float
        Peak memory of a single pass (any unit).
    peak_looped : float
        Peak memory of the looped run, same unit.
    tolerance : float
        Allowed growth, as a fraction of `peak_once`.

    Returns
    -------
    str
        ``"flat"`` when ``peak_looped <= peak_once * (1 + tolerance)``, else ``"GROWS"``.

    Examples
    --------
    >>> memory_verdict(500.0, 510.0), memory_verdict(500.0, 600.0)
    ('flat', 'GROWS')
    """
    return "flat" if peak_looped <= peak_once * (1 + tolerance) else "GROWS"


def clip_frames(video: Path, height: int, count: int | None, loop: int = 1) -> Iterator[np.ndarray]:
    """The first `count` frames of a video at another height, `loop` times over, decoded lazily.

    Parameters
    ----------
    video : Path
        A video file or image folder (:class:`flowseg.io.FrameSource`).
    height : int
        Frame height wanted; the width follows :func:`resized_size`.
    count : int or None
        Frames per pass; None for the whole clip.
    loop : int
        Passes over the clip. Each pass decodes again; no frame is kept.

    Yields
    ------
    (H, W, 3) uint8 ndarray
        RGB frames.
    """
    for _ in range(loop):
        for _, image in itertools.islice(FrameSource(video), count):
            h, w = image.shape[:2]
            size = resized_size(w, h, height)
            if size != (w, h):
                interpolation = cv2.INTER_AREA if height < h else cv2.INTER_LINEAR
                image = cv2.resize(image, size, interpolation=interpolation)
            yield image


def write_clip(video: Path, height: int, count: int | None, path: Path) -> Path:
    """Write the frames of :func:`clip_frames` (one pass) to an MP4 file for the end-to-end runs.

    Returns
    -------
    Path
        `path`.
    """
    fps = FrameSource(video).fps or 25.0
    writer: cv2.VideoWriter | None = None
    try:
        for image in clip_frames(video, height, count):
            if writer is None:
                path.parent.mkdir(parents=True, exist_ok=True)
                size = (image.shape[1], image.shape[0])
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
            writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    finally:
        if writer is not None:
            writer.release()
    return path


def first_person_mask(video: Path, height: int) -> np.ndarray | None:
    """The embedded person model's mask of the clip's first frame: the object the semi-supervised configurations follow."""
    from flowseg import SemanticSegmenter

    first = next(clip_frames(video, height, 1))
    return SemanticSegmenter(target="person", model="selfie").predict(first) > 0.5


def run_end_to_end(config: str, clip: str, height: int, target: str, out: str) -> dict[str, Any]:
    """``flowseg run`` on a clip with one configuration; meant for a fresh process.

    Returns
    -------
    dict
        ``"frames"``, ``"fps"`` and ``"keyframes"`` from ``summary.json``,
        ``"stage_seconds"`` (totals by stage class name) and ``"peak_rss_mb"``.
    """
    from flowseg import segment_video

    fix_seeds()
    init_mask = first_person_mask(Path(clip), height) if follows_object(config) else None
    summary = segment_video(clip, out, pipeline=build_pipeline(config, target), overwrite=True, init_mask=init_mask)
    print(f"[{config} end to end] {summary['frames']} frames at {summary['fps']} fps", file=sys.stderr, flush=True)
    return {"frames": summary["frames"], "fps": summary["fps"], "keyframes": summary["keyframes"],
            "stage_seconds": summary["seconds"]["stages"], "peak_rss_mb": peak_rss_mb()}


def run_speed(config: str, video: str, height: int, target: str, frames: int | None, loop: int) -> dict[str, Any]:
    """Time one configuration at one height; meant for a fresh process (:func:`_common.run_isolated`).

    Parameters
    ----------
    config : str
        A key of :data:`_common.PIPELINE_CONFIGS`.
    video : str
        The clip.
    height : int
        Frame height.
    target : str
        VOC target class(es).
    frames : int or None
        Timed frames per pass (after :data:`WARMUP_FRAMES`); None for the whole clip.
    loop : int
        Passes over the clip, for the streaming check.

    Returns
    -------
    dict
        ``"frames"`` (timed), ``"width"``, ``"height"``, ``"seconds"`` (per
        timed frame), :func:`time_statistics` fields, ``"stage_seconds"``
        (summed over the timed frames, by stage class name),
        ``"other_seconds"``, ``"model"`` and ``"peak_rss_mb"``.
    """
    pipeline = build_pipeline(config, target)
    fix_seeds()
    count = None if frames is None else WARMUP_FRAMES + frames
    seconds: list[float] = []
    stage_start: dict[str, float] = {}
    shape: tuple[int, ...] = ()
    start = time.perf_counter()
    init_mask = first_person_mask(Path(video), height) if follows_object(config) else None
    for result in pipeline.stream(clip_frames(Path(video), height, count, loop), init_mask=init_mask):
        now = time.perf_counter()
        if result.index >= WARMUP_FRAMES:
            seconds.append(now - start)
        else:
            stage_start = dict(pipeline.stage_seconds)
        shape = result.mask.shape
        start = now
    stage_seconds = {name: total - stage_start.get(name, 0.0) for name, total in pipeline.stage_seconds.items()}
    print(f"[{config} {height}p x{loop}] {len(seconds)} timed frames", file=sys.stderr, flush=True)
    return {
        "frames": len(seconds),
        "width": shape[1] if shape else None,
        "height": shape[0] if shape else None,
        "seconds": seconds,
        **time_statistics(seconds),
        "stage_seconds": stage_seconds,
        "other_seconds": sum(seconds) - sum(stage_seconds.values()),
        "model": pipeline.model_used,
        "peak_rss_mb": peak_rss_mb(),
    }


def results_table(rows: Sequence[Mapping[str, Any]], loop: int) -> str:
    """The markdown table of timings and memory, one row per height and configuration.

    Parameters
    ----------
    rows : sequence of dict
        ``"height"``, ``"config"``, ``"once"`` (:func:`run_speed`) and
        ``"looped"`` (:func:`run_speed` with `loop` passes, or None).
    loop : int
        The number of passes of the looped runs.

    Returns
    -------
    str
    """
    headers = ["size", "config", "frames", "median s/frame", "IQR s", "fps", "s/frame per stage",
               "other s/frame", "peak RSS MB", f"peak RSS MB x{loop}", "memory"]  # fmt: skip
    cells = []
    for row in rows:
        once, looped = row["once"], row["looped"]
        frames = once["frames"]
        cells.append([
            f"{once['width']}x{once['height']}",
            row["config"],
            str(frames),
            format_number(once["median"], 4),
            format_number(once["iqr"], 4),
            format_number(once["fps"], 2),
            format_stage_seconds(once["stage_seconds"], frames),
            format_number(once["other_seconds"] / frames if frames else None, 4),
            format_number(once["peak_rss_mb"], 0),
            format_number(looped["peak_rss_mb"], 0) if looped else "—",
            memory_verdict(once["peak_rss_mb"], looped["peak_rss_mb"]) if looped else "—",
        ])
    return markdown_table(headers, cells)


def end_to_end_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The markdown table of the end-to-end runs, one row per height and configuration."""
    headers = ["size", "config", "frames", "fps", "keyframes", "s/frame per stage", "peak RSS MB"]
    cells = []
    for row in rows:
        run = row["end_to_end"]
        cells.append([
            f"{row['once']['width']}x{row['once']['height']}", row["config"], str(run["frames"]),
            format_number(run["fps"], 2), str(run["keyframes"]),
            format_stage_seconds(run["stage_seconds"], run["frames"]), format_number(run["peak_rss_mb"], 0),
        ])  # fmt: skip
    return markdown_table(headers, cells)


def report_lines(report: Mapping[str, Any]) -> list[str]:
    """The markdown lines describing a run: clip, settings, skips, then the table."""
    frames = report["frames"]
    models = sorted({row["once"]["model"] for row in report["rows"] if row["once"]["model"]})
    lines = [
        f"- Clip: `{report['video']}`, target `{report['target']}`, "
        f"{'the whole clip' if frames is None else f'{frames} timed frames'} after {WARMUP_FRAMES} warmup frames",
        f"- Streaming check: {report['loop']} passes over the same frames"
        if report["loop"] > 1 else "- Streaming check: off (--loop 1)",
        f"- Semantic model: {'; '.join(models) or '—'}",
    ]
    lines += [f"- `{name}` at {height}p not measured: {reason}" for height, name, reason in report["unmeasured"]]
    if report["rows"]:
        lines += ["", results_table(report["rows"], report["loop"]), "",
                  "Per-frame wall seconds (decoding and resizing included) after the warmup. memory: peak of the "
                  f"looped run within {FLAT_TOLERANCE:.0%} of one pass. See benchmarks/README.md."]  # fmt: skip
    end_to_end = [row for row in report["rows"] if row.get("end_to_end")]
    if end_to_end:
        lines += ["", "End to end, as `flowseg run` (decode, segment, write masks, mask and overlay videos), "
                  f"on the {WARMUP_FRAMES} + timed frames written to an MP4 at each height; fps from its summary.json, "
                  "model loading excluded:", "", end_to_end_table(end_to_end)]  # fmt: skip
    return lines


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, default=default_video(),
                        help="clip to time (default: $FLOWSEG_SHARED/data/videos/juggle.mp4 "
                             "or ../shared/data/videos/juggle.mp4)")
    parser.add_argument("--sizes", type=comma_list, default=["480", "720"],
                        help="comma-separated frame heights in pixels (default: 480,720)")
    parser.add_argument("--target", default="person", help="VOC target class(es) (default: person)")
    parser.add_argument("--frames", type=int, default=60, metavar="N",
                        help=f"timed frames after {WARMUP_FRAMES} warmup frames (default: 60; 0 for the whole clip)")
    parser.add_argument("--loop", type=int, default=10,
                        help="passes over the clip for the streaming memory check (default: 10; 1 turns it off)")
    add_shared_options(parser, out=Path("/tmp/flowseg-speed"))
    args = parser.parse_args(argv)
    if not all(size.isdigit() and int(size) >= 2 for size in args.sizes):
        parser.error(f"--sizes: {','.join(args.sizes)}; expected heights of at least 2 pixels, e.g. 480,720")
    args.sizes = [int(size) for size in args.sizes]
    if args.frames < 0 or args.loop < 1:
        parser.error(f"--frames is {args.frames} and --loop is {args.loop}; expected --frames >= 0 and --loop >= 1")
    if not args.video.exists():
        parser.error(f"--video {args.video} does not exist")
    args.frames = args.frames or None
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns the exit status (1 when a configuration failed)."""
    args = _parse_args(argv)
    env = environment()  # first: the load average before our own work
    rows: list[dict[str, Any]] = []
    unmeasured: list[tuple[int, str, str]] = []
    failed = False
    count = None if args.frames is None else WARMUP_FRAMES + args.frames
    clips = {height: write_clip(args.video, height, count, args.out / f"clip-{height}p.mp4") for height in args.sizes}
    for height, config in itertools.product(args.sizes, args.configs):
        once = attempt(config, run_speed, config, str(args.video), height, args.target, args.frames, 1)
        looped = None
        if once.reason is None and args.loop > 1:
            looped = attempt(config, run_speed, config, str(args.video), height, args.target, args.frames, args.loop)
        problem = next((run for run in (once, looped) if run is not None and run.reason is not None), None)
        if problem is not None:
            unmeasured.append((height, config, problem.reason))
            failed |= problem.failed
            continue
        end_to_end = attempt(config, run_end_to_end, config, str(clips[height]), height, args.target,
                             str(args.out / f"run-{config}-{height}p"))
        rows.append({"height": height, "config": config, "once": once.result,
                     "looped": looped.result if looped else None,
                     "end_to_end": end_to_end.result if end_to_end.reason is None else None})  # fmt: skip
        failed |= end_to_end.failed

    report = {
        "environment": env,
        "video": display_path(args.video),
        "target": args.target,
        "warmup_frames": WARMUP_FRAMES,
        "frames": args.frames,
        "loop": args.loop,
        "flat_tolerance": FLAT_TOLERANCE,
        "rows": rows,
        "unmeasured": unmeasured,
    }
    publish(report, report_lines(report), title="Speed and memory", out=args.out, record=args.record)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
