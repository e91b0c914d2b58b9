"""One call from a video on disk to a finished output folder: ``segment_video``."""

from __future__ import annotations

import contextlib
import itertools
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from ._concurrency import BackgroundWorker, configure_threads, prefetch
from ._summary import json_safe, provenance
from .evaluation import read_objects
from .io import FrameSource, FrameTime, ResultWriter
from .io.coco import CocoWriter
from .io.timeline import edl_of_run
from .io.tracks import objects_in
from .errors import PromptError
from .io.preview import overlay
from .pipeline import Pipeline, object_labels, stage_settings
from .prompts import Prompt, mask_from_prompt
from .stages.quality import QUALITY_TERMS

__all__ = ["segment_video", "prompted_object", "quality_report", "quality_csv", "SUSPECT_FRAMES"]

ProgressCallback = Callable[[int, int], None]
"""Called after each frame with (frames done, frames expected): the frames the input lists, or done where decoding
finds more, so never fewer than done. Decoding may not reach them all (damaged frames): a progress display should
complete itself at the end."""


def segment_video(
    input_path: str | Path,
    output_dir: str | Path,
    *,
    pipeline: Pipeline | None = None,
    alpha: tuple[str, ...] = (),
    feather: float = 0.0,
    videos: bool = True,
    edl: bool = False,
    coco: str | Path | None = None,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    init_mask: str | Path | np.ndarray | None = None,
    init_frame: int = 0,
    video_stream: int = 0,
    causal: bool = False,
    prompt: Prompt | None = None,
) -> dict[str, Any]:
    """Segment a video file or image folder and write the results to a folder.

    Parameters
    ----------
    input_path : str or Path
        Video file or folder of images, see :class:`flowseg.io.FrameSource`.
    output_dir : str or Path
        Output folder, laid out as in :class:`flowseg.io.ResultWriter`. It
        appears only once every frame is written.
    pipeline : Pipeline, optional
        The pipeline to run; default ``Pipeline()`` (person, all stages).
    alpha : sequence of str
        Cut-outs with alpha to write, from :data:`flowseg.io.ALPHA_FORMATS`.
    feather : float
        Soften the cut-outs' alpha and the matte over this many pixels
        across the mask's edge.
    videos : bool
        Write the matte and overlay videos.
    edl : bool
        Also write ``shots.edl``, the shots the run found as a CMX 3600 edit
        decision list.
    coco : path-like, optional
        Also write every frame's mask to this COCO JSON file (run-length
        encoded), written under a temporary name and renamed when complete.
    overwrite : bool
        Replace an existing non-empty `output_dir`.
    progress : callable, optional
        ``progress(done, total)`` after each frame (see :data:`ProgressCallback`).
    init_mask : path-like or (H, W) array_like, optional
        Semi-supervised mode: the object to follow, as marked in frame
        `init_frame` (a mask image file, or an array; non-zero = object).
        A palette PNG, a grey (8- or 16-bit) PNG or an integer array
        labelled 1..N, or a folder of one mask per object, marks N objects,
        each followed and written as an instance with its label as its ID
        (see :func:`flowseg.evaluation.read_objects` and
        :func:`flowseg.pipeline.object_labels`).
    init_frame : int
        The frame `init_mask` marks.
    video_stream : int
        Which video stream of a file to read (0 = the first).
    causal : bool
        Segment each frame from itself and the frames before it only
        (:meth:`Pipeline.stream`); by default the whole video is used where
        it helps (:meth:`Pipeline.stream_two_pass`).
    prompt : Prompt, optional
        Semi-supervised mode from a box, clicks or strokes instead of
        `init_mask`: the object to follow is :func:`prompted_object`'s mask, on
        frame ``prompt.frame``; that mask and its overlay are written as
        ``prompt_mask.png`` and ``prompt_overlay.png``.

    Returns
    -------
    summary : dict
        What ``summary.json`` holds: ``"input"``, ``"output"``, ``"frames"``
        (masks written), ``"width"``, ``"height"``, ``"input_fps"``,
        ``"source"`` (what was read and how: frames listed, decoded and
        missing, pixel format, alpha, and which timestamps were used and
        why; see :meth:`flowseg.io.FrameSource.report`), ``"warnings"``
        (one line for each thing about the input a user should know: frames
        that did not decode, repaired timestamps, alpha), ``"mode"``
        (``"target"``, then with instances also ``"tracks"``: the IDs
        shown; or ``"object"`` with `init_mask`, then also
        ``"init_frame"``, ``"object_classes"``: the classes the semantic
        model recognised in the object, whose probability served as evidence,
        and ``"object_lost_at"``: the first shot boundary where the
        object was lost (it is looked for anew after it), or None; or ``"objects"`` for several, then
        ``"init_frame"`` and ``"objects"``: for each its ``"label"``,
        ``"object_classes"`` and ``"object_lost_at"``), ``"quality"`` (the QA report: each frame's
        ``"confidence"`` in [0, 1], see :func:`flowseg.stages.mask_quality`,
        their ``"mean_confidence"`` and the ``"suspect_frames"``, the
        least confident first; also written as ``quality.csv``, a row per
        frame with the confidence's terms), ``"passes"`` (``"count"``: 1 for the forward,
        causal pass alone, 2 where the whole video was used; ``"why"``: a sentence; see
        :attr:`Pipeline.passes`), ``"shot_changes"`` (frames where propagation
        restarted at a shot boundary), ``"model"`` (the semantic
        model used), ``"preset"`` (None unless built by
        :meth:`Pipeline.from_preset`), ``"keyframes"`` (frames the semantic
        model ran on), ``"target_fps"`` (the speed budget, or None),
        ``"economy_frames"`` (frames whose stages ran at their cheaper
        settings to keep up with it), ``"threads"`` (OpenCV and torch
        threads), ``"settings"`` (every stage's configuration),
        ``"seconds"`` (``"total"`` wall time and ``"stages"``: seconds per
        stage), ``"fps"`` (frames per second end to end, reading and writing
        included), ``"flowseg_version"``, ``"created"`` and ``"machine"``.

    Raises
    ------
    VideoOpenError
        If the input is missing, empty, or cannot be decoded.
    ShapeError
        If a frame is not RGB or differs in size from the first.
    OutputError
        If the output folder cannot be written.
    MaskError
        If `init_mask` is empty or `init_frame` is past the last frame.
    PromptError
        If `prompt` marks nothing, lies outside its frame, or comes with `init_mask`.
    """
    source = FrameSource(input_path, video_stream=video_stream)
    pipeline = Pipeline() if pipeline is None else pipeline
    prompted: np.ndarray | None = None
    if prompt is not None:
        image, init_mask = prompted_object(source, prompt, init_mask)
        init_frame, prompted = prompt.frame, overlay(image, init_mask)
    if isinstance(init_mask, (str, Path)):
        init_mask = read_objects(init_mask)
    labels = object_labels(init_mask) if init_mask is not None else ()
    several = len(labels) >= 2
    category = "object" if init_mask is not None else "+".join(pipeline.target)
    labelled = several or pipeline.tracks_instances
    threads = configure_threads()
    start = time.perf_counter()
    writer = ResultWriter(output_dir, alpha=alpha, feather=feather, videos=videos,
                          instances=category if labelled else None, overwrite=overwrite, **source.output_timing())
    masks_json = _CocoMasks(coco, category, Path(input_path).name) if coco is not None else None
    # Decoding, segmenting and writing overlap: a decoder thread and a writer thread, bounded queues.
    with writer, masks_json or contextlib.nullcontext():
        keyframes = economy_frames = 0
        qualities: list[tuple[int, str, Mapping[str, float]]] = []

        def write(name: str, image: np.ndarray, mask: np.ndarray, frame_time: FrameTime, labels: Any,
                  alpha: np.ndarray | None) -> None:
            writer.write(name, image, mask, frame_time, labels, alpha)
            if masks_json is not None:
                masks_json.add(name, mask, labels)

        with BackgroundWorker(write) as background:
            # The pipeline pulls each decoded frame first (so its end-of-video checks run), then the writer its name.
            two_passes = not causal and pipeline.two_pass_blocker(init_mask, init_frame) is None
            if two_passes:  # the pipeline reads a stretch, or every frame up to init_frame, before its first result:
                for_names = prefetch(source.timed())  # the writer decodes the video too, so they are not held twice
                for_images = prefetch(FrameSource(input_path, video_stream=video_stream).timed())
            else:
                for_names, for_images = itertools.tee(prefetch(source.timed()))
            height = width = 0
            images = (frame.image for frame in for_images)
            stream = pipeline.stream if causal else pipeline.stream_two_pass
            results = stream(images, init_mask=init_mask, init_frame=init_frame, init_mask_exact=prompt is None)
            for done, (result, (name, image, frame_time, alpha)) in enumerate(zip(results, for_names), start=1):
                background.submit(name, image, result.mask, frame_time, result.labels, alpha)
                if result.quality is not None:
                    qualities.append((result.index, name, result.quality))
                keyframes += result.keyframe
                economy_frames += result.economy
                height, width = image.shape[:2]
                if progress is not None:
                    progress(done, max(source.frame_count, done))
        seconds = time.perf_counter() - start
        runs = pipeline.object_runs if several else [pipeline]
        stages = pipeline.stages if init_mask is None else runs[0].object_stages()
        mode: dict[str, Any] = {"mode": "target"}
        if labelled and not several:
            mode["tracks"] = next(stage.track_ids for stage in stages if hasattr(stage, "track_ids"))
        if init_mask is not None:
            followed = []
            for label, run in zip(labels, runs):
                appearance = next(stage for stage in run.object_stages() if hasattr(stage, "object_classes"))
                followed.append({"label": int(label), "object_classes": list(appearance.object_classes),
                                 "object_lost_at": appearance.lost_at})  # fmt: skip
            mode = {"mode": "objects" if several else "object", "init_frame": init_frame}
            if prompt is not None:
                mode["prompt"] = {"frame": prompt.frame, "box": prompt.box, "points": prompt.points,
                                  "negative_points": prompt.negative_points, "mask_pixels": int(init_mask.sum())}
            mode.update({"objects": followed} if several else {k: v for k, v in followed[0].items() if k != "label"})
        summary = json_safe({
            "input": str(input_path),
            "output": str(output_dir),
            "frames": writer.frames_written,
            "width": width,
            "height": height,
            "input_fps": source.fps,
            "source": source.report(),
            "warnings": source.warnings(),
            **mode,
            "passes": pipeline.passes,
            "model": pipeline.model_used,
            "preset": pipeline.preset,
            "keyframes": keyframes,
            "target_fps": pipeline.target_fps,
            "economy_frames": economy_frames,
            "shot_changes": next((s.boundary_frames for s in stages if hasattr(s, "boundary_frames")), []),
            "threads": threads,
            "settings": stage_settings(stages),
            "seconds": {"total": round(seconds, 3),
                        "stages": {k: round(v, 3) for k, v in pipeline.stage_seconds.items()}},
            "fps": round(writer.frames_written / seconds, 3) if seconds > 0 else None,
            **provenance(),
        })
        if edl:
            writer.write_text("shots.edl", edl_of_run(summary["shot_changes"], frames=writer.frames_written,
                                                      fps=source.fps, source=Path(input_path)))
        if masks_json is not None:
            masks_json.close()
        if qualities:
            summary["quality"] = quality_report(qualities)
            writer.write_text("quality.csv", quality_csv(qualities))
        if prompted is not None:
            writer.write_png("prompt_mask", init_mask.astype(np.uint8) * 255)
            writer.write_png("prompt_overlay", prompted)
        writer.finish(summary)
    return summary


SUSPECT_FRAMES: int = 5
"""How many of the least confident frames :func:`quality_report` lists, least confident first."""


def quality_report(qualities: list[tuple[int, str, Mapping[str, float]]]) -> dict[str, Any]:
    """``summary.json``'s ``"quality"`` from each frame's index, name and :attr:`flowseg.Result.quality`, in order.

    ``"confidence"``: each frame's, in order; ``"mean_confidence"``;
    ``"suspect_frames"``: the :data:`SUSPECT_FRAMES` least confident (index,
    name and confidence), least first: where a person should look first.
    """
    confidences = [round(quality["confidence"], 4) for _, _, quality in qualities]
    order = sorted(range(len(qualities)), key=lambda at: (confidences[at], at))[:SUSPECT_FRAMES]
    return {"confidence": confidences, "mean_confidence": round(float(np.mean(confidences)), 4),
            "suspect_frames": [{"index": qualities[at][0], "name": qualities[at][1], "confidence": confidences[at]}
                               for at in order]}  # fmt: skip


def quality_csv(qualities: list[tuple[int, str, Mapping[str, float]]]) -> str:
    """``quality.csv``: a row per frame, its index, name and :data:`~flowseg.stages.QUALITY_TERMS`."""
    rows = [",".join(("index", "name", *QUALITY_TERMS))]
    rows += [",".join((str(index), name, *(f"{quality[term]:.4f}" for term in QUALITY_TERMS)))
             for index, name, quality in qualities]  # fmt: skip
    return "\n".join(rows) + "\n"


def prompted_object(source: FrameSource, prompt: Prompt, init_mask: object = None) -> tuple[np.ndarray, np.ndarray]:
    """The frame `prompt` is on (``(H, W, 3) uint8``) and the object's mask there (``(H, W) bool``).

    The mask is :func:`~flowseg.mask_from_prompt` of that frame, decoded
    from `source` with the frames before it; with a box, helped by
    :func:`~flowseg.prompts.motion_evidence` from the next frame (or the
    previous one, on the last frame).

    Raises
    ------
    PromptError
        If an `init_mask` is given too, the video has no such frame, or the
        prompt gives an empty mask.
    """
    if init_mask is not None:
        raise PromptError("give the object either as a mask (init_mask) or as a prompt, not both")
    window: dict[int, np.ndarray] = {}  # the frame and its neighbours, by index
    index = -1
    for index, (_, image) in enumerate(itertools.islice(source, prompt.frame + 2)):
        if index >= prompt.frame - 1:
            window[index] = image
    if prompt.frame not in window:
        raise PromptError(f"the prompt is on frame {prompt.frame} but the video has {index + 1} frames")
    image = window[prompt.frame]
    mask = mask_from_prompt(image, prompt, neighbour=window.get(prompt.frame + 1, window.get(prompt.frame - 1)))
    if not mask.any():
        raise PromptError(f"the prompt on frame {prompt.frame} gives an empty mask: mark the object more clearly "
                          "(a tighter box, or a click on it)")
    return image, mask


class _CocoMasks:
    """Every frame's mask into a COCO JSON file, opened at the first frame (which gives the size)."""

    def __init__(self, path: str | Path, category: str, video_name: str) -> None:
        self.path, self.category, self.video_name = Path(path), category, video_name
        self._writer: CocoWriter | None = None
        self._index = 0

    def add(self, name: str, mask: np.ndarray, labels: np.ndarray | None) -> None:
        if self._writer is None:
            self._writer = CocoWriter(self.path, width=mask.shape[1], height=mask.shape[0],
                                      categories=[self.category], video_name=self.video_name)
        if labels is None:
            self._writer.add(self._index, f"{name}.png", mask)
        else:
            for number, instance, _ in objects_in(labels) or [(None, mask, None)]:
                self._writer.add(self._index, f"{name}.png", instance, track_id=number)
        self._index += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def __enter__(self) -> _CocoMasks:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None and self._writer is not None:
            self._writer.abort()

