"""Pipeline stages, one module each."""

from ._colours import ColourModel
from .appearance import LocalColourModel, ObjectAppearance, regions_apart, spatial_prior
from .flow import FlowEstimator, estimate_flow, flow_confidence, flow_error
from .instances import InstanceTracker, split_touching
from .keyframes import KeyframeScheduler, stale_fraction
from .motion import (
    MovingObjects,
    MovingTargets,
    border_weight,
    camera_flow,
    coherent_motion_hint,
    motion_hint,
    object_motion_agreement,
    picture_window,
    residual_motion,
)
from .prediction import (MOTION_MODELS, PredictionPrior, extrapolate, predict_frame, predict_mask, splat, velocity,
                         velocity_change)
from .quality import QUALITY_TERMS, MaskQuality, mask_quality
from .refine import MaskRefiner, crf_refine, graphcut_refine
from .semantics import VOC_CLASSES, SemanticSegmenter, resolve_targets
from .shots import ShotBoundaries, ShotDetector
from .warp import MaskWarper, fuse_evidence, warp_mask

__all__ = [
    "VOC_CLASSES",
    "ObjectAppearance",
    "ColourModel",
    "LocalColourModel",
    "spatial_prior",
    "regions_apart",
    "SemanticSegmenter",
    "resolve_targets",
    "FlowEstimator",
    "estimate_flow",
    "flow_confidence",
    "flow_error",
    "InstanceTracker",
    "split_touching",
    "KeyframeScheduler",
    "stale_fraction",
    "MovingObjects",
    "MovingTargets",
    "camera_flow",
    "residual_motion",
    "object_motion_agreement",
    "motion_hint",
    "coherent_motion_hint",
    "border_weight",
    "picture_window",
    "MOTION_MODELS",
    "PredictionPrior",
    "extrapolate",
    "predict_frame",
    "predict_mask",
    "splat",
    "velocity",
    "velocity_change",
    "MaskWarper",
    "warp_mask",
    "fuse_evidence",
    "ShotBoundaries",
    "ShotDetector",
    "MaskRefiner",
    "crf_refine",
    "graphcut_refine",
    "MaskQuality",
    "mask_quality",
    "QUALITY_TERMS",
]
