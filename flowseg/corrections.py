"""One object over a clip from masks given on any frames, where each correction recomputes only what it changes.

:class:`Annotations` holds a clip's frames and the masks a user gave (a
first mask, then corrections where the result drifted). Each given mask is
followed forwards to the next given frame and backwards to the one before,
by the causal :meth:`flowseg.Pipeline.stream`; every frame between two given
ones blends the two runs that reach it, by nearness, confidence and how well
each met the other given frame, and is as trustworthy as the two agree.

A correction at frame k between given frames i and j cuts the run forwards
from i and the run backwards from j at k (their frames up to k do not depend
on what comes after: the runs are causal) and starts two runs from k, over
the frames from i to j only: the frames outside keep their masks.
"""

from __future__ import annotations

import bisect
import functools
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ._validate import check_image, check_mask, check_mask_size
from .errors import MaskError
from .metrics import region_similarity
from .pipeline import Pipeline
from .prompts import Prompt, mask_from_prompt
from .stages import MaskRefiner
from .stages._recovery import COLLAPSE
from .types import Image, Mask, ProbMap

__all__ = ["Annotations", "blend_runs", "Progress"]

FOUND = 0.5
"""J at which two masks are taken for the same object (the usual threshold of a found object in tracking)."""

Progress = Callable[[int, int], None]
"""Called after each frame a change segments, with (frames done, frames it segments in all)."""



@dataclass
class _Run:
    """The masks and soft probabilities of one run from a given frame, in the order it went (away from it)."""

    masks: list[Mask]
    probs: list[np.ndarray]  # (h, w) float16, half size
    confidences: list[float]  # Result.quality["confidence"]
    agreement: float = 1.0
    """How well its mask on the given frame where it ends meets the mask given there (:func:`_agreement`; 1 up to
    the clip's end)."""
    trusted: int = 0
    """Its positions 0..trusted are trusted (see :meth:`Annotations._settle`; set whenever a run meets it)."""

    def holds(self, position: int) -> float:
        """How surely its mask at `position` holds the object: its confidence, or 0 where the mask is empty (however
        sure of that empty mask the confidence is)."""
        return self.confidences[position] if self.masks[position].any() else 0.0

    def sureness(self, position: int) -> float:
        """Its confidence at `position` against its confidence on the first frame it followed the object to, at
        most 1 (the confidence itself where that is 0)."""
        start = self.confidences[min(1, len(self.confidences) - 1)]
        return min(1.0, self.confidences[position] / start) if start > 0 else self.confidences[position]

    def end_at(self, position: int, given: Mask) -> None:
        """End the run at its `position`-th frame, a given one: check its mask there against `given`, keep the rest."""
        self.agreement = _agreement(self.masks[position], given, self.masks[0])
        del self.masks[position:], self.probs[position:], self.confidences[position:]


def _stored_prob(prob: ProbMap) -> np.ndarray:
    """`prob` as a run keeps it for :func:`blend_runs`: half size each way (area-averaged), ``float16``.

    0.2 MB a frame at 854x480; :func:`blend_runs` takes it back to full size.

    Notes
    -----
    Kept at full size instead (``uint8``, 0.4 MB a frame), on the 34
    DAVIS-2016 sequences (``benchmarks/corrections.py``'s protocol, ad hoc,
    blends refined) J&F after 1 / 2 / 3 corrections went from 0.8200 /
    0.8352 / 0.8504 to 0.8201 / 0.8361 / 0.8516, but fold A fell (0.8541 ->
    0.8519 after 3) as B rose (0.8468 -> 0.8514). In B, kite-walk +0.048:
    its truth holds the kite's lines, one or two pixels wide, which the run
    from the first mask holds as some 70 fragments and which averaging over
    two by two pixels takes below 0.5, so a blend dropped them; kite-surf
    +0.034, mallard-water -0.020. In A, blackswan -0.013, bus -0.011.
    """
    h, w = prob.shape
    return cv2.resize(prob, (max(w // 2, 1), max(h // 2, 1)), interpolation=cv2.INTER_AREA).astype(np.float16)


def blend_runs(forward: Mask, forward_prob: np.ndarray, backward: Mask, backward_prob: np.ndarray,
               forward_weight: float, refine: Callable[[ProbMap], Mask] | None = None) -> Mask:
    """One frame's mask from the runs that reach it from the given frames before and after it.

    Parameters
    ----------
    forward, backward : (H, W) bool ndarray
        The masks of the run from the given frame before and of the run from
        the one after.
    forward_prob, backward_prob : (h, w) float ndarray
        Their soft probabilities in [0, 1], at any size (resized bilinearly).
    forward_weight : float
        The forward run's weight in [0, 1]; the backward run's is one minus it.
    refine : callable, optional
        Takes the weighted mean of the two probabilities, ``(H, W) float32``,
        to a hard mask snapped to the frame's edges, as the runs' masks were
        (:meth:`flowseg.stages.MaskRefiner.refine` on the frame); default:
        the mean above 0.5.

    Returns
    -------
    (H, W) bool ndarray
        Where the two masks agree, their answer; elsewhere, the refined
        weighted mean of the two probabilities. A run weighted alone
        (`forward_weight` 1 or 0) gives its own mask, as refined.

    Notes
    -----
    A run weighted alone gave its probability cut at 0.5 before (93d848a):
    what the edge-aware refinement had added or taken off was lost, and
    giving surf's last frame empty changed the 53 frames before it (J&F
    0.914 -> 0.903), though the run there is the same. With its own masks,
    on the 34 DAVIS-2016 sequences (``benchmarks/corrections.py``) after 1 /
    2 / 3 corrections 0.8180 / 0.8331 / 0.8494 -> 0.8188 / 0.8338 / 0.8491
    (fold A 0.8215 / 0.8374 / 0.8520 -> 0.8215 / 0.8374 / 0.8521, B 0.8144 /
    0.8288 / 0.8467 -> 0.8160 / 0.8303 / 0.8461): drift-turn 0.730 / 0.711 /
    0.742 -> 0.744 / 0.723 / 0.750, surf 0.903 / 0.920 / 0.937 -> 0.914 /
    0.930 / 0.917 (its third correction, on frame 26, leaves the frames
    from 27 to the run from 26 alone, whose refined masks there hold the
    boundary worse than its probability cut at 0.5: F 0.76-0.88 against
    0.84-0.96 on frames 30-48, the edges following the spray). Kept as the same
    masks a run gives wherever it alone reaches (before the first given
    frame, after the last).

    The weighted mean cut at 0.5 lost the refinement where the runs
    disagree: on kite-walk, given frames 0, 43 and 76, the frames between
    had F 0.759 blended against 0.820 and 0.793 for the two runs' own
    masks. Refined as the runs were (``refine``: :class:`Annotations`
    passes its pipeline's :class:`~flowseg.stages.MaskRefiner` on the
    frame), on the 34 DAVIS-2016 sequences (``benchmarks/corrections.py``'s
    protocol) J&F after 1 / 2 / 3 corrections went from 0.8188 / 0.8338 /
    0.8491 to 0.8200 / 0.8352 / 0.8504 (fold A 0.8215 / 0.8374 / 0.8521 ->
    0.8229 / 0.8393 / 0.8541, B 0.8160 / 0.8303 / 0.8461 -> 0.8171 /
    0.8311 / 0.8468); after 3, dog-agility +0.009, car-roundabout +0.008,
    boat +0.006, dog +0.006; dance-jump -0.009, bus -0.005.

    Examples
    --------
    >>> f, b = np.array([[1, 1, 0]], bool), np.array([[1, 0, 0]], bool)
    >>> p = np.array([[0.9, 0.7, 0.1]]); q = np.array([[0.9, 0.2, 0.1]])
    >>> blend_runs(f, p, b, q, 0.75).astype(int), blend_runs(f, p, b, q, 0.25).astype(int)
    (array([[1, 1, 0]]), array([[1, 0, 0]]))
    """
    if forward_weight in (0, 1):  # a run weighted alone
        return (forward if forward_weight else backward).copy()
    disputed = forward != backward
    if not disputed.any():
        return forward.copy()
    size = forward.shape[::-1]
    p = cv2.resize(np.asarray(forward_prob, np.float32), size, interpolation=cv2.INTER_LINEAR)
    q = cv2.resize(np.asarray(backward_prob, np.float32), size, interpolation=cv2.INTER_LINEAR)
    mean = forward_weight * p + (1 - forward_weight) * q
    blended = forward & backward
    blended[disputed] = (mean > 0.5 if refine is None else refine(mean))[disputed]
    return blended


def _vanishing_point(confidences: np.ndarray) -> int | None:
    """How many of a run's frames hold the object before its `confidences` collapse, or None where they do not.

    The least-squares split of ``(n,) float`` confidences (in the run's
    order) into a leading and a trailing part, each at least one frame; a
    collapse where the trailing part's mean is below :data:`~flowseg.stages._recovery.COLLAPSE`
    times the leading part's.

    Examples
    --------
    >>> _vanishing_point(np.array([0.6, 0.5, 0.6, 0.2, 0.1, 0.1])), _vanishing_point(np.array([0.6, 0.5, 0.4, 0.4]))
    (3, None)
    """
    if len(confidences) < 2:
        return None

    def squared_error(n: int) -> float:  # about each part's mean
        return float(np.var(confidences[:n]) * n + np.var(confidences[n:]) * (len(confidences) - n))

    kept = min(range(1, len(confidences)), key=squared_error)
    return kept if confidences[kept:].mean() < COLLAPSE * confidences[:kept].mean() else None


def _agreement(reached: Mask, given: Mask, started: Mask) -> float:
    """How well a run that reached a given frame agrees with the mask given there, in [0, 1].

    ``1 - |reached xor given| / max(|reached or given|, |started|)``, with
    `started` the mask the run started from: J where the object is at least
    as large as there, and where it has shrunk (it leaves the frame, or is
    mostly hidden) the pixels in dispute count against the object's size at
    the start, so a sliver given where the object leaves does not condemn
    a run that followed it all the way; a run that holds a large wrong
    region there still disputes many pixels. An empty given mask says
    the object is hidden or gone, which a run cannot be expected to know (it
    may still hold the occluder's edge): no verdict, 1.

    Notes
    -----
    With J alone, on the 34 DAVIS-2016 sequences
    (``benchmarks/corrections.py``), J&F after 3 corrections was 0.830 (fold
    A 0.843, B 0.818): on surf a correction at frame 26, between the first
    mask and a 162-pixel sliver on frame 53, took frames 41-52 from the run
    back from the sliver (J 0.02) and the sequence fell from 0.948 to 0.770.
    With it 0.838 (A 0.843, B 0.832; surf 0.950, bmx-trees 0.530 -> 0.592).
    """
    if not given.any():
        return 1.0
    union = np.count_nonzero(reached | given)
    return 1.0 - np.count_nonzero(reached ^ given) / max(union, np.count_nonzero(started))


class Annotations:
    """The masks of one object over a clip, from masks given on any of its frames.

    Parameters
    ----------
    frames : sequence of (H, W, 3) uint8 ndarray
        The clip's RGB frames, all the same size (held, not copied).
    pipeline : Pipeline, optional
        What follows the object from each given mask (its causal
        :meth:`~flowseg.Pipeline.stream`); default ``Pipeline()``.

    Notes
    -----
    A frame between given frames i < j is at distance ``d_i`` from i and
    ``d_j`` from j (``D = d_i + d_j``); the run from i weighs
    ``w_i = c_i d_j (1 - (1 - a_i) d_i / D)`` there, against the run from j's
    ``w_j`` alike (:func:`blend_runs` with ``w_i / (w_i + w_j)``). ``c`` is a
    run's confidence on that frame (:func:`flowseg.stages.mask_quality`; a
    run from an empty mask has none beyond its frame); ``a`` its agreement
    with the other given frame: each run goes on to the given frame where the
    other starts, and ``a`` is the J of its mask there against the mask given
    there (1 against an empty mask). A run that lost the object, or one from a
    sliver of it, meets the other end badly, and is trusted less the further
    it went. Where only one of the two runs is trusted (:meth:`_settle`: a
    run that meets the other end badly is trusted only up to the furthest
    frame where the two runs' masks agree), that one alone gives the mask:
    a correction from a sliver cannot undo what the run before it got
    right. Between a given object and a given empty mask, the object is
    taken to be gone after the smallest mask of the run that follows it,
    where it shrank away, else from where that run's confidence collapses
    (:meth:`_settle_vanishing`); the empty mask's run gives the frames from
    there. Before the first given frame only the backward run
    reaches, after the last only the forward one. Memory: each frame's mask
    and half-size float16 probability for each run that reaches it (about
    1.2 MB a frame at 854x480).

    Measured on the 34 DAVIS-2016 sequences, 3 corrections at the least
    confident frames (``benchmarks/corrections.py``: fold A 0.850, B 0.832),
    and not kept: nearness left out of the weights, B 0.817; nearness
    squared, B 0.832; every run's fixed colour model learnt from all the
    given masks rather than its own, A 0.840 (dog 0.901 -> 0.918, but
    breakdance 0.674 -> 0.648, motocross-bumps 0.920 -> 0.891). Choosing,
    frame by frame, whichever run's mask is truer would give B 0.846, and A
    0.862 where the blend gave 0.843 before the rule for empty masks (a
    bound on any blend of the two runs). Replayed offline over that
    protocol's runs at 0addf63 (each run's masks and figures on every
    frame, mean J over the 34 after 3 corrections): the blend gives 0.849,
    each frame taking the whole mask of the run the weights prefer 0.845,
    the truer run's 0.857, one switch from the forward run to the backward
    one 0.841 (where their masks agree best) or 0.845 (where it maximises
    the summed confidences); weights with the nearness's square root,
    or the agreement in full rather than fading with the distance from the
    other end, move those 0.845 by 0.001 at most: the weights are near what
    the runs' figures can tell. Each run weighed by its least confidence
    since its given frame rather than its confidence on the frame (a run
    that once lost its grip trusted less from there on), at 5c87e71 on the
    AMD EPYC: after 1 / 2 / 3 corrections 0.819 / 0.828 / 0.843 against
    0.817 / 0.827 / 0.842 (A 0.849 against 0.845 after 3: bmx-bumps 0.623
    -> 0.692; B 0.837 against 0.840: bmx-trees 0.636 -> 0.591).

    Examples
    --------
    >>> video = Annotations(frames)                      # doctest: +SKIP
    >>> changed = video.annotate(0, first_mask)           # doctest: +SKIP
    >>> changed = video.annotate(40, corrected_mask)      # recomputes frames 1..last only  # doctest: +SKIP
    >>> masks = [video.mask(t) for t in range(len(frames))]  # doctest: +SKIP
    """

    def __init__(self, frames: Sequence[Image], *, pipeline: Pipeline | None = None) -> None:
        if len(frames) == 0:
            raise MaskError("the clip has no frames")
        self._frames = frames
        self._shape = check_image(frames[0], "frame 0").shape[:2]
        self._pipeline = pipeline or Pipeline()
        self._refiner = next((stage for stage in self._pipeline.stages if isinstance(stage, MaskRefiner)), None)
        self._given: dict[int, Mask] = {}
        self._guessed: set[int] = set()  # the given frames whose masks came from prompts
        self._forward: dict[int, _Run] = {}  # by given frame: frames k, k+1, ... up to the next given frame
        self._backward: dict[int, _Run] = {}  # frames k, k-1, ... down to the previous given frame
        self._meeting: dict[int, list[float]] = {}  # by given frame k: J of the two runs' masks on k, k+1, ...
        self.frames_computed = 0
        """Frames segmented by the runs so far (a measure of what corrections cost)."""

    @property
    def given(self) -> tuple[int, ...]:
        """The frames a mask was given on, in order."""
        return tuple(sorted(self._given))

    def annotate(self, frame: int, mask: np.ndarray, *, exact: bool = True, progress: Progress | None = None) -> range:
        """Give the object's mask on `frame` (a first mask, or a correction); the frames whose masks it changes.

        Parameters
        ----------
        frame : int
            0-based frame index.
        mask : (H, W) array_like
            Non-zero = object; the frames' size. Empty: the object is not
            there (out of view or hidden); the runs from it are empty.
        exact : bool
            Whether `mask` is exact (drawn in full, read from a file) rather
            than a guess (a prompt's): see :meth:`flowseg.Pipeline.stream`'s
            `init_mask_exact`.
        progress : callable, optional
            ``progress(done, total)`` after each frame segmented (see :data:`Progress`).

        Returns
        -------
        range
            The frames whose masks were recomputed: from the given frame before
            `frame` (exclusive; or 0) to the one after (exclusive; or the end).

        Raises
        ------
        MaskError
            For a frame outside the clip.
        ShapeError
            For a mask of another size than the frames.
        """
        self.check_frame(frame)
        mask = check_mask(mask).copy()
        check_mask_size(mask, self._shape)
        self._given[frame] = mask
        if exact:
            self._guessed.discard(frame)
        else:
            self._guessed.add(frame)
        return self._rerun_around(frame, progress)

    def prompted_mask(self, prompt: Prompt) -> Mask:
        """The mask a box, clicks or strokes give on ``prompt.frame``, ``(H, W) bool``, without giving it.

        :func:`~flowseg.mask_from_prompt` of that frame (with a box, helped
        by :func:`~flowseg.prompts.motion_evidence` from the next frame, or
        the previous one on the last). Clicks and strokes without a box
        correct the frame's mask as it is (followed there, or given): it
        changes only near them, and clicks off the object alone will do.

        Raises
        ------
        MaskError
            For a frame outside the clip.
        PromptError
            For a prompt that marks nothing or lies outside the frame.

        Notes
        -----
        A box alone decides, not the mask followed to that frame. GrabCut
        started from that mask instead (likely object where it lies in the
        box, the rest of the box likely background, where it holds a tenth
        of the box or more) was measured and not kept: with one box
        correction at the least confident frame (``benchmarks/app.py``) J&F
        went from 0.741 to 0.740 (fold A 0.755 -> 0.760, B 0.727 -> 0.721):
        swing 0.678 -> 0.831 and kite-surf 0.380 -> 0.561, where the box
        alone kept a sliver, but drift-chicane 0.780 -> 0.623, hockey 0.843
        -> 0.714 and breakdance 0.620 -> 0.481, where the followed mask had
        shrunk inside the box and stayed small. Nor the followed mask cut to
        the box where it spans the box at least as fully as the box's mask
        does (its extent across the box's width times its height), at
        c48bd40 (that protocol through this API, without HTTP): 0.730 ->
        0.736, but fold A 0.759 -> 0.756 (blackswan 0.851 -> 0.807,
        bmx-bumps 0.404 -> 0.300; B 0.700 -> 0.717, motorbike 0.482 ->
        0.670). Even a mask as true as the followed one there (blackswan J
        0.92, the box's 0.90) makes the run from that frame start anew from
        a guess, on a frame where following is hard.
        """
        frame = prompt.frame
        self.check_frame(frame)
        neighbour = frame + 1 if frame + 1 < len(self._frames) else frame - 1  # -1: a one-frame clip, none
        return mask_from_prompt(self._frames[frame], prompt,
                                neighbour=self._frames[neighbour] if neighbour >= 0 else None,
                                previous=None if prompt.box is not None else self.mask(frame))

    def prompt(self, prompt: Prompt, *, progress: Progress | None = None) -> range:
        """Give the object on ``prompt.frame`` as a box, clicks or strokes instead of a mask; as :meth:`annotate`.

        The mask is :meth:`prompted_mask`'s; raises as it does.
        """
        return self.annotate(prompt.frame, self.prompted_mask(prompt), exact=False, progress=progress)

    def remove(self, frame: int, *, progress: Progress | None = None) -> range:
        """Take back the mask given on `frame`; the frames whose masks changed (empty when none was given there)."""
        if self._given.pop(frame, None) is None:
            return range(0)
        self._guessed.discard(frame)
        self._forward.pop(frame, None)
        self._backward.pop(frame, None)
        self._meeting.pop(frame, None)
        before, after = self._neighbours(frame)
        self._run_from(before, after, progress)  # the runs that met at `frame` now go on to meet each other
        self._settle(before, after)
        return self._between(before, after)

    def mask(self, frame: int) -> Mask:
        """The object's mask on `frame`, ``(H, W) bool`` (empty before anything is given)."""
        if frame in self._given:
            return self._given[frame].copy()
        forward, backward, weight = self._reaching(frame)
        if forward is None and backward is None:
            return np.zeros(self._shape, bool)
        if backward is None:
            return forward[0].masks[forward[1]].copy()
        if forward is None:
            return backward[0].masks[backward[1]].copy()
        (ahead, i), (back, j) = forward, backward
        refine = None if self._refiner is None else functools.partial(self._refiner.refine, self._frames[frame])
        return blend_runs(ahead.masks[i], ahead.probs[i], back.masks[j], back.probs[j], weight, refine)

    def _reaching(self, frame: int) -> tuple[tuple[_Run, int] | None, tuple[_Run, int] | None, float]:
        """The forward and backward runs that reach `frame` (each with its position there) and the forward weight.

        Between two given frames a run's weight is its confidence there times
        its nearness, the other's distance over theirs (nearness alone where
        both confidences are 0).

        Notes
        -----
        The nearness favours the run from the nearer given frame even where
        it fails fast: on drift-turn, given frames 0, 57 and 62, the run back
        from 57 (agreement 0.34 with frame 0) outweighs the one from 0
        (0.71 with frame 57) on frames 37-53, J 0.43-0.76 against 0.67-0.82,
        and that correction lowers the clip from 0.744 to 0.723. Other
        weights, scored on the same runs of the corrections protocol (34
        DAVIS-2016 sequences, after 1 / 2 / 3 corrections 0.8188 / 0.8338 /
        0.8491 then, with the blend cut at 0.5): without the nearness factor (each run's confidence
        times its expected J, ``n + (1 - n) a`` for nearness ``n`` and
        agreement ``a``) 0.8197 / 0.8317 / 0.8474; its square root
        0.8195 / 0.8336 / 0.8493 (A 0.8526, B 0.8460 after 3); that J squared
        0.8188 / 0.8340 / 0.8484; its odds 0.8186 / 0.8335 / 0.8463. None by
        0.005.
        """
        self.check_frame(frame)
        before, after = self._neighbours(frame)
        forward = None if before is None else (self._forward[before], frame - before)
        backward = None if after is None else (self._backward[after], after - frame)
        if forward is None or backward is None:
            return forward, backward, 1.0 if backward is None else 0.0
        trusted = forward[1] <= forward[0].trusted, backward[1] <= backward[0].trusted
        if trusted[0] != trusted[1]:  # one alone is trusted here: it alone decides
            return forward, backward, float(trusted[0])
        nearness = (after - frame) / (after - before)  # to the given frame before; 1 - nearness to the one after
        ahead = nearness * forward[0].confidences[forward[1]] * (1 - (1 - forward[0].agreement) * (1 - nearness))
        back = (1 - nearness) * backward[0].confidences[backward[1]] * (1 - (1 - backward[0].agreement) * nearness)
        return forward, backward, ahead / (ahead + back) if ahead + back > 0 else nearness

    def confidence(self, frame: int) -> float:
        """How far the mask of `frame` can be trusted, in [0, 1]; 0 before anything is given.

        1 where given. Between two frames given the object, ``1 - (1 - J) *
        2 min(w, 1 - w)``: ``J`` of the two runs' masks there (where they
        disagree, one of them is wrong) and ``w`` the forward run's weight in
        the blend (:meth:`_reaching`). Midway either run may be the wrong one;
        next to a given frame the run from it holds the mask. Where one run
        alone is trusted (:meth:`_settle`), ``w`` is 0 or 1 and the frame
        counts as sure. Between a frame given the object and one given an
        empty mask, how surely the run that follows the object holds it
        (:meth:`_Run.holds`), and past where it collapsed
        (:meth:`_settle_vanishing`) one minus that.
        Elsewhere (before the first given frame, after the last, between
        two empty given masks) the runs' own confidence
        (:func:`flowseg.stages.mask_quality`) against theirs on the first
        frame they followed the object to (:meth:`_Run.sureness`): as between
        two given frames, next to one the run from it holds the mask. Weighted
        as their masks are.

        Notes
        -----
        With ``J`` alone, a frame next to a given one, where the run from the
        other given frame had lost the object, came first among the suspects,
        and its correction reached little further than the given frame beside
        it. On the 34 DAVIS-2016 sequences (``benchmarks/corrections.py``)
        J&F after 3 corrections went from 0.824 to 0.830 (fold A 0.842 ->
        0.843, B 0.807 -> 0.818), after 2 from 0.818 to 0.822, and the worst
        sequence from 0.473 to 0.530 (bmx-trees).

        Where one run alone is trusted, taking that run's own confidence
        instead of 1 sent bmx-trees's second correction to frame 18, where
        the rider is half hidden by a tree: the runs from there lose him, and
        J&F after 3 went from 0.592 to 0.489 (fold B 0.832 -> 0.828, though
        boat and drift-turn gained 0.02 each); trusting, where neither run
        is trusted, the one that meets the other given frame better still
        left bmx-trees at 0.438 (B 0.825).

        Before the first given frame and after the last, the runs' own
        confidence as it is (on its own scale, below that of the frames
        between two given ones) sent corrections to the frames just after a
        correction near the clip's end, which mend little (drift-turn 62 then
        63, dog-agility 22, 24, 23). Against the confidence next to the given
        frame, J&F after 2 / 3 corrections went from 0.830 / 0.842 to 0.831 /
        0.846 (fold A 0.835 / 0.844 -> 0.837 / 0.847, B 0.825 / 0.840 ->
        0.825 / 0.844; drift-turn 0.711 -> 0.742, kite-surf 0.677 -> 0.703,
        breakdance 0.631 -> 0.660; horsejump-low 0.848 -> 0.843), after 1
        unchanged (the first correction's ranking is the same).
        """
        if frame in self._given:
            return 1.0
        forward, backward, weight = self._reaching(frame)
        if forward is not None and backward is not None:
            before = frame - forward[1]
            if before in self._meeting:
                disagreement = 1.0 - self._meeting[before][forward[1]]
                return 1.0 - disagreement * 2.0 * min(weight, 1.0 - weight)
            object_before = self._given[before].any()
            if object_before != self._given[frame + backward[1]].any():  # gone by one end
                run, at = forward if object_before else backward  # the run that follows the object
                sure = run.holds(at)
                return sure if at <= run.trusted else 1.0 - sure  # past its collapse the object is gone
        confidence = 0.0  # the weights of the runs that reach a frame sum to 1
        if forward is not None:
            confidence += weight * forward[0].sureness(forward[1])
        if backward is not None:
            confidence += (1 - weight) * backward[0].sureness(backward[1])
        return confidence

    def suspect_frames(self, count: int = 5) -> list[int]:
        """The `count` least confident frames not given, least confident first: where to look, and correct, first.

        Among frames as unconfident as each other (as all those after an
        empty given mask, or all where the object was lost in view, at 0) the
        one furthest from any given frame comes first: a correction there
        reaches the most frames.

        Notes
        -----
        Ties went to the earliest frame before. On the 34 DAVIS-2016
        sequences (``benchmarks/corrections.py``) J&F after 3 corrections
        went from 0.821 to 0.824 (fold A 0.838 -> 0.842, B 0.805 -> 0.807),
        the worst sequence from 0.365 to 0.473 (bmx-trees: the next
        correction no longer goes to the frame beside the last); after 1
        correction from 0.802 to 0.797.

        Ranking by what a correction would mend instead (the doubt ``1 -
        confidence`` of the frames it would change, each weighted by how
        near it is, falling linearly to the given frames on either side) gave
        fold A 0.815 after 1 (0.813 with the ranking kept) but 0.840 after 3 (0.850).
        After the last given frame, judging a frame by how far the run from
        there agrees with the run from the given frame before (which went on
        before the correction cut it), on the scale of the frames between,
        gave A 0.840 and B 0.829 after 3 (0.850 and 0.832 with it kept).
        """
        def distance(t: int) -> int:
            return min((abs(t - g) for g in self._neighbours(t) if g is not None), default=0)

        open_frames = [t for t in range(len(self._frames)) if t not in self._given]
        return sorted(open_frames, key=lambda t: (self.confidence(t), -distance(t), t))[:count]

    def check_frame(self, frame: int) -> None:
        """Raise :class:`~flowseg.MaskError` for a frame index outside the clip."""
        if not 0 <= frame < len(self._frames):
            raise MaskError(f"frame {frame} is not in the clip (frames 0 to {len(self._frames) - 1})")

    def _neighbours(self, frame: int) -> tuple[int | None, int | None]:
        """The given frames nearest before and after `frame` (None where there is none)."""
        given = self.given
        before, after = bisect.bisect_left(given, frame), bisect.bisect_right(given, frame)
        return given[before - 1] if before > 0 else None, given[after] if after < len(given) else None

    def _between(self, before: int | None, after: int | None) -> range:
        """The frames strictly between two given frames (from the clip's start or to its end where one is None)."""
        return range(0 if before is None else before + 1, len(self._frames) if after is None else after)

    def _rerun_around(self, frame: int, progress: Progress | None) -> range:
        """Cut the runs that cross `frame` at it, start both runs from it; the frames that changed.

        Notes
        -----
        A correction on a hard frame can lower the frames after it, followed
        from there alone (soccerball's second correction, on frame 22: 0.817
        -> 0.800). Keeping the cut run's frames beyond a correction that
        became the last given frame, alone or blended with the new run by
        their confidences (times the cut run's agreement there), was
        measured and not kept: after 3 corrections no better on any of the
        first five sequences tried, lower on three (breakdance 0.661 against
        0.568 alone, 0.647 and 0.659 blended; bmx-trees 0.646 against 0.618,
        0.640, 0.641; bmx-bumps 0.758 against 0.748, 0.754, 0.756).
        """
        before, after = self._neighbours(frame)
        # The runs that crossed `frame` now end there: a causal run's prefix is unchanged, its mask there is checked.
        if before is not None:
            self._forward[before].end_at(frame - before, self._given[frame])
        if after is not None:
            self._backward[after].end_at(after - frame, self._given[frame])
        self._run_from(frame, frame, progress)
        self._settle(before, frame)
        self._settle(frame, after)
        return self._between(before, after)

    def _settle(self, before: int | None, after: int | None) -> None:
        """Find how far each of the two runs between given frames `before` and `after` can be trusted.

        A run is right where it starts. It is trusted all the way where it
        meets the other given frame well (agreement at least
        :data:`FOUND`), else up to the furthest frame where it meets the
        other run well (J of their masks at least :data:`FOUND`): both are
        right there, and it cannot have lost the object before. Records the
        J of the two runs' masks on each frame from `before` (the frames'
        confidence) where both start from an object.

        Notes
        -----
        A run trusted all the way may have lost the object in the middle and
        found it again (bmx-trees, frames 22-28 of the run from frame 0).
        Letting the other run decide wherever the pipeline's own follower
        counted the object lost (:class:`~flowseg.stages._recovery.ObjectTrack`'s
        ``lost_for`` above 0), and from there to a frame where it found it
        again, was measured and not kept: on the 34 DAVIS-2016 sequences
        (``benchmarks/corrections.py``'s protocol, ad hoc) after 1 / 2 / 3
        corrections 0.8188 / 0.8338 / 0.8491 -> 0.8177 / 0.8309 / 0.8456
        (fold A 0.8521 -> 0.8447 after 3, B 0.8461 -> 0.8465). bmx-trees
        gained (0.646 -> 0.661), but the follower counts an object lost
        when it is mostly hidden, where its mask is right: bmx-bumps fell
        from 0.758 to 0.626 (the rider behind a bystander on frames 50-58, J
        0.78-0.93 there while counted lost), surf after 1 from 0.914 to 0.853.
        """
        self._meeting.pop(before, None)
        if before is None or after is None:
            return
        ahead, back = self._forward[before], self._backward[after]
        span = after - before
        if self._given[before].any() != self._given[after].any():  # the object is gone at one end
            self._settle_vanishing(*((ahead, back) if self._given[before].any() else (back, ahead)), span)
            return
        if self._given[before].any():  # a run from an empty mask meets nothing
            self._meeting[before] = [1.0] + [region_similarity(ahead.masks[t - before], back.masks[after - t])
                                             for t in range(before + 1, after)]
        meeting = self._meeting.get(before, [])
        met = [before + position for position, j in enumerate(meeting) if position and j >= FOUND]
        ahead.trusted = span if ahead.agreement >= FOUND else (max(met) - before if met else 0)
        back.trusted = span if back.agreement >= FOUND else (after - min(met) if met else 0)

    @staticmethod
    def _settle_vanishing(found: _Run, empty: _Run, span: int) -> None:
        """Between a given object (the run `found` follows it) and a given empty mask (`empty`'s), `span` frames apart.

        The object is gone by the empty end; the run that follows it may
        have lost it there and hold the occluder or the background instead.
        Up to the first frame where that run holds nothing (its mask is
        empty, or shares no pixel with its previous mask carried there: it
        dropped what it followed, or jumped to something found elsewhere;
        what it takes after is not the object, which will be gone):

        - where its masks after the last one of at least
          :data:`~flowseg.stages._recovery.COLLAPSE` of the given one's area
          (the given one, if none) are all smaller, the object shrank away
          (it left the view, or went behind something), and is taken to be
          gone after the smallest of them;
        - else where its confidence steps down (the split of its
          confidences there, 0 after, into a part before and a part after,
          each near its own mean: least squares) to less than ``COLLAPSE``
          of what it was before, the object is taken to have vanished there.

        From there on the run from the empty mask is trusted (:meth:`confidence`
        gives those frames one minus the other run's confidence: the surer
        the loss, the surer the absence). Without either the run that
        follows the object is trusted all the way, and the empty one nowhere
        beyond its frame. (An object that shrinks, grows back and then
        vanishes is taken as gone after it last shrank.)

        Notes
        -----
        On the 34 DAVIS-2016 sequences (``benchmarks/corrections.py``), J&F
        after 3 corrections went from 0.838 to 0.841 (fold A 0.843 -> 0.850,
        B 0.832 unchanged): on bmx-bumps, where a bystander hides the rider
        and the third correction is an empty mask on frame 72, from 0.622 to
        0.736 (it was 0.664 after 2: the correction made it worse). No other
        sequence changed; on surf, whose frame 54 is empty, no collapse is found.
        A frame where that run's mask is empty counts as confidence 0
        (:meth:`_Run.holds`; on bmx-bumps the run from frame 45 loses the
        rider entirely on frame 71, with confidence 0.98 in that empty mask,
        which hid the step).

        Then (c48bd40) the smallest mask where the object shrank away, and
        nothing counted after the first frame the run holds nothing on:
        after 1 / 2 / 3 corrections 0.817 / 0.831 / 0.846 -> 0.818 / 0.833 /
        0.849 (A 0.847 -> 0.852, B 0.844 -> 0.847 after 3). On bmx-bumps
        0.675 -> 0.757: the run from frame 58 dropped the rider on frame 65,
        took a bystander's jacket with confidence 0.37 and was trusted to
        the empty frame 69 (J 0.00 on frames 60-68). On surf 0.879 / 0.854 /
        0.890 -> 0.903 / 0.920 / 0.937: the windsurfer sailing out is at
        his smallest on frame 53, and the step in the confidence had
        emptied frames 51-53 (J 0.71, 0.38, 0.03 from the run). No other
        sequence changed. The running minimum of the confidence instead
        (once lost, a rise is something else) gave bmx-bumps 0.744, surf
        the same, but an early dip hid any later step: given the rider on
        frames 0 and 45 and nothing on 72, the run from 45 (confidence 0.17
        on frame 46, 0.6 later) was trusted all the way again.

        Then the smallest mask since the run last held the object at full
        size, rather than its smallest of all. With the surroundings checked
        against the object's composed motions (b481f9f) the QA pointed the
        second correction of bmx-bumps at frame 64 (truth empty) rather than
        58: the run from frame 0 had its smallest mask on frame 44, where the
        rider dips behind a bump, so he was taken as gone from there, and
        frames 45-59, where he is in full view again, were emptied (J&F
        0.630 after one correction, 0.540 after the second, 0.552 after a
        third).
        """
        holds = np.array([found.holds(at) for at in range(1, span)])  # the frames between
        nothing = np.flatnonzero(holds == 0)
        held = int(nothing[0]) if nothing.size else len(holds)  # from the first it holds nothing on: something else
        areas = [np.count_nonzero(found.masks[at]) for at in range(1, held + 1)]
        full = COLLAPSE * np.count_nonzero(found.masks[0])
        last_full = max((at for at, area in enumerate(areas, 1) if area >= full), default=0)  # 0: the given frame
        if held == 0:  # nothing from the first frame between on
            kept = 0
        elif last_full < held:  # it shrank away after its last frame at full size: gone after its smallest since
            kept = last_full + int(np.argmin(areas[last_full:])) + 1
        else:
            holds[held:] = 0.0
            kept = _vanishing_point(holds)
        found.trusted = span if kept is None else kept
        empty.trusted = 0 if kept is None else span - 1 - kept

    def _run_from(self, forward_from: int | None, backward_from: int | None, progress: Progress | None) -> None:
        """Follow the mask given on `forward_from` to the next given frame and the one on `backward_from` back.

        Each run goes on to the given frame where it ends, and is checked there
        (:meth:`_Run.end_at`); None: no run that way.
        """
        runs = []  # (which runs, from where, the frames in order, the given frame where it ends or None)
        if forward_from is not None:
            stop = self._neighbours(forward_from)[1]
            frames = range(forward_from, len(self._frames) if stop is None else stop + 1)
            runs.append((self._forward, forward_from, frames, stop))
        if backward_from is not None:
            start = self._neighbours(backward_from)[0]
            frames = range(backward_from, -1 if start is None else start - 1, -1)
            runs.append((self._backward, backward_from, frames, start))
        total, done = sum(len(frames) for _, _, frames, _ in runs), itertools.count(1)
        for found, frame, frames, end in runs:
            run = _Run([], [], [])
            for mask, prob, confidence in self._follow([self._frames[t] for t in frames], self._given[frame],
                                                       exact=frame not in self._guessed):
                run.masks.append(mask)
                run.probs.append(prob)
                run.confidences.append(confidence)
                if progress is not None:
                    progress(next(done), total)
            if end is not None:
                run.end_at(len(run.masks) - 1, self._given[end])
            found[frame] = run
        self.frames_computed += total

    def _follow(self, frames: list[Image], mask: Mask, exact: bool) -> Iterator[tuple[Mask, np.ndarray, float]]:
        """Each frame's mask, stored probability and confidence, following `mask` over `frames` from the first."""
        if not mask.any():  # the object is not there (out of view, hidden): nothing to follow, nothing known
            nothing = _stored_prob(np.zeros(self._shape, np.float32))  # read only, so one array serves every frame
            for at in range(len(frames)):
                yield mask, nothing, 1.0 if at == 0 else 0.0  # it follows nothing: no weight beyond its frame
            return
        for result in self._pipeline.stream(frames, init_mask=mask, init_mask_exact=exact):
            confidence = 1.0 if result.quality is None else result.quality["confidence"]
            yield result.mask, _stored_prob(result.prob), confidence
