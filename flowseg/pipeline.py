"""The Pipeline: runs stages in order on every frame, and checks that they fit together."""

from __future__ import annotations

import collections
import copy
import dataclasses
import functools
import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from ._concurrency import usable_cores
from ._spill import SpilledArrays, ensure_room
from ._validate import check_image, check_mask_size, check_same_size
from .budget import SpeedBudget
from .errors import ConfigError, MaskError, ShapeError, StageOrderError
from .stages.keyframes import DEFAULT_MAX_INTERVAL
from .stages.quality import QUALITY_TERMS
from .stages.warp import DEFAULT_TEMPORAL_WEIGHT
from .types import Frame, Image, Result, Stage

if TYPE_CHECKING:
    from .stages import ShotBoundaries

__all__ = [
    "Pipeline",
    "PRESETS",
    "STAGE_NAMES",
    "MOVING",
    "MAX_OBJECTS",
    "TWO_PASS_BYTES",
    "MIN_STRETCH",
    "BRIEF_TRACK_FRAMES",
    "object_labels",
    "stage_settings",
]

STAGE_NAMES: tuple[str, ...] = ("flow", "shots", "semantics", "warp", "predict", "refine", "instances", "quality")
"""Names :class:`Pipeline` accepts in place of stage objects, in their usual order
(the flow comes first so that shot boundaries and keyframe scheduling can consult it).
The default pipeline has all but ``"predict"``, which it adds with a ``prediction_weight``."""

PRESETS: dict[str, dict[str, Any]] = {
    "fast": {"flow_method": "dis_ultrafast", "flow_scale": 0.5, "refine": "none"},
    "balanced": {},
    "quality": {"flow_method": "dis_fine", "flow_scale": 1.0},
}
"""Named speed/quality trade-offs: the :class:`Pipeline` keywords each one
changes from the defaults (``balanced`` is the defaults). Measured J&F and
fps of each are in ``benchmarks/RESULTS.md``.

- ``fast``: DIS ultrafast flow at half size, no refinement.
- ``balanced``: DIS (medium) flow at half size, or full size when following
  given objects (see ``flow_scale`` in :class:`Pipeline`), CRF refinement.
- ``quality``: DIS (medium) flow at full size, refined down to full
  resolution (``dis_fine``; OpenCV's medium preset stops at half of the
  size it is given), CRF refinement. Following the given object on the 34
  DAVIS-2016 sequences, J&F 0.793 (folds A 0.797, B 0.788; 26 sequences
  better, motorbike +0.056, drift-chicane -0.020) against ``balanced``'s
  0.781, at 3.2 frames per second instead of 7.6 on the same Intel Xeon's 2
  cores (``flowseg run`` on blackswan's 50 frames: 467 MB peak memory
  against 381 MB). With ``target="person"`` on its 19 sequences: 0.571 (A
  0.563, B 0.578) against 0.558, at 3.2 frames per second against 27.
  Refining only the backward flow so, and checking it against a forward
  flow at the medium preset, gave 0.785 (A 0.790, B 0.780) at 3.7 frames
  per second: most of the gain comes with the precise check.

All three run DeepLabV3 on keyframes and the embedded person model on every
frame (see ``keyframe_interval`` in :class:`Pipeline`).

On the six DAVIS-2016 person sequences (``--target person``, no
refinement) DIS medium at full size gave J&F 0.481, at half size 0.473;
DIS fast gave 0.471 at full size and 0.458 at half size (per-frame
semantics alone: 0.454), which is why ``balanced`` keeps the medium preset
and halves the size.
"""

OBJECT_FLOW_SCALE: float = 1.0
"""Flow size when following given objects and no ``flow_scale`` is given.

There the flow carries the whole mask from frame to frame (the evidence of
each frame only corrects it), so its precision counts most: on the 34
DAVIS-2016 sequences (first mask given) J&F was 0.747 at half size (18.8
fps), 0.758 at 0.75 (15.3 fps) and 0.768 at full size (12.8 fps), better on
both folds each time."""

DEFAULT_FLOW_SCALE: float = 0.5
"""Flow size for a class target or ``"moving"`` when no ``flow_scale`` is given (see :data:`PRESETS`)."""

TWO_PASS_BYTES: int = 256 * 2**20
"""Most bytes of decoded frames :meth:`Pipeline.stream_two_pass` holds at once (at least :data:`MIN_STRETCH`
frames): 218 frames at 854x480, 97 at 1280x720, 43 at 1920x1080, 30 at 3840x2160."""

MIN_STRETCH: int = 30
"""Fewest frames :meth:`Pipeline.stream_two_pass` holds at once, however large they are: a mover is found and
followed within a stretch."""

BRIEF_TRACK_FRAMES: int = 8
"""Offline (:meth:`Pipeline.stream_two_pass`), an instance ID seen on fewer frames than this is dropped: a
quarter of a second at 30 fps is too brief to be an object worth an ID (a flash of the model on background, a
piece of a person that the tracker split off for a moment). Results then come this many frames behind."""

KEY_CANDIDATES: int = 5
"""How many of a shot's surest frames :meth:`Pipeline.stream_two_pass` keeps as candidate key frames for
``target="moving"`` (see :func:`_key_frame`)."""

MOVING = "moving"
"""The target that segments whatever moves independently of the camera (:class:`~flowseg.stages.MovingObjects`)."""

_RESULT_KEYS = ("prob", "mask")
_FINAL_STAGES = ("instances", "quality")
"""Stages that act on a run's final masks, which the pipeline of each of several objects leaves out (they are told
apart by their labels; their union has no quality of its own)."""

_SCENE_KEYS = ("flow_bwd", "flow_confidence", "flow_error", "shot_change")
"""Data that depends on the frames alone: with several objects, the stages providing only these run once per frame."""

_SEMI_SUPERVISED_KEYS = ("init_mask", "init_mask_exact", "previous_mask")
"""Data keys the pipeline itself provides in semi-supervised mode (see :meth:`Pipeline.stream`).
With ``target_fps`` it also provides ``"behind_schedule"``, a 0-d bool array (see :mod:`flowseg.budget`)."""


def stage_settings(stages: Sequence[Stage]) -> dict[str, dict[str, object]]:
    """Public attributes of each stage (its configuration), by stage class name."""
    return {
        type(stage).__name__: {
            k: v for k, v in vars(stage).items() if not k.startswith("_") and k not in ("requires", "provides")
        }
        for stage in stages
    }


MAX_OBJECTS: int = 32
"""Most objects an initial mask may mark (each is followed by a pipeline of its own)."""


def object_labels(init_mask: np.ndarray) -> tuple[int, ...]:
    """The objects an initial mask marks: ``(1, ..., N)`` for an integer array labelled 1..N, else one.

    Several objects only when the non-zero values are exactly 1..N with
    N >= 2, as in DAVIS-2017's indexed masks; any other mask (bool, 0/255,
    anti-aliased, soft) marks one object, its non-zero pixels.

    Raises
    ------
    MaskError
        For labels 1..N with N above :data:`MAX_OBJECTS` (rather than merge them).

    Examples
    --------
    >>> object_labels(np.array([[0, 1], [2, 2]], np.uint8))
    (1, 2)
    >>> object_labels(np.array([[0, 255], [255, 255]], np.uint8))
    (255,)
    """
    array = np.asarray(init_mask)
    values = np.unique(array[array != 0])
    count = len(values)
    if np.issubdtype(array.dtype, np.integer) and count >= 2 and values[-1] == count:
        if count > MAX_OBJECTS:
            raise MaskError(f"the initial mask marks {count} objects (labels 1 to {count}); flowseg follows at most "
                            f"{MAX_OBJECTS} at once")
        return tuple(int(v) for v in values)
    return (int(values[0]),) if count == 1 else (1,)


def _checked_frames(frames: Iterable[Image]) -> Iterator[Image]:
    """`frames`, each checked to be ``(H, W, 3) uint8`` and the size of the first (errors name it by its index)."""
    size: tuple[int, int] | None = None
    for index, image in enumerate(frames):
        check_image(image, f"frame {index}")
        size = size or image.shape[:2]
        check_same_size(image, size, f"frame {index}")
        yield image


def _stretches(frames: Iterable[Image]) -> Iterator[list[Image]]:
    """`frames` (checked) in lists of as many as :data:`TWO_PASS_BYTES` holds, at least :data:`MIN_STRETCH`."""
    source = _checked_frames(frames)
    first_image = next(source, None)
    if first_image is None:
        return
    length = max(MIN_STRETCH, TWO_PASS_BYTES // first_image.nbytes)
    stretch = [first_image, *itertools.islice(source, length - 1)]
    while stretch:
        yield stretch
        stretch = list(itertools.islice(source, length))


class _HeldResults:
    """Results kept in temporary files until another pass needs them (:class:`~flowseg._spill.SpilledArrays`;
    their probabilities at half the bytes, as ``float16``); read back in any order, read-only."""

    PIXEL_BYTES = 5
    """Bytes a result takes a pixel at most: its mask (bool), probability (float16) and labels (uint16)."""

    def __init__(self) -> None:
        self._arrays = {name: SpilledArrays() for name in ("mask", "prob", "labels")}
        self._rest: list[dict[str, Any]] = []  # each result's other fields

    def append(self, result: Result) -> None:
        self._arrays["mask"].append(result.mask)
        self._arrays["prob"].append(result.prob.astype(np.float16))
        if result.labels is not None:
            self._arrays["labels"].append(result.labels)
        self._rest.append({"index": result.index, "keyframe": result.keyframe, "economy": result.economy,
                           "quality": result.quality})

    def __getitem__(self, position: int) -> Result:
        arrays = self._arrays
        return Result(mask=arrays["mask"][position], prob=_read_only(arrays["prob"][position].astype(np.float32)),
                      labels=arrays["labels"][position] if len(arrays["labels"]) else None, **self._rest[position])

    def __enter__(self) -> _HeldResults:
        return self

    def __exit__(self, *exception: object) -> None:
        for arrays in self._arrays.values():
            arrays.close()


def _shot_starts(shots: ShotBoundaries | None) -> list[int]:
    """The first frame of each shot `shots` (a :class:`~flowseg.stages.ShotBoundaries`, or None) saw, 0 first.

    A fade or a dissolve flags a run of frames: one shot starts at its first.
    """
    flagged = set(shots.boundary_frames) if shots is not None else set()
    return [0, *sorted(frame for frame in flagged if frame - 1 not in flagged and frame > 0)]


def _key_frame(candidates: Sequence[tuple[float, int, np.ndarray, int]], areas: Sequence[int]
               ) -> tuple[int, np.ndarray] | None:
    """The key frame of a shot and its probability map, or None when nothing was found in it.

    `candidates`: the shot's surest found masks as ``(confidence, frame, prob, area in pixels)``, surest first;
    `areas`: the area of every mask found in the shot. The surest candidate whose mask holds at least half the
    median area: a frame where the mover is mostly hidden holds little of it, however sure its mask.
    """
    if not candidates:
        return None
    enough = 0.5 * float(np.median(areas))
    _, frame, prob, _ = next((candidate for candidate in candidates if candidate[3] >= enough), candidates[0])
    return frame, prob


def _without_brief_tracks(results: Iterator[Result]) -> Iterator[Result]:
    """`results` without the instance IDs seen on fewer than :data:`BRIEF_TRACK_FRAMES` frames.

    Each result waits until that many frames after it were seen, so a track
    that starts on it is known to be brief or not; memory holds that many
    results. The last ones are judged on the frames there are.
    """
    held: collections.deque[tuple[Result, np.ndarray]] = collections.deque()  # each with the IDs it shows
    seen: collections.Counter[int] = collections.Counter()

    def cleaned(result: Result, shown: np.ndarray) -> Result:
        brief = [label for label in shown if seen[label] < BRIEF_TRACK_FRAMES]
        if not brief:
            return result
        dropped = np.isin(result.labels, brief)
        labels = np.where(dropped, 0, result.labels).astype(result.labels.dtype)
        return dataclasses.replace(result, labels=_read_only(labels), mask=_read_only(result.mask & ~dropped))

    for result in results:
        shown = np.flatnonzero(np.bincount(result.labels.ravel()))
        shown = shown[shown > 0]
        seen.update(shown.tolist())
        held.append((result, shown))
        if len(held) == BRIEF_TRACK_FRAMES:
            yield cleaned(*held.popleft())
    while held:
        yield cleaned(*held.popleft())


def _owners(masks: Sequence[np.ndarray], probs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Which object each pixel goes to: the likeliest of those whose mask covers it.

    Parameters
    ----------
    masks : sequence of (H, W) bool ndarray
        Each object's mask.
    probs : sequence of (H, W) float32 ndarray
        Each object's probability, in [0, 1].

    Returns
    -------
    claimed : (N,) int64 ndarray
        Flat indices of the pixels some mask covers, ascending.
    owners : (N,) int64 ndarray
        The index in `masks` of the object each of them goes to (the first of equals).
    """
    claimed = np.flatnonzero(functools.reduce(np.logical_or, masks))  # the work is done on these pixels only
    scores = np.stack([np.where(mask.ravel()[claimed], prob.ravel()[claimed], -1.0)
                       for mask, prob in zip(masks, probs)])  # fmt: skip
    return claimed, np.argmax(scores, axis=0)


def _add_seconds(totals: dict[str, float], seconds: dict[str, float], under: str | None = None) -> None:
    """Add a run's `seconds` by stage to `totals`, each under its own name or all under `under`."""
    for name, value in seconds.items():
        totals[under or name] = totals.get(under or name, 0.0) + value


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


def _run_stages(stages: Sequence[Stage], index: int, image: Image, data: dict[str, np.ndarray],
                seconds: dict[str, float]) -> None:
    """Run `stages` in order on frame `index`: each one's outputs join `data`, its seconds are added to `seconds`."""
    for stage in stages:
        name = type(stage).__name__
        start = time.perf_counter()
        out = stage.process(Frame(index, image, MappingProxyType(data)))
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
        data.update({key: _read_only(out[key]) for key in stage.provides})


def _read_with_scene(frames: Iterable[Image], scene: Sequence[Stage], seconds: dict[str, float], *,
                     from_frame: int = 0, ahead: bool = True) -> Iterator[tuple[int, Image, dict[str, np.ndarray]]]:
    """Each frame of `frames` (checked, read-only) with its index and the data the `scene` stages give it.

    The scene stages run from frame `from_frame` on (earlier frames get no
    data), their seconds added to `seconds`. With `ahead`, each next frame is
    read and its scene computed in another thread while the caller works on
    the frame before: one frame ahead, no more; an error reading a frame
    comes when the caller asks for that frame.
    """
    upcoming = enumerate(_checked_frames(frames))

    def read_next() -> tuple[int, Image, dict[str, np.ndarray]] | None:
        following = next(upcoming, None)
        if following is None:
            return None
        index, image = following[0], _read_only(following[1])
        found: dict[str, np.ndarray] = {}
        if index >= from_frame:
            _run_stages(scene, index, image, found, seconds)
        return index, image, found

    if not ahead:
        yield from iter(read_next, None)
        return
    with ThreadPoolExecutor(1) as worker:
        pending = worker.submit(read_next)
        while (current := pending.result()) is not None:
            pending = worker.submit(read_next)
            yield current


def _gives_scene_only(stage: Stage) -> bool:
    """Whether `stage` provides only scene data (:data:`_SCENE_KEYS`: the flow, shot boundaries)."""
    return set(stage.provides) <= set(_SCENE_KEYS)


def _checked_precisely(stage: Stage) -> Stage:
    """`stage`, or where it is a flow stage with a coarse check, a copy of it that checks precisely.

    Several objects followed jointly take the precise check: with the coarse one
    (:class:`~flowseg.stages.FlowEstimator`'s ``coarse_check``) per-object J&F on the composites of
    ``benchmarks/instances.py --configs objects`` fell from 0.635 to 0.594 (seed 1: 0.617 to 0.613).
    """
    if not getattr(stage, "coarse_check", False):
        return stage
    precise = copy.copy(stage)
    precise.coarse_check = False
    return precise


def _scene_prefix(stages: tuple[Stage, ...]) -> tuple[Stage, ...]:
    """The leading stages of `stages` that provide only scene data (see :func:`_gives_scene_only`)."""
    count = next((i for i, stage in enumerate(stages) if not _gives_scene_only(stage)), len(stages))
    return stages[:count]


class Pipeline:
    """A sequence of stages run on every frame of a video.

    Parameters
    ----------
    stages : sequence of Stage or str, optional
        Stage objects, or names from :data:`STAGE_NAMES` that are built from
        the keyword arguments below. Default: the names of
        :data:`STAGE_NAMES`, in order (``"predict"`` only with a
        ``prediction_weight``, ``"instances"`` only with `instances`).
    target : str or sequence of str
        VOC class name(s) to segment (semantics stage), or ``"moving"``:
        whatever moves independently of the camera, with no class model.
    model : str
        Semantic model, see :class:`~flowseg.stages.SemanticSegmenter`.
    weights : path-like, optional
        DeepLabV3 weights file (semantics stage).
    flow_method : {"dis", "dis_fine", "dis_fast", "dis_ultrafast", "farneback", "raft_small", "raft_large"}
        Optical flow method (flow stage; see :func:`~flowseg.stages.estimate_flow`).
    flow_scale : float, optional
        Fraction of the frame size the flow is computed at, in (0, 1].
        Default :data:`DEFAULT_FLOW_SCALE` (0.5), or
        :data:`OBJECT_FLOW_SCALE` (1.0) when following given objects.
    flow_weights : path-like, optional
        RAFT weights file (flow stage).
    keyframe_interval : int
        Largest number of frames between two runs of the semantic model (>= 1);
        in between, its answer is carried by the flow, and a keyframe comes
        early where that answer goes stale (see
        :class:`~flowseg.stages.KeyframeScheduler`). 1 runs it on every frame.
        Default: 8 for DeepLabV3, 1 for the embedded person model, which
        costs about what carrying its answer along the flow costs (see
        ``SemanticSegmenter.cheap``; on the six DAVIS-2016 person sequences
        keyframes every 8 frames at most scored J&F 0.468 against 0.472 on
        every frame, at the same speed at 480p and slower at 720p).
    target_fps : float, optional
        Frames per second to keep up with: while the run is behind this rate,
        keyframes wait, and where that is not enough the flow and the
        refinement switch to their cheaper settings (see :mod:`flowseg.budget`).
    temporal_weight : float
        Weight of the warped previous mask in [0, 1] (warp stage).
    prediction_weight : float
        Weight in [0, 1] of the mask predicted from the motion so far, where
        the flow is untrusted (:class:`~flowseg.stages.PredictionPrior`);
        0, the default, leaves the stage out.
    only_moving : bool
        Keep only the target objects that move independently of the camera
        (:class:`~flowseg.stages.MovingTargets`; the semantic model then runs
        on every frame). For ``target="moving"`` it changes nothing.
    instances : bool
        Label each object of the target separately, with an ID that stays
        put (:class:`~flowseg.stages.InstanceTracker`); results then have
        ``labels``.
    refine : {"crf", "graphcut", "none"}, optional
        Refinement method (refine stage). Default ``"crf"``; ``"graphcut"``
        for ``target="moving"``, whose evidence, motion alone, misses the
        untextured parts of an object that GrabCut's colour models fill in
        (DAVIS-2016, 12 sequences: J&F 0.563 against 0.463 with the CRF).
    device : {"auto", "cpu", "cuda"}
        Where torch models run.

    Raises
    ------
    StageOrderError
        If a stage needs a data key no earlier stage provides, or the last
        stages do not provide ``"prob"`` and ``"mask"``.

    Examples
    --------
    >>> import numpy as np
    >>> from flowseg import Pipeline
    >>> frames = [np.zeros((48, 64, 3), np.uint8)] * 3
    >>> results = Pipeline(target="person").run(frames)
    >>> len(results), results[0].mask.shape, bool(results[0].mask.any())
    (3, (48, 64), False)
    """

    def __init__(
        self,
        stages: Sequence[Stage | str] | None = None,
        *,
        target: str | Sequence[str] = "person",
        model: str = "auto",
        weights: str | Path | None = None,
        flow_method: str = "dis",
        flow_scale: float | None = None,
        flow_weights: str | Path | None = None,
        keyframe_interval: int | None = None,
        target_fps: float | None = None,
        temporal_weight: float = DEFAULT_TEMPORAL_WEIGHT,
        prediction_weight: float = 0.0,
        only_moving: bool = False,
        instances: bool = False,
        refine: str | None = None,
        device: str = "auto",
    ) -> None:
        from .stages import (
            FlowEstimator,
            InstanceTracker,
            KeyframeScheduler,
            MaskQuality,
            MaskRefiner,
            MaskWarper,
            MovingObjects,
            MovingTargets,
            PredictionPrior,
            SemanticSegmenter,
            ShotBoundaries,
        )

        names = (target,) if isinstance(target, str) else tuple(target)
        self.target: tuple[str, ...] = names
        self.target_fps = target_fps
        self._budget = None if target_fps is None else SpeedBudget(target_fps)
        moving = MOVING in names

        def semantics() -> Stage:
            if moving:
                if len(names) > 1:
                    raise ConfigError(f"target {MOVING!r} cannot be combined with classes ({', '.join(names)})")
                return MovingObjects()
            every_frame = SemanticSegmenter(target=target, model=model, weights=weights, device=device)
            if only_moving:
                return MovingTargets(every_frame)
            interval = keyframe_interval
            if interval is None:
                interval = 1 if every_frame.cheap else DEFAULT_MAX_INTERVAL
            if interval == 1 and target_fps is None:
                return every_frame
            return KeyframeScheduler(every_frame, max_interval=interval)

        builders = {
            "semantics": semantics,
            "flow": lambda: FlowEstimator(method=flow_method, scale=flow_scale or DEFAULT_FLOW_SCALE,
                                          weights=flow_weights, device=device),
            "shots": ShotBoundaries,
            "warp": lambda: MaskWarper(temporal_weight=temporal_weight),
            "predict": lambda: PredictionPrior(weight=prediction_weight),
            "refine": lambda: MaskRefiner(method=refine or ("graphcut" if moving else "crf")),
            "instances": InstanceTracker,
            "quality": MaskQuality,
        }
        built: list[Stage] = []
        if not 0.0 <= prediction_weight <= 1.0:
            raise ValueError(f"prediction_weight is {prediction_weight}; expected a value in [0, 1]")
        if stages is None:
            left_out = {"predict": prediction_weight == 0, "instances": not instances}
            stages = [name for name in STAGE_NAMES if not left_out.get(name, False)]
        for stage in stages:
            if isinstance(stage, str):
                if stage not in builders:
                    raise ConfigError(f"unknown stage name {stage!r}; valid names: {', '.join(STAGE_NAMES)}")
                stage = builders[stage]()
            built.append(stage)
        self.stages: tuple[Stage, ...] = tuple(built)
        self._given = (stages, dict(target=target, model=model, weights=weights, flow_method=flow_method,
                                    flow_scale=flow_scale, flow_weights=flow_weights,
                                    keyframe_interval=keyframe_interval, target_fps=target_fps,
                                    temporal_weight=temporal_weight, prediction_weight=prediction_weight,
                                    only_moving=only_moving, refine=refine, device=device, instances=False))
        self.preset: str | None = None
        """Name of the preset the pipeline was built from (see :meth:`from_preset`), if any."""
        self._check_order(given=_SEMI_SUPERVISED_KEYS if self._follows_object(self.stages) else ())
        self._object_stages: tuple[Stage, ...] | None = None
        self.stage_seconds: dict[str, float] = {}
        """Seconds spent in each stage during the last run, by stage class name. Stages run in several threads at
        once (the next frame's flow beside the current frame's other stages), so the sum may exceed the run's."""
        self.object_runs: list[Pipeline] = []
        """The pipelines of the last run that followed several objects, one per object, in label order."""
        self.passes: dict[str, Any] = {"count": 1, "why": "no run yet"}
        """How the last run went over the video: ``"count"`` (1: forward, causal; 2: forward fused with a backward
        pass, see :meth:`stream_two_pass`) and ``"why"``, a sentence."""

    @classmethod
    def from_preset(cls, preset: str, stages: Sequence[Stage | str] | None = None, **keywords: Any) -> Pipeline:
        """A pipeline with the settings of a named preset.

        Parameters
        ----------
        preset : {"fast", "balanced", "quality"}
            See :data:`PRESETS`.
        stages : sequence of Stage or str, optional
            As for :class:`Pipeline`.
        **keywords
            Any :class:`Pipeline` keyword; it overrides the preset's value.

        Returns
        -------
        Pipeline

        Raises
        ------
        ConfigError
            For an unknown preset name.

        Examples
        --------
        >>> Pipeline.from_preset("fast", target="person").preset
        'fast'
        """
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}")
        pipeline = cls(stages, **{**PRESETS[preset], **keywords})
        pipeline.preset = preset
        return pipeline

    @staticmethod
    def _follows_object(stages: Sequence[Stage]) -> bool:
        """Whether the stages need the semi-supervised keys (an ObjectAppearance among them)."""
        return any(key in stage.requires for stage in stages for key in _SEMI_SUPERVISED_KEYS)

    def _check_order(self, stages: Sequence[Stage] | None = None, given: Sequence[str] = ()) -> None:
        provided: dict[str, str] = {key: "Pipeline" for key in given}
        stages = self.stages if stages is None else stages
        for stage in stages:
            name = type(stage).__name__
            for key in stage.requires:
                if key not in provided:
                    later = [type(s).__name__ for s in stages if key in s.provides and s is not stage]
                    hint = f"; {later[0]} provides it: put it before {name}" if later else "; no stage provides it"
                    raise StageOrderError(f"stage {name} requires {key!r}, which no earlier stage provides{hint}")
            provided.update({key: name for key in stage.provides})
        missing = [key for key in _RESULT_KEYS if key not in provided]
        if missing:
            raise StageOrderError(
                f"the pipeline's stages provide no {', '.join(map(repr, missing))}; "
                "a pipeline must end with a soft 'prob' and a hard 'mask' (e.g. MaskWarper and MaskRefiner)"
            )

    @property
    def tracks_instances(self) -> bool:
        """Whether a stage gives each object an ID (``Result.labels``), as ``instances=True`` adds one."""
        return any("labels" in stage.provides for stage in self.stages)

    @property
    def model_used(self) -> str | None:
        """The description of the semantic (or motion) model the stages use, or None when they use none."""
        return next((stage.model_used for stage in self.stages if hasattr(stage, "model_used")), None)

    @property
    def settings(self) -> dict[str, dict[str, object]]:
        """Public configuration of every stage, by stage class name (for reports)."""
        return stage_settings(self.stages)

    def reset(self) -> None:
        """Reset every stage: the next frame is treated as the first of a video."""
        for stage in {id(s): s for s in (*self.stages, *(self._object_stages or ()))}.values():
            stage.reset()

    def object_stages(self) -> tuple[Stage, ...]:
        """The stages of semi-supervised mode: each evidence stage becomes an :class:`~flowseg.stages.ObjectAppearance`.

        The semantic stage it replaces (the model itself, where keyframes
        schedule it) is kept inside it, as class evidence for objects that
        model recognises. Where no ``flow_scale`` was given, the flow stage
        built from its name runs at :data:`OBJECT_FLOW_SCALE` with a coarse
        check (``coarse_check``, see :class:`~flowseg.stages.FlowEstimator`; a
        copy: the target-mode stages keep theirs). Built once, on first use.

        Raises
        ------
        StageOrderError
            If no stage provides ``"evidence"`` or the result does not fit together.
        """
        if self._object_stages is None:
            from .stages import ObjectAppearance

            if not any("evidence" in stage.provides for stage in self.stages):
                raise StageOrderError("semi-supervised mode replaces the stage that provides 'evidence'; "
                                      "this pipeline has none")
            names, keywords = self._given
            default_flow = [stage for stage, name in zip(self.stages, names)
                            if name == "flow" and keywords["flow_scale"] is None]  # fmt: skip

            def for_objects(stage: Stage) -> Stage:
                if "evidence" in stage.provides and not isinstance(stage, ObjectAppearance):
                    return ObjectAppearance(getattr(stage, "semantics", stage))  # a KeyframeScheduler: its model
                if stage in default_flow:
                    flow = copy.copy(stage)
                    flow.scale, flow.coarse_check = OBJECT_FLOW_SCALE, True
                    return flow
                return stage

            stages = tuple(for_objects(stage) for stage in self.stages)
            self._check_order(stages, given=_SEMI_SUPERVISED_KEYS)
            self._object_stages = stages
        return self._object_stages

    def stream(
        self,
        frames: Iterable[Image],
        *,
        init_mask: np.ndarray | None = None,
        init_frame: int = 0,
        init_mask_exact: bool = True,
    ) -> Iterator[Result]:
        """Segment frames one at a time, with memory that does not grow with the video.

        Parameters
        ----------
        frames : iterable of (H, W, 3) uint8 ndarray
            RGB frames of one video, all the same size. They are not modified.
        init_mask : (H, W) array_like, optional
            Semi-supervised mode: the object to follow, marked in frame
            `init_frame` (non-zero = object). Only that object is segmented,
            by the stages of :meth:`object_stages`; frames before
            `init_frame` get empty masks. An integer array labelled 1..N
            marks N objects (see :func:`object_labels`), followed jointly:
            the flow once per frame, each object's own stages (a pipeline
            built like this one: :attr:`object_runs`) from the pixels it won
            in the previous frame, and the results' ``labels`` give each
            pixel to the object most likely there, so objects never overlap.
            The objects are followed in parallel threads, and `frames` is
            then read in a thread of its own, one frame ahead.
        init_frame : int
            Index of the frame `init_mask` marks (>= 0).
        init_mask_exact : bool
            Whether `init_mask` is exact (drawn, or read from a label file)
            rather than a guess (a prompt's mask, a found one): an exact
            mask's surroundings and looks are trusted further
            (:class:`~flowseg.stages.ObjectAppearance`'s **Surroundings** and
            **Recovery**).

        Yields
        ------
        Result
            The mask and soft probability of each frame, in order.

        Raises
        ------
        ShapeError, DTypeError
            For a frame that is not (H, W, 3) uint8 or differs in size from
            the first, or an `init_mask` of another size than the frames.
        MaskError
            For an empty `init_mask`, or an `init_frame` past the last frame.
        """
        self.passes = {"count": 1, "why": "stream: each frame from itself and the frames before it"}
        yield from self._stream(frames, init_mask=init_mask, init_frame=init_frame, init_mask_exact=init_mask_exact)

    def _stream(
        self,
        frames: Iterable[Image],
        *,
        init_mask: np.ndarray | None = None,
        init_frame: int = 0,
        init_mask_exact: bool = True,
        stages: tuple[Stage, ...] | None = None,
        given: Callable[[int], dict[str, np.ndarray]] | None = None,
        read_ahead: bool = True,
    ) -> Iterator[Result]:
        """:meth:`stream` with other `stages` than the pipeline's, and `given(index)`: data for each frame's stages.

        With `read_ahead`, another thread reads each next frame and runs its
        scene stages (the leading ones, that provide only the flow and shot
        boundaries) while the other stages work on the frame before, unless a
        speed budget (``target_fps``) settles each frame's flow as it comes:
        `frames` is read there, one frame ahead. Without, each frame is read
        when its turn comes (as :meth:`_stream_objects` feeds its objects).
        """
        labels = object_labels(init_mask) if init_mask is not None else ()
        if len(labels) >= 2:
            yield from self._stream_objects(frames, np.asarray(init_mask), np.asarray(labels), init_frame,
                                            init_mask_exact)
            return
        if stages is None:
            stages = self.stages if init_mask is None else self.object_stages()
        if init_mask is None and self._follows_object(stages):
            raise MaskError("this pipeline follows one given object: pass init_mask (and init_frame)")
        if init_mask is not None:
            init_mask = np.asarray(init_mask)
            if init_mask.ndim != 2:
                raise ShapeError(f"init_mask has shape {init_mask.shape}; expected (H, W)",
                                 expected="(H, W)", actual=init_mask.shape)  # fmt: skip
            if not init_mask.any():
                raise MaskError("init_mask is empty: mark the object with non-zero pixels")
            if init_frame < 0:
                raise MaskError(f"init_frame is {init_frame}; expected a frame index >= 0")
        self.reset()
        if self._budget is not None:
            self._budget.reset()
        economisers = [stage for stage in stages if hasattr(stage, "economise")]
        scheduled = any("keyframe" in stage.provides for stage in stages)  # keyframes can wait
        self.stage_seconds = {type(stage).__name__: 0.0 for stage in stages}
        scene = _scene_prefix(stages) if read_ahead and self._budget is None else ()
        reading = _read_with_scene(frames, scene, self.stage_seconds, ahead=read_ahead,
                                   from_frame=0 if init_mask is None else init_frame)  # no stage sees frames before
        size: tuple[int, int] | None = None
        previous: Result | None = None
        index = -1
        for index, image, scene_data in reading:
            if size is None:
                size = image.shape[:2]
                if init_mask is not None:
                    check_mask_size(init_mask, size, "init_mask", hint="; the mask must be the size of the frame")
            data: dict[str, np.ndarray] = {} if given is None else dict(given(index))
            if init_mask is not None:
                if index < init_frame:
                    empty = np.zeros(size, np.float32)
                    yield Result(index=index, mask=_read_only(empty > 0), prob=_read_only(empty), keyframe=False)
                    continue
                if index == init_frame:
                    data["init_mask"] = _read_only((init_mask != 0).astype(np.float32))
                    data["init_mask_exact"] = np.array(init_mask_exact)
                elif "previous_mask" not in data:  # `given` may say what the object kept of the previous frame
                    data["previous_mask"] = _read_only(previous.mask.astype(np.float32))
            data.update(scene_data)
            economy = False
            if self._budget is not None:
                self._budget.start_frame(keyframe=scheduled and previous is not None and previous.keyframe)
                economy = self._budget.economy
                for stage in economisers:
                    stage.economise(economy)
                data["behind_schedule"] = np.array(not self._budget.affords_keyframe())
            _run_stages(stages[len(scene):], index, image, data, self.stage_seconds)
            quality = data.get("quality")
            previous = Result(index=index, mask=data["mask"], prob=data["prob"],
                              keyframe=bool(data.get("keyframe", True)), economy=economy, labels=data.get("labels"),
                              quality=None if quality is None else dict(zip(QUALITY_TERMS, map(float, quality))))
            yield previous
        if init_mask is not None and index < init_frame:
            raise MaskError(f"init_frame is {init_frame} but the video has {index + 1} frames")

    def _stream_objects(
        self, frames: Iterable[Image], init_mask: np.ndarray, values: np.ndarray, init_frame: int, exact: bool
    ) -> Iterator[Result]:
        """Follow the objects that `init_mask` marks jointly, as one label field.

        The scene's stages (those providing only :data:`_SCENE_KEYS`: the flow,
        shot boundaries) run once per frame for all objects; each object's
        own stages (a pipeline per object, :attr:`object_runs`) start each
        frame from the pixels it won in the previous one: its previous mask
        is its region of the label field, and its previous probability is 0
        where another object won. Each pixel goes to the likeliest object
        whose mask covers it. Each object drops the parts of its previous
        mask that look like its first frame's background (which holds the
        other objects), as a part that spread onto another object does, and
        once its mask has spread fits its motion to its own colours' pixels;
        what surrounded it in the first frame is not kept around it, as the
        objects move past each other
        (:class:`~flowseg.stages.ObjectAppearance`'s ``among_others``).

        The objects of a frame are followed in parallel, one thread per core
        (their stages release the GIL in numpy and OpenCV), while another
        thread reads the next frame and computes its scene data: `frames` is
        read there, one frame ahead. :attr:`stage_seconds` then sums the
        threads' seconds, which may exceed the run's. On the 3-person
        composites of ``benchmarks/instances.py --scaling`` (2 cores) 6
        objects went from 4.5 to 6.0 frames per second and 3 objects from
        6.5 to 8.5 (1 object: 11.4), with the same labels on every frame.
        Tried and left out, on those composites: one refinement of the
        objects' union a frame instead of one per object (each object's mask
        its soft map above 0.5) gave 6 objects 4.46 frames per second instead
        of 4.37 (a slower machine), and J&F 0.590 instead of 0.597 over all
        five (``--configs objects``); cutting each object's evidence where
        another object won the frame before gave J&F 0.563; giving the pixels
        two objects' masks claim to the object whose affine motion explains
        their flow (as the visible one's should) gave 0.521: people are not
        rigid, and the flow blurs across the boundary between them. Giving all
        the pixels two masks claim to the object in front (a depth order),
        rather than each pixel to the likelier: 0.602 with the composites'
        true order, 0.623 with the front one judged by its mean probability
        there, against 0.635 (the mask of the one behind holds more of it than
        the one in front spreads over). A lost object not looked for where
        another object won the frame before: 0.604; not counted lost while
        the other objects hold most of what it lost of where it was expected
        (hidden behind them): 0.627 (c04-blackswan's second person 0.532 ->
        0.632, its first 0.713 -> 0.576, which was found again only by the
        search).
        """
        names, keywords = self._given
        if not all(isinstance(name, str) for name in names):
            raise ConfigError("following several objects builds one pipeline per object from stage names; "
                              "this pipeline was given stage objects")
        from .stages import ObjectAppearance

        names = [name for name in names if name not in _FINAL_STAGES]
        scene = tuple(_checked_precisely(stage) for stage in self.object_stages() if _gives_scene_only(stage))
        for stage in scene:
            stage.reset()
        self.object_runs = [Pipeline(names, **keywords) for _ in values]
        own = [tuple(stage for stage in run.object_stages() if not _gives_scene_only(stage))
               for run in self.object_runs]  # fmt: skip
        for stage in itertools.chain(*own):  # each object's first-frame background holds the others
            if isinstance(stage, ObjectAppearance):
                stage.among_others = True
        now: dict[str, Any] = {"image": None, "scene": {}}  # the frame every object stream takes next, its scene data
        last: dict[str, np.ndarray] = {}  # the previous frame's "labels", where an object won ("claimed"), "probs"
        scene_seconds = {type(stage).__name__: 0.0 for stage in scene}

        def fed() -> Iterator[Image]:
            while now["image"] is not None:
                yield now["image"]

        def given(index: int, which: int) -> dict[str, np.ndarray]:
            data = dict(now["scene"])
            if index > init_frame:
                data["previous_mask"] = _read_only((last["labels"] == values[which]).astype(np.float32))
                prob = np.array(last["probs"][which], np.float32)
                prob.ravel()[last["claimed"][last["owners"] != which]] = 0  # where another object won
                data["previous_prob"] = _read_only(prob)
            return data

        streams = [run._stream(fed(), init_mask=init_mask == value, init_frame=init_frame, init_mask_exact=exact,
                               stages=stages, given=functools.partial(given, which=which), read_ahead=False)
                   for which, (run, value, stages) in enumerate(zip(self.object_runs, values, own))]  # fmt: skip
        # One thread reads each frame and computes its scene data while the objects follow the frame before.
        with ThreadPoolExecutor(min(len(streams), usable_cores())) as workers:
            for _, image, scene_data in _read_with_scene(frames, scene, scene_seconds):
                now.update(image=image, scene=scene_data)
                results = list(workers.map(next, streams))
                probs = [result.prob for result in results]
                claimed, owners = _owners([result.mask for result in results], probs)
                labels = np.zeros(probs[0].shape, np.uint16)
                labels.ravel()[claimed] = values[owners]
                last.update(labels=labels, claimed=claimed, owners=owners, probs=probs)
                totals = dict(scene_seconds)
                for run in self.object_runs:
                    for name, seconds in run.stage_seconds.items():
                        totals[name] = totals.get(name, 0.0) + seconds
                self.stage_seconds = totals
                yield Result(index=results[0].index, mask=_read_only(labels > 0),
                             prob=_read_only(functools.reduce(np.maximum, probs)),
                             keyframe=any(r.keyframe for r in results), economy=any(r.economy for r in results),
                             labels=_read_only(labels))  # fmt: skip
        now["image"] = None
        for stream in streams:  # each ends as a stream does (raising if the video ended before init_frame)
            next(stream, None)

    def two_pass_blocker(self, init_mask: np.ndarray | None = None, init_frame: int = 0) -> str | None:
        """Why :meth:`stream_two_pass` would make one pass only (a sentence), or None when it makes two.

        The sentence ends by saying so where that pass drops brief instance IDs (:meth:`_drops_brief_tracks`).
        """
        names, _ = self._given
        if init_mask is not None:
            return None if init_frame > 0 else "following given objects from the first frame: one forward pass"
        if MOVING not in self.target:
            reason = ("a class target: its model sees every frame, and a backward pass did not help it (DAVIS-2016 "
                      "person sequences: J&F 0.558 forward, 0.555 with both)")
        elif self.target_fps is not None:
            reason = "a speed budget (target_fps) keeps the run causal"
        elif self.tracks_instances:
            reason = "each mover keeps an ID of its own as it is found, so the run stays causal"
        elif names is not None and not all(isinstance(name, str) for name in names):
            reason = "the pipeline was given stage objects, and the follower is built from stage names"
        else:
            return None
        if self._drops_brief_tracks(init_mask):
            reason += f"; instance IDs seen on fewer than {BRIEF_TRACK_FRAMES} frames were dropped"
        return reason

    def _drops_brief_tracks(self, init_mask: np.ndarray | None) -> bool:
        """Whether the one pass of :meth:`stream_two_pass` drops IDs seen on few frames: instances, no objects given."""
        return init_mask is None and self.tracks_instances

    def stream_two_pass(
        self,
        frames: Iterable[Image],
        *,
        init_mask: np.ndarray | None = None,
        init_frame: int = 0,
        init_mask_exact: bool = True,
    ) -> Iterator[Result]:
        """Segment frames using the whole video (offline mode): the object is followed both ways from a frame.

        With ``target="moving"`` the frames are read in stretches (as many as
        :data:`TWO_PASS_BYTES` holds). In each, the movers are first found
        frame by frame (this pipeline, causal, unrefined), and in each shot of
        the stretch the frame where they were found surest (the highest
        :func:`~flowseg.stages.mask_quality` confidence of a mask that holds
        at least half the median area of the shot's found masks, among its
        :data:`KEY_CANDIDATES` surest: :func:`_key_frame`) gives the key mask,
        refined by a graph cut. The semi-supervised pipeline (built like this
        one for the default target, so its class model joins the evidence)
        then follows that mask backwards to the shot's first frame and
        forwards to its last, without
        the key frame's surroundings (:class:`~flowseg.stages.ObjectAppearance`'s
        `surroundings`: kept from a found mask they gave J&F 0.647 against
        0.649 over the 34 DAVIS-2016 sequences, A 0.716, B 0.578), and as a
        guess (``init_mask_exact=False``: followed as exact, so on at a new
        size where it shrank, 0.648, A 0.7195 against 0.7184 but B 0.5765
        against 0.5794, bmx-trees 0.402 -> 0.359). What
        the motion shows surely on one frame carries, through the object's
        colours and its own motion, to frames where the motion alone is
        faint, confused or gone. A shot where nothing was found keeps what
        the finder gave. Memory is bounded by the stretch, whatever the
        video's length, and results come out in order, a stretch at a time.

        A pipeline that tracks instances makes one pass, but drops the IDs
        seen on fewer than :data:`BRIEF_TRACK_FRAMES` frames (its results
        come that many frames behind).

        Following given objects (`init_mask`) marked on a later frame than
        the first, the frames before it, which :meth:`stream` leaves empty,
        get the objects followed backwards from `init_frame` (those frames, and
        what the backward pass gave them, wait in temporary files until the
        forward pass reaches them: memory does not grow with `init_frame`; the
        disk holds 1.2 MB a frame at 854x480). Where two passes do not apply (see
        :meth:`two_pass_blocker`) this is :meth:`stream`. :attr:`passes` says
        which ran and why.

        Parameters, yields and raises: as :meth:`stream`.

        Notes
        -----
        On the 34 DAVIS-2016 sequences (``target="moving"``, ``balanced``)
        J&F was 0.546 forward only, 0.569 with the former backward pass fused
        with the forward one, and 0.649 found then followed (fold A 0.718, B
        0.580; ``benchmarks/davis.py``). In ad-hoc runs, choosing the key
        frame by the steadiest mask (its IoU with the masks two frames either
        side) gave 0.622 against 0.651 by the confidence; a two-pass finder
        gave the same 0.651 at twice the cost; two key frames, one per half of
        the shot, 0.636 (A 0.683, B 0.589); the confidence times the share of
        the frame the mask leaves to the background (a mask that fills the
        frame teaches the colours little of it, and followed back to where
        the object is small it floods) 0.651 against 0.649, but A 0.705
        against 0.718: drift-turn's key frame went from 52 to 19 (0.317 ->
        0.618), dog-agility's from 10 to 11 (0.559 -> 0.355). Keeping only
        the key mask's pixels that fit its dominant affine motion (so smoke
        and spray that move with a car or a surfer stay out) lowered the key
        masks' mean J from 0.656 to 0.586: drift-chicane rose from 0.33 to
        0.76, but non-rigid movers lost their limbs (breakdance 0.50 to
        0.01). On the AMD EPYC machine (the same 0.649, A 0.718, B 0.579, at
        7.2 frames per second), the finder on DIS's fast preset instead of
        its medium one gave 8.4 frames per second but 0.645 (A 0.708, B
        0.582): its coarser flow moved the key frames, mallard-fly 0.22 ->
        0.67, motorbike 0.48 -> 0.66, but blackswan 0.75 -> 0.44, surf 0.89
        -> 0.59, dog-agility 0.56 -> 0.36. Weighing the key frame's
        confidence by how little its mask clings to the frame's border
        (:func:`~flowseg.stages.motion.border_weight`, against sky or water
        taken for a mover) gave 0.650 (A 0.718, B 0.581): motorbike alone
        moved (0.48 -> 0.51). With :func:`~flowseg.stages.coherent_motion_hint`
        (0.681, A 0.757, B 0.605), choosing among the 5 surest frames by the
        confidence times ``min(1, area / median area)`` of the shot's found
        masks (a frame where the mover is mostly hidden holds little of it)
        raised the refined key masks' mean J from 0.684 to 0.693 (bmx-trees'
        key frame 63 -> 47, J 0.16 -> 0.51), but fold A's fell (dog 0.93 ->
        0.87, horsejump-low 0.68 -> 0.64): not followed through. Passing
        over, instead, the surest frames whose mask holds less than half the
        median area changed one key frame, bmx-trees' (its rider behind a
        tree on frame 63, 1 361 pixels against a median 7 196): J&F 0.681 ->
        0.688 (A 0.757 unchanged, B 0.605 -> 0.619; bmx-trees 0.242 ->
        0.469), no other sequence changed. On drift-turn, followed back from
        key frame 45 (J 0.69), the mask holds 28 times the far car's area by
        the first frames (smoke and road), where the forward pass alone had it
        at J 0.66-0.86 (0.302 against 0.636). Taking the forward pass's mask
        (``--causal``'s) on the frames where the followed one is more than 4
        times larger, replayed over both runs' masks, gave a mean J of 0.694
        against 0.699 (A 0.777 -> 0.760, B 0.620 -> 0.628; drift-turn 0.385
        -> 0.633, blackswan 0.816 -> 0.713), and 10 or 20 times lowered A
        too: where the followed mask is right, the forward one often holds a
        fraction of the mover.
        For ``target="person"`` on its 19 sequences a backward pass gave 0.555
        against 0.558 forward, so class targets keep one pass.
        """
        blocker = self.two_pass_blocker(init_mask, init_frame)
        if blocker is not None:
            results = self._stream(frames, init_mask=init_mask, init_frame=init_frame,
                                   init_mask_exact=init_mask_exact)
            if self._drops_brief_tracks(init_mask):
                results = _without_brief_tracks(results)
            self.passes = {"count": 1, "why": blocker}
            yield from results
            return
        if init_mask is not None:
            self.passes = {"count": 2, "why": f"the given objects were followed backwards from frame {init_frame} "
                                              "to the first, and forwards to the last"}
            yield from self._stream_both_ways(frames, init_mask, init_frame, init_mask_exact)
            return
        self.passes = {"count": 2, "why": "the whole video was at hand: the movers were found, then followed both "
                                          "ways from the frame of each shot where they were surest"}
        yield from self._stream_found_and_followed(frames)

    def _stream_both_ways(self, frames: Iterable[Image], init_mask: np.ndarray, init_frame: int,
                          exact: bool) -> Iterator[Result]:
        """Follow the given objects backwards from `init_frame` to frame 0, then forwards from it as :meth:`stream`.

        The frames up to `init_frame`, and the backward pass's results, wait in temporary files
        (:class:`~flowseg._spill.SpilledArrays`) until the forward pass reaches them: memory does not grow with
        `init_frame`.
        """
        source = _checked_frames(frames)  # checked here: the backward pass numbers them from the end
        with SpilledArrays() as before, _HeldResults() as backward:
            for image in itertools.islice(source, init_frame + 1):
                if not before:  # what the frames up to init_frame, and the backward pass's results, will take
                    ensure_room((init_frame + 1) * (image.nbytes + image[..., 0].size * _HeldResults.PIXEL_BYTES),
                                f"following the objects back from frame {init_frame}")
                before.append(image)
            if len(before) <= init_frame:
                raise MaskError(f"init_frame is {init_frame} but the video has {len(before)} frames")
            for result in self._stream(reversed(before), init_mask=init_mask, init_mask_exact=exact):
                if result.index > 0:  # frames k-1, k-2, ..., 0 (the forward pass gives k)
                    backward.append(result)
            backward_seconds = sum(self.stage_seconds.values())
            forward = self._stream(itertools.chain(before, source), init_mask=init_mask, init_frame=init_frame,
                                   init_mask_exact=exact)
            for result in forward:  # its frames before init_frame are empty: the backward pass gave them
                if result.index < init_frame:
                    result = dataclasses.replace(backward[init_frame - 1 - result.index], index=result.index)
                self.stage_seconds["backward pass"] = backward_seconds
                yield result

    def _stream_found_and_followed(self, frames: Iterable[Image]) -> Iterator[Result]:
        """Find the movers in each stretch of `frames`, then follow them from each shot's surest frame (see
        :meth:`stream_two_pass`)."""
        from .stages import MaskRefiner, ObjectAppearance, ShotBoundaries

        names, keywords = self._given
        finder = Pipeline(names, **{**keywords, "refine": "none"})
        follower = Pipeline(names, **{key: value for key, value in keywords.items() if key != "target"})
        for stage in follower.object_stages():
            if isinstance(stage, ObjectAppearance):  # a found mask is a guess: its surroundings could be the mover's
                stage.surroundings = False
        shots = next((stage for stage in finder.stages if isinstance(stage, ShotBoundaries)), None)
        refiner = MaskRefiner(method="graphcut")
        seconds: dict[str, float] = {}
        first = 0  # the index of the stretch's first frame
        for stretch in _stretches(frames):
            surest: dict[int, list[tuple[float, int, np.ndarray, int]]] = {}  # by shot start: the key candidates
            areas: dict[int, list[int]] = {}  # by shot start: the area of each mask found
            for result in finder.stream(stretch):
                shot = max(start for start in _shot_starts(shots) if start <= result.index)
                area = int(np.count_nonzero(result.mask))
                if area:
                    confidence = result.quality["confidence"] if result.quality else 0.0
                    areas.setdefault(shot, []).append(area)
                    candidates = surest.setdefault(shot, [])
                    if len(candidates) < KEY_CANDIDATES or confidence > candidates[-1][0]:  # only these are kept
                        candidates.append((confidence, result.index, np.array(result.prob), area))
                        candidates.sort(key=lambda candidate: -candidate[0])  # stable: the earliest of equals first
                        del candidates[KEY_CANDIDATES:]
            _add_seconds(seconds, finder.stage_seconds, "finding movers")
            starts = _shot_starts(shots)
            for start, stop in zip(starts, [*starts[1:], len(stretch)]):
                key = _key_frame(surest.get(start, []), areas.get(start, []))
                mask = None if key is None else refiner.refine(stretch[key[0]], key[1])
                if mask is None or not mask.any():  # nothing was found in this shot: what the finder gives
                    run, results = finder, finder.stream(stretch[start:stop])
                else:
                    run, results = follower, follower._stream_both_ways(stretch[start:stop], mask, key[0] - start,
                                                                        exact=False)  # found: a guess
                for result in results:
                    yield dataclasses.replace(result, index=first + start + result.index)
                _add_seconds(seconds, run.stage_seconds, "finding movers" if run is finder else None)
            first += len(stretch)
            self.stage_seconds = dict(seconds)

    def run(
        self,
        frames: Iterable[Image],
        *,
        init_mask: np.ndarray | None = None,
        init_frame: int = 0,
        init_mask_exact: bool = True,
        two_pass: bool = True,
    ) -> list[Result]:
        """Segment all frames and return the results as a list.

        With `two_pass` (the default) as :meth:`stream_two_pass`, else as
        :meth:`stream` (causal: each frame from itself and those before it).
        """
        stream = self.stream_two_pass if two_pass else self.stream
        return list(stream(frames, init_mask=init_mask, init_frame=init_frame, init_mask_exact=init_mask_exact))
