"""flowseg: video object segmentation from per-frame semantics and optical flow.

The pipeline runs four stages on every frame: semantic segmentation gives the
target's probability, optical flow carries the previous mask into the current
frame, the two are fused, and refinement snaps the mask to the image's edges.

>>> from flowseg import Pipeline, segment_video
>>> results = Pipeline(target="person").run(frames)   # doctest: +SKIP
>>> summary = segment_video("clip.mp4", "out/clip")   # doctest: +SKIP
"""

from .errors import (
    ConfigError,
    DTypeError,
    FlowsegError,
    MaskError,
    OutputError,
    PromptError,
    ShapeError,
    StageOrderError,
    UnknownTargetError,
    VideoOpenError,
    WeightsError,
)
from .budget import SpeedBudget
from .pipeline import PRESETS, STAGE_NAMES, Pipeline
from .prompts import Prompt, mask_from_prompt
from .predictor import Prediction, predict, predict_video
from .runner import segment_video
from .stages import (
    FlowEstimator,
    KeyframeScheduler,
    MaskRefiner,
    MaskWarper,
    ObjectAppearance,
    SemanticSegmenter,
    stale_fraction,
)
from .types import Frame, Result, Stage

__version__ = "0.1.0"

__all__ = [
    "Pipeline",
    "segment_video",
    "predict",
    "predict_video",
    "Prediction",
    "Prompt",
    "mask_from_prompt",
    "PRESETS",
    "STAGE_NAMES",
    "Result",
    "Frame",
    "Stage",
    "SemanticSegmenter",
    "FlowEstimator",
    "KeyframeScheduler",
    "stale_fraction",
    "SpeedBudget",
    "ObjectAppearance",
    "MaskWarper",
    "MaskRefiner",
    "FlowsegError",
    "ConfigError",
    "ShapeError",
    "DTypeError",
    "StageOrderError",
    "VideoOpenError",
    "WeightsError",
    "UnknownTargetError",
    "OutputError",
    "MaskError",
    "PromptError",
    "__version__",
]
