"""Prediction stage: the next frames and masks, extrapolated from the motion already measured.

Every pixel of frame t keeps the velocity it had from t - 1 to t (constant
velocity: minus the backward flow), or, with ``motion="layered"``, the
velocity of its layer: the camera's homography for the background and an
affine motion fitted to the flow under the object's mask. Frame t is then
forward-warped (splatted) by ``steps`` times that velocity; given the flow
of the frame before too, plus a share of how the pixel's velocity last
changed (:data:`VELOCITY_CHANGE_CARRIED`: a camera speeding up keeps
speeding up for a while). Where several
pixels land on one, the one in front wins: independent movers (motion the
camera does not explain) and the object under the mask are taken to be in
front of the background. Pixels that nothing reaches (what the movers
uncover) are filled by inpainting.

Unless asked for the sharp frame, the prediction then hedges, as the frame
that is nearest the real one on average (least squared error) must: where
pixels landed it is the mean of that forward warp and the backward warp
(frame t sampled where the velocity points back from), and each pixel is
blurred by how far off its position may be: a spread that grows with its
displacement and with the square root of the frames ahead (a velocity that
drifts as a random walk), and, given the flow's own error (its
forward-backward inconsistency, :func:`~flowseg.stages.flow_error`) and
how the velocity last changed, with each of those times the frames ahead
(:data:`VELOCITY_CHANGE_SPREAD`).
"""

from __future__ import annotations

import cv2
import numpy as np

from .._validate import check_flow, check_image, check_prob
from ..errors import ConfigError
from ..types import Flow, Frame, Image, ProbMap, StageOutput
from ._sampling import flow_targets, pixel_grid
from .motion import camera_flow, residual_motion

__all__ = ["MOTION_MODELS", "UNCERTAINTY", "VELOCITY_CHANGE_CARRIED", "VELOCITY_CHANGE_SPREAD", "velocity",
           "velocity_change", "splat", "blur_by", "extrapolate", "predict_frame",
           "predict_mask", "PredictionPrior"]

MOTION_MODELS: tuple[str, ...] = ("pixel", "layered")
"""How each pixel's velocity is extrapolated: its own flow, or its layer's parametric motion."""

_FRONT = 10.0
"""Priority of the object under the mask over the background: its pixels win an overlap by a factor e^10."""

_FILL_MAX_SIDE = 480
"""Holes are inpainted on a copy whose longer side is at most this many pixels (the fill is smooth anyway)."""

_HOLE = 0.05
"""A pixel whose splatted weight (sum of bilinear shares landing on it) is below this is a hole."""

UNCERTAINTY: float = 0.05
"""Spread (Gaussian sigma) of a predicted pixel's position, as a fraction of its displacement times the square root
of the frames ahead.

On the 34 DAVIS-2016 sequences (``benchmarks/prediction.py``, every 8th
frame) the hedged frames scored PSNR 24.31 / 19.86 / 18.26 dB at 1 / 3 / 5
frames ahead against 23.98 / 18.95 / 17.12 for the forward warp alone, SSIM
0.701 / 0.520 / 0.471 against 0.688 / 0.471 / 0.399 (both folds gain at
every horizon). Measured beside it (an earlier harness, every 8th frame):
the mean of the two warps without blur gave 24.06 / 19.21 / 17.51 dB; twice
the spread 24.18 / 19.98 / 18.42 with SSIM 0.687 one frame ahead; a spread
growing as the frames ahead rather than their square root lost SSIM one
frame ahead to gain five ahead; averaging only where both warps moved the
pixel alike gained 0.01 dB, not 0.16: the mean helps where the two disagree.
The flow's error adds to the spread (in quadrature; ``flow_error`` of
:func:`extrapolate`): on the same frames PSNR 24.36 / 19.94 / 18.32 dB, a
gain in both folds at every horizon (fold A +0.04 / +0.07 / +0.05, B +0.06 /
+0.09 / +0.06), SSIM 0.700 / 0.522 / 0.473 (fold A one frame ahead 0.669 ->
0.667, every other figure up). A spread of ``2 (1 - flow confidence)``
pixels instead (an earlier harness, every 16th frame) gained +0.06 / +0.03 /
+0.01 dB."""

VELOCITY_CHANGE_CARRIED: float = 0.25
"""Share of each pixel's last change of velocity (:func:`velocity_change`) added to its displacement, whatever
the frames ahead.

The change goes on for a while where a camera or an object speeds up or
slows down smoothly, and reverses where it shakes. Measured with the hedge
of :data:`VELOCITY_CHANGE_SPREAD` on the 34 DAVIS-2016 sequences (every 16th
frame, a harness of ``benchmarks/prediction.py``'s ``pixel`` row): +0.12 dB
PSNR one frame ahead in both folds, within 0.02 dB either way three and
five ahead. Chosen on fold A among 0.15, 0.25 and 0.35 (fold B gained most
at 0.35: +0.23 against +0.21 dB, without that hedge); 0.5 gained less one frame ahead (+0.09 / +0.15 dB against +0.13
/ +0.21 for 0.25, without that hedge), and a change carried on at every
frame ahead (``steps`` times it) lost up to 0.35 dB three ahead."""

VELOCITY_CHANGE_SPREAD: float = 0.5
"""Spread (Gaussian sigma) of a predicted pixel's position, per frame ahead, as a fraction of its last change of
velocity: a velocity that has just changed is the less sure to hold.

On the 34 DAVIS-2016 sequences (every 16th frame, a harness of
``benchmarks/prediction.py``'s ``pixel`` row) +0.24 / +0.24 / +0.15 dB PSNR
at 1 / 3 / 5 frames ahead in fold A, +0.16 / +0.28 / +0.16 in fold B
(chosen on fold A among 0.35, 0.5 and 1.0); 0.35 gained less at every
horizon, 1.0 lost 0.05 dB one frame ahead in fold A and 0.26 in fold B;
a spread growing as a random walk's (the square root of the sum of squares
of 1 .. ``steps``) instead of as ``steps`` did as well."""

_BLUR_LEVELS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
"""Gaussian sigmas (pixels) of the copies :func:`blur_by` interpolates between."""


def _check_motion(motion: str) -> None:
    if motion not in MOTION_MODELS:
        raise ConfigError(f"unknown motion model {motion!r}; valid models: {', '.join(MOTION_MODELS)}")


def _affine_flow(flow: Flow, region: np.ndarray) -> Flow:
    """The affine flow field fitted (least squares) to `flow` over `region`, evaluated everywhere."""
    h, w = region.shape
    grid = pixel_grid(h, w)
    xy = grid[region]
    design = np.column_stack([xy, np.ones(len(xy), np.float32)])
    coefficients, *_ = np.linalg.lstsq(design, flow[region], rcond=None)
    return (grid @ coefficients[:2] + coefficients[2]).astype(np.float32)


def velocity(flow_bwd: Flow, prob: ProbMap | None = None, *, motion: str = "pixel") -> Flow:
    """Each pixel's motion per frame from frame t onwards, under constant velocity.

    Parameters
    ----------
    flow_bwd : (H, W, 2) float32 ndarray
        Flow from frame t to frame t - 1 in pixels, dx first.
    prob : (H, W) float32 ndarray, optional
        Soft mask of the object in frame t, in [0, 1] (``"layered"`` only).
    motion : {"pixel", "layered"}
        ``"pixel"``: minus the flow at each pixel. ``"layered"``: minus the
        camera's homography flow (see :func:`~flowseg.stages.camera_flow`)
        for the background, and under the mask (``prob > 0.5``, at least 16
        pixels) minus an affine flow fitted to the flow there.

    Returns
    -------
    (H, W, 2) float32 ndarray
        Displacement per frame in pixels, dx first.

    Examples
    --------
    >>> import numpy as np
    >>> flow = np.full((2, 3, 2), -1.5, np.float32)  # everything came from 1.5 px up-left
    >>> velocity(flow)[0, 0].tolist()
    [1.5, 1.5]
    """
    _check_motion(motion)
    h, w = flow_bwd.shape[:2]
    flow_bwd = check_flow(flow_bwd, (h, w), "flow_bwd")
    if motion == "pixel":
        return -flow_bwd
    layered = camera_flow(flow_bwd)
    if prob is not None:
        region = check_prob(prob, (h, w), "prob") > 0.5
        if region.sum() >= 16:
            layered[region] = _affine_flow(flow_bwd, region)[region]
    return -layered


def velocity_change(flow_bwd: Flow, flow_before: Flow) -> Flow:
    """Each pixel's change of velocity between the last two frame pairs.

    Parameters
    ----------
    flow_bwd : (H, W, 2) float32 ndarray
        Flow from frame t to frame t - 1 in pixels, dx first.
    flow_before : (H, W, 2) float32 ndarray
        Flow from frame t - 1 to frame t - 2, at frame t - 1's pixels.

    Returns
    -------
    (H, W, 2) float32 ndarray
        Velocity from t - 1 to t minus the velocity the pixel had from
        t - 2 to t - 1 (read where it was in frame t - 1), in pixels per
        frame, dx first.

    Examples
    --------
    >>> import numpy as np
    >>> before = np.full((2, 3, 2), -1.0, np.float32)  # came 1 px a frame from the top left
    >>> velocity_change(1.5 * before, before)[0, 2].tolist()  # now 1.5 px a frame: speeding up
    [0.5, 0.5]
    """
    h, w = flow_bwd.shape[:2]
    flow_bwd = check_flow(flow_bwd, (h, w), "flow_bwd")
    flow_before = check_flow(flow_before, (h, w), "flow_before")
    earlier = cv2.remap(flow_before, flow_targets(flow_bwd), None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return (earlier - flow_bwd).astype(np.float32)


def splat(values: np.ndarray, displacement: Flow, priority: ProbMap) -> tuple[np.ndarray, ProbMap]:
    """Forward-warp: move every pixel by its displacement; in front where its priority is higher.

    Each pixel spreads over the four pixels around its target with bilinear
    weights times ``exp(priority)`` (softmax splatting, Niklaus and Liu,
    CVPR 2020): an overlap is won by the higher priority, smoothly.

    Parameters
    ----------
    values : (H, W) or (H, W, C) float32 ndarray
        What to move.
    displacement : (H, W, 2) float32 ndarray
        Where each pixel goes, in pixels, dx first.
    priority : (H, W) float32 ndarray
        Depth order: higher is nearer the camera.

    Returns
    -------
    moved : float32 ndarray, the shape of `values`
        The weighted mean of what landed on each pixel; 0 where nothing did.
    coverage : (H, W) float32 ndarray
        The sum of bilinear weights that landed on each pixel (about 1 where
        the motion is smooth, 0 in holes).

    Examples
    --------
    >>> import numpy as np
    >>> row = np.array([[1.0, 2.0, 3.0, 4.0]], np.float32)
    >>> shift = np.zeros((1, 4, 2), np.float32); shift[..., 0] = 1
    >>> moved, coverage = splat(row, shift, np.zeros((1, 4), np.float32))
    >>> moved.tolist(), coverage.tolist()
    ([[0.0, 1.0, 2.0, 3.0]], [[0.0, 1.0, 1.0, 1.0]])
    """
    h, w = displacement.shape[:2]
    channels = values.reshape(1, h * w, -1)
    target = flow_targets(displacement).reshape(-1, 2)
    corner = np.floor(target)
    fx, fy = (target - corner).T
    x0, y0 = corner.astype(np.int64).T
    # The four neighbours of every target, stacked as rows of (4, H*W) arrays; those outside get no share.
    xs = np.stack([x0, x0 + 1, x0, x0 + 1])
    ys = np.stack([y0, y0, y0 + 1, y0 + 1])
    shares = np.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy])
    shares[(xs < 0) | (xs >= w) | (ys < 0) | (ys >= h)] = 0.0
    index = (np.clip(ys, 0, h - 1) * w + np.clip(xs, 0, w - 1)).ravel()
    # In float64: priorities span residual motions of over 100 px in a fast pan, and exp(-100) is 0 in float32.
    weights = shares * np.exp(priority.reshape(1, -1).astype(np.float64) - float(priority.max()))
    coverage = np.bincount(index, shares.ravel(), minlength=h * w)
    total = np.bincount(index, weights.ravel(), minlength=h * w)
    moved = np.stack([np.bincount(index, (weights * channels[..., c]).ravel(), minlength=h * w)
                      for c in range(channels.shape[2])], axis=1)  # fmt: skip
    landed = total > 0
    moved[landed] /= total[landed, None]
    return moved.reshape(values.shape).astype(np.float32), coverage.reshape(h, w).astype(np.float32)


def blur_by(image: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Each pixel of `image` blurred by a Gaussian of its own `sigma`.

    Parameters
    ----------
    image : (H, W, C) float32 ndarray
        What to blur.
    sigma : (H, W) float ndarray
        Each pixel's sigma in pixels, >= 0; above 8 taken as 8.

    Returns
    -------
    (H, W, C) float32 ndarray
        At each pixel, the linear interpolation between the copies of `image`
        blurred at the two sigmas of ``(0, 0.5, 1, 2, 4, 8)`` around its own
        (0: `image` itself).

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((1, 9, 1), np.float32); image[0, 4] = 1
    >>> sharp, spread = np.zeros((1, 9)), np.full((1, 9), 1.0)
    >>> float(blur_by(image, sharp)[0, 4, 0]), round(float(blur_by(image, spread)[0, 4, 0]), 2)
    (1.0, 0.4)
    """
    levels = np.asarray(_BLUR_LEVELS, np.float32)
    sigma = np.clip(sigma, 0.0, levels[-1]).astype(np.float32)
    upper = np.clip(np.searchsorted(levels, sigma), 1, len(levels) - 1)
    share = (sigma - levels[upper - 1]) / (levels[upper] - levels[upper - 1])  # of the upper level
    out = np.zeros(image.shape, np.float32)
    for level, level_sigma in enumerate(levels):
        weight = np.where(upper == level, share, 0.0) + np.where(upper - 1 == level, 1.0 - share, 0.0)
        if weight.any():
            copy = image if level_sigma == 0 else cv2.GaussianBlur(image, (0, 0), float(level_sigma))
            out += weight.astype(np.float32)[..., None] * copy.reshape(image.shape)
    return out


def _spread(displacement: Flow, steps: int, flow_error: ProbMap | None, change: Flow | None) -> ProbMap:
    """How far off each predicted pixel's position may be, in pixels: see the module docstring."""
    spread = UNCERTAINTY * np.sqrt(steps) * np.hypot(displacement[..., 0], displacement[..., 1])
    if flow_error is not None:
        spread = np.hypot(spread, steps * flow_error)
    if change is not None:
        spread = np.hypot(spread, VELOCITY_CHANGE_SPREAD * steps * np.hypot(change[..., 0], change[..., 1]))
    return spread


def _hedge(forward: Image, image: Image, displacement: Flow, landed: np.ndarray, spread: ProbMap) -> Image:
    """The least-squares prediction around the forward-warped `forward`: see the module docstring."""
    backward = cv2.remap(image, flow_targets(-displacement), None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mean = forward.astype(np.float32)
    mean[landed] = 0.5 * (mean[landed] + backward[landed])
    return np.clip(blur_by(mean, spread) + 0.5, 0, 255).astype(np.uint8)


def _priority(flow_bwd: Flow, prob: ProbMap | None) -> ProbMap:
    """Independent motion in pixels (what the camera does not explain), plus `_FRONT` under the mask."""
    independent = residual_motion(flow_bwd)
    if prob is not None:
        independent = independent + _FRONT * prob
    return independent.astype(np.float32)


def _fill(image: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """Inpaint the holes of a uint8 image (Telea's method, 3 px radius), on a copy at most `_FILL_MAX_SIDE` px."""
    if not holes.any():
        return image
    h, w = holes.shape
    scale = min(1.0, _FILL_MAX_SIDE / max(h, w))
    if scale == 1.0:
        return cv2.inpaint(image, holes.view(np.uint8), 3, cv2.INPAINT_TELEA)
    size = (max(round(w * scale), 1), max(round(h * scale), 1))
    small_holes = cv2.resize(holes.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
    small = cv2.inpaint(cv2.resize(image, size, interpolation=cv2.INTER_AREA), small_holes.view(np.uint8), 3,
                        cv2.INPAINT_TELEA)  # fmt: skip
    filled = image.copy()
    filled[holes] = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)[holes]
    return filled


def extrapolate(
    image: Image, flow_bwd: Flow, steps: int = 1, *, prob: ProbMap | None = None, motion: str = "pixel",
    sharp: bool = False, flow_error: ProbMap | None = None, flow_before: Flow | None = None,
) -> tuple[Image, ProbMap | None]:
    """Frame t + `steps` and, given frame t's mask, its mask, predicted from frame t and the flow that brought it.

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
        Frame t.
    flow_bwd : (H, W, 2) float32 ndarray
        Flow from frame t to frame t - 1, dx first.
    steps : int
        How many frames ahead (>= 1).
    prob : (H, W) float32 ndarray, optional
        Soft mask of the object in frame t, in [0, 1]: it is put in front,
        and with ``motion="layered"`` moves as one affine layer.
    motion : {"pixel", "layered"}
        See :func:`velocity`.
    sharp : bool
        The forward warp alone, crisp but further off on average; by default
        the hedged prediction of the module docstring.
    flow_error : (H, W) float32 ndarray, optional
        The error of `flow_bwd` in pixels (:func:`~flowseg.stages.flow_error`,
        as :class:`~flowseg.stages.FlowEstimator` gives it): the hedge
        blurs more where the flow is off. Not used with `sharp`.
    flow_before : (H, W, 2) float32 ndarray, optional
        Flow from frame t - 1 to frame t - 2: each pixel's change of velocity
        (:func:`velocity_change`) is then partly carried on
        (:data:`VELOCITY_CHANGE_CARRIED`), and unless `sharp` the hedge blurs
        more where it is large (:data:`VELOCITY_CHANGE_SPREAD`).

    Returns
    -------
    frame : (H, W, 3) uint8 ndarray
        The predicted frame; what no pixel of frame t reaches is inpainted
        (with `prob`, from the background around it, not from the object).
    mask : (H, W) float32 ndarray or None
        The predicted soft mask (as :func:`predict_mask`), None without `prob`.
    """
    image = check_image(image)
    h, w = image.shape[:2]
    if prob is not None:
        prob = check_prob(prob, (h, w), "prob")
    if flow_error is not None:
        flow_error = check_prob(flow_error, (h, w), "flow_error")
    if steps < 1:
        raise ValueError(f"steps is {steps}; expected at least 1")
    displacement, change = _displacement(flow_bwd, steps, prob, motion, flow_before)
    values = image.astype(np.float32) if prob is None else np.dstack([image, prob]).astype(np.float32)
    moved, coverage = splat(values, displacement, _priority(flow_bwd, prob))
    rgb = np.clip(moved[..., :3] + 0.5, 0, 255).astype(np.uint8)
    holes = coverage < _HOLE
    if prob is None:
        frame, mask = _fill(rgb, holes), None
    else:  # what the object uncovers is background: fill the holes from the background side only
        in_front = (moved[..., 3] > 0.5) & ~holes
        frame = np.where(in_front[..., None], rgb, _fill(rgb, holes | in_front))
        mask = _filled_mask(moved[..., 3], holes)
    if sharp:
        return frame, mask
    return _hedge(frame, image, displacement, ~holes, _spread(displacement, steps, flow_error, change)), mask


def _displacement(flow_bwd: Flow, steps: int, prob: ProbMap | None, motion: str,
                  flow_before: Flow | None) -> tuple[Flow, Flow | None]:
    """Each pixel's displacement `steps` frames ahead, and its last change of velocity (None without `flow_before`)."""
    displacement = steps * velocity(flow_bwd, prob, motion=motion)
    if flow_before is None:
        return displacement, None
    change = velocity_change(flow_bwd, flow_before)
    return displacement + VELOCITY_CHANGE_CARRIED * change, change


def predict_frame(
    image: Image, flow_bwd: Flow, steps: int = 1, *, prob: ProbMap | None = None, motion: str = "pixel",
    sharp: bool = False, flow_error: ProbMap | None = None, flow_before: Flow | None = None,
) -> Image:
    """Frame t + `steps`, predicted from frame t and the flow that brought it: :func:`extrapolate`'s frame."""
    return extrapolate(image, flow_bwd, steps, prob=prob, motion=motion, sharp=sharp, flow_error=flow_error,
                       flow_before=flow_before)[0]  # fmt: skip


def _filled_mask(moved: ProbMap, holes: np.ndarray) -> ProbMap:
    """A splatted soft mask with its holes inpainted from their surroundings."""
    filled = _fill(np.clip(moved * 255 + 0.5, 0, 255).astype(np.uint8), holes)
    return filled.astype(np.float32) / 255.0


def predict_mask(prob: ProbMap, flow_bwd: Flow, steps: int = 1, *, motion: str = "pixel",
                 flow_before: Flow | None = None) -> ProbMap:
    """The soft mask of frame t + `steps`, predicted from frame t's and the flow that brought it.

    Parameters
    ----------
    prob : (H, W) float32 ndarray
        Soft mask of frame t, in [0, 1].
    flow_bwd : (H, W, 2) float32 ndarray
        Flow from frame t to frame t - 1, dx first.
    steps : int
        How many frames ahead (>= 1).
    motion : {"pixel", "layered"}
        See :func:`velocity`.
    flow_before : (H, W, 2) float32 ndarray, optional
        Flow from frame t - 1 to frame t - 2, as for :func:`extrapolate`.

    Returns
    -------
    (H, W) float32 ndarray
        Predicted soft mask in [0, 1]; holes take the value of their surroundings.

    Examples
    --------
    >>> import numpy as np
    >>> prob = np.zeros((8, 8), np.float32); prob[2:4, 2:4] = 1
    >>> flow = np.zeros((8, 8, 2), np.float32); flow[..., 0] = -2  # moving 2 px right a frame
    >>> np.argwhere(predict_mask(prob, flow, 2) > 0.5)[:, 1].tolist()
    [6, 7, 6, 7]
    """
    h, w = flow_bwd.shape[:2]
    prob = check_prob(prob, (h, w), "prob")
    if steps < 1:
        raise ValueError(f"steps is {steps}; expected at least 1")
    displacement, _ = _displacement(flow_bwd, steps, prob, motion, flow_before)
    moved, coverage = splat(prob, displacement, _priority(flow_bwd, prob))
    return _filled_mask(moved, coverage < _HOLE)


class PredictionPrior:
    """Fuse the mask predicted for this frame into its fused probability, where the flow is untrusted.

    On each frame the stage predicts the next frame's mask from this one's
    fused probability (:func:`predict_mask`, one step); on the next frame,
    ``prob + weight * (1 - flow_confidence) * (predicted - prob)``: where the
    current flow cannot be trusted (occlusions, fast motion), the motion the
    object had so far says where it went.

    Pipelines leave it out unless given a ``prediction_weight``: at weight
    0.5 it lowered DAVIS-2016 J&F from 0.472 to 0.464 (six person
    sequences) and from 0.616 to 0.593 in semi-supervised mode (twelve
    sequences; bmx-trees, where trees hide the rider, fell from 0.379 to
    0.122), and cost 85 ms a frame at 854x480 (``benchmarks/RESULTS.md``).

    Parameters
    ----------
    weight : float
        Weight of the prediction where the flow confidence is 0, in [0, 1].
    motion : {"pixel", "layered"}
        See :func:`velocity`.

    Attributes
    ----------
    requires : tuple of str
        ``("prob", "flow_bwd", "flow_confidence")``.
    provides : tuple of str
        ``("prob",)``.
    """

    requires: tuple[str, ...] = ("prob", "flow_bwd", "flow_confidence")
    provides: tuple[str, ...] = ("prob",)

    def __init__(self, *, weight: float = 0.5, motion: str = "pixel") -> None:
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"weight is {weight}; expected a value in [0, 1]")
        _check_motion(motion)
        self.weight = weight
        self.motion = motion
        self.reset()

    def process(self, frame: Frame) -> StageOutput:
        """The fused probability of ``frame`` with the prediction made on the previous frame."""
        prob = np.asarray(frame.data["prob"], np.float32)
        confidence = frame.data["flow_confidence"]
        predicted, self._predicted = self._predicted, None
        if predicted is not None and predicted.shape == prob.shape and not frame.data.get("shot_change"):
            prob = prob + self.weight * (1.0 - confidence) * (predicted - prob)
        if confidence.any():  # the flow is known (not the first frame of a shot): predict the next one
            self._predicted = predict_mask(prob, frame.data["flow_bwd"], 1, motion=self.motion)
        return {"prob": prob.astype(np.float32, copy=False)}

    def reset(self) -> None:
        """Forget the prediction."""
        self._predicted: ProbMap | None = None
