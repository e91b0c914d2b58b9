"""Refinement stage: turn the soft mask into a hard one that follows the image's edges."""

from __future__ import annotations

import cv2
import numpy as np

from .._validate import check_image, check_prob
from ..errors import ConfigError
from ..types import Frame, Image, Mask, ProbMap, StageOutput
from ._boxes import grown_box

__all__ = ["REFINE_METHODS", "crf_refine", "graphcut_refine", "MaskRefiner"]

REFINE_METHODS: tuple[str, ...] = ("crf", "graphcut", "none")
"""Refinement methods: dense CRF, GrabCut graph cut, or a plain 0.5 threshold."""

_EPS = 1e-4


def crf_refine(
    image: Image,
    prob: ProbMap,
    *,
    iterations: int = 2,
    pairwise_weight: float = 3.0,
    spatial_sigma: float = 20.0,
    color_sigma: float = 20.0,
) -> ProbMap:
    """Dense-CRF refinement of a two-label soft mask by mean-field inference.

    The unary term is ``-log`` of `prob`; the pairwise term is a Potts model
    whose kernel is edge-aware: the domain transform filter guided by `image`
    [2]_ stands in for the bilateral kernel of Krähenbühl and Koltun [1]_. With
    two labels each mean-field step is
    ``q = sigmoid(logit(prob) + pairwise_weight * (2 * filter(q) - 1))``.

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
        RGB frame that guides the filter.
    prob : (H, W) float32 ndarray
        Foreground probability in [0, 1].
    iterations : int
        Mean-field steps (>= 1). On the six DAVIS-2016 person sequences
        (fused masks of the ``balanced`` preset) 2 steps gave J&F 0.4724 in
        21 ms a frame, 5 steps 0.4727 in 49 ms, a plain threshold 0.4718.
    pairwise_weight : float
        Strength of the pairwise term (>= 0); 0 returns `prob` (clipped).
    spatial_sigma : float
        Spatial extent of the kernel in pixels (> 0).
    color_sigma : float
        Colour extent of the kernel in intensity units 0-255 (> 0): pixels
        whose colours differ by much more barely influence each other.

    Returns
    -------
    (H, W) float32 ndarray
        Refined foreground probability in [0, 1].

    Notes
    -----
    The pairwise term moves a logit by at most `pairwise_weight`, so pixels
    with ``|logit(prob)| >= pairwise_weight`` cannot change side, and one
    below 0.5 only near pixels above it. Inference runs only in the bounding
    box of the pixels that can change side (:func:`_changeable_window`),
    grown by three `spatial_sigma` for context; outside it `prob` is
    returned unchanged. Cutting the box to the reach of the pixels above 0.5
    halved the refinement's time in semi-supervised runs (bmx-trees 18 ms a
    frame to 8, breakdance 32 to 17) and changed 2 pixels in 366 frames of
    six DAVIS-2016 sequences.

    Filtering at half size was 3x faster (12 ms against 38 on full-frame
    windows) but lost thin parts: on the 34 DAVIS-2016 sequences (first mask
    given) kite-surf fell from 0.616 to 0.549 and bmx-trees from 0.457 to
    0.436 (J&F), so the filter runs at full size.

    The domain transform makes OpenCV's 3 passes over the image. With 2,
    on the same 34 sequences (``benchmarks/davis.py --configs object``, AMD
    EPYC) J&F was 0.7836 (A 0.7882, B 0.7790) against 0.7837 (A 0.7888, B
    0.7786), no sequence moved by 0.01 but breakdance (0.443 -> 0.454), and
    the refinement took 15 ms a frame against 17-19; but several objects
    followed jointly lost (``benchmarks/instances.py --configs objects``:
    seed 0 0.635 -> 0.622, c01-camel's small, long-hidden kite-surfer 0.330
    -> 0.235; seed 1 0.618 -> 0.622). The recursive-filter mode
    (``DTF_RF``), twice as fast, gave 0.7789 (A 0.7854, B 0.7725).
    `color_sigma` 12 and 30 gave 0.7816 and 0.7838 (B 0.7765 and 0.7779)
    and `pairwise_weight` 5 gave 0.7844 (A 0.7911, B 0.7776; bmx-trees
    0.528 -> 0.466): the defaults stay.

    References
    ----------
    .. [1] P. Krähenbühl, V. Koltun, "Efficient inference in fully connected
       CRFs with Gaussian edge potentials", NeurIPS 2011.
    .. [2] E. Gastal, M. Oliveira, "Domain transform for edge-aware image and
       video processing", SIGGRAPH 2011. :DOI:`10.1145/1964921.1964964`
    """
    check_image(image)
    prob = check_prob(prob, image.shape[:2])
    if iterations < 1:
        raise ValueError(f"iterations is {iterations}; expected at least 1")
    if pairwise_weight < 0 or spatial_sigma <= 0 or color_sigma <= 0:
        raise ValueError(
            f"pairwise_weight={pairwise_weight}, spatial_sigma={spatial_sigma}, color_sigma={color_sigma}; "
            "expected pairwise_weight >= 0 and both sigmas > 0"
        )
    out = np.clip(prob, _EPS, 1.0 - _EPS)
    window = _changeable_window(out, pairwise_weight, margin=round(3 * spatial_sigma))
    if window is None:
        return out
    q = out[window]
    image, unary = np.ascontiguousarray(image[window]), np.log(q) - np.log1p(-q)
    kernel = cv2.ximgproc.createDTFilter(image, spatial_sigma, color_sigma, mode=cv2.ximgproc.DTF_NC)  # guide once
    for _ in range(iterations):
        smoothed = kernel.filter(q)
        q = 1.0 / (1.0 + np.exp(-(unary + pairwise_weight * (2.0 * smoothed - 1.0))))
    out[window] = q
    return out


def _changeable_window(prob: ProbMap, pairwise_weight: float, margin: int) -> tuple[slice, slice] | None:
    """Where the pairwise term can change a pixel's side of 0.5: a box, grown by `margin` for context, or None.

    The pairwise term moves a logit by at most `pairwise_weight`, so a pixel
    with ``|logit(prob)| >= pairwise_weight`` keeps its side whatever its
    neighbours do; only the others need the filter (tested on `prob`
    itself, ``sigmoid(-w) < p < sigmoid(w)``: no logarithm over the whole
    frame). And a pixel below 0.5 turns object only where the filtered
    neighbourhood is above a half, which needs pixels above 0.5 within the
    kernel's reach: the box of the undecided pixels is cut to that of the
    pixels above 0.5, both grown by `margin`. Pixels that turn object near
    the window's edge see less context there, as everywhere at its edge: on
    a grey frame whose undecided background (0.45) an object pulls over, 16
    of its 6812 pixels differ from inference over the whole frame (none with
    the object's box grown by twice `margin`, which is slower).
    """
    low = 1.0 / (1.0 + np.exp(pairwise_weight))
    undecided = grown_box((prob > low) & (prob < 1.0 - low), margin)
    near_object = grown_box(prob > 0.5, margin)
    if undecided is None or near_object is None:
        return None
    window = tuple(slice(max(a.start, b.start), min(a.stop, b.stop)) for a, b in zip(undecided, near_object))
    return window if all(part.start < part.stop for part in window) else None


def graphcut_refine(
    image: Image,
    prob: ProbMap,
    *,
    band: int | None = None,
    sure: float = 0.9,
    iterations: int = 2,
    max_side: int = 320,
) -> Mask:
    """Graph-cut refinement in a band around the mask's boundary (GrabCut).

    Pixels farther than `band` from the 0.5 contour of `prob` are fixed to its
    side, and so are the pixels whose probability is above `sure`; the others
    in the band GrabCut [1]_ relabels from colour models of object and
    background and an image-contrast (edge-aware) smoothness term. Only the
    bounding box of the band, with a margin, is processed.

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
        RGB frame.
    prob : (H, W) float32 ndarray
        Foreground probability in [0, 1].
    band : int, optional
        Half-width of the uncertain band in pixels. Default: 2% of the image
        diagonal, at least 2.
    sure : float
        Probability above which a pixel stays object whatever its colour, in
        [0.5, 1]. An object that shares its colours with the background (a
        white dog on pale paving) then keeps the part its evidence is sure
        of instead of shrinking to its few distinct colours (1 keeps no
        pixel). With ``target="moving"`` on DAVIS-2016 J&F was 0.597 at 1,
        0.580 at 0.8, 0.600 at 0.9 and 0.599 at 0.95.
    iterations : int
        GrabCut iterations (>= 1).
    max_side : int
        A processed box longer than this many pixels is labelled on a copy
        scaled down to it (its sure pixels keep their labels at full size).
        With ``target="moving"`` on ten DAVIS-2016 sequences (854x480, five
        of each fold; pipeline fps without reading and writing): 3
        iterations at 512 gave J&F 0.633 at 3.9 fps, 1 at 512 0.628 at 7.5
        fps, 2 at 384 0.632 at 7.5 fps, 2 at 320 (the defaults) 0.629 at
        10.0 fps, 1 at 384 0.630 at 10.4 fps (but one iteration lets a
        synthetic mover that has stood still for five frames shrink to
        half). Earlier, on 12 sequences at 3 iterations: J&F 0.563
        uncapped, 0.519 at 256. On 1080p video the box can be several times
        larger.

    Returns
    -------
    (H, W) bool ndarray
        Refined mask. Returned as ``prob > 0.5`` when that is empty or full
        (GrabCut needs samples of both sides).

    References
    ----------
    .. [1] C. Rother, V. Kolmogorov, A. Blake, "GrabCut: interactive
       foreground extraction using iterated graph cuts", SIGGRAPH 2004.
       :DOI:`10.1145/1015706.1015720`
    """
    check_image(image)
    prob = check_prob(prob, image.shape[:2])
    if iterations < 1:
        raise ValueError(f"iterations is {iterations}; expected at least 1")
    if not 0.5 <= sure <= 1.0:
        raise ValueError(f"sure is {sure}; expected a probability in [0.5, 1]")
    h, w = prob.shape
    if band is None:
        band = max(2, round(0.02 * np.hypot(h, w)))
    if band < 1:
        raise ValueError(f"band is {band}; expected at least 1 pixel")
    initial = prob > 0.5
    if initial.all() or not initial.any():
        return initial
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    fg_sure = cv2.erode(initial.view(np.uint8), kernel).astype(bool) | (prob > sure)
    bg_sure = cv2.erode((~initial).view(np.uint8), kernel).astype(bool)
    labels = np.where(initial, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    labels[fg_sure] = cv2.GC_FGD
    labels[bg_sure] = cv2.GC_BGD
    rows, cols = grown_box(~(fg_sure | bg_sure), band)  # never empty: the band holds the 0.5 contour
    crop = labels[rows, cols].copy()
    has_both = np.isin(crop, (cv2.GC_FGD, cv2.GC_PR_FGD)).any() and np.isin(crop, (cv2.GC_BGD, cv2.GC_PR_BGD)).any()
    if not has_both:
        return initial
    bgd_model = np.zeros((1, 65), np.float64)
    fgd_model = np.zeros((1, 65), np.float64)
    patch = np.ascontiguousarray(image[rows, cols])
    cv2.setRNGSeed(0)  # GrabCut's colour models start from k-means: the same frame gives the same mask, in any order
    shrink = max_side / max(patch.shape[:2])
    if shrink < 1:  # GrabCut's cost grows with the area: label a smaller copy, keep the sure pixels as they are
        small = (max(1, round(patch.shape[1] * shrink)), max(1, round(patch.shape[0] * shrink)))
        labels_small = cv2.resize(crop, small, interpolation=cv2.INTER_NEAREST)
        cv2.grabCut(cv2.resize(patch, small, interpolation=cv2.INTER_AREA), labels_small, None, bgd_model,
                    fgd_model, iterations, cv2.GC_INIT_WITH_MASK)  # fmt: skip
        found = cv2.resize(labels_small, (patch.shape[1], patch.shape[0]), interpolation=cv2.INTER_NEAREST)
        uncertain = (crop == cv2.GC_PR_FGD) | (crop == cv2.GC_PR_BGD)
        crop[uncertain] = found[uncertain]
    else:
        cv2.grabCut(patch, crop, None, bgd_model, fgd_model, iterations, cv2.GC_INIT_WITH_MASK)
    out = initial.copy()
    out[rows, cols] = (crop == cv2.GC_FGD) | (crop == cv2.GC_PR_FGD)
    return out


class MaskRefiner:
    """The final hard mask from the fused probability, snapped to image edges.

    Parameters
    ----------
    method : {"crf", "graphcut", "none"}
        :func:`crf_refine` then a 0.5 threshold, :func:`graphcut_refine`, or a
        plain 0.5 threshold.
    source : str
        Data key of the probability to refine: ``"prob"`` (the fused
        probability of :class:`~flowseg.stages.MaskWarper`) or ``"evidence"``
        (the per-frame semantics alone, for pipelines without temporal fusion).

    Attributes
    ----------
    requires : tuple of str
        ``(source,)``.
    provides : tuple of str
        ``("mask",)``: ``(H, W) bool``; with another `source` than ``"prob"``
        also ``"prob"``, a copy of the source, so the result has a soft map.

    Notes
    -----
    Stateless but for :meth:`economise`. On a frame whose data holds
    ``"init_mask"`` (semi-supervised mode) that mask is the output.
    """

    def __init__(self, *, method: str = "crf", source: str = "prob") -> None:
        if method not in REFINE_METHODS:
            raise ConfigError(f"unknown refine method {method!r}; valid methods: {', '.join(REFINE_METHODS)}")
        if source not in ("prob", "evidence"):
            raise ConfigError(f"source is {source!r}; expected 'prob' (fused) or 'evidence' (per-frame)")
        self.method = method
        self.source = source
        self.requires: tuple[str, ...] = (source,)
        self.provides: tuple[str, ...] = ("mask",) if source == "prob" else ("mask", "prob")
        self._economy = False

    def economise(self, on: bool) -> None:
        """Threshold at 0.5 instead of refining (``on``), or refine again."""
        self._economy = on

    def refine(self, image: Image, prob: ProbMap) -> Mask:
        """Hard mask of one frame; see the class description."""
        if self.method == "crf" and not self._economy:
            return crf_refine(image, prob) > 0.5
        if self.method == "graphcut" and not self._economy:
            return graphcut_refine(image, prob)
        return check_prob(prob, check_image(image).shape[:2]) > 0.5

    def process(self, frame: Frame) -> StageOutput:
        """Stage interface: ``{"mask": refine(frame.image, frame.data[source])}``."""
        prob = frame.data[self.source]
        if "init_mask" in frame.data:  # semi-supervised mode: the given mask is kept as it is
            out: StageOutput = {"mask": np.asarray(frame.data["init_mask"]) > 0.5}
        else:
            out = {"mask": self.refine(frame.image, prob)}
        if self.source != "prob":
            out["prob"] = np.array(prob, dtype=np.float32)
        return out

    def reset(self) -> None:
        """Refine again if :meth:`economise` switched it off; nothing else is kept between frames."""
        self._economy = False
