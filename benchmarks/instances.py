"""Video instance segmentation on composites of DAVIS-2016: per-object J&F, ID switches and IDF1.

Usage::

    python benchmarks/instances.py [--configs instances,objects,copy-first,components,tracker-on-truth]
                                   [--height 480]
                                   [--clips 5] [--frames 50] [--seed 0] [--scaling] [--people]
                                   [--data ../shared/data/davis2016]
                                   [--work DIR] [--out /tmp/flowseg-instances] [--record benchmarks/RESULTS.md]

The evaluation set
------------------
DAVIS-2016 marks one object per sequence, so a multi-object set with exact
ground truth is built by pasting: people cut out of the person sequences
(:data:`PERSON_SOURCES`) with their ground-truth masks, pasted onto the frames
of sequences without people (:data:`BACKGROUNDS`; their own object, a swan,
a camel, a cow or a dog, is part of the background and not in the ground
truth). The same ``--seed``, ``--height``, ``--frames`` and ``--clips`` give
the same set (it is cached in ``--work``, under a name that changes with them
and with this file).

- **Composite** ``i`` (``i = 0, 1, ...``): the first ``--frames`` frames
  (default :data:`CLIP_FRAMES`) of background ``BACKGROUNDS[i mod 4]``
  resized to ``--height`` (width keeping 854:480, even); 3 pasted people
  when ``i`` is even, 2 when it is odd, each from a different source
  sequence, chosen with the seed, as are the first source frame and a
  horizontal flip of each. Composite frame t holds source frame
  ``start + t`` of each person: they keep their real articulation.
- **Cut-outs**: the source mask is opened with a disc of radius
  :data:`CLEAN_RADIUS` px and only its largest connected component is kept
  (this drops kite-surf's kite lines; its board stays), then cropped to its
  box and scaled, one factor per person for the whole clip, so that the
  median box height is a fixed fraction of the frame height.
- **Depth and paths**: the people are pasted back to front in a fixed depth
  order; ground-truth label k (1, 2, ...) is the k-th from the back. Each
  person's mask centroid follows a straight path at mid-height. With 3
  people their heights go from :data:`FAR_HEIGHT` (back) to
  :data:`NEAR_HEIGHT` (front), the directions alternate, and person k
  passes the frame's centre at frame ``(k + 1) (T - 1) / 4``, covering
  :data:`TRAVEL` of the width over the clip: the middle one crosses the
  other two, in front of one and behind the other.
- **Full occlusion** (the 2-person composites): the front person
  (:data:`NEAR_HEIGHT`) crosses the centre at mid-clip; the back person
  walks the same way at :data:`SLOW` of that speed and is overtaken. Its
  path is solved for: at the largest height from :data:`FAR_HEIGHT` down to
  :data:`MIN_HIDDEN_HEIGHT` (steps of :data:`HEIGHT_STEP`) and the crossing
  frame nearest mid-clip for which the exact masks allow it, the back
  person is entirely inside the front one's silhouette for
  :data:`HIDDEN_FRAMES` frames in a row or more (checked on the rendered
  labels, which the report lists).
- **Pasting**: the cut-out is blended with its mask blurred by a Gaussian of
  :data:`FEATHER_SIGMA` px as alpha. The ground truth of frame t is an
  ``(H, W) uint8`` label map: object k's binary mask where no object in
  front of it covers it. Every person is visible in frame 0 (the
  semi-supervised mode is given frame 0's labels).

Frames are stored as JPEG (quality 95, like DAVIS) and labels as PNG.

Configurations
--------------
- ``instances``: semantic-target mode, ``Pipeline(target="person",
  instances=True).stream_two_pass(frames)`` as ``flowseg run`` runs it
  (offline: brief tracks dropped); ``result.labels`` is the prediction.
- ``components``: its baseline without tracking: the connected components
  (8-connected) of ``result.mask`` from ``Pipeline(target="person")``,
  numbered in raster order in every frame.
- ``tracker-on-truth``: the instance tracker alone
  (:class:`~flowseg.stages.InstanceTracker` on DIS flow) given the true
  union mask of the people: what tracking loses, apart from the person
  model's errors.
- ``objects``: semi-supervised multi-object mode,
  ``Pipeline(target="person").stream(frames, init_mask=labels0)`` with
  frame 0's ground-truth labels; ``result.labels`` keeps their numbers.
- ``copy-first``: its baseline: frame 0's ground-truth labels as the
  prediction of every frame.

- ``--people``: IDs per real person (:func:`run_people`): the instances
  configuration on the DAVIS-2016 sequences of one person alone
  (:data:`ONE_PERSON`), where an ID whose pixels lie mostly on the
  annotated person is one of that person's (:func:`ids_on_object`), and on
  the real clips of ``shared/data/videos`` (:data:`REAL_CLIPS`, people
  counted by eye), every ID shown.

- ``--scaling``: the cost of following more objects: semi-supervised mode
  on the composites with 3 people, given the first person only, the 3
  people, and each person cut at its median row into an upper and a lower
  object (6), in one fresh process (:func:`run_scaling`); fps of each.
  Each composite is run with 1, 3 and 6 objects in turn, so a slow spell
  of the machine weighs on every count alike: run one count after the
  other, the ratio of 6 objects to 1 came out anywhere from 0.43 to 0.58 on
  the same code (2-core Intel Xeon), in turn 0.505 and 0.510.

Everything not named is the library default (the ``balanced`` preset).
Each configuration runs in a fresh process with fixed seeds; the frames of
a composite are decoded before its timing starts.

Scoring
-------
- **Frames checked**: a prediction must be an ``(H, W)`` map of
  non-negative integers (uint16 expected). A frame that is not counts in
  ``bad frames`` and is scored as empty. A label map holds one ID per pixel,
  so predicted objects cannot overlap; ``bad frames`` must be 0.
- **Which prediction is which object**: in the semi-supervised mode, the
  predicted ID k is object k. In the semantic-target mode,
  :func:`match_tracks` pairs predicted IDs with objects one to one for the
  whole clip, maximising the per-frame IoU summed over all frames (the
  DAVIS-2017 unsupervised protocol pairs by J&F over frames; IoU here). An
  object left without an ID is scored against empty masks.
- **J, F, J&F** (DAVIS-2017, per object): J (region IoU) and F (boundary
  F-measure, tolerance 0.008 of the diagonal) from ``flowseg.metrics`` on
  the object's binary masks, over every frame except the first and the
  last; the object's J&F is the mean of its mean J and mean F. In a frame
  where the object is fully hidden, an empty prediction scores J = F = 1
  (``flowseg.metrics`` follows the DAVIS code: both masks empty), any
  predicted pixel J = F = 0. A composite's J, F and J&F are the means over
  its objects; the overall ones the means over all objects of all
  composites (each object weighs the same, as in DAVIS-2017).
- **Per-frame matches** (for the two ID measures, over all frames): a
  predicted ID matches an object in a frame when their masks' IoU is at
  least :data:`IOU_THRESHOLD`. A fully hidden object is not there to match;
  a predicted ID with no pixel is not a detection.
- **ID switches** (CLEAR-MOT, Bernardin and Stiefelhagen 2008): per frame,
  objects and IDs are paired one to one among the matches (highest IoU);
  an object's switch is counted each time the ID it is paired with differs
  from the last ID it was paired with, frames without a pair skipped. Two
  objects whose IDs are exchanged once count 1 switch each, 2 in all.
- **IDF1** (Ristani et al. 2016): objects and predicted IDs are paired one
  to one for the whole clip so as to maximise IDTP, the number of
  (frame, object) matches between paired ones; IDFN = object detections -
  IDTP, IDFP = predicted detections - IDTP, ``IDF1 = 2 IDTP / (2 IDTP +
  IDFP + IDFN)``; IDP = IDTP / predicted detections, IDR = IDTP / object
  detections. Overall values come from the counts summed over composites.
- **fps**: frames / seconds of ``Pipeline.stream`` and reading its labels
  (or labelling the components) over all composites; model loading and
  decoding excluded. Not given for ``copy-first``. **peak RSS MB**: the
  configuration process's ``VmHWM``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy import ndimage
from scipy.optimize import linear_sum_assignment
from scipy.signal import fftconvolve

from _common import (
    add_output_options,
    attempt,
    comma_choices,
    display_path,
    environment,
    fix_seeds,
    format_number,
    markdown_table,
    peak_rss_mb,
    publish,
    read_davis_sequence,
    shared_dir,
)
from flowseg import Pipeline
from flowseg.io import FrameSource
from flowseg.metrics import evaluate_sequence

# --------------------------------------------------------------------------
# the set's constants
# --------------------------------------------------------------------------
PERSON_SOURCES: tuple[str, ...] = ("breakdance", "parkour", "kite-surf")
"""DAVIS-2016 sequences whose ground-truth object is one person (targets.json: ``["person"]``).
Left out: soapbox (the mask holds the cart), bmx-trees and horsejump-high
(the bike, the horse)."""

BACKGROUNDS: tuple[str, ...] = ("blackswan", "camel", "cows", "dog")
"""DAVIS-2016 sequences without people used as backgrounds (car-roundabout and
drift-chicane have pedestrians and spectators in the distance)."""

CLIP_FRAMES = 50
"""Frames per composite by default (blackswan and kite-surf have 50)."""

NEAR_HEIGHT = 0.60
"""Box height of the front person, a fraction of the frame height (median over the clip)."""

FAR_HEIGHT = 0.45
"""Box height of the back person (3-person composites), and the largest tried for a hidden one."""

MIN_HIDDEN_HEIGHT = 0.20
"""The smallest box height tried for the person that gets fully hidden."""

HEIGHT_STEP = 0.025
"""Step between the heights tried for the hidden person."""

TRAVEL = 0.5
"""Fraction of the frame width a person's centroid crosses over the clip."""

SLOW = 0.25
"""Speed of the person that gets overtaken and hidden, relative to the one in front."""

HIDDEN_FRAMES = 3
"""Consecutive frames the hidden person must be fully covered."""

CLEAN_RADIUS = 2
"""Radius in source pixels of the opening that cleans a source mask (kite lines, specks)."""

FEATHER_SIGMA = 1.0
"""Standard deviation in pixels of the Gaussian that softens the pasted alpha."""

IOU_THRESHOLD = 0.5
"""A predicted ID matches an object in a frame when their IoU is at least this."""

DAVIS_SIZE = (854, 480)
"""Width and height of the DAVIS 480p frames; composites keep this aspect."""

INSTANCE_CONFIGS: tuple[str, ...] = ("instances", "components", "tracker-on-truth")
"""Semantic-target configurations: IDs are matched to objects by :func:`match_tracks`."""

OBJECT_CONFIGS: tuple[str, ...] = ("objects", "copy-first")
"""Semi-supervised configurations: predicted ID k is object k."""

CONFIGS: tuple[str, ...] = ("instances", "objects", "copy-first", "components", "tracker-on-truth")
"""Every configuration, in the default order."""

BASELINES: tuple[str, ...] = ("copy-first",)
"""Configurations that run no model (no fps)."""

OBJECT_COUNTS: tuple[int, ...] = (1, 3, 6)
"""Objects given in the cost measure (:func:`run_scaling`)."""

ONE_PERSON: tuple[str, ...] = ("breakdance", "dance-jump", "hockey", "kite-surf", "kite-walk", "parkour",
                               "rollerblade", "swing", "tennis")  # fmt: skip
"""DAVIS-2016 sequences whose annotated object is one person alone (of those whose target is ``person`` alone,
soapbox annotates two people and their cart, stroller a woman and a pram)."""

REAL_CLIPS: dict[str, int] = {"dog.mp4": 1, "juggle.mp4": 1}
"""The real clips of ``shared/data/videos`` and the people in each (a woman playing with a dog; a man juggling)."""

_FRAMES, _LABELS, _SPEC = "images", "labels", "clip.json"


def default_root() -> Path:
    """``$FLOWSEG_SHARED/data/davis2016``, else ``../shared/data/davis2016`` beside the repository."""
    return shared_dir() / "data" / "davis2016"


def default_work() -> Path:
    """The default cache of composites: ``flowseg-instances-set`` in the system's temporary folder."""
    return Path(tempfile.gettempdir()) / "flowseg-instances-set"


def frame_size(height: int) -> tuple[int, int]:
    """Composite size at a height: the DAVIS aspect, width rounded to an even number.

    Examples
    --------
    >>> frame_size(480), frame_size(240)
    ((854, 480), (428, 240))
    """
    width, full = DAVIS_SIZE
    return max(2, 2 * int(width * height / full / 2 + 0.5)), height


# --------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class _FrameTable:
    """Overlaps of one frame's predicted IDs with the objects (all `gt_ids`, present or not)."""

    pred_ids: np.ndarray  # (P,) the non-empty predicted IDs
    inter: np.ndarray  # (G, P) pixels shared by object g and ID p
    gt_area: np.ndarray  # (G,)
    pred_area: np.ndarray  # (P,)

    @property
    def iou(self) -> np.ndarray:
        union = self.gt_area[:, None] + self.pred_area[None, :] - self.inter
        return np.divide(self.inter, union, out=np.zeros(self.inter.shape), where=union > 0)


def _check_pair(pred_seq: Sequence[np.ndarray], gt_seq: Sequence[np.ndarray]) -> None:
    """Raise ValueError unless both are equally long lists of same-shape 2-D integer maps."""
    if len(pred_seq) != len(gt_seq) or len(gt_seq) == 0:
        raise ValueError(f"{len(pred_seq)} predicted and {len(gt_seq)} ground-truth frames; "
                         "expected the same number, at least one")  # fmt: skip
    for t, (pred, gt) in enumerate(zip(pred_seq, gt_seq)):
        for name, arr in (("prediction", pred), ("ground truth", gt)):
            if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
                raise ValueError(f"{name} of frame {t} is a {arr.dtype} array of shape {arr.shape}; "
                                 "expected an (H, W) integer label map")  # fmt: skip
        if pred.shape != gt.shape:
            raise ValueError(f"frame {t}: prediction {pred.shape} and ground truth {gt.shape} differ in shape")


def object_ids(gt_seq: Iterable[np.ndarray]) -> list[int]:
    """The object labels present in at least one frame of a ground-truth sequence.

    Parameters
    ----------
    gt_seq : iterable of (H, W) integer ndarray
        Label maps, 0 = background.

    Returns
    -------
    list of int
        Sorted, without 0.

    Examples
    --------
    >>> object_ids([np.array([[0, 2]]), np.array([[1, 0]])])
    [1, 2]
    """
    present: set[int] = set()
    for gt in gt_seq:
        present.update(int(k) for k in np.flatnonzero(np.bincount(gt.ravel())))
    return sorted(present - {0})


def _tables(pred_seq: Sequence[np.ndarray], gt_seq: Sequence[np.ndarray], gt_ids: Sequence[int]) -> list[_FrameTable]:
    """One :class:`_FrameTable` per frame."""
    _check_pair(pred_seq, gt_seq)
    tables = []
    for pred, gt in zip(pred_seq, gt_seq):
        p, g = pred.ravel(), gt.ravel()
        if p.size and p.min() < 0:
            raise ValueError("a prediction holds negative labels; expected 0 = background, IDs > 0")
        counts = np.bincount(p)
        pred_ids = np.flatnonzero(counts)
        pred_ids = pred_ids[pred_ids > 0]
        inter = np.zeros((len(gt_ids), len(pred_ids)), np.int64)
        gt_area = np.zeros(len(gt_ids), np.int64)
        for i, k in enumerate(gt_ids):
            inside = g == k
            gt_area[i] = np.count_nonzero(inside)
            if gt_area[i] and len(pred_ids):
                inter[i] = np.bincount(p[inside], minlength=counts.size)[pred_ids]
        tables.append(_FrameTable(pred_ids, inter, gt_area, counts[pred_ids]))
    return tables


def _pred_index(tables: Sequence[_FrameTable]) -> np.ndarray:
    """Every predicted ID of a clip, sorted."""
    ids = [t.pred_ids for t in tables if t.pred_ids.size]
    return np.unique(np.concatenate(ids)) if ids else np.zeros(0, np.int64)


def _accumulate(
    tables: Sequence[_FrameTable], n_gt: int, values: Callable[[_FrameTable], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Sum a per-frame (G, P) quantity over the clip into a (G, all IDs) matrix."""
    all_ids = _pred_index(tables)
    total = np.zeros((n_gt, all_ids.size))
    for table in tables:
        if table.pred_ids.size:
            total[:, np.searchsorted(all_ids, table.pred_ids)] += values(table)
    return all_ids, total


def _bijection(gain: np.ndarray, ids: np.ndarray, gt_ids: Sequence[int]) -> dict[int, int]:
    """The one-to-one pairing of rows (objects) and columns (IDs) maximising the summed gain, gain > 0 only."""
    if gain.size == 0:
        return {}
    rows, cols = linear_sum_assignment(gain, maximize=True)
    return {int(gt_ids[r]): int(ids[c]) for r, c in zip(rows, cols) if gain[r, c] > 0}


def match_tracks(pred_seq: Sequence[np.ndarray], gt_seq: Sequence[np.ndarray]) -> dict[int, int]:
    """Pair predicted track IDs with ground-truth objects for a whole clip.

    The one-to-one assignment (:func:`scipy.optimize.linear_sum_assignment`)
    that maximises the per-frame IoU of each object's mask with its ID's
    mask, summed over all frames, as the DAVIS-2017 unsupervised
    evaluation pairs proposals with objects (it sums J&F; IoU here).

    Parameters
    ----------
    pred_seq : sequence of (H, W) integer ndarray
        Predicted label maps, one per frame: 0 = background, any positive
        integer = a track ID (arbitrary, stable over time).
    gt_seq : sequence of (H, W) integer ndarray
        Ground-truth label maps, same count and shape: 0 = background,
        k > 0 = object k.

    Returns
    -------
    dict of int to int
        Object label -> predicted ID. An object whose best available ID
        never overlaps it (summed IoU 0), or for which no ID is left, is
        absent.

    Raises
    ------
    ValueError
        If the sequences differ in length or are empty, or a map is not a
        2-D integer array, or shapes differ.

    Notes
    -----
    A frame where the object and the ID are both empty adds 0 (not the J = 1
    of the DAVIS scores), so frames without either do not favour a pair.

    Examples
    --------
    >>> gt = [np.array([[1, 1, 2, 2]])] * 3
    >>> pred = [np.array([[7, 7, 5, 5]])] * 3
    >>> match_tracks(pred, gt)
    {1: 7, 2: 5}
    """
    gt_ids = object_ids(gt_seq)
    tables = _tables(pred_seq, gt_seq, gt_ids)
    ids, total = _accumulate(tables, len(gt_ids), lambda t: t.iou)
    return _bijection(total, ids, gt_ids)


def object_scores(
    pred_seq: Sequence[np.ndarray], gt_seq: Sequence[np.ndarray], mapping: Mapping[int, int]
) -> dict[int, dict[str, float]]:
    """DAVIS-2017 J, F and J&F of every ground-truth object under a pairing of IDs with objects.

    Parameters
    ----------
    pred_seq : sequence of (H, W) integer ndarray
        Predicted label maps, one per frame (0 = background).
    gt_seq : sequence of (H, W) integer ndarray
        Ground-truth label maps, same count and shape (0 = background,
        k = object k).
    mapping : mapping of int to int
        Object label -> predicted ID (:func:`match_tracks`, or the identity
        when IDs are given). An object not in it is scored against empty
        masks.

    Returns
    -------
    dict of int to dict
        Per object: ``"J"`` and ``"F"`` (means over the frames scored),
        ``"JF"`` = their mean, ``"frames"`` scored, ``"hidden"`` (frames of
        the whole clip in which the object has no pixel).

    Notes
    -----
    :func:`flowseg.metrics.evaluate_sequence` scores the binary masks ``pred
    == id`` and ``gt == k``, leaving out the first and the last frame
    (every frame in clips shorter than 3). In a frame where the object is
    hidden, an empty prediction has J = F = 1 and any other J = F = 0.

    Examples
    --------
    >>> gt = [np.array([[1, 1, 0, 2]])] * 3
    >>> scores = object_scores(gt, gt, {1: 1})   # object 2 got no ID
    >>> scores[1]["JF"], scores[2]["JF"]
    (1.0, 0.0)
    """
    _check_pair(pred_seq, gt_seq)
    scores: dict[int, dict[str, float]] = {}
    for k in object_ids(gt_seq):
        target = mapping.get(k)
        preds = (pred == target if target is not None else np.zeros(pred.shape, bool) for pred in pred_seq)
        result = evaluate_sequence(preds, (gt == k for gt in gt_seq))
        scores[k] = {"J": result["J_mean"], "F": result["F_mean"], "JF": result["JF_mean"],
                     "frames": result["frames"], "hidden": sum(1 for gt in gt_seq if not np.any(gt == k))}  # fmt: skip
    return scores


def frame_matches(pred: np.ndarray, gt: np.ndarray, threshold: float = IOU_THRESHOLD) -> dict[int, int]:
    """One frame's one-to-one pairs of objects and predicted IDs whose masks overlap enough.

    Parameters
    ----------
    pred : (H, W) integer ndarray
        Predicted label map (0 = background).
    gt : (H, W) integer ndarray
        Ground-truth label map, same shape.
    threshold : float
        Smallest IoU of a pair.

    Returns
    -------
    dict of int to int
        Object label -> predicted ID, among pairs with IoU >= `threshold`,
        the assignment of largest summed IoU. With disjoint masks and a
        threshold of 0.5 or more, each object has at most one candidate
        (ties at exactly 0.5 aside).

    Examples
    --------
    >>> frame_matches(np.array([[3, 3, 0, 0, 4]]), np.array([[1, 1, 2, 2, 2]]))   # 2 and 4: IoU 1/3
    {1: 3}
    """
    gt_ids = object_ids([gt])
    return _frame_pairs(_tables([pred], [gt], gt_ids)[0], gt_ids, threshold)


def _frame_pairs(table: _FrameTable, gt_ids: Sequence[int], threshold: float) -> dict[int, int]:
    iou = table.iou
    gain = np.where(iou >= threshold, iou, 0.0)
    return _bijection(gain, table.pred_ids, gt_ids)


def id_switches(
    pred_seq: Sequence[np.ndarray], gt_seq: Sequence[np.ndarray], threshold: float = IOU_THRESHOLD
) -> dict[int, int]:
    """CLEAR-MOT identity switches of every ground-truth object.

    Parameters
    ----------
    pred_seq : sequence of (H, W) integer ndarray
        Predicted label maps, one per frame (0 = background, IDs > 0).
    gt_seq : sequence of (H, W) integer ndarray
        Ground-truth label maps, same count and shape.
    threshold : float
        IoU that makes a per-frame match (:func:`frame_matches`).

    Returns
    -------
    dict of int to int
        Object label -> switches: the number of frames in which the object
        is paired with another ID than the one it was last paired with.
        Frames where it has no pair (hidden, missed) are skipped, so an ID
        that comes back after a gap is no switch, and another ID after a
        gap is one.

    Examples
    --------
    IDs exchanged once: one switch for each object.

    >>> gt = [np.array([[1, 1, 2, 2]])] * 4
    >>> pred = gt[:2] + [np.array([[2, 2, 1, 1]])] * 2
    >>> id_switches(pred, gt)
    {1: 1, 2: 1}
    """
    gt_ids = object_ids(gt_seq)
    last: dict[int, int] = {}
    switches = {k: 0 for k in gt_ids}
    for table in _tables(pred_seq, gt_seq, gt_ids):
        for k, p in _frame_pairs(table, gt_ids, threshold).items():
            if k in last and last[k] != p:
                switches[k] += 1
            last[k] = p
    return switches


def identity_scores(
    pred_seq: Sequence[np.ndarray], gt_seq: Sequence[np.ndarray], threshold: float = IOU_THRESHOLD
) -> dict[str, float]:
    """IDF1, IDP and IDR (Ristani et al. 2016) of a predicted label sequence.

    Parameters
    ----------
    pred_seq, gt_seq, threshold
        As for :func:`id_switches`.

    Returns
    -------
    dict
        ``"idtp"``: matched (frame, object) detections under the one-to-one
        pairing of objects with IDs for the whole clip that maximises them;
        ``"idfn"`` = ``"gt_detections"`` (frames x objects with pixels) -
        idtp; ``"idfp"`` = ``"pred_detections"`` (frames x non-empty IDs) -
        idtp; ``"idf1"`` = 2 idtp / (2 idtp + idfp + idfn); ``"idp"`` =
        idtp / pred_detections; ``"idr"`` = idtp / gt_detections (NaN where
        there is nothing to divide by).

    References
    ----------
    E. Ristani, F. Solera, R. Zou, R. Cucchiara and C. Tomasi, "Performance
    Measures and a Data Set for Multi-Target, Multi-Camera Tracking", ECCV
    2016 workshops. :doi:`10.1007/978-3-319-48881-3_2`

    Examples
    --------
    IDs exchanged halfway: half the detections are identity-true.

    >>> gt = [np.array([[1, 1, 2, 2]])] * 4
    >>> pred = gt[:2] + [np.array([[2, 2, 1, 1]])] * 2
    >>> identity_scores(pred, gt)["idf1"]
    0.5
    """
    gt_ids = object_ids(gt_seq)
    tables = _tables(pred_seq, gt_seq, gt_ids)
    ids, matches = _accumulate(tables, len(gt_ids), lambda t: (t.iou >= threshold).astype(float))
    pairs = _bijection(matches, ids, gt_ids)
    rows = {k: i for i, k in enumerate(gt_ids)}
    idtp = int(sum(matches[rows[k], np.searchsorted(ids, p)] for k, p in pairs.items()))
    gt_det = int(sum(np.count_nonzero(t.gt_area) for t in tables))
    pred_det = int(sum(t.pred_ids.size for t in tables))
    return identity_counts(idtp, gt_det, pred_det)


def identity_counts(idtp: int, gt_detections: int, pred_detections: int) -> dict[str, float]:
    """IDTP, IDFP, IDFN, IDF1, IDP and IDR from the three counts (see :func:`identity_scores`).

    Examples
    --------
    >>> identity_counts(4, 8, 4)["idf1"]   # one of two objects found all along
    0.6666666666666666
    """

    def ratio(a: float, b: float) -> float:
        return a / b if b else float("nan")

    return {"idtp": idtp, "idfp": pred_detections - idtp, "idfn": gt_detections - idtp,
            "gt_detections": gt_detections, "pred_detections": pred_detections,
            "idf1": ratio(2 * idtp, gt_detections + pred_detections),
            "idp": ratio(idtp, pred_detections), "idr": ratio(idtp, gt_detections)}  # fmt: skip


def label_problem(labels: Any, shape: tuple[int, int]) -> str | None:
    """Why a predicted label map cannot be scored as it is, or None.

    Parameters
    ----------
    labels : object
        What the tracker gave for one frame (``Result.labels``).
    shape : (int, int)
        ``(H, W)`` of the frame.

    Returns
    -------
    str or None
        None for an ``(H, W)`` array of non-negative integers (one ID per
        pixel: masks of different IDs cannot overlap); else the problem.

    Examples
    --------
    >>> label_problem(np.zeros((2, 3), np.uint16), (2, 3)) is None
    True
    >>> label_problem(np.zeros((2, 3), np.float32), (2, 3))
    'dtype float32, expected an integer type'
    """
    if not isinstance(labels, np.ndarray):
        return f"a {type(labels).__name__}, expected an ndarray"
    if labels.shape != tuple(shape):
        return f"shape {labels.shape}, expected {tuple(shape)}"
    if not np.issubdtype(labels.dtype, np.integer):
        return f"dtype {labels.dtype}, expected an integer type"
    if labels.size and labels.min() < 0:
        return "negative labels"
    return None


def score_clip(
    pred_seq: Sequence[np.ndarray], gt_seq: Sequence[np.ndarray], *, given_ids: bool
) -> dict[str, Any]:
    """Every score of one clip: per-object J, F, J&F, switches; the clip's means and identity counts.

    Parameters
    ----------
    pred_seq : sequence of (H, W) integer ndarray
        Predicted label maps, one per frame.
    gt_seq : sequence of (H, W) integer ndarray
        Ground-truth label maps.
    given_ids : bool
        True for the semi-supervised mode (predicted ID k is object k);
        False to pair IDs with objects by :func:`match_tracks`.

    Returns
    -------
    dict
        ``"objects"``: per object label (str): ``"id"`` (its predicted ID or
        None), ``"J"``, ``"F"``, ``"JF"``, ``"switches"``, ``"hidden"``;
        ``"J"``, ``"F"``, ``"JF"``: means over the objects; ``"switches"``:
        their sum; ``"ids"``: how many IDs it shows; and the
        :func:`identity_scores` entries.
    """
    gt_ids = object_ids(gt_seq)
    mapping = {k: k for k in gt_ids} if given_ids else match_tracks(pred_seq, gt_seq)
    scores = object_scores(pred_seq, gt_seq, mapping)
    switches = id_switches(pred_seq, gt_seq)
    objects = {str(k): {"id": mapping.get(k), **scores[k], "switches": switches[k]} for k in gt_ids}
    return {
        "objects": objects,
        **{m: float(np.mean([scores[k][m] for k in gt_ids])) for m in ("J", "F", "JF")},
        "switches": int(sum(switches.values())),
        "ids": len(shown_ids(pred_seq)),
        **identity_scores(pred_seq, gt_seq),
    }


def shown_ids(pred_seq: Iterable[np.ndarray]) -> set[int]:
    """The IDs a prediction shows on any frame (non-zero labels)."""
    return {int(v) for labels in pred_seq for v in np.unique(labels) if v}


# --------------------------------------------------------------------------
# the composites
# --------------------------------------------------------------------------
@dataclass
class Cutout:
    """One person's frames at their pasted size, padded for the feathered edge.

    ``rgb[t]`` is ``(h, w, 3) uint8``, ``mask[t]`` ``(h, w) bool`` (the
    ground truth), ``alpha[t]`` ``(h, w) float32`` in [0, 1];
    ``centroid[t]`` is the mask's centroid ``(y, x)`` in those arrays.
    """

    rgb: list[np.ndarray]
    mask: list[np.ndarray]
    alpha: list[np.ndarray]
    centroid: list[np.ndarray]


@dataclass(frozen=True)
class Placement:
    """A cut-out along its path: ``centres[t]`` is where its mask centroid goes, ``(y, x)`` pixels."""

    cutout: Cutout
    centres: np.ndarray  # (T, 2)

    def origin(self, t: int) -> tuple[int, int]:
        """Top-left corner of frame t's padded cut-out in the composite."""
        y, x = np.round(self.centres[t] - self.cutout.centroid[t]).astype(int)
        return int(y), int(x)


@dataclass
class Composite:
    """A composite clip: RGB ``frames`` ``(H, W, 3) uint8``, ``labels`` ``(H, W) uint8`` and its ``spec``.

    ``placements`` (back to front) are kept by :func:`build_clip` only, not
    by :func:`read_clip`.
    """

    frames: list[np.ndarray]
    labels: list[np.ndarray]
    spec: dict[str, Any]
    placements: list[Placement] = field(default_factory=list)


def clean_mask(mask: np.ndarray, radius: int = CLEAN_RADIUS) -> np.ndarray:
    """A source mask opened with a disc of `radius` px, reduced to its largest connected component.

    Parameters
    ----------
    mask : (H, W) bool ndarray
    radius : int

    Returns
    -------
    (H, W) bool ndarray
        Falls back to the unopened mask's largest component when the
        opening leaves nothing.

    Raises
    ------
    ValueError
        For an empty mask.
    """
    m = mask.astype(np.uint8)
    if radius > 0:
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
        opened = cv2.morphologyEx(m, cv2.MORPH_OPEN, disc)
        m = opened if opened.any() else m
    if not m.any():
        raise ValueError("empty source mask: every source frame must show its object")
    count, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def cut_out(images: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each frame's object cropped to its box: ``(rgb, mask)`` pairs at the source's size, masks cleaned."""
    cuts = []
    for image, mask in zip(images, masks):
        clean = clean_mask(mask)
        ys, xs = np.nonzero(clean)
        box = slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1)
        cuts.append((image[box], clean[box]))
    return cuts


def scale_cutout(cuts: Sequence[tuple[np.ndarray, np.ndarray]], height: float, *, flip: bool = False) -> Cutout:
    """Scale cut-outs so that their median box height is `height` px (one factor for all frames).

    Parameters
    ----------
    cuts : sequence of (rgb, mask)
        From :func:`cut_out`.
    height : float
        Wanted median box height in pixels.
    flip : bool
        Mirror left-right.

    Returns
    -------
    Cutout
        Padded by ``ceil(3 * FEATHER_SIGMA)`` px (edge pixels repeated) so
        the alpha's soft edge fits.
    """
    factor = height / float(np.median([mask.shape[0] for _, mask in cuts]))
    pad = int(np.ceil(3 * FEATHER_SIGMA))
    out = Cutout([], [], [], [])
    for rgb, mask in cuts:
        size = (max(1, round(mask.shape[1] * factor)), max(1, round(mask.shape[0] * factor)))
        interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
        rgb = cv2.resize(rgb, size, interpolation=interpolation)
        small = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_LINEAR) >= 0.5
        if not small.any():  # a sliver scaled away: keep its middle pixel
            small[small.shape[0] // 2, small.shape[1] // 2] = True
        if flip:
            rgb, small = rgb[:, ::-1], small[:, ::-1]
        rgb = cv2.copyMakeBorder(np.ascontiguousarray(rgb), pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        small = np.pad(small, pad)
        alpha = small.astype(np.float32)
        if FEATHER_SIGMA > 0:
            alpha = cv2.GaussianBlur(alpha, (0, 0), FEATHER_SIGMA)
        ys, xs = np.nonzero(small)
        out.rgb.append(rgb)
        out.mask.append(small)
        out.alpha.append(alpha)
        out.centroid.append(np.array([ys.mean(), xs.mean()]))
    return out


def _window(
    origin: tuple[int, int], shape: tuple[int, ...], size: tuple[int, int]
) -> tuple[tuple[slice, slice], tuple[slice, slice]] | None:
    """Slices of the frame and of a patch at `origin` where they overlap, or None."""
    (y, x), (h, w), (fh, fw) = origin, shape[:2], size
    y0, x0, y1, x1 = max(y, 0), max(x, 0), min(y + h, fh), min(x + w, fw)
    if y0 >= y1 or x0 >= x1:
        return None
    return (slice(y0, y1), slice(x0, x1)), (slice(y0 - y, y1 - y), slice(x0 - x, x1 - x))


def render(
    background: Sequence[np.ndarray], placements: Sequence[Placement]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Paste the placements, back to front, onto the background frames.

    Parameters
    ----------
    background : sequence of (H, W, 3) uint8 ndarray
        One frame per composite frame.
    placements : sequence of Placement
        Back to front; the k-th gets label k + 1.

    Yields
    ------
    frame : (H, W, 3) uint8 ndarray
        The composite.
    labels : (H, W) uint8 ndarray
        0 = background, k + 1 = the k-th placement's mask where none in
        front of it covers it.
    """
    for t, image in enumerate(background):
        frame = image.astype(np.float32)
        labels = np.zeros(image.shape[:2], np.uint8)
        for k, place in enumerate(placements):
            cut = place.cutout
            window = _window(place.origin(t), cut.mask[t].shape, labels.shape)
            if window is None:
                continue
            dst, src = window
            alpha = cut.alpha[t][src][..., None]
            frame[dst] = frame[dst] * (1 - alpha) + cut.rgb[t][src] * alpha
            labels[dst][cut.mask[t][src]] = k + 1
        yield np.clip(frame + 0.5, 0, 255).astype(np.uint8), labels


def _straight(start: np.ndarray, velocity: np.ndarray, t0: float, frames: int) -> np.ndarray:
    """(frames, 2) points ``start + (t - t0) velocity``."""
    return start[None, :] + (np.arange(frames)[:, None] - t0) * velocity[None, :]


def _containment(front: np.ndarray, back: np.ndarray) -> np.ndarray:
    """Offsets (dy, dx) of `back`'s top-left from `front`'s at which every back pixel lies on a front pixel."""
    if back.shape[0] > front.shape[0] or back.shape[1] > front.shape[1]:
        return np.zeros((0, 0), bool)
    outside = fftconvolve((~front).astype(np.float32), back[::-1, ::-1].astype(np.float32), mode="valid")
    return outside < 0.5


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return ys.min(), ys.max() + 1, xs.min(), xs.max() + 1


def hide_behind(front: Placement, back: Cutout, velocity: np.ndarray, centre: int) -> np.ndarray | None:
    """Where the back person must be at frame `centre` to be inside the front one's silhouette around it.

    Parameters
    ----------
    front : Placement
        The person in front, on its path.
    back : Cutout
        The person behind.
    velocity : (2,) ndarray
        The back person's velocity ``(dy, dx)`` in px per frame.
    centre : int
        The frame around which it is hidden: frames ``centre - (HIDDEN_FRAMES - 1) // 2``
        onwards, :data:`HIDDEN_FRAMES` of them.

    Returns
    -------
    (2,) ndarray or None
        The back person's centroid position ``(y, x)`` at `centre`, chosen
        at least 2 px inside the set of positions that hide it in every
        frame of the window (pixel rounding moves it by 1 at most); None
        when there is none.
    """
    frames = range(centre - (HIDDEN_FRAMES - 1) // 2, centre - (HIDDEN_FRAMES - 1) // 2 + HIDDEN_FRAMES)
    if frames.start < 0 or frames.stop > len(back.mask):
        return None
    front_velocity = front.centres[1] - front.centres[0] if len(front.centres) > 1 else np.zeros(2)
    relative = velocity - front_velocity
    sets, shifts = [], []
    for t in frames:
        fy0, fy1, fx0, fx1 = _box(front.cutout.mask[t])
        by0, by1, bx0, bx1 = _box(back.mask[t])
        inside = _containment(front.cutout.mask[t][fy0:fy1, fx0:fx1], back.mask[t][by0:by1, bx0:bx1])
        if not inside.any():
            return None
        # inside[i, j]: back box at front box + (i, j); as the centroid offset D at `centre`:
        # D = (i, j) + front box corner - back box corner + back centroid - front centroid - (t - centre) * relative
        shift = (np.array([fy0 - by0, fx0 - bx0]) + back.centroid[t] - front.cutout.centroid[t]
                 - (t - centre) * relative)  # fmt: skip
        sets.append(inside)
        shifts.append(np.round(shift).astype(int))
    low = np.min(shifts, axis=0)
    high = np.max([s + np.array(a.shape) for s, a in zip(shifts, sets)], axis=0)
    count = np.zeros(high - low, np.int32)
    for inside, shift in zip(sets, shifts):
        y, x = shift - low
        count[y : y + inside.shape[0], x : x + inside.shape[1]] += inside
    common = np.pad(count == len(sets), 1)
    depth = ndimage.distance_transform_cdt(common, metric="chessboard")
    if depth.max() < 2:
        return None
    i, j = np.unravel_index(int(np.argmax(depth)), depth.shape)
    offset = np.array([i, j]) - 1 + low
    return front.centres[centre] + offset


def _hidden_runs(labels: Sequence[np.ndarray], label: int) -> int:
    """Longest run of consecutive frames in which `label` has no pixel."""
    best = run = 0
    for lab in labels:
        run = 0 if np.any(lab == label) else run + 1
        best = max(best, run)
    return best


@dataclass(frozen=True)
class Source:
    """Where a clip's frames come from: a DAVIS-layout folder and the sequences to use."""

    root: Path
    backgrounds: tuple[str, ...] = BACKGROUNDS
    people: tuple[str, ...] = PERSON_SOURCES

    def files(self, sequence: str) -> list[Path]:
        return sorted((self.root / "JPEGImages" / "480p" / sequence).glob("*.jpg"))

    def read(self, sequence: str, start: int, count: int, masks: bool = False) -> list[np.ndarray]:
        files = self.files(sequence)[start : start + count]
        if len(files) < count:
            raise ValueError(f"{sequence}: fewer than {start + count} frames in {self.root}")
        if masks:
            folder = self.root / "Annotations" / "480p" / sequence
            return [cv2.imread(str(folder / f"{f.stem}.png"), cv2.IMREAD_GRAYSCALE) > 0 for f in files]
        return [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files]


def build_clip(source: Source, index: int, *, seed: int = 0, height: int = 480, frames: int = CLIP_FRAMES) -> Composite:
    """Build composite `index` of the set (see the module docstring).

    Parameters
    ----------
    source : Source
        The DAVIS folder and the background and person sequences.
    index : int
        Composite number: 3 people when even, 2 (one of them hidden for a
        while) when odd.
    seed : int
        Chooses the people, their first frames, flips and directions;
        composite `index` does not depend on how many are built.
    height : int
        Frame height; the width keeps the DAVIS aspect.
    frames : int
        Frames per composite.

    Returns
    -------
    Composite
        Its frames, labels and ``spec``: background, the people back to
        front (label, source, start, flip, height fraction, path of the
        centroid at the first and last frame as fractions of (x, y) of the
        frame size), ``hidden`` (label -> frames with no visible pixel) and
        ``occluded`` (label -> frames with less than half its pixels
        visible).

    Raises
    ------
    ValueError
        When a sequence is too short, there are fewer person sequences
        than people, or the design cannot be met (no height hides the back
        person, a person invisible in frame 0).
    """
    rng = np.random.default_rng([seed, index])
    width, _ = size = frame_size(height)
    hiding = index % 2 == 1
    n = 2 if hiding else 3
    if len(source.people) < n:
        raise ValueError(f"{n} people need {n} person sequences; got {len(source.people)}")
    background_name = source.backgrounds[index % len(source.backgrounds)]
    background = [cv2.resize(im, size, interpolation=cv2.INTER_AREA) for im in source.read(background_name, 0, frames)]
    names = [str(name) for name in rng.permutation(source.people)[:n]]
    short = [name for name in (background_name, *names) if len(source.files(name)) < frames]
    if short:
        raise ValueError(f"fewer than {frames} frames in {', '.join(short)} ({source.root})")
    starts = [int(rng.integers(0, len(source.files(name)) - frames + 1)) for name in names]
    flips = [bool(f) for f in rng.random(n) < 0.5]
    direction = 1.0 if rng.random() < 0.5 else -1.0
    cuts = [cut_out(source.read(name, start, frames), source.read(name, start, frames, masks=True))
            for name, start in zip(names, starts)]  # fmt: skip
    speed = TRAVEL * width / max(frames - 1, 1)  # px per frame
    middle = (frames - 1) / 2
    mid_y = height / 2
    heights: list[float]
    if not hiding:
        heights = list(np.linspace(FAR_HEIGHT, NEAR_HEIGHT, n))
        placements = []
        for k in range(n):
            sign = direction * (1 if k % 2 == 0 else -1)
            crossing = (frames - 1) * (k + 1) / (n + 1)
            centres = _straight(np.array([mid_y, width / 2]), np.array([0.0, sign * speed]), crossing, frames)
            placements.append(Placement(scale_cutout(cuts[k], heights[k] * height, flip=flips[k]), centres))
        labels = [lab for _, lab in render(background, placements)]
    else:
        front_centres = _straight(np.array([mid_y, width / 2]), np.array([0.0, direction * speed]), middle, frames)
        front = Placement(scale_cutout(cuts[1], NEAR_HEIGHT * height, flip=flips[1]), front_centres)
        velocity = np.array([0.0, direction * speed * SLOW])
        candidates = sorted(range(frames // 4, frames - frames // 4), key=lambda t: (abs(t - middle), t))
        steps = int(round((FAR_HEIGHT - MIN_HIDDEN_HEIGHT) / HEIGHT_STEP))
        found = None
        for fraction in np.linspace(FAR_HEIGHT, FAR_HEIGHT - steps * HEIGHT_STEP, steps + 1):
            back = scale_cutout(cuts[0], fraction * height, flip=flips[0])
            for centre in candidates:
                position = hide_behind(front, back, velocity, centre)
                if position is None:
                    continue
                placements = [Placement(back, _straight(position, velocity, centre, frames)), front]
                labels = [lab for _, lab in render(background, placements)]
                if _hidden_runs(labels, 1) >= HIDDEN_FRAMES and np.any(labels[0] == 1):
                    found = float(fraction)
                    break
            if found is not None:
                break
        if found is None:
            raise ValueError(f"composite {index}: {names[0]} cannot be hidden behind {names[1]} at any height "
                             f"from {FAR_HEIGHT} to {MIN_HIDDEN_HEIGHT} of the frame")  # fmt: skip
        heights = [found, NEAR_HEIGHT]
    rendered = list(render(background, placements))
    labels = [lab for _, lab in rendered]
    missing = [k + 1 for k in range(n) if not np.any(labels[0] == k + 1)]
    if missing:
        raise ValueError(f"composite {index}: object(s) {missing} not visible in frame 0")
    full = [[np.count_nonzero(place.cutout.mask[t]) for t in range(frames)] for place in placements]
    spec = {
        "name": f"c{index:02d}-{background_name}",
        "index": index,
        "background": background_name,
        "frames": frames,
        "size": list(size),
        "objects": [
            {"label": k + 1, "source": names[k], "start": starts[k], "flip": flips[k],
             "height": round(float(heights[k]), 4),
             "path": [[round(float(p[1] / width), 4), round(float(p[0] / height), 4)]
                      for p in (placements[k].centres[0], placements[k].centres[-1])]}
            for k in range(n)
        ],  # fmt: skip
        "hidden": {str(k + 1): [t for t in range(frames) if not np.any(labels[t] == k + 1)] for k in range(n)},
        "occluded": {str(k + 1): [t for t in range(frames) if np.count_nonzero(labels[t] == k + 1) < 0.5 * full[k][t]]
                     for k in range(n)},  # fmt: skip
    }
    return Composite([frame for frame, _ in rendered], labels, spec, list(placements))


def set_key(source: Source, *, seed: int, height: int, frames: int) -> str:
    """Name of a cached set: changes with the parameters, the data folder and this file's code."""
    code = Path(__file__).read_bytes()
    params = json.dumps([str(source.root.resolve()), source.backgrounds, source.people, seed, height, frames])
    return f"s{seed}-h{height}-f{frames}-" + hashlib.sha1(code + params.encode()).hexdigest()[:10]


def prepare_set(source: Source, work: Path, *, clips: int, seed: int = 0, height: int = 480,
                frames: int = CLIP_FRAMES, log: Callable[[str], None] | None = None) -> list[Path]:  # fmt: skip
    """Build the composites, or find them already built, under `work`.

    Parameters
    ----------
    source : Source
    work : Path
        Cache folder; the set goes to ``<work>/<set_key>/<name>/`` with
        ``images/00000.jpg ...``, ``labels/00000.png ...`` and ``clip.json``
        (the spec, written last: a folder without it is built again).
    clips : int
        Composites 0 .. clips - 1.
    seed, height, frames
        As :func:`build_clip`.
    log : callable, optional
        Told about each composite.

    Returns
    -------
    list of Path
        One folder per composite, in order.
    """
    base = work / set_key(source, seed=seed, height=height, frames=frames)
    folders = []
    for index in range(clips):
        done = sorted(base.glob(f"c{index:02d}-*/{_SPEC}"))
        if done:
            folders.append(done[0].parent)
            continue
        clip = build_clip(source, index, seed=seed, height=height, frames=frames)
        folder = base / clip.spec["name"]
        (folder / _FRAMES).mkdir(parents=True, exist_ok=True)
        (folder / _LABELS).mkdir(parents=True, exist_ok=True)
        for t, (frame, labels) in enumerate(zip(clip.frames, clip.labels)):
            cv2.imwrite(str(folder / _FRAMES / f"{t:05d}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, 95])  # fmt: skip
            cv2.imwrite(str(folder / _LABELS / f"{t:05d}.png"), labels)
        (folder / _SPEC).write_text(json.dumps(clip.spec, indent=1) + "\n", encoding="utf-8")
        if log is not None:
            log(f"built {clip.spec['name']}")
        folders.append(folder)
    return folders


def read_clip(folder: Path) -> Composite:
    """A composite written by :func:`prepare_set`: frames (RGB), labels and spec."""
    spec = json.loads((Path(folder) / _SPEC).read_text(encoding="utf-8"))
    files = sorted((Path(folder) / _FRAMES).glob("*.jpg"))
    frames = [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files]
    labels = [cv2.imread(str(f), cv2.IMREAD_UNCHANGED) for f in sorted((Path(folder) / _LABELS).glob("*.png"))]
    return Composite(frames, labels, spec)


# --------------------------------------------------------------------------
# running the configurations
# --------------------------------------------------------------------------
Tracker = Callable[[Composite], Iterator[Any]]
"""Gives one label map per frame of a composite (it may read only its frames and frame 0's labels)."""


def _tracker_on_truth(clip: Composite) -> Iterator[np.ndarray]:
    """The instance tracker alone: DIS flow and the true union mask of the people, no person model."""
    from flowseg.stages import FlowEstimator, InstanceTracker
    from flowseg.types import Frame

    flow, tracker = FlowEstimator(), InstanceTracker()
    for index, (image, truth) in enumerate(zip(clip.frames, clip.labels)):
        data = {**flow.process(Frame(index, image)), "mask": truth > 0}
        yield tracker.process(Frame(index, image, data))["labels"]


def make_tracker(config: str) -> tuple[Tracker, Pipeline | None]:
    """The tracker of a configuration, and the pipeline it runs (None for ``copy-first``).

    The pipeline is built here, so its model loads before any timing.
    """
    if config == "copy-first":
        return (lambda clip: (clip.labels[0].copy() for _ in clip.frames)), None
    if config == "instances":
        pipeline = Pipeline(target="person", instances=True)
        return (lambda clip: (r.labels for r in pipeline.stream_two_pass(clip.frames))), pipeline
    if config == "objects":
        pipeline = Pipeline(target="person")
        return (lambda clip: (r.labels for r in pipeline.stream(clip.frames, init_mask=clip.labels[0]))), pipeline
    if config == "tracker-on-truth":
        return _tracker_on_truth, None
    if config == "components":
        pipeline = Pipeline(target="person")
        eight = np.ones((3, 3), bool)
        return (lambda clip: (ndimage.label(r.mask, structure=eight)[0].astype(np.uint16)
                              for r in pipeline.stream(clip.frames))), pipeline  # fmt: skip
    raise ValueError(f"unknown configuration {config!r}; expected one of {', '.join(CONFIGS)}")


def run_config(config: str, folders: Sequence[str], tracker: Tracker | None = None) -> dict[str, Any]:
    """Run and score one configuration on the composites; meant for a fresh process (:func:`_common.attempt`).

    Parameters
    ----------
    config : str
        One of :data:`CONFIGS`; decides how IDs are paired with objects.
    folders : sequence of str
        Composite folders from :func:`prepare_set`.
    tracker : callable, optional
        Replaces the configuration's own (for tests).

    Returns
    -------
    dict
        ``"clips"``: per composite name, :func:`score_clip`'s result plus
        ``"frames"``, ``"seconds"`` (of the tracker), ``"bad_frames"`` (see
        :func:`label_problem`) and ``"problems"`` (the first few);
        ``"model"``: the semantic model; ``"peak_rss_mb"``.
    """
    pipeline = None
    if tracker is None:
        tracker, pipeline = make_tracker(config)
    results = {}
    for folder in folders:
        clip = read_clip(Path(folder))
        fix_seeds()
        shape = clip.labels[0].shape
        predictions, problems = [], []
        start = time.perf_counter()
        for t, labels in enumerate(tracker(clip)):
            problem = label_problem(labels, shape)
            if problem is not None:
                problems.append(f"frame {t}: {problem}")
                labels = np.zeros(shape, np.uint16)
            predictions.append(labels)
        seconds = time.perf_counter() - start
        if len(predictions) != len(clip.labels):
            raise RuntimeError(f"{clip.spec['name']}: {len(predictions)} predictions for {len(clip.labels)} frames")
        scores = score_clip(predictions, clip.labels, given_ids=config in OBJECT_CONFIGS)
        dtypes = sorted({str(p.dtype) for p in predictions})
        results[clip.spec["name"]] = {**scores, "frames": len(predictions), "seconds": seconds,
                                      "bad_frames": len(problems), "problems": problems[:5],
                                      "dtypes": dtypes}  # fmt: skip
        print(f"[{config}] {clip.spec['name']}: J&F {scores['JF']:.3f}, switches {scores['switches']}, "
              f"IDF1 {scores['idf1']:.3f}, {len(predictions) / max(seconds, 1e-9):.1f} fps",
              file=sys.stderr, flush=True)  # fmt: skip
    return {"clips": results, "model": pipeline.model_used if pipeline is not None else None,
            "peak_rss_mb": peak_rss_mb()}  # fmt: skip


def split_objects(labels: np.ndarray, count: int) -> np.ndarray:
    """A frame's labels as `count` given objects, ``(H, W) uint16``: the first `count` objects, or, for more than
    there are, each cut at its median row into an upper and a lower object (as many as asked, in label order)."""
    values = [int(v) for v in np.unique(labels) if v]
    out = np.zeros(labels.shape, np.uint16)
    parts = []
    for value in values:
        rows = np.nonzero(labels == value)[0]
        middle = int(np.median(rows))
        upper = (labels == value) & (np.arange(labels.shape[0])[:, None] <= middle)
        parts.append([labels == value] if len(values) >= count else [upper, (labels == value) & ~upper])
    for label, mask in enumerate([m for pair in parts for m in pair][:count], start=1):
        out[mask] = label
    return out


def run_scaling(folders: Sequence[str]) -> dict[str, Any]:
    """Frames per second of semi-supervised mode following 1, 3 and 6 objects (:data:`OBJECT_COUNTS`) over the
    composites with 3 people (:func:`split_objects` of frame 0's labels), each composite with each count in turn;
    meant for a fresh process.

    Returns ``"fps"`` by object count (frames over seconds of the stream, all those composites) and ``"clips"``.
    """
    pipeline = Pipeline(target="person")
    clips = [clip for clip in map(read_clip, map(Path, folders)) if len(clip.spec["objects"]) == 3]
    frames = dict.fromkeys(OBJECT_COUNTS, 0)
    seconds = dict.fromkeys(OBJECT_COUNTS, 0.0)
    for clip in clips:  # each clip with each count in turn, so a slow spell of the machine weighs on all counts alike
        for count in OBJECT_COUNTS:
            fix_seeds()
            given = split_objects(clip.labels[0], count)
            start = time.perf_counter()
            for _ in pipeline.stream(clip.frames, init_mask=given):
                frames[count] += 1
            seconds[count] += time.perf_counter() - start
    fps = {count: frames[count] / seconds[count] for count in OBJECT_COUNTS}
    for count, value in fps.items():
        print(f"[scaling] {count} objects: {value:.2f} fps", file=sys.stderr, flush=True)
    return {"fps": fps, "clips": [clip.spec["name"] for clip in clips]}


def ids_on_object(pred_seq: Iterable[np.ndarray], truths: Sequence[np.ndarray]) -> tuple[int, int]:
    """How many shown IDs lie on the annotated object and how many elsewhere.

    An ID lies on the object when, over the frames it shows, the median
    share of its pixels inside the object's true mask is at least a half.
    """
    shares: dict[int, list[float]] = {}
    for labels, truth in zip(pred_seq, truths):
        for value in np.unique(labels):
            if value:
                mine = labels == value
                shares.setdefault(int(value), []).append(np.count_nonzero(mine & truth) / np.count_nonzero(mine))
    on = sum(np.median(s) >= 0.5 for s in shares.values())
    return int(on), len(shares) - int(on)


def run_people(data: str, videos: str) -> dict[str, Any]:
    """IDs per real person of ``Pipeline(target="person", instances=True)`` on real footage; for a fresh process.

    Returns ``"davis"``: per sequence of :data:`ONE_PERSON`, ``"on_person"``
    and ``"elsewhere"`` (:func:`ids_on_object`); ``"clips"``: per clip of
    :data:`REAL_CLIPS` found in `videos`, ``"ids"`` shown and ``"people"``.
    """
    pipeline = Pipeline(target="person", instances=True)
    davis = {}
    for name in ONE_PERSON:
        frames, truths = read_davis_sequence(Path(data), name)
        on, elsewhere = ids_on_object((r.labels for r in pipeline.stream_two_pass(frames)), truths)
        davis[name] = {"on_person": on, "elsewhere": elsewhere}
        print(f"[people] {name}: {on} IDs on the person, {elsewhere} elsewhere", file=sys.stderr, flush=True)
    clips = {}
    for name, people in REAL_CLIPS.items():
        path = Path(videos) / name
        if path.is_file():
            frames = (image for _, image in FrameSource(path))
            clips[name] = {"ids": len(shown_ids(r.labels for r in pipeline.stream_two_pass(frames))), "people": people}
            print(f"[people] {name}: {clips[name]['ids']} IDs, {people} people", file=sys.stderr, flush=True)
    return {"davis": davis, "clips": clips}


def summarise(run: Mapping[str, Any]) -> dict[str, Any]:
    """Overall scores of one configuration: means over all objects, sums of switches and identity counts.

    Parameters
    ----------
    run : mapping
        :func:`run_config`'s result.

    Returns
    -------
    dict
        ``"objects"``, ``"J"``, ``"F"``, ``"JF"`` (means over all objects
        of all composites), ``"switches"``, ``"ids_per_object"`` (IDs shown over
        objects, summed over composites), the :func:`identity_counts`
        of the summed counts, ``"frames"``, ``"seconds"``, ``"fps"``,
        ``"bad_frames"``.
    """
    clips = list(run["clips"].values())
    objects = [obj for clip in clips for obj in clip["objects"].values()]
    frames = sum(c["frames"] for c in clips)
    seconds = sum(c["seconds"] for c in clips)
    return {
        "objects": len(objects),
        **{m: float(np.mean([o[m] for o in objects])) if objects else float("nan") for m in ("J", "F", "JF")},
        "switches": sum(c["switches"] for c in clips),
        "ids_per_object": sum(c["ids"] for c in clips) / len(objects) if objects else float("nan"),
        **identity_counts(sum(c["idtp"] for c in clips), sum(c["gt_detections"] for c in clips),
                          sum(c["pred_detections"] for c in clips)),  # fmt: skip
        "frames": frames,
        "seconds": seconds,
        "fps": frames / seconds if seconds > 0 else float("nan"),
        "bad_frames": sum(c["bad_frames"] for c in clips),
    }


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------
def _describe(spec: Mapping[str, Any]) -> list[str]:
    people = "; ".join(f"{o['label']}: {o['source']}@{o['start']}{' flipped' if o['flip'] else ''} {o['height']:.2f}"
                       for o in spec["objects"])  # fmt: skip
    hidden = ", ".join(f"{k}: {len(v)}" for k, v in spec["hidden"].items() if v) or "—"
    occluded = ", ".join(f"{k}: {len(v)}" for k, v in spec["occluded"].items() if v) or "—"
    return [spec["name"], str(spec["frames"]), people, occluded, hidden]


def _row(name: str, s: Mapping[str, Any], peak: float | None, model: str | None) -> list[str]:
    fps = "—" if name in BASELINES else format_number(s["fps"], 1)
    return [name, format_number(s["JF"]), format_number(s["J"]), format_number(s["F"]), str(s["switches"]),
            format_number(s["ids_per_object"], 2), format_number(s["idf1"]), format_number(s["idp"]),
            format_number(s["idr"]), str(s["bad_frames"]), fps, format_number(peak, 0), model or "—"]  # fmt: skip


def report_lines(report: Mapping[str, Any]) -> list[str]:
    """The markdown description of a run."""
    headers = ["config", "J&F", "J", "F", "ID switches", "IDs per person", "IDF1", "IDP", "IDR", "bad frames", "fps",
               "peak RSS MB", "model"]  # fmt: skip
    runs, summary = report["configs"], report["summary"]
    specs = report["set"]
    objects = sum(len(s["objects"]) for s in specs)
    frames = sum(s["frames"] for s in specs)
    lines = [
        f"- Data: `{report['data']}`; set: {len(specs)} composites, {objects} objects, {frames} frames at "
        f"{report['size'][0]}x{report['size'][1]}, seed {report['seed']} (cached as `{report['work']}`)",
        "",
        "Composites (people back to front: label: source@first frame, box height / frame height; "
        "objects with frames less than half visible, and fully hidden):",
        "",
        markdown_table(["composite", "frames", "people", "occluded > 50 %", "fully hidden"], map(_describe, specs)),
    ]
    for title, names in (("Semantic-target mode (`target=\"person\"`; IDs paired with objects by summed IoU):",
                          INSTANCE_CONFIGS),
                         ("Semi-supervised multi-object mode (frame 0's labels given; ID k is object k):",
                          OBJECT_CONFIGS)):  # fmt: skip
        rows = [_row(n, summary[n], runs[n]["peak_rss_mb"], runs[n]["model"]) for n in names if n in summary]
        if rows:
            lines += ["", title, "", markdown_table(headers, rows)]
    per_clip = [[name, config, format_number(clip["JF"]), str(clip["switches"]), format_number(clip["idf1"]),
                 "—" if config in BASELINES else format_number(clip["frames"] / max(clip["seconds"], 1e-9), 1)]
                for name in (s["name"] for s in specs) for config in runs
                for clip in [runs[config]["clips"][name]]]  # fmt: skip
    if per_clip:
        lines += ["", "Per composite:", "",
                  markdown_table(["composite", "config", "J&F", "ID switches", "IDF1", "fps"], per_clip)]  # fmt: skip
    scaling = report.get("scaling")
    if scaling:
        one = scaling["fps"][str(OBJECT_COUNTS[0])]
        lines += ["", f"Cost per object (semi-supervised mode on {', '.join(scaling['clips'])}: the first object, "
                  "the 3 people, and each person cut at its median row into two objects; `--scaling`):", "",
                  markdown_table(["objects", "fps", "fps / fps with 1"],
                                 [[count, format_number(fps, 1), format_number(fps / one, 2)]
                                  for count, fps in scaling["fps"].items()])]  # fmt: skip
    people = report.get("people")
    if people:
        rows = [[name, str(n["on_person"]), str(n["elsewhere"])] for name, n in people["davis"].items()]
        on = [n["on_person"] for n in people["davis"].values()]
        rows.append(["mean", format_number(float(np.mean(on)), 2),
                     format_number(float(np.mean([n["elsewhere"] for n in people["davis"].values()])), 2)])
        lines += ["", "IDs per real person (`target=\"person\"`, `instances=True`; `--people`): on the DAVIS-2016 "
                  "sequences of one person alone, the IDs whose pixels lie mostly on the annotated person (median "
                  "share at least half) and the others (bystanders, false finds); on the real clips, every ID "
                  "shown:", "", markdown_table(["sequence", "IDs on the person", "IDs elsewhere"], rows)]
        if people["clips"]:
            lines += ["", markdown_table(["clip", "people", "IDs shown", "IDs per person"],
                                         [[name, str(c["people"]), str(c["ids"]), format_number(c["ids"] / c["people"], 2)]
                                          for name, c in people["clips"].items()])]  # fmt: skip
    for name, why in report["not_run"].items():
        lines.append(f"- `{name}` not measured: {why['reason']}")
    lines += ["", "J, F per object over frames 1 .. T-2 (DAVIS-2017), means over all objects; switches (CLEAR-MOT) "
              f"and IDF1 from per-frame matches at IoU >= {IOU_THRESHOLD}; fps of the stream, decoding excluded. "
              "See the module docstring of benchmarks/instances.py."]  # fmt: skip
    return lines


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", type=comma_choices(CONFIGS), default=list(CONFIGS),
                        help=f"comma-separated configurations (default: all): {', '.join(CONFIGS)}")
    parser.add_argument("--data", type=Path, default=default_root(),
                        help="DAVIS-2016 root with JPEGImages/480p and Annotations/480p "
                             "(default: $FLOWSEG_SHARED/data/davis2016 or ../shared/data/davis2016)")  # fmt: skip
    parser.add_argument("--height", type=int, default=480, help="frame height (default: 480, i.e. 854x480)")
    parser.add_argument("--clips", type=int, default=5, help="composites in the set (default: 5)")
    parser.add_argument("--frames", type=int, default=CLIP_FRAMES,
                        help=f"frames per composite (default: {CLIP_FRAMES})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the set (default: 0)")
    parser.add_argument("--scaling", action="store_true",
                        help="also measure fps following 1, 3 and 6 given objects (semi-supervised mode)")
    parser.add_argument("--people", action="store_true",
                        help="also count IDs per real person on DAVIS-2016 one-person sequences and the real clips")
    parser.add_argument("--work", type=Path, default=default_work(),
                        help=f"folder caching the composites (default: {default_work()})")
    add_output_options(parser, out=Path(tempfile.gettempdir()) / "flowseg-instances")
    args = parser.parse_args(argv)
    if args.height < 32:
        parser.error("--height must be at least 32")
    if args.clips < 1:
        parser.error("--clips must be at least 1")
    if args.frames < 2 * HIDDEN_FRAMES + 2:
        parser.error(f"--frames must be at least {2 * HIDDEN_FRAMES + 2}")
    missing = [name for name in (*BACKGROUNDS, *PERSON_SOURCES)
               if not (args.data / "JPEGImages" / "480p" / name).is_dir()]  # fmt: skip
    if missing:
        parser.error(f"--data {args.data}: missing sequence(s) {', '.join(missing)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns the exit status (1 when a configuration failed)."""
    args = _parse_args(argv)
    env = environment()  # first: the load average before our own work
    source = Source(args.data)
    folders = prepare_set(source, args.work, clips=args.clips, seed=args.seed, height=args.height, frames=args.frames,
                          log=lambda m: print(f"[set] {m}", file=sys.stderr, flush=True))  # fmt: skip
    specs = [json.loads((f / _SPEC).read_text(encoding="utf-8")) for f in folders]
    runs: dict[str, Any] = {}
    not_run: dict[str, dict[str, Any]] = {}
    for config in args.configs:
        outcome = attempt(config, run_config, config, [str(f) for f in folders])
        if outcome.reason is not None:
            not_run[config] = {"reason": outcome.reason, "failed": outcome.failed}
            print(f"[{config}] not measured: {outcome.reason}", file=sys.stderr, flush=True)
        else:
            runs[config] = outcome.result
    report = {
        "environment": env,
        "data": display_path(args.data),
        "work": folders[0].parent.name,
        "seed": args.seed,
        "size": list(frame_size(args.height)),
        "set": specs,
        "configs": runs,
        "summary": {name: summarise(run) for name, run in runs.items()},
        "not_run": not_run,
    }
    if args.scaling:
        outcome = attempt("scaling", run_scaling, [str(f) for f in folders])
        if outcome.reason is not None:
            not_run["scaling"] = {"reason": outcome.reason, "failed": outcome.failed}
        else:
            report["scaling"] = json.loads(json.dumps(outcome.result))  # object counts as the JSON keys they become
    if args.people:
        outcome = attempt("people", run_people, str(args.data), str(args.data.parent / "videos"))
        if outcome.reason is not None:
            not_run["people"] = {"reason": outcome.reason, "failed": outcome.failed}
        else:
            report["people"] = outcome.result
    publish(report, report_lines(report), title="Video instance segmentation (composites)", out=args.out,
            record=args.record)  # fmt: skip
    return 1 if any(n["failed"] for n in not_run.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
