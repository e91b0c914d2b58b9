"""From what a user marks on a frame (a box, clicks, brush strokes) to the object's mask.

A :class:`Prompt` holds the marks of one frame; :func:`mask_from_prompt`
turns them into a mask with classical tools: geodesic distances over the
image's colour edges say which pixels the clicks and strokes reach more
easily than the background does, and GrabCut [1]_ settles the mask from
colour models of both sides and an edge-aware smoothness term. The mask
then serves as ``init_mask`` for :meth:`flowseg.Pipeline.stream`.

References
----------
.. [1] C. Rother, V. Kolmogorov, A. Blake, "GrabCut: interactive foreground
   extraction using iterated graph cuts", SIGGRAPH 2004.
   :DOI:`10.1145/1015706.1015720`
.. [2] X. Bai, G. Sapiro, "Geodesic matting: a framework for fast
   interactive image and video segmentation and matting", IJCV 2009.
   :DOI:`10.1007/s11263-008-0191-z`
.. [3] V. Lempitsky, P. Kohli, C. Rother, T. Sharp, "Image segmentation
   with a bounding box prior", ICCV 2009. :DOI:`10.1109/ICCV.2009.5459262`
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from skimage.graph import MCP_Geometric

from ._validate import check_image, check_mask, check_mask_size
from .errors import PromptError
from .stages._boxes import grown_box
from .stages.flow import estimate_flow
from .stages.motion import motion_hint, residual_motion
from .types import Image, Mask, ProbMap

__all__ = ["Prompt", "parse_box", "parse_point", "draw_stroke", "geodesic_distance", "motion_evidence",
           "mask_from_prompt", "SEED_RADIUS", "WORKING_SIDE"]

WORKING_SIDE: int = 320
"""Frames are segmented at most this many pixels on their longer side, and the mask scaled back up (a 854x480
frame's prompt then answers in well under a second on one CPU core)."""

SEED_RADIUS: float = 0.01
"""A click marks a disk of this fraction of the frame's diagonal (at least 2 pixels) as surely object or background."""

_BOX_MARGIN = 0.1  # the box is grown by this fraction of its longer side for the background's colours
# Box J on the 34 first frames of DAVIS-2016 (ad-hoc, as benchmarks/prompts.py): 0.765 (A 0.776, B 0.754) at 0.1;
# 0.743 at 0.2 and 0.758 at 0.3 (the crop scaled down further; hockey 0.64 -> 0.79 and tennis 0.65 -> 0.72 at 0.3,
# cows 0.82 -> 0.69, kite-surf 0.48 -> 0.31). Background colours from a wider ring (the box grown by 0.3, 0.6 or 1.0,
# its pixels beyond the margin handed to GrabCut as surely background at the crop's scale) gave 0.712, 0.723 and
# 0.700, at twice the time: the wider background model took in the object's own colours seen elsewhere.
_LEAST_OF_BOX = 0.1  # a box GrabCut leaves less of than this fraction is tried again from its centre
# Clicks on the first frames of DAVIS-2016 fold A (NoC@85 / NoC@90 with the simulated user of benchmarks/prompts.py):
# edge cost 20 and 4 iterations 10.1 / 16.1; cost 100: 10.4 / 16.1; 1 iteration: 10.5 / 15.8 (twice as fast).
_EDGE_COST = 20.0  # geodesic cost of crossing the frame's mean colour gradient, relative to a flat pixel
_ITERATIONS = 4  # GrabCut iterations
# Clicks correcting a followed mask (mask_from_prompt's `previous`), J on the least confident frame of each of the
# 34 DAVIS-2016 sequences followed from a box (1 / 3 clicks of the simulated user, benchmarks/click_corrections.py):
# the followed mask 0.647; the mask made anew from the clicks alone 0.386 / 0.522; the followed mask changed only
# within half the object's size of the marks 0.680 / 0.749 (A 0.734 / 0.787, B 0.626 / 0.711; the one value tried).
# Taking the followed mask as likely object everywhere lost where a click was off it (bus 0.80 -> 0.10 on one click,
# ad-hoc: GrabCut settled the whole mask anew from its colours); near the marks off it only, anywhere the marks on
# it reach, 0.673 / 0.741 (A 0.726 / 0.784, B 0.621 / 0.699; an ad-hoc replay over the same followed masks, where
# this rule gave 0.679 / 0.745); the half measured on what the clicks on it reach, where larger, 0.679 / 0.742. A
# sliver left of a lost object grows little: a box makes the mask anew.
_CORRECTION_REACH = 0.5  # how far from a correcting mark the mask may change, as a fraction of the object's size
# Box J on the first frames of DAVIS-2016 (A / B): no pinning 0.750 / 0.680; 1 round 0.756 / 0.705; 2 rounds 0.776 /
# 0.705 (3: the same); 1 GrabCut iteration a round 0.760 / 0.708 (slowest box 0.87 s, not 1.14 s).
_PINNING_ROUNDS = 2  # times GrabCut runs again to make the object cross its box's every row and column
_PINNING_ITERATIONS = 2  # GrabCut iterations of each
_LOOSE_EDGE = 0.05  # the box's outermost fraction on each side, where the object need not be


@dataclass(frozen=True)
class Prompt:
    """What a user marked on one frame: a box, clicks on and off the object, brush strokes.

    Coordinates are pixels of the frame, ``x`` along its width and ``y``
    along its height, from its top-left corner.

    Attributes
    ----------
    frame : int
        The frame the marks are on (0-based).
    box : (x0, y0, x1, y1), optional
        A box around the object (corners included), ``x0 <= x1``, ``y0 <= y1``.
    points : tuple of (x, y)
        Clicks on the object.
    negative_points : tuple of (x, y)
        Clicks off it.
    strokes, negative_strokes : (H, W) bool ndarray, optional
        Brush strokes on and off the object (scribbles).
    """

    frame: int = 0
    box: tuple[int, int, int, int] | None = None
    points: tuple[tuple[int, int], ...] = ()
    negative_points: tuple[tuple[int, int], ...] = ()
    strokes: Mask | None = field(default=None, compare=False)
    negative_strokes: Mask | None = field(default=None, compare=False)

    def is_empty(self) -> bool:
        """Whether nothing marks the object: no box, click or stroke on it."""
        return self.box is None and not self.points and (self.strokes is None or not self.strokes.any())


def draw_stroke(shape: tuple[int, int], points: Sequence[tuple[float, float]], width: float) -> Mask:
    """A brush stroke as a mask: its points joined by a round brush `width` pixels across.

    Parameters
    ----------
    shape : (H, W)
        The frame's size.
    points : sequence of (x, y)
        The stroke's path in pixels (one point: a dot).
    width : float
        The brush's diameter in pixels (at least 1).

    Returns
    -------
    (H, W) bool ndarray
        The pixels the brush covered, for :attr:`Prompt.strokes` (combine
        several with ``|``).

    Raises
    ------
    PromptError
        For a stroke with no point or a point that is not a pair of finite numbers.

    Examples
    --------
    >>> int(draw_stroke((5, 9), [(1, 2), (7, 2)], 1).sum())
    7
    """
    path = np.asarray(points, np.float64)
    if path.ndim != 2 or path.shape[1] != 2 or len(path) == 0 or not np.isfinite(path).all():
        raise PromptError(f"a stroke is a list of (x, y) points; got {len(path)} of shape {path.shape[1:]}")
    canvas, vertices, thickness = np.zeros(shape, np.uint8), np.round(path).astype(np.int32), max(1, round(width))
    cv2.polylines(canvas, [vertices.reshape(-1, 1, 2)], False, 1, thickness=thickness)
    cv2.circle(canvas, tuple(int(v) for v in vertices[0]), thickness // 2, 1, -1)  # a dot where it only touched
    return canvas.astype(bool)


_NUMBER = r"\s*(-?\d+(?:\.\d+)?)\s*"
_AT_FRAME = r"(?:@\s*(\d+)\s*)?"


def _parse(text: str, count: int, what: str, example: str) -> tuple[tuple[int, ...], int | None]:
    match = re.fullmatch(",".join([_NUMBER] * count) + _AT_FRAME, text)
    if match is None:
        raise PromptError(f"{what} {text!r} is not {example}")
    *numbers, frame = match.groups()
    return tuple(int(round(float(n))) for n in numbers), None if frame is None else int(frame)


def parse_box(text: str) -> tuple[tuple[int, int, int, int], int | None]:
    """``"X0,Y0,X1,Y1[@FRAME]"`` as ``((x0, y0, x1, y1), frame)``; the frame is None when not given.

    >>> parse_box("10,20,110,220@5")
    ((10, 20, 110, 220), 5)
    """
    box, frame = _parse(text, 4, "box", "X0,Y0,X1,Y1[@FRAME] in pixels (e.g. 120,40,380,300@0)")
    x0, y0, x1, y1 = box
    if x1 < x0 or y1 < y0:
        raise PromptError(f"box {text!r} has its corners the wrong way round: expected X0 <= X1 and Y0 <= Y1")
    return (x0, y0, x1, y1), frame


def parse_point(text: str) -> tuple[tuple[int, int], int | None]:
    """``"X,Y[@FRAME]"`` as ``((x, y), frame)``; the frame is None when not given.

    >>> parse_point("320, 200")
    ((320, 200), None)
    """
    point, frame = _parse(text, 2, "point", "X,Y[@FRAME] in pixels (e.g. 320,200@0)")
    return (point[0], point[1]), frame


def _check_prompt(prompt: Prompt, shape: tuple[int, int], corrects: bool = False) -> None:
    h, w = shape
    off = prompt.negative_points or (prompt.negative_strokes is not None and prompt.negative_strokes.any())
    if prompt.is_empty() and not (corrects and off):
        raise PromptError("the prompt marks nothing on the object: give a box, a point on it or a stroke")
    if prompt.box is not None:
        x0, y0, x1, y1 = prompt.box
        if x1 < x0 or y1 < y0:
            raise PromptError(f"box {prompt.box} has its corners the wrong way round: expected x0 <= x1, y0 <= y1")
        if x1 < 0 or y1 < 0 or x0 >= w or y0 >= h:
            raise PromptError(f"box {prompt.box} lies outside the {w}x{h} frame")
    for x, y in (*prompt.points, *prompt.negative_points):
        if not (0 <= x < w and 0 <= y < h):
            raise PromptError(f"point ({x}, {y}) lies outside the {w}x{h} frame")
    for name in ("strokes", "negative_strokes"):
        strokes = getattr(prompt, name)
        if strokes is not None and np.shape(strokes) != shape:
            raise PromptError(f"{name} has shape {np.shape(strokes)}; expected the frame's {shape}")


def _seeds(prompt: Prompt, shape: tuple[int, int], region: tuple[slice, slice], scale: float) -> tuple[Mask, Mask]:
    """Pixels surely on and off the object in `region` of the frame, scaled by `scale`: click disks, strokes."""
    top, left = region[0].start, region[1].start
    h = max(1, round((region[0].stop - top) * scale))
    w = max(1, round((region[1].stop - left) * scale))
    radius = max(2, int(round(SEED_RADIUS * np.hypot(*shape) * scale)))
    on, off = np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
    for seeds, points, strokes in ((on, prompt.points, prompt.strokes),
                                   (off, prompt.negative_points, prompt.negative_strokes)):  # fmt: skip
        for x, y in points:
            cv2.circle(seeds, (int(round((x - left) * scale)), int(round((y - top) * scale))), radius, 1, -1)
        if strokes is not None:
            seeds |= cv2.resize(np.asarray(strokes, np.uint8)[region], (w, h), interpolation=cv2.INTER_NEAREST)
    on, off = on.astype(bool), off.astype(bool)
    return on & ~off, off


def geodesic_distance(image: Image, seeds: Mask) -> np.ndarray:
    """``(H, W) float64``: each pixel's least cost of a path to `seeds` over `image`'s colour edges.

    A step costs 1 on a flat image and 20 more across an edge as strong as
    the image's mean colour gradient (in CIELAB; Bai and Sapiro's geodesic
    distance [2]_): pixels a seed reaches without crossing edges are near.
    """
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    gradient = np.zeros(image.shape[:2], np.float32)
    for channel in cv2.split(lab):
        gradient += cv2.Sobel(channel, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(channel, cv2.CV_32F, 0, 1) ** 2
    gradient = np.sqrt(gradient)
    cost = 1.0 + _EDGE_COST * gradient / max(float(gradient.mean()), 1e-6)
    distances, _ = MCP_Geometric(cost.astype(np.float64)).find_costs(np.argwhere(seeds))
    return distances


def motion_evidence(image: Image, neighbour: Image, box: tuple[int, int, int, int]) -> ProbMap:
    """Where `image` moves otherwise than its part outside `box` does, from the flow to `neighbour`.

    Parameters
    ----------
    image, neighbour : (H, W, 3) uint8 ndarray
        The prompt's frame and the next (or previous) frame of its video.
    box : (x0, y0, x1, y1)
        The object's box: what lies outside it is background, whose motion
        (the camera's, a homography, :func:`~flowseg.stages.motion.camera_flow`)
        is fitted there.

    Returns
    -------
    (H, W) float32 ndarray
        :func:`~flowseg.stages.motion.motion_hint` of the flow the
        background's motion does not explain, in [0, 1]: near 1 on what moves
        against the background (or keeps still while the camera follows it).
        For :func:`mask_from_prompt`'s `evidence`.
    """
    flow = estimate_flow(check_image(image), check_image(neighbour, "neighbour"), scale=0.5)
    outside = np.ones(flow.shape[:2], np.float32)
    x0, y0, x1, y1 = box
    outside[max(y0, 0): y1 + 1, max(x0, 0): x1 + 1] = 0.0
    return motion_hint(residual_motion(flow, outside), np.ones_like(outside))


def mask_from_prompt(
    image: Image, prompt: Prompt, *, evidence: ProbMap | None = None, neighbour: Image | None = None,
    previous: Mask | None = None,
) -> Mask:
    """The object's mask in `image` from what `prompt` marks on it.

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
        RGB frame the prompt is on.
    prompt : Prompt
        A box, clicks and/or strokes; at least one mark on the object.
    evidence : (H, W) float32 ndarray, optional
        Another probability of the object in [0, 1], such as
        :func:`motion_evidence` or a class model's: with a box, the part of
        the box where it is below 0.2 starts as likely background (where it
        marks 5 to 95% of the box); with clicks, its regions above 0.5 that
        hold a click or stroke on the object count as the object's likely
        extent.
    neighbour : (H, W, 3) uint8 ndarray, optional
        The next (or previous) frame of the video: with a box and no
        `evidence`, the evidence is :func:`motion_evidence` against it.
    previous : (H, W) bool ndarray, optional
        The object's mask on this frame so far (one followed there): clicks
        and strokes without a box then correct it rather than start anew
        (it changes only near them, see :data:`_CORRECTION_REACH`), and
        marks off the object alone are enough.

    Returns
    -------
    (H, W) bool ndarray
        The object: the connected parts of GrabCut's result that hold a
        click or stroke on it (with none, all of them inside the box).
        Clicks and strokes keep their side whatever the colours say.

    Raises
    ------
    PromptError
        Nothing marks the object (and no `previous` mask is corrected), or a
        mark lies outside the frame.
    ShapeError
        `previous` is not the frame's size.

    Notes
    -----
    What GrabCut starts from. With a box: the box grown by a tenth of its
    size is all that is looked at; inside the box is likely object, the
    margin surely background (should GrabCut keep less than a tenth of the
    box, it starts again from a disk of surely object where the colours of
    what it kept, or of the whole box, stand out most against the
    margin's, see :func:`_restart_seed`); the
    object must then cross every row and column of the box but its
    outermost twentieth (the box is drawn around it), see :func:`_tight`. Without
    one: the whole frame, likely object where the geodesic distance to the
    marks on the object is shorter than to the marks off it and to the
    frame's border; then again on the result's surroundings, at a finer
    scale where the object is small. The region is segmented at most
    :data:`WORKING_SIDE` pixels long. A part of the result that touches a
    click off the object and holds none on it is dropped.

    On the first frames of the 34 DAVIS-2016 sequences, given the truth's
    box, J was 0.688 from the box alone (folds A 0.723, B 0.654) and 0.722
    with :func:`motion_evidence` from the second frame (A 0.742, B 0.702;
    blackswan 0.50 -> 0.80, kite-surf 0.17 -> 0.61, swing 0.76 -> 0.49);
    the box's tightness then took it from 0.715 to 0.741 (A 0.750 -> 0.776,
    B 0.680 -> 0.705; drift-chicane 0.07 -> 0.50, swing 0.49 -> 0.76, hockey
    0.64 -> 0.62). Restarting where the colours stand out instead of at the
    box's centre: 0.741 -> 0.765 (restarts in fold B only, 0.705 -> 0.754:
    boat 0.15 -> 0.67, kite-surf 0.23 -> 0.48, drift-chicane 0.50 -> 0.54).
    The embedded person model's probability joined to the motion evidence
    (their maximum) was measured and not kept: 0.7649 -> 0.7646 (A 0.7760
    -> 0.7706, B 0.7537 -> 0.7585; hockey +0.15, parkour +0.09, flamingo
    -0.11, where the model sees a person in the bird).

    Clicks alone, each time from all the clicks so far (``benchmarks/prompts.py``'s
    simulated user, 34 first frames: IoU after 1 / 3 / 5 clicks 0.478 /
    0.541 / 0.622, NoC@85 10.85), lose what the user had after 56 clicks
    (IoU down by more than 0.2: paragliding 0.90 -> 0.07 after its second).
    Measured (ad hoc) and not kept: :func:`motion_evidence` of the whole
    frame beside clicks, 0.424 / 0.475 / 0.670, NoC@85 11.21; each click
    after the first mending the mask so far (`previous`) 0.478 / 0.553 /
    0.611, NoC@85 14.21, 3 setbacks, but a flooded first mask stays
    flooded (tennis 0.06 throughout, the negative clicks change little
    within their reach); the mask so far joined with the new mask's part
    that holds a click on the object (cut by the part that holds one off
    it) 0.478 / 0.585 / 0.625, NoC@85 11.29, 48 setbacks; joined with the
    new mask after a click on the object, cut by it after one off it,
    0.478 / 0.572 / 0.642, NoC@85 10.44 (A 10.35 -> 10.29, B 11.35 ->
    10.59), but 55 setbacks: a single click's GrabCut is unsteady.
    """
    image = check_image(image)
    shape = image.shape[:2]
    if previous is not None:
        previous = check_mask(previous, "previous")
        check_mask_size(previous, shape, "previous", frames="the frame is")
    corrects = previous is not None and bool(previous.any())
    _check_prompt(prompt, shape, corrects)
    if evidence is None and neighbour is not None and prompt.box is not None:
        evidence = motion_evidence(image, neighbour, prompt.box)
    if prompt.box is not None:
        x0, y0, x1, y1 = prompt.box
        box = np.zeros(shape, bool)
        box[max(y0, 0): y1 + 1, max(x0, 0): x1 + 1] = True
        return _segment(image, prompt, grown_box(box, _BOX_MARGIN * max(x1 - x0, y1 - y0) + 2), box, evidence)
    whole = (slice(0, shape[0]), slice(0, shape[1]))
    found = previous if corrects else _segment(image, prompt, whole, None, evidence)
    # Again on the object's surroundings, at a finer scale where it is small in the frame.
    marks = found | _seeds(prompt, shape, whole, 1.0)[0]
    marked_rows, marked_cols = np.nonzero(marks)
    rows, cols = grown_box(marks, _BOX_MARGIN * max(np.ptp(marked_rows), np.ptp(marked_cols)) + 2)
    if corrects or max(rows.stop - rows.start, cols.stop - cols.start) < max(shape):
        found = _segment(image, prompt, (rows, cols), found, corrects=corrects)
    return found


def _segment(image: Image, prompt: Prompt, region: tuple[slice, slice], likely: Mask | None,
             evidence: ProbMap | None = None, corrects: bool = False) -> Mask:
    """GrabCut over `region` of `image`, at most :data:`WORKING_SIDE` long, from `likely` object or the marks.

    With `likely` (a box, or an earlier result; ``(H, W) bool``) the pixels
    of `region` outside it are background: surely so for a box, likely
    otherwise; in a box, where `evidence` is below 0.2 is likely background
    too, if it marks part of the box but not all of it (5 to 95%). Without
    `likely`, likely object is where the marks on the object are
    geodesically nearest, and the regions of `evidence` that hold them.
    With `corrects`, `likely` is a mask the marks correct: it stays as it is
    but near them (:func:`_correction_labels`), and its parts are kept
    whether or not a mark is on them.
    """
    shape = image.shape[:2]
    crop = image[region]
    scale = min(1.0, WORKING_SIDE / max(crop.shape[:2]))
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA) if scale < 1 else np.ascontiguousarray(crop)
    shown = None if evidence is None else cv2.resize(np.asarray(evidence, np.float32)[region], size,
                                                     interpolation=cv2.INTER_AREA)  # fmt: skip
    on, off = _seeds(prompt, shape, region, scale)
    if likely is not None:
        inside = cv2.resize(likely[region].view(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
        boxed = prompt.box is not None
        if corrects:
            labels = _correction_labels(small, inside, on, off)
        else:
            labels = np.where(inside, cv2.GC_PR_FGD, cv2.GC_BGD if boxed else cv2.GC_PR_BGD).astype(np.uint8)
        if boxed and shown is not None and 0.05 <= np.count_nonzero(inside & (shown > 0.5)) / inside.sum() <= 0.95:
            labels[inside & (shown < 0.2)] = cv2.GC_PR_BGD  # what does not move with the object in its box
    else:
        inside = _likely_object(small, on, off)
        if shown is not None:
            inside |= _parts_marked(shown > 0.5, on)
        labels = np.where(inside, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    labels[on] = cv2.GC_FGD
    labels[off] = cv2.GC_BGD
    found, models = _grabcut(small, labels)
    if prompt.box is not None and not on.any() and found.sum() < _LEAST_OF_BOX * inside.sum():
        # The box is the object's, so it is in there: where the colours of what GrabCut kept (the box's least like
        # its surroundings), or of the whole box, stand out most against the background's.
        if not found.any():
            _, models = _grabcut(small, labels, 0)  # the colour models GrabCut starts from: the box's and its margin's
        labels[_restart_seed(small, inside, models)] = cv2.GC_FGD
        found, models = _grabcut(small, labels)
    if prompt.box is not None and not on.any():
        found = _tight(small, labels, found, inside, labels != cv2.GC_PR_BGD, models)
    found = _parts_marked(found, (on | inside) if corrects else on if on.any() else inside)
    beside_off = cv2.dilate(off.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool)
    count, parts = cv2.connectedComponents(found.view(np.uint8), connectivity=8)
    refused = np.setdiff1d(parts[beside_off & found], parts[on & found])  # parts clicked off, and not on
    if 0 < refused.size < count - 1 and not corrects:  # a part clicked off is not the object (unless it is all)
        found &= ~np.isin(parts, refused)
    mask = np.zeros(shape, bool)
    mask[region] = cv2.resize(found.astype(np.float32), crop.shape[1::-1], interpolation=cv2.INTER_LINEAR) > 0.5
    return mask


def _correction_labels(image: Image, mask: Mask, on: Mask, off: Mask) -> np.ndarray:
    """GrabCut labels (``cv2.GC_*``) for marks that correct `mask`: it stays as it is but near the marks.

    Within :data:`_CORRECTION_REACH` of the object's size of a mark, the
    pixels geodesically nearer the marks on the object than those off it
    (and the border) are likely object, those nearer the marks off it likely
    background; every other pixel keeps `mask`'s answer, surely.
    """
    reach = max(2.0, _CORRECTION_REACH * float(np.sqrt(np.count_nonzero(mask))))
    near = cv2.distanceTransform((~(on | off)).view(np.uint8), cv2.DIST_L2, 3) < reach
    towards_on = _likely_object(image, on, off) if on.any() else np.zeros_like(on)
    towards_off = _likely_object(image, off, on) if off.any() else np.zeros_like(off)
    labels = np.where(mask, cv2.GC_FGD, cv2.GC_BGD).astype(np.uint8)
    changeable = near & (towards_on | towards_off)
    labels[changeable] = np.where(towards_on, cv2.GC_PR_FGD, cv2.GC_PR_BGD)[changeable]
    return labels


def _likely_object(image: Image, on: Mask, off: Mask) -> Mask:
    """Pixels geodesically nearer the marks on the object than those off it and the frame's border."""
    border = np.zeros(on.shape, bool)
    border[[0, -1], :] = border[:, [0, -1]] = True
    return geodesic_distance(image, on) < geodesic_distance(image, (off | border) & ~on)


def _grabcut(image: Image, labels: np.ndarray,
             iterations: int = _ITERATIONS) -> tuple[Mask, tuple[np.ndarray, np.ndarray] | None]:
    """GrabCut from `labels` (``cv2.GC_*``), seeded so one prompt always gives one mask.

    The object pixels, and GrabCut's background and object colour models
    (None where one side has no pixel and GrabCut did not run). With 0
    `iterations`, the models GrabCut starts from, fitted to `labels`.
    """
    is_object = np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD))
    if is_object.all() or not is_object.any():
        return is_object, None
    labels = labels.copy()
    background, foreground = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.setRNGSeed(0)  # GrabCut's colour models start from k-means: the same prompt gives the same mask
    cv2.grabCut(image, labels, None, background, foreground, iterations, cv2.GC_INIT_WITH_MASK)
    return np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)), (background, foreground)


def _restart_seed(image: Image, box: Mask, models: tuple[np.ndarray, np.ndarray] | None) -> Mask:
    """A disk in `box` (a tenth of its size across) to restart GrabCut from, as surely object.

    Centred where the disk's mean log-likelihood ratio of GrabCut's colour
    `models` (object against background) is highest; at the box's centre
    without models (the box is the whole frame).
    """
    rows, cols = np.nonzero(box)
    radius = max(2, int(0.1 * np.sqrt(len(rows))))
    centre = (int(cols.mean()), int(rows.mean()))
    if models is not None:
        ratio = cv2.blur(_log_odds(image, models).astype(np.float32), (2 * radius + 1, 2 * radius + 1))
        ratio[~box] = -np.inf
        row, col = np.unravel_index(np.argmax(ratio), ratio.shape)
        centre = (int(col), int(row))
    seed = np.zeros(box.shape, np.uint8)
    cv2.circle(seed, centre, radius, 1, -1)
    return seed.view(bool)


def _log_odds(image: Image, models: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``(H, W) float64``: each pixel's log-likelihood under GrabCut's object colour model minus the background's."""
    pixels = image.reshape(-1, 3).astype(np.float64)
    return (_log_likelihood(models[1], pixels) - _log_likelihood(models[0], pixels)).reshape(image.shape[:2])


def _log_likelihood(model: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """Log-likelihood of each of `pixels` (``(N, 3)``) under a GrabCut colour model (5 Gaussians, OpenCV's layout)."""
    weights, means, covariances = model[0, :5], model[0, 5:20].reshape(5, 3), model[0, 20:65].reshape(5, 3, 3)
    total = np.zeros(len(pixels))
    for weight, mean, covariance in zip(weights, means, covariances):
        if weight <= 0:
            continue
        offset = pixels - mean
        inverse = np.linalg.inv(covariance + 1e-6 * np.eye(3))
        distance = np.einsum("ni,ij,nj->n", offset, inverse, offset)
        total += weight * np.exp(-0.5 * distance) / np.sqrt(max(np.linalg.det(covariance), 1e-12))
    return np.log(total + 1e-300)


def _tight(image: Image, labels: np.ndarray, found: Mask, box: Mask, pinnable: Mask,
           models: tuple[np.ndarray, np.ndarray] | None) -> Mask:
    """Make GrabCut's object cross every row and column of its box, as the box is drawn around it.

    The tightness prior of Lempitsky et al. [3]_, by pinpointing: on each
    row and column of the box the object misses, the pixel of `pinnable`
    whose colour the object's model explains best against the background's
    is pinned as object, if the object's model explains it better, and
    GrabCut runs again, keeping the pins; at most ``_PINNING_ROUNDS`` times.
    The outermost ``_LOOSE_EDGE`` of the box on each side is not held to it
    (a box drawn by hand is seldom tight to the pixel). `pinnable` leaves out
    what the motion says is background.
    """
    rows, cols = np.nonzero(box)
    inner = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
    held = []  # the box's rows, then columns, the object must cross
    for length in box[inner].shape:
        loose = round(_LOOSE_EDGE * length)
        held.append(np.arange(length)[loose:length - loose])
    for _ in range(_PINNING_ROUNDS):
        if models is None:
            break
        crossed_rows, crossed_cols = found[inner].any(axis=1), found[inner].any(axis=0)
        ratio = _log_odds(image[inner], models)
        ratio[~pinnable[inner]] = -np.inf
        pins = [(row, int(np.argmax(ratio[row]))) for row in held[0] if not crossed_rows[row]]
        pins += [(int(np.argmax(ratio[:, col])), col) for col in held[1] if not crossed_cols[col]]
        pins = [pin for pin in pins if ratio[pin] > 0]
        if not pins:
            break
        surely = (labels == cv2.GC_FGD) | (labels == cv2.GC_BGD)  # seeds and pins so far stay
        labels = np.where(surely, labels, np.where(found, cv2.GC_PR_FGD, cv2.GC_PR_BGD)).astype(np.uint8)
        labels[inner][tuple(np.transpose(pins))] = cv2.GC_FGD
        found, models = _grabcut(image, labels, _PINNING_ITERATIONS)
    return found


def _parts_marked(mask: Mask, marks: Mask) -> Mask:
    """The 8-connected parts of `mask` that hold a pixel of `marks`."""
    count, parts = cv2.connectedComponents(mask.view(np.uint8), connectivity=8)
    keep = np.unique(parts[marks & mask])
    return np.isin(parts, keep[keep > 0])
