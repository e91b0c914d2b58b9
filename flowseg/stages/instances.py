"""Instance stage: split the target's mask into objects and give each one an ID that stays put.

Each frame, the previous frame's instance labels are carried along the flow,
where the flow is trusted (not where something was covered or uncovered).
The mask's regions are its connected pieces, those within a small gap of
each other taken together (:data:`GAP_FRACTION`: a person seen in pieces).
A region of the mask that the carried labels of two or more
objects reach (people crossing) is divided between them, each pixel going to
the nearest carried object; a region no carried object reaches is split
where its distance transform has separate peaks (people that arrive touching).
The regions are then matched to the tracks by overlap with the carried
labels; a region that matches none is a piece of a track whose carried
label found less than half of it, where it was (the model saw it in pieces
where the flow could not follow), else is compared by colour with the
tracks that were lost, near where they would be, and otherwise starts a
new track.

Tracks start and end with hysteresis, so IDs do not flicker: a new track
needs a region of at least 0.1% of the frame and is shown from its
:data:`CONFIRM_FRAMES`-th frame in a row (at once in the first frame of a
video or shot), and a shown track that vanishes is kept, unseen, for
:data:`MAX_LOST_FRAMES` frames, during which it can come back with its ID.
Two tracks that share a region and move alike for :data:`MERGE_FRAMES`
frames were one object seen in pieces, and become one.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ..types import Frame, Image, Mask, StageOutput
from ._boxes import grown_box
from ._sampling import flow_targets

__all__ = ["CONFIRM_FRAMES", "GAP_FRACTION", "MAX_LOST_FRAMES", "MERGE_FRAMES", "InstanceTracker", "split_touching"]

CONFIRM_FRAMES: int = 3
"""Frames in a row a new track must be seen before it is shown."""

MERGE_FRAMES: int = 3
"""Frames two tracks must share a region and move alike before they are taken for one object."""

MAX_LOST_FRAMES: int = 50
"""Frames a shown track is kept while unseen (2 s at 25 fps), so it can come back with its ID."""

GAP_FRACTION: float = 0.02
"""Pieces of the mask closer than about twice this fraction of the frame's diagonal are one region.

A person model sees a person in pieces (head, torso and legs apart where
clothes or a pole break the silhouette, a ball at the feet), and each piece
was a track of its own. Measured with ``benchmarks/instances.py --people``:
on the 9 DAVIS-2016 sequences of one person alone the IDs on the person went
from 3.67 to 2.67, 1.89 and 1.44 at 0.01, 0.02 and 0.03 (gaps of about 20,
40 and 60 pixels at 854x480; 1.67 at 0.02 once pieces the flow loses went
to their track too), juggle.mp4 from 2 IDs to 1; on the composites IDF1
from 0.189 to 0.246 at 0.02. The cost, seen with the true masks of the
composites (people whole, so only people near each other are joined): IDF1
0.622 -> 0.601 at 0.02, and at 0.03 fewer IDs than people (0.92 a person)."""

_MIN_AREA_FRACTION = 2e-4
"""Smallest part of an object, as a fraction of the frame's area (about 80 pixels at 854x480)."""

_MIN_NEW_FRACTION = 1e-3
"""Smallest new object, as a fraction of the frame's area (about 400 pixels at 854x480)."""

_PEAK_SEPARATION = 0.3
"""Two distance-transform peaks are two objects when each rises this fraction of the highest above the saddle."""

_REID_SIMILARITY = 0.75
"""Least colour-histogram similarity (Bhattacharyya coefficient) for a lost track to claim a new region."""

_MERGE_ALONE = 25
"""A track seen on its own (a region to itself) for more frames than this is never merged into another."""

_COLOUR_BINS = 8


def split_touching(region: Mask, gap: int = 0) -> NDArray[np.int32]:
    """Split a region where its distance transform has separate peaks (objects that touch).

    Parameters
    ----------
    region : (H, W) bool ndarray
        One connected region, or pieces within `gap` of each other.
    gap : int
        Pieces closer than about twice this many pixels are one (a
        morphological closing with a disc of this radius first), so a
        person seen in pieces is not split at the gaps.

    Returns
    -------
    (H, W) int32 ndarray
        0 outside the region, 1..K for its K parts (K = 1 when it has one
        peak: a single object whose limbs or head make no separate peak).

    Examples
    --------
    Two discs joined by a thin bridge are two objects:

    >>> yy, xx = np.mgrid[:40, :80]
    >>> region = ((yy - 20) ** 2 + (xx - 20) ** 2 < 225) | ((yy - 20) ** 2 + (xx - 60) ** 2 < 225)
    >>> region[19:22, 20:60] = True
    >>> int(split_touching(region).max())
    2
    """
    region = np.asarray(region, bool)
    whole = _joined(region, gap, close=True) if gap > 0 else region
    distance = cv2.distanceTransform(whole.astype(np.uint8), cv2.DIST_L2, 5)
    height = float(distance.max())
    if height < 2.0:
        return region.astype(np.int32)
    from skimage.morphology import local_maxima, reconstruction
    from skimage.segmentation import watershed

    # The peaks of the h-maxima transform: one plateau per dome rising h above its saddle. (skimage's h_maxima
    # marks every top pixel of such a dome instead, so a ridge with two equal tops gave two peaks.)
    domes = reconstruction(distance - _PEAK_SEPARATION * height, distance)
    peaks, count = ndimage.label(local_maxima(domes, connectivity=2) & whole, np.ones((3, 3)))
    if count < 2:
        return region.astype(np.int32)
    return (watershed(-distance, peaks, mask=whole) * region).astype(np.int32)


def _joined(mask: Mask, gap: int, *, close: bool = False) -> Mask:
    """`mask` grown (or, with `close`, closed) by a disc of radius `gap` pixels: pieces within about 2 `gap` join."""
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * gap + 1, 2 * gap + 1))
    if not close:  # nothing beyond the mask's box grown by the gap is reached: only that box is dilated
        joined, box = np.zeros_like(mask), grown_box(mask, gap)
        if box is not None:
            joined[box] = cv2.dilate(np.ascontiguousarray(mask[box]).view(np.uint8), disc) > 0
        return joined
    padded = np.pad(mask, gap + 1).view(np.uint8)  # the closing's dilation must not be cut at the box's edge
    return (cv2.morphologyEx(padded, cv2.MORPH_CLOSE, disc)[gap + 1:-gap - 1, gap + 1:-gap - 1] > 0) | mask


@dataclass
class _Track:
    """One object followed over time (private to the tracker)."""

    key: int
    colours: NDArray[np.float32]
    centre: NDArray[np.float64]
    area: int
    shown_id: int = 0
    hits: int = 1
    lost: int = 0
    alone: int = 0
    velocity: NDArray[np.float64] = field(default_factory=lambda: np.zeros(2))


class InstanceTracker:
    """Pipeline stage: each object of the target's mask, labelled with a stable ID.

    Attributes
    ----------
    requires : tuple of str
        ``("mask", "flow_bwd", "flow_confidence")``: labels are carried only
        where the flow is trusted; it also reads ``"shot_change"`` where a
        stage provides it (the flow does not link two shots, so tracks are
        then found again by colour).
    provides : tuple of str
        ``("labels",)``: ``(H, W) uint16``, 0 = background, k > 0 = the ID of
        object k. IDs are shown from 1 up, in the order tracks are confirmed.
    track_ids : list of int
        Every ID shown since the last :meth:`reset`.

    Notes
    -----
    Every pixel has one label, so masks of different objects never overlap.
    See the module's docstring for the rules.
    """

    requires: tuple[str, ...] = ("mask", "flow_bwd", "flow_confidence")
    provides: tuple[str, ...] = ("labels",)

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every track; IDs start again from 1."""
        self._tracks: dict[int, _Track] = {}
        self._keys: NDArray[np.uint16] | None = None  # the previous frame's labels, by track key
        self._next_key = 1
        self._together: dict[tuple[int, int], int] = {}  # track pairs sharing a region, moving alike: frames
        self._merged_into: dict[int, int] = {}  # this frame's merges: younger key -> older key
        self.track_ids: list[int] = []

    def process(self, frame: Frame) -> StageOutput:
        """Label the objects of ``frame.data["mask"]``."""
        mask = np.asarray(frame.data["mask"], bool)
        new_shot = self._keys is None or bool(frame.data.get("shot_change", False))
        carried = np.zeros(mask.shape, np.uint16) if new_shot else self._carry(frame.data["flow_bwd"])
        carried[frame.data["flow_confidence"] < 0.5] = 0  # occluded or uncovered: the flow cannot say whose it is
        keys = self._assign(mask, carried, frame.image, None if new_shot else frame.data["flow_bwd"], first=new_shot)
        self._keys = keys
        shown = np.zeros(max(self._next_key, 1), np.uint16)
        for track in self._tracks.values():
            shown[track.key] = track.shown_id
        return {"labels": shown[keys]}

    def _carry(self, flow_bwd: np.ndarray) -> NDArray[np.uint16]:
        """The previous labels moved along the flow (nearest neighbour: labels are not blended)."""
        return cv2.remap(self._keys, flow_targets(flow_bwd), None, cv2.INTER_NEAREST,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)  # fmt: skip

    def _assign(self, mask: Mask, carried: NDArray[np.uint16], image: Image, flow: np.ndarray | None, *,
                first: bool) -> NDArray[np.uint16]:
        min_area = max(16, int(_MIN_AREA_FRACTION * mask.size))
        new_area = max(min_area, int(_MIN_NEW_FRACTION * mask.size))
        together, self._together = self._together, {}
        self._merged_into = {}
        keys = np.zeros(mask.shape, np.uint16)
        seen: set[int] = set()
        # The tracks seen in the last frame (those its labels hold) and their areas then, before claims change them.
        areas = {} if first else {key: track.area for key, track in self._tracks.items() if not track.lost}
        claims: dict[int, list[tuple[int, tuple[slice, slice], Mask]]] = {}  # key -> (reach, box, part)
        unexplained: list[tuple[tuple[slice, slice], Mask]] = []
        gap = max(1, round(GAP_FRACTION * float(np.hypot(*mask.shape))))
        regions, count = ndimage.label(_joined(mask, gap))
        regions[~mask] = 0  # the pieces of each joined region, without what joined them
        for box, number in zip(ndimage.find_objects(regions), range(1, count + 1)):
            region = regions[box] == number
            reached = carried[box][region]
            present = [int(k) for k, n in zip(*np.unique(reached[reached > 0], return_counts=True))
                       if n >= min_area and int(k) in self._tracks]  # fmt: skip
            if len(present) >= 2:  # objects that cross: divided between them, colours not learnt
                parts = self._divide(region, carried[box], present, image[box])
                if flow is not None:
                    present, parts = self._merge_alike(present, parts, flow[box], together)
                for part, key in zip(parts, present):
                    self._claim(keys, box, part, key, image, seen, blend=len(present) == 1)
                continue
            if len(present) == 1:  # a lost object coming out from behind this one is told apart by its colours
                region = self._carve_lost(keys, box, region, self._tracks[present[0]], image, seen, min_area)
            # One object, or one grown by less than a split would explain (then not even looked at for peaks).
            if present and region.sum() <= 1.5 * self._tracks[present[0]].area:
                parts = region.astype(np.int32)
            else:
                parts = split_touching(region, gap)
                if present and parts.max() == 1:
                    parts = region.astype(np.int32)
            for part in (parts == n for n in range(1, int(parts.max()) + 1)):
                if part.sum() < min_area:
                    continue
                reach = int(np.count_nonzero(part & (carried[box] == present[0]))) if present else 0
                if reach:
                    claims.setdefault(present[0], []).append((reach, box, part))
                else:
                    unexplained.append((box, part))
        for key, parts in claims.items():
            # The part the track reaches most is the track; another part is too, unless it is big enough to be a
            # different object that came out from behind it and does not have the track's colours.
            key = self._merged_into.get(key, key)
            parts.sort(key=lambda item: -item[0])
            for rank, (_, box, part) in enumerate(parts):
                if rank and part.sum() >= 0.3 * self._tracks[key].area and not self._looks_like(
                        self._tracks[key], image[box][part]):
                    unexplained.append((box, part))
                else:
                    self._claim(keys, box, part, key, image, seen, blend=True)
        in_pieces = self._found_in_pieces(keys, areas) if unexplained else {}
        for box, part in unexplained:
            owner = self._missing_piece_of(box, part, in_pieces, gap)
            if owner is not None:
                self._claim(keys, box, part, owner, image, seen, blend=False)
                last_box, missing = in_pieces[owner]
                in_pieces[owner] = (last_box, missing - int(part.sum()))
            elif part.sum() >= new_area:
                self._claim(keys, box, part, None, image, seen, blend=True, first=first)
        self._age(seen, first=first)
        return keys

    def _found_in_pieces(self, keys: NDArray[np.uint16],
                         areas: dict[int, int]) -> dict[int, tuple[tuple[slice, slice], int]]:
        """The tracks seen in the last frame (with their `areas` then) whose carried labels found less than half
        of them in this one (`keys`), each with its box in the last frame and the pixels it misses: pieces that no
        label reaches may be theirs (:meth:`_missing_piece_of`)."""
        found = np.bincount(keys.ravel(), minlength=self._next_key)
        short = [key for key, area in areas.items() if key in self._tracks and 2 * found[key] < area]
        boxes = ndimage.find_objects(self._keys) if short else []
        return {key: (boxes[key - 1], areas[key] - int(found[key])) for key in short}

    @staticmethod
    def _missing_piece_of(box: tuple[slice, slice], part: Mask,
                          in_pieces: dict[int, tuple[tuple[slice, slice], int]], gap: int) -> int | None:
        """The track that `part`, which no carried label reaches, is a piece of, if any.

        Of the tracks `in_pieces` (:meth:`_found_in_pieces`, the pixels each
        misses kept up to date as pieces go to it) still missing at least the
        part's area, whose last box, grown by `gap`, holds the part's centre,
        the one missing most: the person model saw it in pieces, and the
        flow, untrusted there (a fast move), did not carry its label onto
        them.
        """
        area = int(part.sum())
        rows, cols = np.nonzero(part)
        y, x = rows.mean() + box[0].start, cols.mean() + box[1].start
        best, most = None, area - 1
        for key, ((last_rows, last_cols), missing) in in_pieces.items():
            if (missing > most and last_rows.start - gap <= y < last_rows.stop + gap
                    and last_cols.start - gap <= x < last_cols.stop + gap):
                best, most = key, missing
        return best

    def _carve_lost(self, keys: NDArray[np.uint16], box: tuple[slice, slice], region: Mask, owner: _Track,
                    image: Image, seen: set[int], min_area: int) -> Mask:
        """Give a lost track the pixels of `region` whose colours are its own rather than `owner`'s; return the rest."""
        bins = _colour_index(image[box])
        for track in self._tracks.values():
            if track.key in seen or not track.shown_id or track.lost == 0:
                continue
            mine, theirs = track.colours[bins], owner.colours[bins]
            candidate = region & (mine > 2.0 * theirs) & (mine > 0.5 / _COLOUR_BINS**3)
            candidate = cv2.morphologyEx(candidate.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
            pieces, count = ndimage.label(candidate)
            if not count:
                continue
            sizes = np.bincount(pieces.ravel())[1:]
            piece = pieces == 1 + int(np.argmax(sizes))
            rows, cols = np.nonzero(piece)
            centre = np.array([rows.mean() + box[0].start, cols.mean() + box[1].start])
            if piece.sum() >= min_area and self._could_be(track, centre, int(piece.sum())):
                self._claim(keys, box, piece, track.key, image, seen, blend=False)
                region = region & ~piece
        return region

    @staticmethod
    def _looks_like(track: _Track, pixels: np.ndarray) -> bool:
        """Whether `pixels` have the colours of `track` (a piece of it, not another object)."""
        return _similarity(_colour_histogram(pixels), track.colours) >= _REID_SIMILARITY

    @staticmethod
    def _could_be(track: _Track, centre: np.ndarray, area: int) -> bool:
        """Whether a lost track, moving on as it last did, could be at `centre`."""
        expected = track.centre + track.velocity * track.lost
        reach = 2.0 * np.sqrt(max(track.area, area)) + np.hypot(*track.velocity) * track.lost
        return bool(np.hypot(*(centre - expected)) <= reach)

    def _merge_alike(self, present: list[int], parts: list[Mask], flow: np.ndarray,
                     together: dict[tuple[int, int], int]) -> tuple[list[int], list[Mask]]:
        """Merge tracks that share a region and have moved alike for :data:`MERGE_FRAMES` frames, the younger
        having been seen on its own only briefly: one object that was first seen in pieces. The older track
        takes the younger's pixels; the younger ends."""
        motions = [np.median(flow[part], axis=0) if part.any() else None for part in parts]
        merged: set[int] = set()
        for (i, a), (j, b) in itertools.combinations(enumerate(present), 2):
            if motions[i] is None or motions[j] is None or a in merged or b in merged:
                continue
            pair = (min(a, b), max(a, b))
            if self._tracks[pair[1]].alone > _MERGE_ALONE:
                continue  # the younger has been an object on its own: two objects that meet
            speed = max(np.hypot(*motions[i]), np.hypot(*motions[j]))
            if np.hypot(*(motions[i] - motions[j])) > max(1.0, 0.25 * speed):
                continue
            self._together[pair] = together.get(pair, 0) + 1
            if self._together[pair] >= MERGE_FRAMES:
                older, younger = pair
                parts[present.index(older)] |= parts[present.index(younger)]
                merged.add(younger)
                self._merged_into[younger] = older
                del self._tracks[younger]
        kept = [n for n, key in enumerate(present) if key not in merged]
        return [present[n] for n in kept], [parts[n] for n in kept]

    def _divide(self, region: Mask, carried: NDArray[np.uint16], present: list[int], image: Image) -> list[Mask]:
        """Share `region` between the tracks `present`: each pixel to the nearest pixel their carried labels reach.

        A share whose colours are another track's far more than its own track's (an object carried along
        behind the one that hides it) goes to that other track.
        """
        seeds = region & np.isin(carried, present)
        _, nearest = ndimage.distance_transform_edt(~seeds, return_indices=True)
        owner = carried[nearest[0], nearest[1]]
        parts = [region & (owner == key) for key in present]
        for number, key in enumerate(present):
            if not parts[number].any():
                continue
            colours = _colour_histogram(image[parts[number]])
            similarity = [_similarity(colours, self._tracks[k].colours) for k in present]
            best = int(np.argmax(similarity))
            if best != number and similarity[number] < _REID_SIMILARITY and similarity[best] > 2 * similarity[number]:
                parts[best] |= parts[number]
                parts[number] = np.zeros_like(region)
        return parts

    def _claim(self, keys: NDArray[np.uint16], box: tuple[slice, slice], part: Mask, key: int | None, image: Image,
               seen: set[int], *, blend: bool, first: bool = False) -> None:
        """Label `part` (a mask within `box`) with track `key`, or with a found-again or new track."""
        if not part.any():
            return
        colours = _colour_histogram(image[box][part])
        rows, cols = np.nonzero(part)
        centre = np.array([rows.mean() + box[0].start, cols.mean() + box[1].start])
        if key is None:
            key = self._found_again(colours, centre, int(part.sum()), seen)
        if key is None:
            key = self._start(colours, centre, int(part.sum()), shown=first)
        track = self._tracks[key]
        if key not in seen:
            track.velocity = centre - track.centre if track.lost == 0 else track.velocity
            track.centre, track.area = centre, int(part.sum())
            track.hits = track.hits + 1 if track.lost == 0 else 1
            track.lost = 0
            track.alone += blend
            seen.add(key)
        else:  # another piece of it in this frame: its place and size are those of all its pieces
            area = int(part.sum())
            track.centre = (track.centre * track.area + centre * area) / (track.area + area)
            track.area += area
        if blend:
            track.colours = 0.9 * track.colours + 0.1 * colours
        keys[box][part] = key

    def _found_again(self, colours: np.ndarray, centre: np.ndarray, area: int, seen: set[int]) -> int | None:
        """The unseen shown track that looks most like a new region and could have got there, if any."""
        best, best_similarity = None, _REID_SIMILARITY
        for track in self._tracks.values():
            if track.key in seen or not track.shown_id or track.lost == 0:
                continue
            similarity = _similarity(colours, track.colours)
            if similarity > best_similarity and self._could_be(track, centre, area):
                best, best_similarity = track.key, similarity
        return best

    def _start(self, colours: np.ndarray, centre: np.ndarray, area: int, *, shown: bool) -> int:
        track = _Track(key=self._next_key, colours=colours, centre=centre, area=area, hits=0)
        self._tracks[track.key] = track
        self._next_key += 1
        if shown:
            self._show(track)
        return track.key

    def _show(self, track: _Track) -> None:
        track.shown_id = len(self.track_ids) + 1
        self.track_ids.append(track.shown_id)

    def _age(self, seen: set[int], *, first: bool) -> None:
        """Confirm tracks seen often enough; count frames unseen, and drop tracks gone too long (or never shown)."""
        for key, track in list(self._tracks.items()):
            if key in seen:
                if not track.shown_id and (first or track.hits >= CONFIRM_FRAMES):
                    self._show(track)
                continue
            track.lost += 1
            if not track.shown_id or track.lost > MAX_LOST_FRAMES:
                del self._tracks[key]


def _colour_index(pixels: NDArray[np.uint8]) -> NDArray[np.int32]:
    """Colour-histogram bin of each RGB pixel (any leading shape)."""
    q = pixels.astype(np.int32) >> (8 - int(np.log2(_COLOUR_BINS)))
    return (q[..., 0] * _COLOUR_BINS + q[..., 1]) * _COLOUR_BINS + q[..., 2]


def _colour_histogram(pixels: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Normalised ``(bins**3,)`` RGB histogram of ``(N, 3)`` pixels."""
    counts = np.bincount(_colour_index(pixels), minlength=_COLOUR_BINS**3).astype(np.float32)
    return counts / max(counts.sum(), 1.0)


def _similarity(histogram: NDArray[np.float32], other: NDArray[np.float32]) -> float:
    """Bhattacharyya coefficient of two normalised histograms: 1 for the same colours, 0 for none shared."""
    return float(np.sum(np.sqrt(histogram * other)))
