"""Video prediction over a whole video: ``predict`` (frames in, predictions out) and ``predict_video`` (files)."""

from __future__ import annotations

import collections
import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from ._concurrency import BackgroundWorker, configure_threads, prefetch
from ._summary import json_safe, provenance
from .errors import ConfigError
from .evaluation import read_mask_png
from .io import FrameSource, PredictionWriter
from .pipeline import Pipeline
from .runner import ProgressCallback
from .stages.flow import FlowEstimator
from .stages.prediction import extrapolate
from .types import Frame, Image, ProbMap

__all__ = ["PREDICTION_FLOW", "Prediction", "predict", "predict_video"]

PREDICTION_FLOW: dict[str, tuple[str, float]] = {
    "fast": ("dis_ultrafast", 0.5),
    "balanced": ("dis", 1.0),
    "quality": ("dis", 1.0),
}
"""The flow (method, size) each preset predicts from. Every pixel's motion is all a prediction has, so its
precision counts: on the 34 DAVIS-2016 sequences (``benchmarks/prediction.py``) DIS medium at full size gave
+0.19 dB PSNR over half size one frame ahead, +0.04 three ahead, the same five ahead (``benchmarks/RESULTS.md``;
+0.14 / +0.04 / +0.01 once the hedge took the flow's error and the change of velocity). Refined down to every
pixel (DIS's finest scale 0: 59 ms a flow at 854x480 against 14) it gained only +0.02 / +0.00 / +0.02 more, and so
``quality`` predicts from the same flow as ``balanced``."""


@dataclass(frozen=True)
class Prediction:
    """The prediction of one frame, made `horizon` frames before it was seen.

    Attributes
    ----------
    index : int
        The predicted frame's index.
    image : (H, W, 3) uint8 ndarray
        The predicted RGB frame.
    prob : (H, W) float32 ndarray or None
        The predicted soft mask in [0, 1], when a pipeline segments the video.
    """

    index: int
    image: Image
    prob: ProbMap | None = None


def predict(
    frames: Iterable[Image],
    *,
    horizon: int = 1,
    pipeline: Pipeline | None = None,
    init_mask: np.ndarray | None = None,
    init_frame: int = 0,
    init_mask_exact: bool = True,
    motion: str = "pixel",
    preset: str = "balanced",
    sharp: bool = False,
) -> Iterator[Prediction | None]:
    """For every frame, its prediction made `horizon` frames earlier.

    Frame ``t`` is predicted from frame ``t - horizon``, the flow that
    brought it and the flow of the frame before
    (:func:`~flowseg.stages.extrapolate`), so nothing of frames after
    ``t - horizon`` is used. With a `pipeline`, the masks it gives are
    predicted with them.

    Parameters
    ----------
    frames : iterable of (H, W, 3) uint8 ndarray
        RGB frames of one video.
    horizon : int
        How many frames ahead to predict (>= 1).
    pipeline : Pipeline, optional
        Segments the frames, for mask predictions.
    init_mask, init_frame, init_mask_exact
        Semi-supervised mode of the pipeline, see :meth:`Pipeline.stream`.
    motion : {"pixel", "layered"}
        See :func:`~flowseg.stages.velocity`.
    preset : {"fast", "balanced", "quality"}
        The flow the motion is measured with (:data:`PREDICTION_FLOW`).
    sharp : bool
        Each frame forward-warped alone, crisp but further off on average
        than the default, which hedges where the motion is uncertain (see
        :mod:`flowseg.stages.prediction`).

    Yields
    ------
    Prediction or None
        One per frame, in order: None for the first `horizon` frames (nothing
        earlier to predict them from). Memory holds `horizon` predictions.

    Examples
    --------
    >>> import numpy as np
    >>> frames = [np.full((8, 8, 3), 9, np.uint8)] * 3
    >>> [p if p is None else p.index for p in predict(frames, horizon=2)]
    [None, None, 2]
    """
    if horizon < 1:
        raise ValueError(f"horizon is {horizon}; expected at least 1")
    if preset not in PREDICTION_FLOW:
        raise ConfigError(f"unknown preset {preset!r}; expected one of {', '.join(PREDICTION_FLOW)}")
    method, scale = PREDICTION_FLOW[preset]
    if pipeline is not None:
        for_pipeline, frames = itertools.tee(frames)
        results = pipeline.stream(for_pipeline, init_mask=init_mask, init_frame=init_frame,
                                  init_mask_exact=init_mask_exact)
        masks: Iterator[np.ndarray | None] = (result.mask for result in results)
    else:
        masks = itertools.repeat(None)
    flow = FlowEstimator(method=method, scale=scale)
    pending: collections.deque[Prediction] = collections.deque()
    before = None  # the flow of the frame before, once there is one (frame 0 has none)
    for index, (image, mask) in enumerate(zip(frames, masks)):
        yield pending.popleft() if pending and pending[0].index == index else None
        measured = flow.process(Frame(index, image, {}))
        prob = None if mask is None else mask.astype(np.float32)
        predicted = extrapolate(image, measured["flow_bwd"], horizon, prob=prob, motion=motion, sharp=sharp,
                                flow_error=measured["flow_error"], flow_before=before)  # fmt: skip
        pending.append(Prediction(index + horizon, *predicted))
        before = measured["flow_bwd"] if index else None


_MAX_PSNR = 100.0
"""PSNR reported for identical frames (dB), in place of infinity."""


def _psnr(predicted: Image, real: Image) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 frames, at most `_MAX_PSNR`."""
    error = float(np.mean((predicted.astype(np.float32) - real.astype(np.float32)) ** 2))
    return _MAX_PSNR if error == 0 else min(10.0 * np.log10(255.0**2 / error), _MAX_PSNR)


def predict_video(
    input_path: str | Path,
    output_dir: str | Path,
    *,
    horizon: int = 1,
    pipeline: Pipeline | None = None,
    init_mask: str | Path | np.ndarray | None = None,
    init_frame: int = 0,
    init_mask_exact: bool = True,
    motion: str = "pixel",
    preset: str = "balanced",
    sharp: bool = False,
    videos: bool = True,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Predict every frame of a video (file or image folder) from the frames `horizon` before it, into a folder.

    Parameters
    ----------
    input_path : str or Path
        Video file or folder of images, see :class:`flowseg.io.FrameSource`.
    output_dir : str or Path
        Output folder, laid out as in :class:`flowseg.io.PredictionWriter`
        (predicted masks only with a `pipeline`). It appears only once every
        frame is written.
    horizon, pipeline, init_frame, init_mask_exact, motion, preset, sharp
        See :func:`predict`.
    init_mask : str, Path or (H, W) array_like, optional
        See :meth:`Pipeline.stream`; a path is read as a PNG.
    videos : bool
        Write ``side_by_side.mp4``.
    overwrite : bool
        Replace an existing non-empty `output_dir`.
    progress : callable, optional
        Called after each frame with (frames done, total frames or None).

    Returns
    -------
    summary : dict
        What ``summary.json`` holds: ``"input"``, ``"output"``, ``"frames"``
        (read), ``"predicted"`` (frames written: all but the first
        `horizon`), ``"horizon"``, ``"motion"``, ``"sharp"``, ``"flow"`` (method, scale,
        preset), ``"masks"`` (whether masks
        were predicted), ``"psnr"`` (mean PSNR in dB of the predicted frames
        against the real ones, 100 for identical frames) and ``"copy_psnr"``
        (the same for copying the frame `horizon` before: the baseline),
        ``"seconds"``, ``"fps"``,
        ``"flowseg_version"``, ``"created"`` and ``"machine"``.

    Raises
    ------
    VideoOpenError, ShapeError, OutputError, MaskError
        As :func:`flowseg.segment_video`.
    """
    source = FrameSource(input_path)
    if isinstance(init_mask, (str, Path)):
        init_mask = read_mask_png(init_mask)
    configure_threads()
    start = time.perf_counter()
    masks = pipeline is not None
    scores: list[float] = []
    copy_scores: list[float] = []
    with PredictionWriter(output_dir, masks=masks, videos=videos, overwrite=overwrite,
                          **source.output_timing()) as writer:
        with BackgroundWorker(writer.write) as background:
            for_names, for_images = itertools.tee(prefetch(source.timed()))
            predictions = predict((frame.image for frame in for_images), horizon=horizon, pipeline=pipeline,
                                  init_mask=init_mask, init_frame=init_frame, init_mask_exact=init_mask_exact,
                                  motion=motion, preset=preset, sharp=sharp)  # fmt: skip
            recent: collections.deque[Image] = collections.deque(maxlen=horizon + 1)
            frames = 0
            for frames, (prediction, (name, image, frame_time, _)) in enumerate(zip(predictions, for_names), start=1):
                recent.append(image)
                if prediction is not None:
                    mask = None if prediction.prob is None else prediction.prob > 0.5
                    background.submit(name, image, prediction.image, mask, frame_time)
                    scores.append(_psnr(prediction.image, image))
                    copy_scores.append(_psnr(recent[0], image))
                if progress is not None:
                    progress(frames, max(source.frame_count, frames))
        seconds = time.perf_counter() - start
        summary = json_safe({
            "input": str(input_path),
            "output": str(output_dir),
            "frames": frames,
            "source": source.report(),
            "warnings": source.warnings(),
            "predicted": writer.frames_written,
            "horizon": horizon,
            "motion": motion,
            "sharp": sharp,
            "flow": dict(zip(("method", "scale"), PREDICTION_FLOW[preset]), preset=preset),
            "masks": masks,
            "psnr": round(float(np.mean(scores)), 3) if scores else None,
            "copy_psnr": round(float(np.mean(copy_scores)), 3) if copy_scores else None,
            "seconds": round(seconds, 3),
            "fps": round(frames / seconds, 3) if seconds > 0 else None,
            **provenance(),
        })
        writer.finish(summary)
    return summary
