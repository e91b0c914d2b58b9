"""Motion stage (``target="moving"``): evidence for whatever moves independently of the camera.

The camera's motion is fitted to the backward flow as a homography (robust,
RANSAC); what the homography does not explain, the residual flow, marks
independent movers.
"""

from __future__ import annotations

import cv2
import numpy as np

from .._validate import check_image
from ..models._memo import LastAnswer
from ..types import Flow, Frame, Image, ProbMap, StageOutput
from ._sampling import flow_matches, pixel_grid
from ._wrapping import SemanticsWrapper
from ._colours import ColourModel
from .warp import warp_mask

__all__ = [
    "camera_flow",
    "residual_motion",
    "motion_hint",
    "coherent_motion_hint",
    "border_weight",
    "picture_window",
    "object_motion_agreement",
    "MovingObjects",
    "MovingTargets",
]

_SAMPLE_STEP = 8  # flow vectors sampled every 8 pixels for the camera fit

# Which pixels teach MovingObjects' colour model, and how fast it follows.
_TRUSTED = 0.8  # flow confidence
_SURE_MOVER = 0.8  # motion hint
_SURE_STILL = 0.05
_MIN_MOVER_PIXELS = 50
_COLOUR_RATE = 0.1


def camera_flow(flow: Flow, confidence: ProbMap | None = None, *, step: int = 1) -> Flow:
    """The flow a homography camera motion explains, fitted robustly to `flow`.

    Parameters
    ----------
    flow : (H, W, 2) float32 ndarray
        Backward flow in pixels, dx first.
    confidence : (H, W) float32 ndarray, optional
        Flow confidence in [0, 1]; only vectors above 0.5 are used for the fit.
    step : int
        Give the answer on every `step`-th pixel each way only (``flow[::step, ::step]``'s pixels); the fit is the
        same.

    Returns
    -------
    (ceil(H / step), ceil(W / step), 2) float32 ndarray
        The homography's flow; `flow` itself (on those pixels) when there are too few vectors.

    Notes
    -----
    RANSAC (:func:`cv2.findHomography`) with a reprojection threshold of 1
    pixel plus 1% of the frame's diagonal, so moving objects, parallax and
    flow errors up to that size are outliers and do not bend the fit.
    """
    h, w = flow.shape[:2]
    grid = pixel_grid(h, w)[::_SAMPLE_STEP, ::_SAMPLE_STEP].reshape(-1, 2)
    moved = grid + flow[::_SAMPLE_STEP, ::_SAMPLE_STEP].reshape(-1, 2)
    if confidence is not None:
        keep = confidence[::_SAMPLE_STEP, ::_SAMPLE_STEP].reshape(-1) > 0.5
        grid, moved = grid[keep], moved[keep]
    homography = None
    if len(grid) >= 8:
        homography, _ = cv2.findHomography(grid, moved, cv2.RANSAC, 1.0 + 0.01 * float(np.hypot(h, w)))
    if homography is None:
        return flow[::step, ::step].copy()
    where = pixel_grid(h, w)[::step, ::step]
    mapped = cv2.perspectiveTransform(where.reshape(-1, 1, 2), homography).reshape(where.shape)
    return (mapped - where).astype(np.float32)


def _squared_length(vectors: np.ndarray) -> np.ndarray:
    """``(..., 2)`` vectors' squared lengths, ``(...)``: a plain sum of the two squares (faster than a reduction)."""
    return vectors[..., 0] ** 2 + vectors[..., 1] ** 2


def residual_motion(flow: Flow, confidence: ProbMap | None = None) -> ProbMap:
    """Length in pixels of the flow the camera motion does not explain, ``(H, W) float32``."""
    return np.sqrt(_squared_length(flow - camera_flow(flow, confidence))).astype(np.float32)


def motion_hint(residual: ProbMap, confidence: ProbMap) -> ProbMap:
    """Soft evidence of independent motion from the residual flow, in [0, 1].

    A pixel's residual counts against the frame's typical residual: ``hint =
    1 - exp(-(r / s)^2)`` with ``s`` three times the median residual (at
    least one pixel), so flow noise and small parallax stay near 0 and a
    clear mover near 1. Where the flow is untrusted (occlusions) the hint is
    weighted down by the confidence.

    Water defeats it: where the camera follows a duck on rippling water
    (DAVIS-2016 mallard-water) the water's residual is larger than the
    duck's. On the 34 DAVIS-2016 sequences, weighing the hint by the flow
    confidence or by its running mean moved the mean J of ``hint > 0.5``
    from 0.356 to 0.355-0.363 and left mallard-water at 0.00; the coherence
    of the residual over recent frames raised the hint's precision there
    from 0.02 to 0.03 only. Neither does a longer view of the motion: with
    the flow and the camera fitted over 3 or 6 frames instead of 1 (every
    4th frame of boat, mallard-fly, mallard-water, dog, breakdance and
    kite-surf, half-size DIS as in ``target="moving"``), the mean J of
    ``hint > 0.5`` (border-weighted) fell from 0.21 to 0.19 and 0.08: the
    camera's homography explains a scene with depth worse over more frames
    (boat's median residual off the object 1.2 px over 1 frame, 6.2 over
    6). Summing each pixel's residual vectors along the flow, decayed by
    0.5 or 0.8 a frame (a steady mover's add up, noise's cancel), gave 0.20
    and 0.17, and boat 0.02 -> 0.03, mallard-water 0.00.
    """
    return (_strength(residual) * np.sqrt(confidence)).astype(np.float32)


def _strength(length: np.ndarray) -> np.ndarray:
    """``1 - exp(-(r / s)^2)`` of residual lengths `r` (pixels), ``s`` three times their median, at least 1 pixel."""
    scale = max(1.0, 3.0 * float(np.median(length)))
    return 1.0 - np.exp(-((length / scale) ** 2))


def coherent_motion_hint(flow: Flow, confidence: ProbMap) -> ProbMap:
    """Soft evidence of independent motion that holds over a neighbourhood, ``(H, W) float32`` in [0, 1].

    The camera's motion (:func:`camera_flow`) is fitted to the flow of the
    frame's periphery alone, the ring around its central half, where the
    background most likely is (as for :func:`border_weight`): an object the
    camera follows, standing still in the frame, holds many of the frame's
    surest vectors, and fitted to them all the camera's motion would be its.
    Over a square window around each pixel (a sixteenth of the frame's height
    a side), the residual flow (that motion taken away), weighted by
    the flow confidence, has a mean ``m`` and a spread ``v`` (the mean
    squared distance from ``m``, in pixels^2). A mover's residual is one
    vector over its body; flow noise and the chaos of waves or leaves point
    every way. ``hint = m^2 / (m^2 + v + 0.25) * (1 - exp(-(|m| / s)^2)) *
    sqrt(c)``: coherence, strength (``s`` three times the median ``|m|``,
    at least one pixel, as in :func:`motion_hint`) and ``c``, the window's
    mean confidence. Worked out on every second pixel each way, then scaled
    up.

    Parameters
    ----------
    flow : (H, W, 2) float32 ndarray
        Backward flow in pixels, dx first.
    confidence : (H, W) float32 ndarray
        How far each flow vector is trusted, in [0, 1] (forward-backward
        consistency, :func:`~flowseg.stages.flow.flow_confidence`).

    Returns
    -------
    (H, W) float32 ndarray

    Notes
    -----
    Mean J of ``hint > 0.5`` weighted by :func:`border_weight`, on every 6th
    frame of the 34 DAVIS-2016 sequences (half-size DIS, as in
    ``target="moving"``): :func:`motion_hint` 0.370, this 0.428 (windows of
    a 32nd and an 8th of the height: 0.406, 0.424; :func:`motion_hint`
    merely averaged over the window: 0.408). Where the camera follows a duck
    on rippling water (mallard-water) the water's flow is chaos at every
    scale: fitted to the periphery or not, the duck's residual (2.5-7 px)
    is the water's (4-7 px), and the duck stays unfound.

    The camera fitted to the periphery rather than the whole frame: that
    mean J (0.433 with the whole frame's fit, as the code stood) went to
    0.442 (fold A 0.467 -> 0.471, B 0.398 -> 0.413; rings of the outer
    third, sixth or eighth each side: A 0.463, 0.465, 0.463), boat 0.003 ->
    0.127. With ``target="moving"`` J&F over the 34 went from
    0.688 to 0.698 (A 0.757 -> 0.756, B 0.618 -> 0.640): boat 0.004 ->
    0.364 (the camera follows the boat, and the near water and the far
    shore move apart), camel +0.061, bus +0.034; breakdance -0.034 and
    kite-walk -0.032 (people at the frame's edge move too). Refitting the
    periphery's homography to all the frame's vectors it explains gave
    0.430 (boat 0.006): within the fit's tolerance it takes the boat back.
    """
    height, width = flow.shape[:2]
    side = max(3, height // 64 * 2 + 1)  # on every second pixel each way: the answer is smooth at that scale

    def mean(values: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(values, -1, (side, side), borderType=cv2.BORDER_REFLECT)

    residual = flow[::2, ::2] - camera_flow(flow, confidence * _periphery(height, width), step=2)
    confidence = confidence[::2, ::2]
    weight = mean(confidence) + 1e-6
    drift = mean(residual * confidence[..., None]) / weight[..., None]
    power = mean(_squared_length(residual) * confidence) / weight
    drift2 = _squared_length(drift)
    coherence = drift2 / (drift2 + np.maximum(power - drift2, 0.0) + 0.25)
    hint = (coherence * _strength(np.sqrt(drift2)) * np.sqrt(np.minimum(weight, 1.0))).astype(np.float32)
    return cv2.resize(hint, (width, height), interpolation=cv2.INTER_LINEAR)


def _periphery(height: int, width: int) -> np.ndarray:
    """``(H, W) float32``: 1 on the frame's outer quarter each side (the ring around its central half), 0 within."""
    ring = np.ones((height, width), np.float32)
    ring[height // 4: height - height // 4, width // 4: width - width // 4] = 0
    return ring


def _nearest_region(regions: np.ndarray) -> np.ndarray:
    """``(H, W) int32``: each pixel's nearest connected region of `regions` (``(H, W) bool``), by label.

    Labels are positive and shared by the pixels of one region and the
    pixels nearer to it than to any other, so a region's soft edge goes with
    it. `regions` must not be empty.
    """
    _, labels = cv2.distanceTransformWithLabels((~regions).view(np.uint8), cv2.DIST_L2, 3,
                                                labelType=cv2.DIST_LABEL_CCOMP)  # fmt: skip
    return labels


def border_weight(evidence: ProbMap) -> ProbMap:
    """How little each region of `evidence` clings to the frame's border, ``(H, W) float32`` in (0, 1].

    The regions are the connected areas of ``evidence > 0.5`` (each with
    the pixels nearer to it than to any other). A region's weight is
    ``exp(-c^2 / 2)`` with ``c`` its boundary connectivity [1]_: the number of
    its pixels on the frame's outermost rows and columns over the square
    root of its area. An object inside the frame gets 1; a strip of sky or
    of near ground along an edge, which parallax makes "move" against the
    camera model, gets almost 0; an object that enters the frame, or is cut
    by its edge, is weighted down until more of it is in. 1 everywhere when
    there is no region.

    Notes
    -----
    Zhu et al.'s ``sigma = 1``. On the 12 DAVIS-2016 sequences
    (``target="moving"``, ``balanced``) J&F was 0.566 without the weight,
    0.596 with it at ``sigma`` 0.7 or 1 and 0.590 at 1.5.

    References
    ----------
    .. [1] W. Zhu, S. Liang, Y. Wei, J. Sun, "Saliency optimization from
       robust background detection", CVPR 2014. :DOI:`10.1109/CVPR.2014.360`
    """
    regions = evidence > 0.5
    if not regions.any():
        return np.ones(evidence.shape, np.float32)
    labels = _nearest_region(regions)
    on_border = np.zeros_like(regions)
    on_border[[0, -1], :] = on_border[:, [0, -1]] = True
    area = np.bincount(labels[regions], minlength=int(labels.max()) + 1).astype(np.float64)
    border = np.bincount(labels[regions & on_border], minlength=len(area)).astype(np.float64)
    connectivity = border / np.sqrt(np.maximum(area, 1.0))
    return np.exp(-(connectivity**2) / 2).astype(np.float32)[labels]


BAR_LEVEL: int = 24
"""The brightest value (0-255) a row or column at the frame's edge may hold and be part of a black bar."""


def picture_window(image: Image) -> tuple[slice, slice]:
    """The rows and columns of `image` inside the black bars along its edges (letterbox, pillarbox).

    A bar is a run of rows (columns) from an edge inward whose brightest
    value, over all channels, is at most :data:`BAR_LEVEL`. The whole frame
    where no row or column is brighter (a black frame).

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray

    Returns
    -------
    rows, columns : slice
        ``image[rows, columns]`` is the picture.

    Examples
    --------
    >>> image = np.zeros((6, 8, 3), np.uint8); image[1:5, 2:7] = 200
    >>> picture_window(image)
    (slice(1, 5, None), slice(2, 7, None))
    """
    rows = np.flatnonzero(image.max(axis=(1, 2)) > BAR_LEVEL)
    columns = np.flatnonzero(image.max(axis=(0, 2)) > BAR_LEVEL)
    if not len(rows):
        return slice(0, image.shape[0]), slice(0, image.shape[1])
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(columns[0]), int(columns[-1]) + 1)


MOTION_NOISE: float = 2.0
"""Flow error, in pixels, below which :func:`object_motion_agreement` cannot tell two motions apart.

On the 12 DAVIS-2016 sequences (semi-supervised, ``balanced``, computed at
full resolution) J&F was 0.671 at 1 pixel and 0.679 at 2."""


def object_motion_agreement(flow: Flow, confidence: ProbMap, object_mask: np.ndarray,
                            window: tuple[slice, slice] | None = None) -> ProbMap:
    """How much better each pixel's flow fits the object's motion than the camera's, in [0, 1].

    Parameters
    ----------
    flow : (H, W, 2) float32 ndarray
        Backward flow in pixels, dx first.
    confidence : (H, W) float32 ndarray
        Flow confidence in [0, 1].
    object_mask : (H, W) bool ndarray
        Where the object is (its previous mask carried by the flow).
    window : (rows, columns) slices, optional
        Only this part of the frame is worked out (where the answer counts);
        0.5 outside it. The whole frame if None.

    Returns
    -------
    (H, W) float32 ndarray
        ``(d_cam + s^2) / (d_cam + d_obj + 2 s^2)``, pulled towards 0.5 as the
        confidence falls: ``d_obj`` and ``d_cam`` are the squared distances
        (pixels^2) of the flow from the object's motion (an affine map fitted
        with RANSAC to the trusted flow inside `object_mask`) and from the
        camera's (:func:`camera_flow`), ``s`` = :data:`MOTION_NOISE`. 0.5
        (no opinion) where the two motions agree, as when both stand still,
        and everywhere when the object has fewer than 30 trusted pixels.
        Worked out on every second pixel each way (the flow is smooth at that
        scale), then scaled up twice.

    Notes
    -----
    Following a given object on the 34 DAVIS-2016 sequences (``balanced``,
    J&F 0.7837, A 0.7888, B 0.7786), letting the object's own motion stray
    up to 8 px from its affine map (``d_obj`` capped, for limbs that swing
    apart from the body) gave 0.7816 (breakdance 0.443 -> 0.433,
    mallard-water 0.742 -> 0.660); pulled towards 0.5 by the square root
    of the confidence instead (the dancer's flow has confidence 0.22-0.26
    on him), 0.7810 (breakdance 0.460, A and B both lower), and both
    together 0.7806 (breakdance 0.483, B 0.7720). Later, against 0.7867 (A
    0.7939, B 0.7796): the camera fitted to the frame's periphery alone, as
    in :func:`coherent_motion_hint`, 0.7827 (A 0.7917, B 0.7738), and to all
    but the object's carried mask 0.7838 (A 0.7903, B 0.7772; blackswan
    0.849 -> 0.778).
    """
    agreement = np.full(confidence.shape, 0.5, np.float32)
    flow, confidence, object_mask = flow[::2, ::2] / 2, confidence[::2, ::2], object_mask[::2, ::2]  # in its pixels
    here, there = flow_matches(object_mask & (confidence > 0.5), flow)
    if len(here) < 30:
        return agreement
    noise = (MOTION_NOISE / 2) ** 2
    affine, _ = cv2.estimateAffine2D(here, there, method=cv2.RANSAC, ransacReprojThreshold=MOTION_NOISE / 2)
    if affine is None:
        return agreement
    d_cam = _CAMERA_DISTANCE(np.dstack([flow, confidence]))
    rows, cols = (slice(0, None), slice(0, None)) if window is None else (
        slice(window[0].start // 2, -(-window[0].stop // 2)), slice(window[1].start // 2, -(-window[1].stop // 2)))
    grid = pixel_grid(*confidence.shape)[rows, cols]
    flow, confidence, d_cam = flow[rows, cols], confidence[rows, cols], d_cam[rows, cols]
    object_flow = grid @ affine[:, :2].T.astype(np.float32) + affine[:, 2].astype(np.float32) - grid
    d_obj = np.sum((flow - object_flow) ** 2, axis=2)
    half = (0.5 + confidence * ((d_cam + noise) / (d_cam + d_obj + 2 * noise) - 0.5)).astype(np.float32)
    (height, width), top, left = half.shape, 2 * rows.start, 2 * cols.start
    part = agreement[top: top + 2 * height, left: left + 2 * width]  # cut at the frame's edge
    scaled = cv2.resize(half, (2 * width, 2 * height), interpolation=cv2.INTER_LINEAR)
    part[...] = scaled[: part.shape[0], : part.shape[1]]
    return agreement


def _camera_distance(flow_and_confidence: np.ndarray) -> np.ndarray:
    """``(H, W) float32``: the squared distance in pixels^2 of the flow from :func:`camera_flow`, from an
    ``(H, W, 3) float32`` array of the flow (dx, dy) and its confidence."""
    flow = flow_and_confidence[..., :2]
    return np.sum((flow - camera_flow(flow, flow_and_confidence[..., 2])) ** 2, axis=2)


_CAMERA_DISTANCE = LastAnswer(_camera_distance)
"""The camera's part of :func:`object_motion_agreement`, which depends on the frame alone: worked out once
for all the objects followed in a frame (about 4 ms each at 854x480)."""


class MovingObjects:
    """Evidence for the objects that move independently of the camera (``target="moving"``).

    The evidence of a frame is its :func:`coherent_motion_hint`, and where the movers
    were (the stage's own evidence of the previous frame, carried along the
    flow) at least their colour: a colour model of movers against the
    background is learnt from the confident pixels of every frame (hint
    above 0.8 or below 0.05 where the flow confidence is above 0.8; at
    least 50 mover pixels) and moves a tenth of the way to each new frame's.
    A mover that stops, whose hint drops to 0, so keeps its evidence while
    its colours differ from the background's; the colours never spread past
    where the movers were. On the first frame of a shot (no flow yet, or a
    frame flagged ``"shot_change"`` by :class:`~flowseg.stages.ShotBoundaries`,
    whose flow spans the cut) the evidence is 0.5 everywhere (unknown, not
    background) and the colours are forgotten. Each region of the evidence is then weighted by how
    little it clings to the frame's border (:func:`border_weight`): parallax
    of the sky or of the near ground along an edge is not taken for a mover.
    Black bars along the frame's edges (letterbox, pillarbox:
    :func:`picture_window`, black on every frame of the shot so far) are
    left out: the evidence is 0 there, and the picture inside them is read
    as the frame, its periphery and its border.
    The temporal fusion of :class:`~flowseg.stages.MaskWarper` carries the
    result, and the refinement snaps it to the image's edges.

    Parameters
    ----------
    colours : bool
        Keep the movers' colours; False gives the motion hint alone.
    border_prior : bool
        Weight the evidence by :func:`border_weight`.

    Attributes
    ----------
    requires : tuple of str
        ``("flow_bwd", "flow_confidence")``.
    provides : tuple of str
        ``("evidence",)``: ``(H, W) float32`` in [0, 1].

    Notes
    -----
    On DAVIS-2016 (12 sequences, graph cut) the colours raised J&F from
    0.559 to 0.565: blackswan, breakdance and dog gained, drift-chicane,
    horsejump-high and kite-surf lost (``benchmarks/RESULTS.md``). The border
    weight raised it from 0.566 to 0.596, with no sequence worse: parkour
    0.616 -> 0.725, horsejump-high 0.576 -> 0.662, dog 0.819 -> 0.862.
    On the 34 DAVIS-2016 sequences (``target="moving"``, two passes) the
    coherent hint instead of :func:`motion_hint` raised J&F from 0.652 to
    0.681 (fold A 0.722 -> 0.757, B 0.581 -> 0.605), forward only from
    0.546 to 0.572 (A 0.575 -> 0.603, B 0.517 -> 0.542): mallard-fly 0.231
    -> 0.670, drift-chicane 0.392 -> 0.622, motorbike 0.485 -> 0.679,
    bmx-bumps 0.443 -> 0.582; bmx-trees fell 0.417 -> 0.242 (its key frame
    holds the cyclist, not his bike), cows 0.809 -> 0.775. Its strength
    read at each pixel instead of over the window (sharper edges) gave 0.679
    (A 0.750, B 0.608; dog-agility 0.621 -> 0.478).
    On the first 50 frames of six DAVIS-2016 sequences (bus, camel, boat,
    dog, car-roundabout, horsejump-high) with black bars drawn over their
    edges (80 rows at the top and at the bottom, or 107 columns each side),
    mean J with ``target="moving"`` was 0.699 and 0.713 with the bars read
    as part of the frame, 0.723 and 0.733 with them left out (dog
    letterboxed 0.743 -> 0.897); the pictures alone, cropped, 0.705 and
    0.753.
    """

    requires: tuple[str, ...] = ("flow_bwd", "flow_confidence")
    provides: tuple[str, ...] = ("evidence",)
    target: tuple[str, ...] = ("moving",)
    model_used: str = "motion (camera-compensated optical flow)"

    def __init__(self, *, colours: bool = True, border_prior: bool = True) -> None:
        self.colours = colours
        self.border_prior = border_prior
        self.reset()

    def _learn(self, image: np.ndarray, index: np.ndarray | None, hint: ProbMap, confidence: ProbMap) -> None:
        """Update the colour model from this frame's confident movers and background (`index`: its colour bins)."""
        trusted = confidence > _TRUSTED
        movers, still = (hint > _SURE_MOVER) & trusted, (hint < _SURE_STILL) & trusted
        if movers.sum() < _MIN_MOVER_PIXELS:
            return
        if self._colours is None:
            self._colours = ColourModel().fit(image, movers, still)
        else:
            self._colours.blend(index, movers, still, _COLOUR_RATE)

    def process(self, frame: Frame) -> StageOutput:
        """Evidence of independent motion in ``frame``."""
        image = check_image(frame.image)
        confidence = frame.data["flow_confidence"]
        evidence = np.zeros(image.shape[:2], np.float32)
        first = not confidence.any() or frame.data.get("shot_change")  # its flow, if any, spans the cut
        if first:
            self.reset()
        picture = self._picture = self._picture_so_far(image)
        if first:  # nothing is known either way
            evidence[picture] = 0.5
            return {"evidence": evidence}
        flow_bwd = frame.data["flow_bwd"]
        image, confidence = image[picture], confidence[picture]
        hint = coherent_motion_hint(flow_bwd[picture], confidence)
        found = hint
        if self.colours:
            index = None if self._colours is None else self._colours.bin_index(image)
            if index is not None and self._carried is not None:
                carried = warp_mask(self._carried, flow_bwd)[picture]
                found = np.maximum(hint, self._colours.table()[index] * carried)
            self._learn(image, index, hint, confidence)
        if self.border_prior:
            found = found * border_weight(found)
        evidence[picture] = found
        self._carried = evidence
        return {"evidence": evidence}

    def _picture_so_far(self, image: Image) -> tuple[slice, slice]:
        """The shot's picture (:func:`picture_window`) up to `image`: a bar is black on every frame of the shot, so
        what was once picture stays picture (a black jacket passing the frame's edge is no bar)."""
        rows, columns = picture_window(image)
        if self._picture is None:
            return rows, columns
        known_rows, known_columns = self._picture
        return (slice(min(rows.start, known_rows.start), max(rows.stop, known_rows.stop)),
                slice(min(columns.start, known_columns.start), max(columns.stop, known_columns.stop)))

    def reset(self) -> None:
        """Forget the colours, where the movers were and the shot's picture."""
        self._colours: ColourModel | None = None
        self._carried: ProbMap | None = None
        self._picture: tuple[slice, slice] | None = None


class MovingTargets(SemanticsWrapper):
    """Evidence for the target objects that move independently of the camera (``only_moving=True``).

    Each object the wrapped semantic stage finds (a connected region of its
    evidence above 0.5, with the soft evidence nearest to it) keeps its
    evidence scaled by how surely it moves: the 90th percentile of the :func:`motion_hint` over the region, so an
    object moves when some part of it clearly does (a walker's legs), and
    flow errors at a few pixels do not make a still object move. Still
    objects fade to background, and a mover that stops fades over a few
    frames as the temporal fusion lets go of it.

    Parameters and ``requires`` as for
    :class:`~flowseg.stages._wrapping.SemanticsWrapper`; ``provides`` is
    ``("evidence",)``: ``(H, W) float32`` in [0, 1].

    Notes
    -----
    It keeps nothing between frames, so a cut needs no reset of its own
    (unlike :class:`MovingObjects`): the flow across a cut is not trusted,
    and the motion hint is near 0 there. On 4 cuts between DAVIS-2016
    sequences (5 frames of each; tennis to dance-jump, parkour to stroller,
    dance-jump to tennis, stroller to kite-walk; ``target="person"``,
    ``only_moving=True``) the evidence on the cut frame was at most 0.007.
    """

    provides: tuple[str, ...] = ("evidence",)

    def process(self, frame: Frame) -> StageOutput:
        """The target evidence of ``frame``, each object scaled by the evidence that it moves."""
        evidence = np.asarray(self._semantics.process(frame)["evidence"], dtype=np.float32)
        confidence = frame.data["flow_confidence"]
        if not confidence.any():  # first frame of a shot: whether anything moves is unknown
            return {"evidence": 0.5 * evidence}
        objects = evidence > 0.5
        if not objects.any():
            return {"evidence": np.zeros_like(evidence)}
        hint = motion_hint(residual_motion(frame.data["flow_bwd"], confidence), confidence)
        labels = _nearest_region(objects)
        moving = np.zeros(int(labels.max()) + 1, np.float32)
        for label in np.unique(labels[objects]):
            moving[label] = np.percentile(hint[objects & (labels == label)], 90)
        return {"evidence": evidence * moving[labels]}

    def reset(self) -> None:
        """Reset the wrapped stage (this one keeps nothing between frames)."""
        self._semantics.reset()
