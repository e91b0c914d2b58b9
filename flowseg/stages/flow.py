"""Optical flow stage: dense motion between consecutive frames and how far to trust it.

Flow convention (see :mod:`flowseg.types`): ``(H, W, 2) float32`` in pixels, dx
first. ``estimate_flow(reference, moving)`` returns the flow that takes each
pixel of `reference` to its position in `moving`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .._validate import check_flow, check_image
from ..errors import ConfigError, ShapeError
from ..types import Flow, Frame, Image, ProbMap, StageOutput
from ._sampling import flow_targets

__all__ = ["FLOW_METHODS", "estimate_flow", "flow_confidence", "flow_error", "FlowEstimator"]

FLOW_METHODS: tuple[str, ...] = ("dis", "dis_fine", "dis_fast", "dis_ultrafast", "farneback", "raft_small",
                                  "raft_large")
"""Flow methods: OpenCV DIS (its medium, fast and ultrafast presets, and the medium
preset down to full resolution) and Farneback run anywhere; RAFT needs torchvision weights."""

_DIS_PRESETS = {  # method: (OpenCV preset, finest pyramid level, or None for the preset's own)
    "dis": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, None),
    "dis_fine": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, 0),
    "dis_fast": (cv2.DISOPTICAL_FLOW_PRESET_FAST, None),
    "dis_ultrafast": (cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, None),
}

_DIS_MIN_SIDE = 16
"""DIS needs frames at least 12 pixels on a side; smaller ones are padded to this."""

RAFT_MIN_SIZE = 128
"""RAFT is given frames of at least this many pixels per side (smaller ones are padded)."""


def _check_method(method: str) -> None:
    if method not in FLOW_METHODS:
        raise ConfigError(f"unknown flow method {method!r}; valid methods: {', '.join(FLOW_METHODS)}")


def _resize_flow(flow: np.ndarray, size_hw: tuple[int, int]) -> Flow:
    """Resize a flow field to `size_hw`, scaling its vectors with the image."""
    h, w = size_hw
    if flow.shape[:2] == (h, w):
        return flow.astype(np.float32, copy=False)
    out = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= w / flow.shape[1]
    out[..., 1] *= h / flow.shape[0]
    return out.astype(np.float32, copy=False)


class _OpenCVFlow:
    """DIS or Farneback on grey frames."""

    def __init__(self, method: str) -> None:
        self._method = method
        if method in _DIS_PRESETS:
            self._dis, self._dis_check = _dis(method), _dis(method)
            ultrafast = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
            self._dis_check.setPatchStride(ultrafast.getPatchStride())
            self._dis_check.setVariationalRefinementIterations(ultrafast.getVariationalRefinementIterations())

    def prepare(self, image: Image) -> np.ndarray:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)

    def flows(self, pairs: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        if self._method in _DIS_PRESETS:
            return [_dis_calc(self._dis, a, b) for a, b in pairs]
        return [cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 15, 3, 5, 1.2, 0) for a, b in pairs]

    def round_trip(self, current: np.ndarray, previous: np.ndarray, coarse_check: bool) -> tuple[Flow, Flow]:
        """The flow from `current` to `previous` and the one back that checks it, with DIS and `coarse_check`
        a coarser one (see :class:`FlowEstimator`)."""
        if self._method in _DIS_PRESETS and coarse_check:
            return _dis_calc(self._dis, current, previous), _dis_calc(self._dis_check, previous, current)
        return _both_ways(self, current, previous)


def _dis(method: str) -> cv2.DISOpticalFlow:
    """A DIS of `method`'s preset and finest level."""
    preset, finest = _DIS_PRESETS[method]
    dis = cv2.DISOpticalFlow_create(preset)
    if finest is not None:
        dis.setFinestScale(finest)
    return dis


def _dis_calc(dis: cv2.DISOpticalFlow, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """DIS flow; frames smaller than DIS accepts are padded (edge pixels repeated) and the flow cropped."""
    h, w = a.shape
    pad_y, pad_x = max(_DIS_MIN_SIDE - h, 0), max(_DIS_MIN_SIDE - w, 0)
    if not (pad_y or pad_x):
        return dis.calc(a, b, None)
    a, b = (cv2.copyMakeBorder(x, 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE) for x in (a, b))
    return dis.calc(a, b, None)[:h, :w]


@functools.lru_cache(maxsize=4)
def _load_raft(name: str, weights: str | None, sha256: str | None, device: str) -> Any:
    from ..models.weights import build_model, load_state_dict

    state = load_state_dict(name, path=weights, sha256=sha256, download=weights is None)
    return build_model(name, state_dict=state).to(device)


class _RaftFlow:
    """torchvision RAFT; all pairs of a call in one batch."""

    def __init__(self, name: str, weights: str | Path | None, sha256: str | None, device: str) -> None:
        from .semantics import resolve_device

        self._device = resolve_device(device)
        self._model = _load_raft(name, None if weights is None else str(weights), sha256, self._device)

    def prepare(self, image: Image) -> Any:
        import torch

        x = torch.from_numpy(image).permute(2, 0, 1).float().div_(127.5).sub_(1.0)
        h, w = image.shape[:2]
        pad_h = max(RAFT_MIN_SIZE, -(-h // 8) * 8) - h
        pad_w = max(RAFT_MIN_SIZE, -(-w // 8) * 8) - w
        x = torch.nn.functional.pad(x[None], (0, pad_w, 0, pad_h), mode="replicate")[0]
        return x, (h, w)

    def flows(self, pairs: list[tuple[Any, Any]]) -> list[np.ndarray]:
        import torch

        h, w = pairs[0][0][1]
        with torch.inference_mode():
            first = torch.stack([a[0] for a, _ in pairs]).to(self._device)
            second = torch.stack([b[0] for _, b in pairs]).to(self._device)
            out = self._model(first, second)[-1][:, :, :h, :w]
        return list(out.permute(0, 2, 3, 1).cpu().numpy())

    def round_trip(self, current: Any, previous: Any, coarse_check: bool) -> tuple[Flow, Flow]:
        """The flow from `current` to `previous` and the one back, in one batch (`coarse_check` is for DIS)."""
        return _both_ways(self, current, previous)


def _both_ways(backend: _OpenCVFlow | _RaftFlow, current: Any, previous: Any) -> tuple[Flow, Flow]:
    """The flow from `current` to `previous` and the one back, by one call of the backend's ``flows``."""
    backward, forward = backend.flows([(current, previous), (previous, current)])
    return backward, forward


def _make_backend(method: str, weights: str | Path | None, sha256: str | None, device: str) -> Any:
    _check_method(method)
    if method.startswith("raft"):
        return _RaftFlow(method, weights, sha256, device)
    return _OpenCVFlow(method)


def _scaled(image: Image, scale: float) -> Image:
    if scale == 1.0:
        return image
    h, w = image.shape[:2]
    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def estimate_flow(
    reference: Image,
    moving: Image,
    *,
    method: str = "dis",
    scale: float = 1.0,
    weights: str | Path | None = None,
    sha256: str | None = None,
    device: str = "auto",
) -> Flow:
    """Dense optical flow from `reference` to `moving`.

    Parameters
    ----------
    reference, moving : (H, W, 3) uint8 ndarray
        RGB frames of the same size.
    method : {"dis", "dis_fine", "dis_fast", "dis_ultrafast", "farneback", "raft_small", "raft_large"}
        Flow algorithm: DIS with OpenCV's medium, fast or ultrafast preset
        (each about 3x faster and coarser than the one before; the medium
        preset's finest level is half the frame size), ``dis_fine``: the
        medium preset refined down to full size (about 3x slower than
        ``dis``), Farneback, or RAFT, which needs its torchvision weights (see
        :func:`flowseg.models.load_state_dict`).
    scale : float
        Compute at this fraction of the frame size (0 < scale <= 1), then
        resize the flow back; faster, coarser.
    weights : path-like, optional
        RAFT weights file instead of the official one.
    sha256 : str, optional
        Expected SHA-256 of `weights` (default: the official file's).
    device : {"auto", "cpu", "cuda"}
        Where RAFT runs.

    Returns
    -------
    (H, W, 2) float32 ndarray
        Flow in pixels, dx first: ``reference[y, x] ~ moving[y + dy, x + dx]``.

    Raises
    ------
    ShapeError, DTypeError
        For frames that are not (H, W, 3) uint8 or differ in size.
    ConfigError
        For an unknown `method`.
    ValueError
        For `scale` outside (0, 1].
    """
    check_image(reference, "reference")
    check_image(moving, "moving")
    if reference.shape != moving.shape:
        raise ShapeError(
            f"moving has shape {moving.shape}; expected the shape of reference, {reference.shape}",
            expected=str(reference.shape), actual=moving.shape,
        )
    if not 0.0 < scale <= 1.0:
        raise ValueError(f"scale is {scale}; expected 0 < scale <= 1")
    backend = _make_backend(method, weights, sha256, device)
    a = backend.prepare(_scaled(reference, scale))
    b = backend.prepare(_scaled(moving, scale))
    (forward,) = backend.flows([(a, b)])
    return _resize_flow(forward, reference.shape[:2])


def flow_confidence(flow_bwd: Flow, flow_fwd: Flow, *, pixel_scale: float = 1.0) -> ProbMap:
    """Forward-backward consistency of a pair of flows, as a confidence in [0, 1].

    For a pixel x of frame t, ``y = x + flow_bwd(x)`` is where it was in frame
    t - 1, and ``flow_fwd(y)`` should bring it back: the error
    ``e = |flow_bwd(x) + flow_fwd(y)|^2`` is near zero where both flows agree and
    large at occlusions and where the flow is wrong.

    Parameters
    ----------
    flow_bwd : (H, W, 2) float32 ndarray
        Flow from frame t to frame t - 1.
    flow_fwd : (H, W, 2) float32 ndarray
        Flow from frame t - 1 to frame t.
    pixel_scale : float
        Size of one pixel of these flows in frame pixels (``1 / scale`` for
        flows computed on a frame downscaled by `scale`), so that the error
        and its tolerance are always measured in frame pixels (> 0).

    Returns
    -------
    (H, W) float32 ndarray
        ``exp(-e / (0.01 (|flow_bwd|^2 + |flow_fwd(y)|^2) + 0.5))``: 1 for a
        consistent pixel, below ``exp(-1)`` where Sundaram et al.'s occlusion
        test fails, and 0 where y falls outside the frame.

    Notes
    -----
    Following a given object (34 DAVIS-2016 sequences, ``benchmarks/davis.py
    --configs object``), J&F was 0.776 with both flows at full size; with
    `flow_fwd` at half size (4 times cheaper: 7.5 frames per second instead
    of 6.1) 0.763, drift-chicane 0.749 -> 0.650; with Sundaram et al.'s
    second test, motion boundaries, as a factor ``exp(-|grad flow_bwd|^2 /
    (0.01 |flow_bwd|^2 + 0.002))``, 0.774 (less trust along the object's
    edges, where the flow did better than the evidence).

    References
    ----------
    .. [1] N. Sundaram, T. Brox, K. Keutzer, "Dense point trajectories by
       GPU-accelerated large displacement optical flow", ECCV 2010.
       :DOI:`10.1007/978-3-642-15549-9_32`

    Examples
    --------
    >>> import numpy as np
    >>> b = np.full((2, 3, 2), -1.0, np.float32); b[..., 1] = 0
    >>> f = -b
    >>> flow_confidence(b, f).round(2)
    array([[0., 1., 1.],
           [0., 1., 1.]], dtype=float32)
    """
    return _consistency(flow_bwd, flow_fwd, pixel_scale)[0]


def flow_error(flow_bwd: Flow, flow_fwd: Flow, *, pixel_scale: float = 1.0) -> ProbMap:
    """How far, in frame pixels, a pixel's round trip through a pair of flows misses it: the flows' own error.

    ``|flow_bwd(x) + flow_fwd(x + flow_bwd(x))|`` times `pixel_scale`, the
    square root of :func:`flow_confidence`'s ``e`` (the flows as there): an
    estimate of where the flow may be off by how much, large at occlusions.

    Returns
    -------
    (H, W) float32 ndarray
        Pixels, >= 0 (where ``x + flow_bwd(x)`` leaves the frame, ``flow_fwd``
        is read at the nearest edge pixel).

    Examples
    --------
    >>> import numpy as np
    >>> b = np.full((1, 2, 2), -1.0, np.float32); f = np.full((1, 2, 2), 0.5, np.float32)
    >>> flow_error(b, f).round(2)
    array([[0.71, 0.71]], dtype=float32)
    """
    return _consistency(flow_bwd, flow_fwd, pixel_scale)[1]


def _consistency(flow_bwd: Flow, flow_fwd: Flow, pixel_scale: float) -> tuple[ProbMap, ProbMap]:
    """:func:`flow_confidence` and :func:`flow_error` of one pair of flows, from one round trip."""
    h, w = flow_bwd.shape[:2]
    flow_bwd = check_flow(flow_bwd, (h, w), "flow_bwd")
    flow_fwd = check_flow(flow_fwd, (h, w), "flow_fwd")
    if not pixel_scale > 0:
        raise ValueError(f"pixel_scale is {pixel_scale}; expected a positive number")
    targets = flow_targets(flow_bwd)
    fwd_at_y = cv2.remap(flow_fwd, targets, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    bx, by, fx, fy = flow_bwd[..., 0], flow_bwd[..., 1], fwd_at_y[..., 0], fwd_at_y[..., 1]  # views, no copies
    squared = float(pixel_scale) ** 2  # a Python float: the arrays stay float32
    error = squared * ((bx + fx) ** 2 + (by + fy) ** 2)
    tolerance = 0.01 * squared * (bx * bx + by * by + fx * fx + fy * fy) + 0.5
    confidence = np.exp(-error / tolerance)
    map_x, map_y = targets[..., 0], targets[..., 1]
    confidence[~((map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1))] = 0.0  # y outside the frame
    return confidence, np.sqrt(error)


class FlowEstimator:
    """Backward flow from each frame to the one before it, and its confidence.

    Parameters
    ----------
    method : {"dis", "dis_fine", "dis_fast", "dis_ultrafast", "farneback", "raft_small", "raft_large"}
        Flow algorithm (see :func:`estimate_flow`).
    scale : float
        Compute at this fraction of the frame size (0 < scale <= 1).
    coarse_check : bool
        With DIS, check the backward flow against a coarser forward flow:
        the same preset with DIS ultrafast's patch stride (4 pixels, not
        3) and no variational refinement, 2.4 times cheaper (18 ms against
        43 ms for DIS medium at 854x480 on one core). See Notes.
    weights : path-like, optional
        RAFT weights file instead of the official one.
    sha256 : str, optional
        Expected SHA-256 of `weights`.
    device : {"auto", "cpu", "cuda"}
        Where RAFT runs.

    Attributes
    ----------
    requires : tuple of str
        Empty: reads only the image.
    provides : tuple of str
        ``"flow_bwd"``: ``(H, W, 2) float32`` flow from frame t to t - 1;
        ``"flow_confidence"``: ``(H, W) float32`` in [0, 1] from
        :func:`flow_confidence`; ``"flow_error"``: ``(H, W) float32``, the
        flows' error in pixels from :func:`flow_error`. On the first frame
        (and after :meth:`reset`) the flow is zero, the confidence zero
        everywhere and the error zero (no motion is known).

    Notes
    -----
    Keeps the previous frame's prepared input; :meth:`reset` forgets it.

    The check only has to say where the round trip fails, not where each
    pixel goes to a tenth of a pixel. Following the given object on the 34
    DAVIS-2016 sequences (``balanced``, DIS medium at full size), a coarse
    check gave J&F 0.782 (folds A 0.785, B 0.779) against 0.781 (A 0.785, B
    0.777) at 12.2 frames per second instead of 9.6 (AMD EPYC, 2 cores, the
    same day), though breakdance fell from 0.467 to 0.443; DIS fast as the
    check gave 0.765; the ultrafast preset at the medium one's finest level
    0.781 (breakdance 0.436); only the stride of 4 0.780 (A 0.785, B 0.774)
    at 10.3; the stride and 2 refinement iterations 0.779 (B 0.774). It is
    off by default: its confidence is a few points lower (blackswan's mean
    0.86 -> 0.76 at half size), so evidence carried along the flow goes
    stale sooner. For the movers (the finder at half size and the follower
    both checked coarsely) it moved the key frames both ways (J&F 0.662
    against 0.649, but A 0.711 against 0.718), and it made the keyframe,
    fusion and key frame tests on small synthetic clips fail.
    ``quality``'s ``dis_fine`` with a coarse check gave 0.789 (A 0.797, B
    0.781) against 0.793 (B 0.788).
    Several objects followed jointly lost with it too (composites 0.635 ->
    0.594).
    """

    requires: tuple[str, ...] = ()
    provides: tuple[str, ...] = ("flow_bwd", "flow_confidence", "flow_error")

    def __init__(
        self,
        *,
        method: str = "dis",
        scale: float = 1.0,
        coarse_check: bool = False,
        weights: str | Path | None = None,
        sha256: str | None = None,
        device: str = "auto",
    ) -> None:
        if not 0.0 < scale <= 1.0:
            raise ValueError(f"scale is {scale}; expected 0 < scale <= 1")
        self.method = method
        self.scale = scale
        self.coarse_check = coarse_check
        self._backend = _make_backend(method, weights, sha256, device)
        self._full_backend = self._backend
        self._previous: Any = None

    def economise(self, on: bool) -> None:
        """Switch DIS and Farneback to DIS ultrafast (``on``) or back; RAFT has no cheaper setting here."""
        if isinstance(self._full_backend, _OpenCVFlow):
            if on and self._backend is self._full_backend:
                self._backend = _OpenCVFlow("dis_ultrafast")
            elif not on:
                self._backend = self._full_backend

    def process(self, frame: Frame) -> StageOutput:
        """Flow from ``frame`` to the previous frame, and its confidence."""
        image = check_image(frame.image)
        h, w = image.shape[:2]
        current = self._backend.prepare(_scaled(image, self.scale))
        previous, self._previous = self._previous, current
        if previous is None:
            nothing = np.zeros((h, w), np.float32)
            return {"flow_bwd": np.zeros((h, w, 2), np.float32), "flow_confidence": nothing, "flow_error": nothing}
        flow_bwd, flow_fwd = self._backend.round_trip(current, previous, self.coarse_check)
        # Consistency at the working size (measured in frame pixels), then every output to frame size.
        confidence, error = _consistency(flow_bwd, flow_fwd, pixel_scale=w / flow_bwd.shape[1])
        if confidence.shape != (h, w):
            confidence, error = (cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR) for m in (confidence, error))
        return {"flow_bwd": _resize_flow(flow_bwd, (h, w)), "flow_confidence": confidence, "flow_error": error}

    def reset(self) -> None:
        """Forget the previous frame, and leave economy (see :meth:`economise`)."""
        self._previous = None
        self._backend = self._full_backend
