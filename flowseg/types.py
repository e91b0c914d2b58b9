"""Data conventions shared by all stages.

- image: ``(H, W, 3) uint8`` RGB, values 0-255. Readers convert from the
  decoder's order; nothing else converts.
- mask: ``(H, W) bool``.
- probability map: ``(H, W) float32`` in [0, 1].
- flow: ``(H, W, 2) float32`` in pixels; channel 0 is dx (along W), channel 1
  is dy (along H). ``flow_bwd`` maps each pixel of frame t to its position in
  frame t - 1.
- confidence: ``(H, W) float32`` in [0, 1]; 1 where the flow is trusted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Protocol

import numpy as np
from numpy.typing import NDArray

__all__ = ["Image", "Mask", "ProbMap", "Flow", "Frame", "StageOutput", "Stage", "Result"]

Image = NDArray[np.uint8]
Mask = NDArray[np.bool_]
ProbMap = NDArray[np.float32]
Flow = NDArray[np.float32]

StageOutput = dict[str, np.ndarray]
"""What a stage returns: new arrays under the keys the stage provides."""


@dataclass(frozen=True)
class Frame:
    """One video frame on its way through the pipeline.

    Attributes
    ----------
    index : int
        0-based position in decode order.
    image : (H, W, 3) uint8 ndarray
        RGB frame, read-only.
    data : mapping of str to ndarray
        Outputs of earlier stages for this frame, read-only.
    """

    index: int
    image: Image
    data: Mapping[str, np.ndarray] = field(default_factory=dict)


class Stage(Protocol):
    """The interface every pipeline stage implements.

    A stage reads ``frame.image`` and the keys in ``requires`` from
    ``frame.data`` and returns new arrays under the keys in ``provides``. It
    never modifies its input. State carried from frame to frame is private and
    cleared by :meth:`reset`, after which the stage behaves exactly like a new
    one (configuration and loaded weights are kept).

    A stage may also have an ``economise(on: bool)`` method: a cheaper
    setting the pipeline switches on for the frames that must catch up with a
    speed budget (see :mod:`flowseg.budget`).
    """

    requires: tuple[str, ...]
    provides: tuple[str, ...]

    def process(self, frame: Frame) -> StageOutput: ...

    def reset(self) -> None: ...


@dataclass(frozen=True)
class Result:
    """The segmentation of one frame.

    Attributes
    ----------
    index : int
        0-based frame index.
    mask : (H, W) bool ndarray
        Final binary mask of the target.
    prob : (H, W) float32 ndarray
        Soft target probability in [0, 1] after temporal fusion, before the
        refinement decides the hard mask.
    keyframe : bool
        Whether the semantic model ran on this frame (always True without
        keyframe scheduling).
    economy : bool
        Whether the stages ran at their cheaper settings to keep up with a
        speed budget (``target_fps``).
    labels : (H, W) uint16 ndarray or None
        Instance mode (``Pipeline(instances=True)``, or several objects
        given): 0 = background, k > 0 = object k's pixels. None otherwise.
    quality : dict of str to float, or None
        How far the mask can be trusted (see
        :func:`flowseg.stages.mask_quality`): ``"confidence"`` in [0, 1]
        and its terms; None without a :class:`~flowseg.stages.MaskQuality` stage.
    """

    index: int
    mask: Mask
    prob: ProbMap
    keyframe: bool = True
    economy: bool = False
    labels: NDArray[np.uint16] | None = None
    quality: Mapping[str, float] | None = None
