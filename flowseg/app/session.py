"""What the app edits: one clip, the marks a user gave on its frames, and one job at a time in the background.

An :class:`EditingSession` holds the clip's frames and a
:class:`~flowseg.corrections.Annotations`. Marks on a frame (a box, clicks,
strokes) give a *preview* mask at once (:meth:`EditingSession.preview`);
:meth:`EditingSession.propagate` gives every previewed frame to the
annotations, which follow the object from it forwards and backwards, in a
background thread whose progress :meth:`EditingSession.state` reports.
:meth:`EditingSession.export` writes what ``flowseg run`` writes. Nothing
here knows about HTTP: the server (:mod:`flowseg.app.server`) only
translates requests into these calls.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._summary import json_safe, provenance
from ..corrections import Annotations, Progress
from ..errors import ConfigError, FlowsegError, MaskError, OutputError, PromptError
from ..io import FrameSource, ResultWriter
from ..pipeline import Pipeline
from ..prompts import Prompt, draw_stroke
from ..runner import quality_report
from ..types import Image, Mask

__all__ = ["EditingSession", "Job", "BusyError", "ClipTooLargeError", "prompt_from_marks", "available_memory"]

HELD_BYTES_PER_PIXEL: int = 6
"""What a session holds for each pixel of each frame: the frame (3 bytes) and, for each of the two runs that reach
it (:class:`~flowseg.corrections.Annotations`), a mask (1 byte) and a half-size float16 probability (0.5): about
2.5 MB a frame at 854x480."""


class BusyError(ConfigError):
    """A job (propagation or export) is still running; the session takes one at a time."""


class ClipTooLargeError(FlowsegError, MemoryError):
    """The clip would take more memory than the machine has free (a session holds every frame)."""


def available_memory() -> int | None:
    """Bytes of memory the machine can give now: Linux's ``MemAvailable``, elsewhere its physical memory; None
    where neither is known."""
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # no such names here (Windows)
        return None


@dataclass
class Job:
    """The session's current or last background job."""

    kind: str = ""
    """``"propagate"``, ``"export"``, or ``""`` before the first."""
    done: int = 0
    total: int = 0
    running: bool = False
    error: str | None = None
    """The one-line message of the error that ended it, if one did."""
    result: dict[str, Any] = field(default_factory=dict)
    """What it gave: for an export, ``{"files": [...]}``, the output folder's entries (a folder's with "/")."""


def prompt_from_marks(frame: int, marks: Mapping[str, Any], shape: tuple[int, int]) -> Prompt:
    """A :class:`~flowseg.prompts.Prompt` from the marks the page sends (JSON).

    Parameters
    ----------
    frame : int
        The frame they are on.
    marks : mapping
        ``"box"``: ``[x0, y0, x1, y1]`` or null; ``"points"``,
        ``"negative_points"``: lists of ``[x, y]``; ``"strokes"``,
        ``"negative_strokes"``: lists of ``{"points": [[x, y], ...], "width": px}``.
        Pixels of the frame; a box's corners in any order.
    shape : (H, W)
        The frame's size.

    Raises
    ------
    PromptError
        For marks that are not of that form.
    """
    try:
        box = marks.get("box")
        if box is not None:
            x0, y0, x1, y1 = (round(float(v)) for v in box)
            box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        points = tuple((round(float(x)), round(float(y))) for x, y in marks.get("points", ()))
        negative = tuple((round(float(x)), round(float(y))) for x, y in marks.get("negative_points", ()))
        strokes = [_strokes(marks.get(key, ()), shape) for key in ("strokes", "negative_strokes")]
    except (TypeError, ValueError, AttributeError) as error:
        raise PromptError(f"marks on frame {frame} are not a box, points and strokes: {error}") from None
    return Prompt(frame=frame, box=box, points=points, negative_points=negative, strokes=strokes[0],
                  negative_strokes=strokes[1])


def _strokes(strokes: Any, shape: tuple[int, int]) -> Mask | None:
    if not strokes:
        return None
    return np.logical_or.reduce([draw_stroke(shape, stroke["points"], float(stroke["width"])) for stroke in strokes])


class EditingSession:
    """One clip in the app: its frames, the marks and masks given on them, and a background job.

    Parameters
    ----------
    video : path-like
        A video file or a folder of images (:class:`~flowseg.io.FrameSource`),
        decoded whole at the start: the session holds every frame (about
        1.2 MB a frame at 854x480, and as much again for the masks).
    output_dir : path-like
        Where :meth:`export` writes; nothing else is written.
    pipeline : Pipeline, optional
        What follows the object; default ``Pipeline()``.
    video_stream : int
        Which video stream of a file to read.

    Raises
    ------
    VideoOpenError, ShapeError
        As :class:`~flowseg.io.FrameSource` does.
    ClipTooLargeError
        After decoding the first frame only, where the clip's frames (as many
        as its container lists) would take more than :func:`available_memory`,
        at :data:`HELD_BYTES_PER_PIXEL`.
    """

    def __init__(self, video: str | Path, output_dir: str | Path, *, pipeline: Pipeline | None = None,
                 video_stream: int = 0) -> None:
        source = FrameSource(video, video_stream=video_stream)
        self.video = Path(video)
        self.output_dir = Path(output_dir)
        self.fps = source.fps
        frames = source.timed()
        first = next(frames)  # the source decoded one already, or raised
        height, width = first.image.shape[:2]
        needed, free = source.frame_count * height * width * HELD_BYTES_PER_PIXEL, available_memory()
        if free is not None and needed > free:
            raise ClipTooLargeError(
                f"{self.video.name} has {source.frame_count} frames at {width}x{height}: the app holds them all, "
                f"about {needed / 1e9:.1f} GB, and this machine has {free / 1e9:.1f} GB free; open a shorter clip, "
                f"or give the object to 'flowseg run', which streams")
        decoded = [first, *frames]
        self.names = [frame.name for frame in decoded]
        self.frames: list[Image] = [frame.image for frame in decoded]
        self._times = [frame.time for frame in decoded]
        self._timing = source.output_timing()
        self.annotations = Annotations(self.frames, pipeline=pipeline)
        self.marks: dict[int, dict[str, Any]] = {}
        """The marks given on each frame, as the page sent them."""
        self._previews: dict[int, Mask] = {}  # masks from marks, not yet given to the annotations
        self.version = 0
        """Goes up each time a mask may have changed (the page fetches masks again)."""
        self.job = Job()
        self._lock = threading.Lock()  # held while the annotations change, and to read them
        self._thread: threading.Thread | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """The frames' ``(H, W)``."""
        return self.frames[0].shape[:2]

    def mask(self, frame: int) -> Mask:
        """The mask shown on `frame`: its preview where it has one, else the annotations'; ``(H, W) bool``."""
        self.annotations.check_frame(frame)
        if frame in self._previews:
            return self._previews[frame]
        if not self._lock.acquire(timeout=1):
            raise BusyError(f"a {self.job.kind} is running: the masks come with its end")
        try:
            return self.annotations.mask(frame)
        finally:
            self._lock.release()

    def preview(self, frame: int, marks: Mapping[str, Any]) -> Mask:
        """The mask `marks` give on `frame`, kept as that frame's preview until :meth:`propagate`.

        `marks` as :func:`prompt_from_marks` reads them, or ``{"absent": true}``:
        the object is not on that frame (out of view, hidden), an empty mask.

        Raises
        ------
        MaskError
            For a frame outside the clip.
        PromptError
            For marks that are malformed, mark nothing on the object, or give an empty mask.
        BusyError
            While a job runs.
        """
        self.annotations.check_frame(frame)
        self._check_idle()
        if marks.get("absent"):  # the object is out of view or hidden there
            mask = np.zeros(self.shape, bool)
        else:
            prompt = prompt_from_marks(frame, marks, self.shape)
            if prompt.is_empty() and not self.annotations.mask(frame).any():  # clicks off it correct a mask there
                raise PromptError("mark the object: a box, a click on it or a stroke on it")
            mask = self.annotations.prompted_mask(prompt)  # reads the frames and the masks: the session is idle
            if not mask.any():
                raise PromptError(f"the marks on frame {frame} give an empty mask: mark the object more clearly")
        self.marks[frame], self._previews[frame] = dict(marks), mask
        self.version += 1
        return mask

    def forget(self, frame: int) -> None:
        """Drop the marks and mask of `frame`: a preview at once; a given mask by a job (its neighbours' runs meet)."""
        self.annotations.check_frame(frame)
        self._check_idle()
        self.marks.pop(frame, None)
        if self._previews.pop(frame, None) is not None:
            self.version += 1
        if frame in self.annotations.given:
            def remove(progress: Progress) -> None:
                self.annotations.remove(frame, progress=progress)

            self._start("propagate", remove)

    def propagate(self) -> None:
        """Give every previewed frame to the annotations, in a background job; the masks between follow.

        Raises
        ------
        BusyError
            While a job runs.
        MaskError
            If no frame has a preview.
        """
        if not self._previews:
            raise MaskError("nothing to propagate: mark the object on a frame first")

        def give(progress: Progress) -> None:
            frames = sorted(self._previews)
            for at, frame in enumerate(frames):
                def step(done: int, total: int, at: int = at) -> None:
                    progress(at * total + done, len(frames) * total)  # each given frame an equal share of the bar

                self.annotations.annotate(frame, self._previews[frame], exact=False, progress=step)  # from marks
                del self._previews[frame]

        self._start("propagate", give)

    def export(self, alpha: tuple[str, ...] = ("webm",), feather: float = 0.0) -> None:
        """Write what ``flowseg run`` writes into the output folder, in a background job; it replaces the last export.

        Masks, matte and overlay videos, the cut-out with alpha in each format
        of `alpha` (:data:`flowseg.io.ALPHA_FORMATS`) and ``summary.json``
        (with the given frames, their marks, and each frame's confidence);
        the folder appears only when complete. The job's result lists the files.

        Raises
        ------
        BusyError
            While a job runs.
        MaskError
            If no frame was given yet, or a frame is marked and not propagated.
        """
        if self._previews:
            raise MaskError(f"frame(s) {', '.join(map(str, sorted(self._previews)))} are marked but not propagated: "
                            "Propagate first, or clear them")
        if not self.annotations.given:
            raise MaskError("nothing to export yet: mark the object and propagate first")

        def write(progress: Progress) -> dict[str, Any]:
            start = time.perf_counter()
            with ResultWriter(self.output_dir, alpha=alpha, feather=feather, overwrite=True, **self._timing) as out:
                for index, (name, image, frame_time) in enumerate(zip(self.names, self.frames, self._times)):
                    out.write(name, image, self.annotations.mask(index), frame_time)
                    progress(index + 1, len(self.frames))
                out.finish(self.summary(seconds=time.perf_counter() - start))
            return {"files": sorted(entry.name + "/" * entry.is_dir() for entry in self.output_dir.iterdir())}

        self._start("export", write)

    def summary(self, *, seconds: float) -> dict[str, Any]:
        """``summary.json`` of an export: the clip, the given frames with their marks, each frame's confidence."""
        qualities = [(t, name, {"confidence": self.annotations.confidence(t)}) for t, name in enumerate(self.names)]
        return json_safe({
            "input": str(self.video), "output": str(self.output_dir), "frames": len(self.frames),
            "width": self.shape[1], "height": self.shape[0], "input_fps": self.fps, "mode": "object",
            "given": [{"frame": t, "name": self.names[t], "marks": self.marks.get(t)} for t in self.annotations.given],
            "frames_computed": self.annotations.frames_computed, "quality": quality_report(qualities),
            "seconds": {"export": round(seconds, 3)}, **provenance(),
        })  # fmt: skip

    def state(self) -> dict[str, Any]:
        """What the page shows beside the frame: the job, the given, previewed and suspect frames, confidences."""
        job = self.job
        state: dict[str, Any] = {"version": self.version, "previewed": sorted(self._previews),
                                 "job": {"kind": job.kind, "done": job.done, "total": job.total,
                                         "running": job.running, "error": job.error, **job.result}}  # fmt: skip
        if job.running:  # the annotations are changing: the frames they give come with the job's end
            return state | {"given": [], "suspects": [], "confidence": []}
        with self._lock:
            given = self.annotations.given
            return state | {"given": list(given),
                            "suspects": self.annotations.suspect_frames() if given else [],
                            "confidence": [round(self.annotations.confidence(t), 3) for t in range(len(self.frames))]
                            if given else []}  # fmt: skip

    def wait(self, timeout: float | None = None) -> Job:
        """Block until the current job ends (or `timeout` seconds pass); the job."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.job

    def _check_idle(self) -> None:
        if self.job.running:
            raise BusyError(f"a {self.job.kind} is running: wait for it to finish")

    def _start(self, kind: str, work: Callable[[Progress], dict[str, Any] | None]) -> None:
        self._check_idle()
        job = self.job = Job(kind=kind, running=True)

        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total

        def run() -> None:
            try:
                with self._lock:
                    result = work(progress)
                job.result = result or {}
            except (MaskError, PromptError, OutputError, ConfigError) as error:
                job.error = str(error)
            except Exception as error:  # noqa: BLE001 -- the page must hear of it; the server's log has the traceback
                job.error = f"{type(error).__name__}: {error}"
                raise
            finally:
                self.version += 1
                job.running = False

        self._thread = threading.Thread(target=run, name=f"flowseg-{kind}", daemon=True)
        self._thread.start()
