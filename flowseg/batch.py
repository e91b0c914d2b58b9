"""Many videos at once on Ray: ``run_batch``, behind ``flowseg batch``.

Each input is segmented exactly as :func:`flowseg.segment_video` does, into
``OUT/<input name>/``, by a pool of Ray actors that each build the pipeline
(and load its models) once. Without an address Ray starts on this machine;
with one (``"auto"`` or ``"host:port"``) the same code runs on a cluster,
where each worker needs flowseg installed and the inputs and ``OUT`` on a
shared file system (only paths travel; frames are read where they are
processed).

Resuming and failures:

- An output folder appears only when complete (see :class:`flowseg.io.ResultWriter`),
  so an input whose ``OUT/<name>/summary.json`` exists is done and is skipped
  when the batch runs again; anything less is redone.
- A worker process that dies (killed, out of memory) is restarted by Ray and
  its input retried, up to `retries` times.
- An input that fails for its own reasons (missing, corrupt) is recorded
  with its one-line error in ``OUT/batch_report.json``; the others go on.
"""

from __future__ import annotations

import csv
import glob
import itertools
import json
import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from .errors import ConfigError, FlowsegError, MissingDependencyError, OutputError, VideoOpenError

__all__ = ["BatchInput", "Segment", "SEGMENT_WARMUP", "collect_inputs", "plan_segments", "read_manifest", "run_batch",
           "REPORT_NAME"]

REPORT_NAME = "batch_report.json"
"""The batch's report, written in the output folder after every input (temporary name, then rename)."""


@dataclass(frozen=True)
class BatchInput:
    """One input of a batch: a video file or image folder, and its initial mask if any."""

    path: Path
    init_mask: Path | None = None
    init_frame: int = 0

    @property
    def name(self) -> str:
        """Its output folder's name: the file name without extension, or the folder's name."""
        return self.path.name if self.path.is_dir() else self.path.name.split(".")[0] or self.path.name


SEGMENT_WARMUP: int = 8
"""Frames run before each part of a split video and not written, so its first frames have a settled past."""


@dataclass(frozen=True)
class Segment:
    """Frames ``start`` to ``stop - 1`` of a long input, processed on their own after ``warmup`` unwritten frames."""

    entry: BatchInput
    index: int
    start: int
    stop: int
    warmup: int = SEGMENT_WARMUP


def plan_segments(
    entry: BatchInput, frames: int | None, split_frames: int | None, cuts: Iterable[int] = ()
) -> list[Segment]:
    """Cut an input into parts of about `split_frames` frames (none when it is shorter or not splittable).

    Each cut between parts moves to the nearest shot change (a frame in
    `cuts`, the first of a new shot) within a quarter of a part, where the
    part after it needs no warm-up: the pipeline starts afresh there anyway.
    An input with an initial mask is never split (its object is marked in
    one frame only), nor one of unknown length.

    Examples
    --------
    >>> [(s.start, s.stop, s.warmup) for s in plan_segments(BatchInput(Path("a.mp4")), 250, 100, cuts=[90])]
    [(0, 90, 8), (90, 167, 0), (167, 250, 8)]
    """
    if not split_frames or frames is None or frames <= split_frames or entry.init_mask is not None:
        return []
    count = -(-frames // split_frames)
    bounds = [round(k * frames / count) for k in range(count + 1)]
    shots = sorted(set(cuts))
    at_cut = [False] * (count + 1)
    for k in range(1, count):
        near = [c for c in shots if abs(c - bounds[k]) <= split_frames / 4 and bounds[k - 1] < c < bounds[k + 1]]
        if near:
            bounds[k] = min(near, key=lambda c: abs(c - bounds[k]))
            at_cut[k] = True
    return [Segment(entry, k, bounds[k], bounds[k + 1], 0 if at_cut[k] else SEGMENT_WARMUP) for k in range(count)]


def collect_inputs(items: Iterable[str | Path]) -> list[BatchInput]:
    """Inputs from paths, glob patterns and text files that list them (one a line, ``#`` comments).

    Paths in a list file are relative to the list file's folder. A ``.csv``
    item is a manifest (see :func:`read_manifest`).

    Raises
    ------
    ConfigError
        If a pattern matches nothing, or two inputs would write to the same
        output folder.
    """
    found: list[BatchInput] = []
    for item in items:
        text = str(item)
        path = Path(text)
        if path.suffix.lower() == ".csv" and path.is_file():
            found += read_manifest(path)
        elif path.suffix.lower() == ".txt" and path.is_file():
            lines = [line.split("#")[0].strip() for line in path.read_text(encoding="utf-8").splitlines()]
            found += collect_inputs(str(path.parent / line) for line in lines if line)
        elif glob.has_magic(text):
            matches = sorted(glob.glob(text))
            if not matches:
                raise ConfigError(f"no input matches {text!r}")
            found += [BatchInput(Path(match)) for match in matches]
        else:
            found.append(BatchInput(path))  # a missing file is reported as that input's failure
    names: dict[str, Path] = {}
    for entry in found:
        if entry.name in names and names[entry.name] != entry.path:
            raise ConfigError(f"inputs {str(names[entry.name])!r} and {str(entry.path)!r} would both write to "
                              f"OUT/{entry.name}; rename one")
        names[entry.name] = entry.path
    return list({entry.path: entry for entry in found}.values())


def read_manifest(path: str | Path) -> list[BatchInput]:
    """Inputs from a CSV manifest with the columns ``input`` and, optionally, ``init_mask`` and ``init_frame``.

    Paths are relative to the manifest's folder.
    """
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    if rows and "input" not in rows[0]:
        raise ConfigError(f"manifest {str(path)!r} has no 'input' column (columns: input, init_mask, init_frame)")
    inputs = []
    for row in rows:
        mask = (row.get("init_mask") or "").strip()
        inputs.append(BatchInput(path.parent / row["input"].strip(), path.parent / mask if mask else None,
                                 int((row.get("init_frame") or "0").strip() or 0)))  # fmt: skip
    return inputs


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("flowseg batch runs on Ray, which is not installed: "
                                     "pip install 'flowseg[batch]'") from None
    return ray


class _Worker:
    """Segments one input at a time with a pipeline built once (the body of a Ray actor)."""

    def __init__(self, pipeline_options: dict[str, Any], run_options: dict[str, Any]) -> None:
        from .pipeline import Pipeline

        self.pipeline = Pipeline.from_preset(**pipeline_options)
        self.run_options = run_options

    def process(self, entry: BatchInput, output_dir: str) -> dict[str, Any]:
        """Segment `entry` into `output_dir`: a report row, the error caught when the input itself is bad."""
        from .runner import segment_video

        start = time.perf_counter()
        try:
            summary = segment_video(entry.path, output_dir, pipeline=self.pipeline, init_mask=entry.init_mask,
                                    init_frame=entry.init_frame, overwrite=True, **self.run_options)  # fmt: skip
        except FlowsegError as error:
            return {"status": "failed", "error": str(error), "seconds": round(time.perf_counter() - start, 3)}
        return {"status": "done", "frames": summary["frames"], "fps": summary["fps"],
                "seconds": round(time.perf_counter() - start, 3)}

    def segment(self, part: Segment, folder: str) -> dict[str, Any]:
        """Segment the frames of one part of a long video into `folder` (masks only), after warming up.

        The pipeline first runs on the part's ``warmup`` frames before it,
        unwritten, so the flow and the carried masks are settled when the
        part begins. With instances, the warm-up frames' labels are kept too
        (``overlap_<name>.png``), for :meth:`stitch` to match the IDs.
        """
        from ._concurrency import configure_threads
        from .io import FrameSource, ResultWriter

        configure_threads()
        start = time.perf_counter()
        try:
            source = FrameSource(part.entry.path)
            first = max(0, part.start - part.warmup)
            names, images = itertools.tee(itertools.islice(source.timed(), first, part.stop))
            with ResultWriter(folder, fps=source.fps, videos=False, instances=self._category(),
                              overwrite=True) as writer:  # fmt: skip
                stream = self.pipeline.stream if self.run_options.get("causal") else self.pipeline.stream_two_pass
                results = stream(frame.image for frame in images)
                for index, (result, (name, image, _, _)) in enumerate(zip(results, names), start=first):
                    if index >= part.start:
                        writer.write(name, image, result.mask, labels=result.labels)
                    elif result.labels is not None:
                        writer.write_png(f"overlap_{name}", result.labels.astype(np.uint16))
                writer.finish({"start": part.start, "stop": part.stop, "frames": writer.frames_written})
        except FlowsegError as error:
            return {"status": "failed", "error": str(error)}
        return {"status": "done", "frames": part.stop - part.start, "seconds": round(time.perf_counter() - start, 3)}

    def _passes(self) -> dict[str, Any]:
        """How the parts of a split video went over their frames, as :attr:`Pipeline.passes` says of a run."""
        blocker = "causal: forward only" if self.run_options.get("causal") else self.pipeline.two_pass_blocker()
        if blocker is not None:
            return {"count": 1, "why": blocker}
        return {"count": 2, "why": "each part went over its frames as Pipeline.stream_two_pass does: the movers "
                                   "found, then followed both ways from a key frame of each shot"}

    def _category(self) -> str | None:
        """The class name of instance tracks, or None without instances."""
        return "+".join(self.pipeline.target) if self.pipeline.tracks_instances else None

    def stitch(self, entry: BatchInput, parts: list[Segment], folders: list[str], output_dir: str,
               shot_changes: list[int]) -> dict[str, Any]:
        """Write the finished output folder of a split video from its parts, with videos and audio.

        `shot_changes` are the video's, found when the parts were planned.

        With instances, each part's IDs are matched to the IDs already
        written by their overlap on the part's warm-up frames (most shared
        pixels, one to one); IDs that match nothing, and all IDs of a part
        that starts a new shot, become new IDs.
        """
        from ._summary import json_safe, provenance
        from .evaluation import read_mask_png
        from .io import FrameSource, ResultWriter
        from .pipeline import stage_settings
        from .io.timeline import edl_of_run

        source = FrameSource(entry.path)
        options = {k: v for k, v in self.run_options.items() if k in ("alpha", "feather", "videos")}
        ids = _IdStitcher()
        try:
            with ResultWriter(output_dir, overwrite=True, instances=self._category(), **source.output_timing(),
                              **options) as writer:  # fmt: skip
                frames = source.timed()
                for part, folder in zip(parts, folders):
                    if writer.instances is not None:
                        ids.start_part(Path(folder), part)
                    for name, image, frame_time, alpha in itertools.islice(frames, part.stop - part.start):
                        labels = ids.labels(Path(folder) / "instances" / f"{name}.png", name) \
                            if writer.instances is not None else None
                        writer.write(name, image, read_mask_png(Path(folder) / "masks" / f"{name}.png"), frame_time,
                                     labels, alpha)  # fmt: skip
                if next(frames, None) is not None:  # the parts were planned from the frames the container lists
                    raise VideoOpenError(f"{str(entry.path)!r} decodes to more frames than its container lists; "
                                         "run it without --split-frames")
                if self.run_options.get("edl"):
                    edl = edl_of_run(shot_changes, frames=writer.frames_written, fps=source.fps, source=entry.path)
                    writer.write_text("shots.edl", edl)
                writer.finish(json_safe({
                    "input": str(entry.path), "output": output_dir, "frames": writer.frames_written,
                    "input_fps": source.fps, "mode": "target", "shot_changes": shot_changes,
                    "segments": [[part.start, part.stop, part.warmup] for part in parts],
                    "passes": self._passes(),
                    "model": self.pipeline.model_used,
                    "preset": self.pipeline.preset, "settings": stage_settings(self.pipeline.stages), **provenance(),
                }))  # fmt: skip
        except FlowsegError as error:
            return {"status": "failed", "error": f"stitching: {error}"}
        shutil.rmtree(Path(folders[0]).parent, ignore_errors=True)
        return {"status": "done", "frames": writer.frames_written}


class _IdStitcher:
    """Instance IDs across the parts of a split video: each part's IDs mapped onto the ones written before."""

    def __init__(self) -> None:
        self._recent: dict[str, np.ndarray] = {}  # frame name -> stitched labels, the last SEGMENT_WARMUP frames
        self._mapping: dict[int, int] = {}
        self._next = 1

    def start_part(self, folder: Path, part: Segment) -> None:
        """Match the IDs of the part in `folder` with those written over its warm-up frames."""
        from scipy.optimize import linear_sum_assignment

        shared: dict[tuple[int, int], int] = {}
        for overlap in sorted(folder.glob("overlap_*.png")) if part.warmup else []:
            before = self._recent.get(overlap.stem[len("overlap_"):])
            if before is None:
                continue
            mine = _read_labels(overlap)
            pairs, counts = np.unique(np.stack([mine[(mine > 0) & (before > 0)],
                                                before[(mine > 0) & (before > 0)]]), axis=1, return_counts=True)
            for (a, b), n in zip(pairs.T, counts):
                shared[(int(a), int(b))] = shared.get((int(a), int(b)), 0) + int(n)
        self._mapping = {}
        if shared:
            rows = sorted({a for a, _ in shared})
            cols = sorted({b for _, b in shared})
            gain = np.array([[shared.get((a, b), 0) for b in cols] for a in rows])
            for r, c in zip(*linear_sum_assignment(-gain)):
                if gain[r, c] > 0:
                    self._mapping[rows[r]] = cols[c]

    def labels(self, path: Path, name: str) -> np.ndarray:
        """The stitched labels of one frame of the current part."""
        labels = _read_labels(path).astype(np.uint16)
        for number in np.unique(labels[labels > 0]):
            if int(number) not in self._mapping:
                self._mapping[int(number)] = self._next
            self._next = max(self._next, self._mapping[int(number)] + 1)
        table = np.zeros(int(labels.max()) + 1, np.uint16)
        for own, stitched in self._mapping.items():
            if own < len(table):
                table[own] = stitched
        result = table[labels]
        self._recent[name] = result
        if len(self._recent) > SEGMENT_WARMUP:
            self._recent.pop(next(iter(self._recent)))
        return result


def _read_labels(path: Path) -> np.ndarray:
    """An instance-label PNG (indexed, or 16-bit grey) as its integer values."""
    from PIL import Image

    with Image.open(path) as png:
        return np.asarray(png).astype(np.int64)


def run_batch(
    inputs: list[BatchInput],
    output_dir: str | Path,
    *,
    pipeline_options: dict[str, Any] | None = None,
    run_options: dict[str, Any] | None = None,
    workers: int | None = None,
    address: str | None = None,
    retries: int = 2,
    split_frames: int | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Segment every input on a pool of Ray workers; skip those already done.

    Parameters
    ----------
    inputs : list of BatchInput
        See :func:`collect_inputs`.
    output_dir : path-like
        ``OUT``: each input goes to ``OUT/<name>/``, the report to
        ``OUT/batch_report.json``.
    pipeline_options : dict, optional
        Keywords of :meth:`flowseg.Pipeline.from_preset` (``preset`` included; default ``balanced``).
    run_options : dict, optional
        Keywords of :func:`flowseg.segment_video` (``alpha``, ``videos``, ...).
    workers : int, optional
        Workers (Ray actors); default: the CPUs Ray sees.
    address : str, optional
        A Ray cluster (``"auto"`` or ``"host:port"``); default: start Ray here.
    retries : int
        Times an input is tried again after its worker process died.
    split_frames : int, optional
        Cut a video longer than this into parts of about this many frames,
        processed in parallel (each after :data:`SEGMENT_WARMUP` unwritten
        frames) and stitched into one output (see :func:`plan_segments`;
        not with instances, whose IDs would not match across parts).
    progress : callable, optional
        Called with the report after each input.

    Returns
    -------
    dict
        The report: ``"inputs"`` (per input: ``"input"``, ``"output"``,
        ``"status"`` (``done``, ``skipped``, ``failed``), ``"error"``,
        ``"frames"``, ``"fps"``, ``"seconds"``), ``"done"``, ``"skipped"``,
        ``"failed"``, ``"frames"``, ``"seconds"``, ``"fps"`` (frames per
        second over the batch), ``"workers"``.

    Raises
    ------
    MissingDependencyError
        If Ray is not installed.
    OutputError
        If `output_dir` cannot be written.
    """
    ray = _ray()
    out = Path(output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot write to output folder {str(out)!r}: {error.strerror}") from None
    rows = {entry.path: {"input": str(entry.path), "output": str(out / entry.name), "status": "pending"}
            for entry in inputs}  # fmt: skip
    todo = []
    for entry in inputs:
        if (out / entry.name / "summary.json").is_file():
            rows[entry.path]["status"] = "skipped"
            continue
        for leftover in out.glob(f".{entry.name}.partial-*"):  # from a run that was killed
            shutil.rmtree(leftover, ignore_errors=True)
        todo.append(entry)
    report = {"inputs": list(rows.values()), "workers": 0}
    start = time.perf_counter()
    tasks, splits = _plan(todo, out, rows, split_frames)
    if tasks:
        if not ray.is_initialized():
            _start_ray(ray, address, workers)
        count = max(1, min(len(tasks), workers or int(ray.available_resources().get("CPU", 1))))
        report["workers"] = count
        actor = ray.remote(num_cpus=1, max_restarts=retries, max_task_retries=retries)(_Worker)
        pool = [actor.remote(pipeline_options or {"preset": "balanced"}, run_options or {}) for _ in range(count)]
        waiting: dict[Any, tuple[Any, tuple[str, tuple, BatchInput]]] = {}

        def submit(worker: Any) -> None:
            if tasks:
                task = tasks.pop(0)
                waiting[getattr(worker, task[0]).remote(*task[1])] = (worker, task)

        for worker in pool:
            submit(worker)
        while waiting:
            ready, _ = ray.wait(list(waiting), num_returns=1)
            worker, (method, _, entry) = waiting.pop(ready[0])
            try:
                result = ray.get(ready[0])
            except ray.exceptions.RayError as error:  # the worker died more often than retried
                result = {"status": "failed", "error": f"worker lost: {type(error).__name__}"}
            row = rows[entry.path]
            if method == "segment" and result["status"] == "done":
                row["frames"] = row.get("frames", 0) + result["frames"]
                stitch = splits[entry.path]  # ("stitch", (entry, parts, folders, ...), entry)
                if row["status"] != "failed" and all((Path(f) / "summary.json").is_file() for f in stitch[1][2]):
                    tasks.insert(0, stitch)
            elif row["status"] != "failed":
                row.update(result)
                if row["status"] == "done" and method == "stitch":  # a split input: its parts ran side by side
                    row["seconds"] = round(time.perf_counter() - start, 3)
                    row["fps"] = round(row["frames"] / row["seconds"], 3)
                _summarise(report, rows, start)
                _write_report(out, report)
                if progress is not None:
                    progress(report)
            submit(worker)
    _summarise(report, rows, start)
    _write_report(out, report)
    return report


def _plan(todo: list[BatchInput], out: Path, rows: dict[Path, dict[str, Any]], split_frames: int | None
          ) -> tuple[list[tuple[str, tuple, BatchInput]], dict[Path, tuple[str, tuple, BatchInput]]]:
    """The tasks of a batch: ``("process", ...)`` per input, or ``("segment", ...)`` per unfinished part of a
    long one; and each split input's ``("stitch", ...)`` task, to run when its parts are done."""
    from .io import FrameSource

    tasks: list[tuple[str, tuple, BatchInput]] = []
    splits: dict[Path, tuple[str, tuple, BatchInput]] = {}
    for entry in todo:
        try:
            length = FrameSource(entry.path).frame_count if split_frames else None
            cuts = _shot_changes(entry.path) if length and length > split_frames else []
        except FlowsegError:
            length, cuts = None, []  # the worker reports what is wrong with it
        parts = plan_segments(entry, length, split_frames, cuts)
        if not parts:
            tasks.append(("process", (entry, str(out / entry.name)), entry))
            continue
        folders = [str(out / f".{entry.name}.segments" / f"{part.index:03d}") for part in parts]
        splits[entry.path] = ("stitch", (entry, parts, folders, str(out / entry.name), cuts), entry)
        rows[entry.path]["segments"] = len(parts)
        unfinished = [(part, folder) for part, folder in zip(parts, folders)
                      if not (Path(folder) / "summary.json").is_file()]  # fmt: skip
        tasks += [("segment", (part, folder), entry) for part, folder in unfinished]
        if not unfinished:
            tasks.append(splits[entry.path])
    return tasks, splits


def _shot_changes(path: Path) -> list[int]:
    """The first frame of every shot after the first (:func:`flowseg.shots.detect`, a few ms a frame)."""
    from .io import FrameSource
    from .shots import detect

    return [boundary.end for boundary in detect(image for _, image in FrameSource(path))]


def _start_ray(ray: Any, address: str | None, workers: int | None) -> None:
    """Start Ray here, or join the cluster at `address`; a cluster that cannot be reached is a one-line error."""
    if address and address != "auto":
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
        except (OSError, ValueError) as error:
            raise ConfigError(f"cannot reach the Ray cluster at {address!r} (host:port): {error}") from None
    try:
        ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)  # fmt: skip
    except (ConnectionError, RuntimeError) as error:
        raise ConfigError(f"cannot start or join Ray ({address or 'local'}): {error}") from None


def _summarise(report: dict[str, Any], rows: dict[Path, dict[str, Any]], start: float) -> None:
    report["inputs"] = list(rows.values())
    for status in ("done", "skipped", "failed"):
        report[status] = sum(row["status"] == status for row in rows.values())
    report["frames"] = sum(row.get("frames", 0) for row in rows.values() if row["status"] == "done")
    report["seconds"] = round(time.perf_counter() - start, 3)
    report["fps"] = round(report["frames"] / report["seconds"], 3) if report["seconds"] > 0 else None


def _write_report(out: Path, report: dict[str, Any]) -> None:
    path = out / REPORT_NAME
    tmp = out / f".{REPORT_NAME}.partial"
    try:
        tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as error:
        raise OutputError(f"cannot write {str(path)!r}: {error.strerror}") from None
