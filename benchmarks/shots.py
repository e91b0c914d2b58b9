"""Shot-boundary detection quality of flowseg and PySceneDetect on a scripted set of real clips.

Usage::

    python benchmarks/shots.py [--data ../shared/data] [--max-clip-frames 60] [--seed 0]
                               [--detectors flowseg,content,adaptive]
                               [--out /tmp/flowseg-shots] [--record benchmarks/RESULTS.md]

The evaluation set
------------------
Built by script, the same for a given ``--seed`` and ``--max-clip-frames``
(:func:`plan_set`, :func:`render`): the first ``--max-clip-frames`` frames
of every DAVIS-2016 sequence (``davis2016/JPEGImages/480p/<sequence>/``)
and of every video in ``videos/``, resized to 854x480 (``cv2.INTER_AREA``),
in a shuffled order, and:

- **Fast pans** (:data:`PANS`): two synthetic shots, a crop window sliding
  over a clip's first frame scaled up (:func:`fast_pan`), horizontally and
  diagonally, 25 to 33 pixels a frame. They are joined to the other shots
  like any clip.
- Between consecutive shots, a transition from :data:`TRANSITION_MENU`
  (shuffled): **hard cuts**, **dissolves** (cross-fades, :func:`mix`) and
  **fades** to black and back (:func:`fade`) of 6, 12 and 24 frames. A
  gradual transition of length L mixes the old shot's last L frames (still
  moving) with the new shot's first L frames; lengths are shortened where a
  clip is too short (every shot keeps :data:`MIN_PURE` untouched frames),
  and a transition shorter than 2 frames becomes a cut.
- **Flashes** (:data:`FLASH_LENGTHS`): 1 or 2 frames inside a shot
  brightened strongly (:func:`flash`), not boundaries.
- **Large moving objects**: the DAVIS shots themselves, not boundaries.

Frames are produced one at a time by a generator; only the last frames of
a shot (at most the longest transition) are held, so memory stays flat.

Conventions
-----------
Frame numbers are zero-based and inclusive. A boundary is
``(kind, start, end)``, kind ``"cut"`` or ``"gradual"``, from the **last
pure frame of the old shot** (``start``) to the **first pure frame of the
new shot** (``end``):

- a cut between frames 41 and 42 is ``("cut", 41, 42)``;
- a dissolve or fade whose mixed frames are 100..111 is
  ``("gradual", 99, 112)``.

A negative stretch ``(kind, first, last)`` is the inclusive range of frames
that must not start a new shot: the flashed frames (``"flash"``), and the
untouched frames of a pan shot (``"fast pan"``) or of a DAVIS shot
(``"moving objects"``).

Scoring rule
------------
- A detected cut matches a true cut when ``|detected.start - true.start| <= 1``
  (:data:`CUT_TOLERANCE`); a detected gradual transition matches a true one
  when their spans ``[start, end]`` overlap.
- Matching is one to one: candidate pairs are taken greedily, closest first
  (``|start difference| + |end difference|``), each truth and each
  detection at most once.
- Rows ``cut`` and ``gradual`` score each kind on its own: a detection of
  the wrong kind is a false positive of its kind. Row ``any`` ignores the
  kind: a cut against a cut uses the cut rule, any other pair span overlap.
- Precision = matched / detected, recall = matched / true,
  F1 = 2 matched / (true + detected) (the harmonic mean of the two);
  ``—`` where the denominator is 0.
- PySceneDetect reports cuts only: a new scene starting at frame k is the
  cut ``(k - 1, k)``. Row ``cut`` scores all its detections as cuts; row
  ``gradual`` scores those that matched no true cut as gradual claims, so a
  cut it reports inside a true gradual span, or one frame beyond either end,
  matches that transition (spans overlap); row ``any`` counts each
  detection once.
- False alarms: the detections matched by no truth in row ``any``, by the
  first negative stretch they overlap (flash, fast pan, moving objects),
  else ``other``.

Each detector runs in a fresh process on the same frames, streamed from the
files again. Its fps is frames / the seconds spent in the detector (set
generation excluded); peak memory is the process's (``VmHWM``).

PySceneDetect's ``ContentDetector`` and ``AdaptiveDetector`` run with their
default settings, fed BGR frames downscaled as its ``SceneManager`` does by
default (auto-downscale to at least 256 pixels wide, bilinear), through
``process_frame`` and ``post_process``.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np

from _common import (
    add_output_options,
    attempt,
    comma_choices,
    display_path,
    environment,
    format_number,
    markdown_table,
    peak_rss_mb,
    publish,
    shared_dir,
)
from flowseg.io import FrameSource

SIZE: tuple[int, int] = (854, 480)
"""Width and height of every frame of the set."""

SET_FPS: float = 25.0
"""Nominal frame rate of the set, given to the detectors."""

CUT_TOLERANCE: int = 1
"""Frames a detected cut's start may be off from the true cut's."""

MIN_PURE: int = 4
"""Untouched frames every shot keeps between its transitions (flashes need 2 more beside their own)."""

MIN_CLIP_FRAMES: int = 8
"""The smallest ``--max-clip-frames``."""

KINDS: tuple[str, str] = ("cut", "gradual")
"""Boundary kinds."""

NEGATIVE_KINDS: tuple[str, ...] = ("flash", "fast pan", "moving objects")
"""Kinds of negative stretch, in the order a false alarm is attributed to them."""

DETECTORS: dict[str, str] = {
    "flowseg": "flowseg.shots.detect",
    "content": "PySceneDetect ContentDetector",
    "adaptive": "PySceneDetect AdaptiveDetector",
}
"""Detector names on the command line, and how the report names them."""

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
"""Files of the videos folder taken as clips."""


class Boundary(NamedTuple):
    """A shot boundary (``"cut"`` or ``"gradual"``), from the old shot's last pure frame to the new one's first."""

    kind: str
    start: int
    end: int


class Stretch(NamedTuple):
    """Frames ``first..last`` (inclusive) that must not start a shot; ``kind`` is one of :data:`NEGATIVE_KINDS`."""

    kind: str
    first: int
    last: int


class Pan(NamedTuple):
    """A synthetic fast pan: the crop moves along x when ``dx``, along y when ``dy`` (else it stays centred)."""

    dx: bool
    dy: bool
    scale: float
    """Size of the panned image relative to the frame."""


@dataclass(frozen=True)
class Transition:
    """How one shot gives way to the next."""

    kind: str
    """``"cut"``, ``"dissolve"`` or ``"fade"`` (to black and back)."""
    length: int = 0
    """Mixed frames: the old shot's last and the new shot's first `length` frames; 0 for a cut."""


@dataclass(frozen=True)
class Clip:
    """A source of frames for the set."""

    name: str
    """E.g. ``"davis2016/blackswan"``, ``"videos/juggle.mp4"``."""
    frames: int
    """Frames used (at most ``--max-clip-frames``)."""
    negative: str | None = None
    """The kind of negative stretch its untouched frames form (``"moving objects"`` for DAVIS), if any."""


@dataclass(frozen=True)
class Shot:
    """One shot of the set: a clip's first frames, or a fast pan over a clip's first frame."""

    clip: str
    """Name of the clip it comes from."""
    frames: int
    """Frames it contributes, transitions included."""
    negative: str | None = None
    """Kind of negative stretch its untouched frames form, if any."""
    pan: Pan | None = None
    """When set, the shot is this pan over the clip's first frame."""
    flash: tuple[int, int] | None = None
    """``(offset, length)``: frames ``offset..offset + length - 1`` of the shot are flashed."""


TRANSITION_MENU: tuple[Transition, ...] = (
    Transition("cut"), Transition("dissolve", 6), Transition("cut"), Transition("fade", 6),
    Transition("cut"), Transition("dissolve", 12), Transition("cut"), Transition("fade", 12),
    Transition("dissolve", 24), Transition("fade", 24),
)  # fmt: skip
"""Transitions, cycled to the number of junctions between shots, then shuffled."""

PANS: tuple[Pan, ...] = (Pan(True, False, 2.5), Pan(True, True, 2.0))
"""The fast pans: horizontal over the image at 2.5 times the frame size, diagonal at twice.

Over :data:`PAN_FRAMES` frames at 854x480 the crop moves 33 and 25 pixels a frame.
"""

PAN_FRAMES: int = 40
"""Frames of a pan shot (fewer when ``--max-clip-frames`` is smaller)."""

FLASH_LENGTHS: tuple[int, ...] = (1, 2, 1, 2)
"""One flash per entry, of that many frames, each in a different clip shot."""

FLASH_STRENGTH: float = 0.7
"""How far a flashed frame goes towards white (:func:`flash`)."""


@dataclass(frozen=True)
class SetPlan:
    """The evaluation set: its shots and the transitions between them (``len(shots) - 1``)."""

    shots: tuple[Shot, ...]
    transitions: tuple[Transition, ...]

    def __post_init__(self) -> None:
        if len(self.transitions) != max(len(self.shots) - 1, 0):
            needed = len(self.shots) - 1
            raise ValueError(f"{len(self.shots)} shots need {needed} transitions, got {len(self.transitions)}")
        for index, shot in enumerate(self.shots):
            head, tail = self.overlaps(index)
            room = shot.frames - head - tail - (shot.flash[1] + 2 if shot.flash else 0)
            if room < MIN_PURE:
                raise ValueError(
                    f"shot {index} ({shot.clip}) keeps {room} untouched frames; at least {MIN_PURE} needed"
                )
            if shot.flash and not head < shot.flash[0] <= shot.frames - tail - shot.flash[1] - 1:
                raise ValueError(f"shot {index} ({shot.clip}): flash {shot.flash} not between untouched frames")

    def overlaps(self, index: int) -> tuple[int, int]:
        """Frames of shot `index` mixed with the shot before and with the shot after."""
        head = self.transitions[index - 1].length if index > 0 else 0
        tail = self.transitions[index].length if index < len(self.transitions) else 0
        return head, tail

    def starts(self) -> list[int]:
        """Frame number of each shot's first frame (mixed frames included)."""
        starts = [0]
        for shot, transition in zip(self.shots, self.transitions):
            starts.append(starts[-1] + shot.frames - transition.length)
        return starts

    @property
    def frames(self) -> int:
        """Frames of the whole set."""
        return sum(shot.frames for shot in self.shots) - sum(t.length for t in self.transitions)

    def boundaries(self) -> list[Boundary]:
        """The ground truth: one boundary per transition, in frame order.

        Examples
        --------
        >>> plan = SetPlan((Shot("a", 10), Shot("b", 20), Shot("c", 10)), (Transition("cut"), Transition("fade", 6)))
        >>> plan.boundaries()
        [Boundary(kind='cut', start=9, end=10), Boundary(kind='gradual', start=23, end=30)]
        """
        found = []
        for start, transition in zip(self.starts()[1:], self.transitions):
            kind = "cut" if transition.length == 0 else "gradual"
            found.append(Boundary(kind, start - 1, start + transition.length))
        return found

    def stretches(self) -> list[Stretch]:
        """The negative stretches: flashed frames, and the untouched frames of pan and DAVIS shots.

        Examples
        --------
        >>> plan = SetPlan((Shot("a", 10, "moving objects", flash=(3, 2)), Shot("b", 10)), (Transition("dissolve", 2),))
        >>> plan.stretches()
        [Stretch(kind='moving objects', first=0, last=7), Stretch(kind='flash', first=3, last=4)]
        """
        found = []
        for index, (start, shot) in enumerate(zip(self.starts(), self.shots)):
            head, tail = self.overlaps(index)
            if shot.negative:
                found.append(Stretch(shot.negative, start + head, start + shot.frames - tail - 1))
            if shot.flash:
                offset, length = shot.flash
                found.append(Stretch("flash", start + offset, start + offset + length - 1))
        return found


# --------------------------------------------------------------------------
# frames: transitions, flashes, pans
# --------------------------------------------------------------------------
def mix(old: np.ndarray, new: np.ndarray, weight: float) -> np.ndarray:
    """A cross-fade frame: ``(1 - weight) * old + weight * new``, rounded.

    Parameters
    ----------
    old, new : (H, W, 3) uint8 ndarray
        Frames of the same size.
    weight : float
        Weight of `new`, in [0, 1].

    Returns
    -------
    (H, W, 3) uint8 ndarray

    Examples
    --------
    >>> mix(np.full((1, 1, 3), 100, np.uint8), np.full((1, 1, 3), 200, np.uint8), 0.25)[0, 0]
    array([125, 125, 125], dtype=uint8)
    """
    return cv2.addWeighted(old, 1.0 - weight, new, weight, 0.0)


def fade(frame: np.ndarray, weight: float) -> np.ndarray:
    """`frame` faded towards black: ``weight * frame``, rounded.

    Parameters
    ----------
    frame : (H, W, 3) uint8 ndarray
    weight : float
        1 leaves the frame as it is, 0 gives black.

    Returns
    -------
    (H, W, 3) uint8 ndarray
    """
    return mix(np.zeros_like(frame), frame, weight)


def flash(frame: np.ndarray, strength: float = FLASH_STRENGTH) -> np.ndarray:
    """`frame` lit by a flash: moved `strength` of the way towards white.

    Parameters
    ----------
    frame : (H, W, 3) uint8 ndarray
    strength : float
        In [0, 1]; 1 gives white.

    Returns
    -------
    (H, W, 3) uint8 ndarray

    Examples
    --------
    >>> flash(np.array([[[0, 100, 255]]], np.uint8), 0.5)[0, 0]
    array([128, 178, 255], dtype=uint8)
    """
    return mix(frame, np.full_like(frame, 255), strength)


def transition_frame(transition: Transition, step: int, old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Mixed frame `step` (0-based) of a gradual transition.

    Parameters
    ----------
    transition : Transition
        A dissolve or a fade of ``length`` frames.
    step : int
        ``0 .. length - 1``.
    old, new : (H, W, 3) uint8 ndarray
        The old shot's frame ``frames - length + step`` and the new shot's frame `step`.

    Returns
    -------
    (H, W, 3) uint8 ndarray
        A dissolve gives the new shot weight ``(step + 1) / (length + 1)``.
        A fade takes the old shot down to black over its first
        ``length // 2`` frames (the last of them black) and brings the new
        shot up from black over the others (the first of them black).

    Examples
    --------
    >>> old, new = np.full((1, 1, 3), 90, np.uint8), np.full((1, 1, 3), 180, np.uint8)
    >>> [int(transition_frame(Transition("fade", 6), s, old, new)[0, 0, 0]) for s in range(6)]
    [60, 30, 0, 0, 60, 120]
    >>> [int(transition_frame(Transition("dissolve", 2), s, old, new)[0, 0, 0]) for s in range(2)]
    [120, 150]
    """
    length = transition.length
    if not 0 <= step < length:
        raise ValueError(f"step {step} of a {length}-frame transition")
    if transition.kind == "dissolve":
        return mix(old, new, (step + 1) / (length + 1))
    if transition.kind == "fade":
        fade_out = length // 2
        if step < fade_out:
            return fade(old, 1.0 - (step + 1) / fade_out)
        return fade(new, (step - fade_out) / (length - fade_out))
    raise ValueError(f"unknown gradual transition {transition.kind!r}")


def fast_pan(image: np.ndarray, frames: int, pan: Pan) -> Iterator[np.ndarray]:
    """A synthetic fast camera pan: a frame-sized window sliding over `image` scaled up.

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
        The scene.
    frames : int
        Frames of the pan.
    pan : Pan
        Direction and scale; the window goes from one edge of the scaled
        image to the other (along x when ``pan.dx``, along y when
        ``pan.dy``; centred on an axis it does not move along).

    Yields
    ------
    (H, W, 3) uint8 ndarray
        The windows, at evenly spaced positions.
    """
    h, w = image.shape[:2]
    big = cv2.resize(image, (round(w * pan.scale), round(h * pan.scale)), interpolation=cv2.INTER_LINEAR)
    room_x, room_y = big.shape[1] - w, big.shape[0] - h
    for step in range(frames):
        along = step / max(frames - 1, 1)
        x = round(along * room_x) if pan.dx else room_x // 2
        y = round(along * room_y) if pan.dy else room_y // 2
        yield np.ascontiguousarray(big[y : y + h, x : x + w])


ClipOpener = Callable[[str], Iterable[np.ndarray]]
"""Opens a clip by name: its (H, W, 3) uint8 RGB frames, in order, lazily."""


def shot_frames(shot: Shot, open_clip: ClipOpener) -> Iterator[np.ndarray]:
    """The frames of one shot, flashes applied, before any transition.

    Parameters
    ----------
    shot : Shot
    open_clip : callable
        See :data:`ClipOpener`.

    Yields
    ------
    (H, W, 3) uint8 ndarray
        Exactly ``shot.frames`` frames.

    Raises
    ------
    ValueError
        If the clip has fewer frames than the shot needs.
    """
    frames = iter(open_clip(shot.clip))
    try:
        if shot.pan is not None:
            source = fast_pan(next(frames), shot.frames, shot.pan)
        else:
            source = itertools.islice(frames, shot.frames)
        count = 0
        for index, image in enumerate(source):
            if shot.flash and shot.flash[0] <= index < shot.flash[0] + shot.flash[1]:
                image = flash(image)
            count += 1
            yield image
    except StopIteration:  # next() on an empty clip
        count = 0
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()  # a video's decoder is released now, not at garbage collection
    if count != shot.frames:
        raise ValueError(f"clip {shot.clip!r} gave {count} frames; its shot needs {shot.frames}")


def render(plan: SetPlan, open_clip: ClipOpener) -> Iterator[np.ndarray]:
    """The frames of the evaluation set, one at a time.

    Parameters
    ----------
    plan : SetPlan
    open_clip : callable
        See :data:`ClipOpener`; all clips must give frames of one size.

    Yields
    ------
    (H, W, 3) uint8 ndarray
        RGB frames, ``plan.frames`` of them. Only the last frames of the
        current shot (as many as the next transition mixes) are held.
    """
    held: list[np.ndarray] = []  # the previous shot's last frames, for the transition into this one
    for index, shot in enumerate(plan.shots):
        head, tail = plan.overlaps(index)
        transition = plan.transitions[index - 1] if index > 0 else None
        tail_from = shot.frames - tail
        holding: list[np.ndarray] = []
        for step, image in enumerate(shot_frames(shot, open_clip)):
            if step < head:
                yield transition_frame(transition, step, held[step], image)  # type: ignore[arg-type]
            elif step >= tail_from:
                holding.append(image)
            else:
                yield image
        held = holding


# --------------------------------------------------------------------------
# building the set
# --------------------------------------------------------------------------
def _room(shot: Shot) -> int:
    """Frames of a shot its two transitions may mix, keeping :data:`MIN_PURE` untouched ones and room for its flash."""
    return shot.frames - MIN_PURE - (shot.flash[1] + 2 if shot.flash else 0)


def plan_set(
    clips: Sequence[Clip],
    *,
    seed: int = 0,
    pans: Sequence[Pan] = PANS,
    pan_frames: int = PAN_FRAMES,
    flash_lengths: Sequence[int] = FLASH_LENGTHS,
    menu: Sequence[Transition] = TRANSITION_MENU,
) -> SetPlan:
    """Lay out the evaluation set: shot order, pans, flashes and transitions, all drawn from `seed`.

    Parameters
    ----------
    clips : sequence of Clip
        The sources; each gives one shot of ``clip.frames`` frames.
    seed : int
        The same seed and clips give the same plan.
    pans : sequence of Pan
        One pan shot each, over the first frame of a clip, inserted at
        evenly spread places (its source is a clip half the list away).
    pan_frames : int
        Frames of each pan shot.
    flash_lengths : sequence of int
        One flash each (of that many frames), in different clip shots drawn
        at random, in the middle of the shot's untouched frames.
    menu : sequence of Transition
        Cycled to the number of junctions, then shuffled. A gradual
        transition is shortened to what both its shots can give (each keeps
        :data:`MIN_PURE` untouched frames, and room for its flash and half
        its room for its other transition), and becomes a cut when that is
        under 2 frames.

    Returns
    -------
    SetPlan

    Raises
    ------
    ValueError
        Without clips, or with a clip too short to keep :data:`MIN_PURE` untouched frames.

    Examples
    --------
    >>> plan = plan_set([Clip("a", 20), Clip("b", 20)], pans=(), flash_lengths=(), menu=[Transition("dissolve", 24)])
    >>> plan.transitions
    (Transition(kind='dissolve', length=16),)
    """
    if not clips:
        raise ValueError("no clips to build the set from")
    rng = random.Random(seed)
    order = list(clips)
    rng.shuffle(order)
    shots = [Shot(clip.name, clip.frames, clip.negative) for clip in order]
    flash_lengths = list(flash_lengths)[: len(shots)]
    for index, length in zip(rng.sample(range(len(shots)), len(flash_lengths)), flash_lengths):
        shots[index] = replace(shots[index], flash=(0, length))  # offset set once the transitions are known
    places = [round((k + 1) * len(order) / (len(pans) + 1)) for k in range(len(pans))]
    for k, pan in reversed(list(enumerate(pans))):
        source = order[(places[k] + len(order) // 2) % len(order)]
        shots.insert(places[k], Shot(source.name, pan_frames, "fast pan", pan=pan))

    junctions = len(shots) - 1
    wanted = list(itertools.islice(itertools.cycle(menu), junctions)) if menu else [Transition("cut")] * junctions
    rng.shuffle(wanted)
    transitions: list[Transition] = []
    head = 0  # frames of the current shot the transition before it mixed
    for index, transition in enumerate(wanted):
        after = shots[index + 1]
        keep = min(wanted[index + 1].length, _room(after) // 2) if index + 1 < junctions else 0  # for its next one
        length = max(0, min(transition.length, _room(shots[index]) - head, _room(after) - keep))
        transitions.append(transition if length == transition.length else
                           Transition(transition.kind, length) if length >= 2 else Transition("cut"))  # fmt: skip
        head = transitions[-1].length

    for index, shot in enumerate(shots):
        if shot.flash:
            head = transitions[index - 1].length if index > 0 else 0
            tail = transitions[index].length if index < junctions else 0
            length = shot.flash[1]
            shots[index] = replace(shot, flash=(head + (shot.frames - head - tail - length) // 2, length))
    return SetPlan(tuple(shots), tuple(transitions))


def default_data() -> Path:
    """The data folder: ``data`` in :func:`_common.shared_dir` (holding ``davis2016/`` and ``videos/``)."""
    return shared_dir() / "data"


def find_clips(data: Path, max_clip_frames: int) -> tuple[list[Clip], dict[str, str]]:
    """The clips of the set: every DAVIS-2016 sequence, then every video, by name.

    Parameters
    ----------
    data : Path
        Holds ``davis2016/JPEGImages/480p/<sequence>/`` and ``videos/``
        (either may be missing).
    max_clip_frames : int
        Frames used per clip at most.

    Returns
    -------
    clips : list of Clip
        Named ``davis2016/<sequence>`` (negative stretch ``"moving objects"``)
        and ``videos/<file>``; a video's frame count is its container's
        (:func:`render` checks it), counted by decoding when it gives none.
    paths : dict of str to str
        Clip name to the folder or file to read it from.

    Raises
    ------
    FileNotFoundError
        If no clip is found.
    """
    clips: list[Clip] = []
    paths: dict[str, str] = {}
    davis = data / "davis2016" / "JPEGImages" / "480p"
    for folder in sorted(davis.iterdir()) if davis.is_dir() else []:
        if folder.is_dir():
            source = FrameSource(folder)
            frames = min(max_clip_frames, source.frame_count or 0)
            clips.append(Clip(f"davis2016/{folder.name}", frames, "moving objects"))
            paths[clips[-1].name] = str(folder)
    videos = data / "videos"
    for file in sorted(videos.iterdir()) if videos.is_dir() else []:
        if file.suffix.lower() in VIDEO_EXTENSIONS:
            source = FrameSource(file)
            count = source.frame_count or sum(1 for _ in itertools.islice(source, max_clip_frames))
            clips.append(Clip(f"videos/{file.name}", min(max_clip_frames, count)))
            paths[clips[-1].name] = str(file)
    if not clips:
        raise FileNotFoundError(f"no DAVIS sequence in {davis} and no video in {videos}")
    return clips, paths


def open_clip(path: str | Path, size: tuple[int, int] = SIZE) -> Iterator[np.ndarray]:
    """A clip's frames, resized to `size` (``cv2.INTER_AREA``), decoded lazily.

    Parameters
    ----------
    path : str or Path
        An image folder or a video (:class:`flowseg.io.FrameSource`).
    size : (int, int)
        Width and height wanted.

    Yields
    ------
    (H, W, 3) uint8 ndarray
        RGB frames, ``H, W = size[1], size[0]``.
    """
    frames = iter(FrameSource(path))
    try:
        for _, image in frames:
            if (image.shape[1], image.shape[0]) != size:
                image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            yield image
    finally:
        frames.close()  # type: ignore[attr-defined]


# --------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------
def boundaries_match(detected: Boundary, truth: Boundary) -> bool:
    """Whether a detection matches a true boundary: two cuts within :data:`CUT_TOLERANCE`, else overlapping spans.

    Examples
    --------
    >>> boundaries_match(Boundary("cut", 42, 43), Boundary("cut", 41, 42))
    True
    >>> boundaries_match(Boundary("cut", 43, 44), Boundary("cut", 41, 42))
    False
    >>> boundaries_match(Boundary("gradual", 110, 118), Boundary("gradual", 99, 112))
    True
    """
    if detected.kind == truth.kind == "cut":
        return abs(detected.start - truth.start) <= CUT_TOLERANCE
    return detected.start <= truth.end and truth.start <= detected.end


def match(truths: Sequence[Boundary], detections: Sequence[Boundary]) -> list[tuple[int, int]]:
    """One-to-one matching of detections to true boundaries, closest pairs first.

    Parameters
    ----------
    truths, detections : sequence of Boundary

    Returns
    -------
    list of (int, int)
        ``(truth index, detection index)`` pairs, sorted; every pair
        satisfies :func:`boundaries_match`, no index appears twice. Pairs
        are taken greedily by ``|start difference| + |end difference|``
        (ties: earlier truth, then earlier detection).

    Examples
    --------
    >>> match([Boundary("cut", 10, 11)], [Boundary("cut", 9, 10), Boundary("cut", 10, 11)])
    [(0, 1)]
    """
    candidates = sorted(
        (abs(d.start - t.start) + abs(d.end - t.end), ti, di)
        for ti, t in enumerate(truths)
        for di, d in enumerate(detections)
        if boundaries_match(d, t)
    )
    used_truths: set[int] = set()
    used_detections: set[int] = set()
    pairs = []
    for _, ti, di in candidates:
        if ti not in used_truths and di not in used_detections:
            used_truths.add(ti)
            used_detections.add(di)
            pairs.append((ti, di))
    return sorted(pairs)


def score(truths: Sequence[Boundary], detections: Sequence[Boundary]) -> dict[str, Any]:
    """Counts, precision, recall and F1 of detections against true boundaries (:func:`match`).

    Returns
    -------
    dict
        ``"true"``, ``"detected"``, ``"matched"``, ``"precision"``,
        ``"recall"`` and ``"f1"`` (``2 matched / (true + detected)``); a
        ratio is None where its denominator is 0.

    Examples
    --------
    >>> score([Boundary("cut", 9, 10), Boundary("cut", 30, 31)], [Boundary("cut", 10, 11)])
    {'true': 2, 'detected': 1, 'matched': 1, 'precision': 1.0, 'recall': 0.5, 'f1': 0.6666666666666666}
    """
    matched, true, detected = len(match(truths, detections)), len(truths), len(detections)
    return {
        "true": true,
        "detected": detected,
        "matched": matched,
        "precision": matched / detected if detected else None,
        "recall": matched / true if true else None,
        "f1": 2 * matched / (true + detected) if true + detected else None,
    }


def score_detector(
    truths: Sequence[Boundary], detections: Sequence[Boundary], *, reports_kinds: bool = True
) -> dict[str, dict[str, Any]]:
    """The ``cut``, ``gradual`` and ``any`` rows of one detector (see the module's scoring rule).

    Parameters
    ----------
    truths, detections : sequence of Boundary
    reports_kinds : bool
        False for a detector that reports cuts only (PySceneDetect): row
        ``cut`` takes all its detections as cuts, row ``gradual`` those
        that matched no true cut, as gradual transitions over their span.

    Returns
    -------
    dict of str to dict
        :func:`score` by row.
    """
    true_cuts = [t for t in truths if t.kind == "cut"]
    true_graduals = [t for t in truths if t.kind == "gradual"]
    if reports_kinds:
        cuts = [d for d in detections if d.kind == "cut"]
        graduals = [d for d in detections if d.kind == "gradual"]
    else:
        cuts = [d._replace(kind="cut") for d in detections]
        matched = {di for _, di in match(true_cuts, cuts)}
        graduals = [d._replace(kind="gradual") for di, d in enumerate(cuts) if di not in matched]
    return {"cut": score(true_cuts, cuts), "gradual": score(true_graduals, graduals), "any": score(truths, detections)}


def false_alarms(
    truths: Sequence[Boundary], detections: Sequence[Boundary], stretches: Sequence[Stretch]
) -> dict[str, int]:
    """Where the detections that match no truth (row ``any``) fall.

    Returns
    -------
    dict of str to int
        Counts by :data:`NEGATIVE_KINDS` (the first kind whose stretch the
        detection's span overlaps) and ``"other"``.

    Examples
    --------
    >>> stretches = [Stretch("moving objects", 0, 30), Stretch("flash", 12, 12)]
    >>> false_alarms([], [Boundary("cut", 11, 12), Boundary("cut", 20, 21), Boundary("cut", 40, 41)], stretches)
    {'flash': 1, 'fast pan': 0, 'moving objects': 1, 'other': 1}
    """
    matched = {di for _, di in match(truths, detections)}
    counts = dict.fromkeys([*NEGATIVE_KINDS, "other"], 0)
    for di, d in enumerate(detections):
        if di in matched:
            continue
        kind = next((kind for kind in NEGATIVE_KINDS for s in stretches
                     if s.kind == kind and d.start <= s.last and s.first <= d.end), "other")  # fmt: skip
        counts[kind] += 1
    return counts


# --------------------------------------------------------------------------
# detectors, each in its own process
# --------------------------------------------------------------------------
class TimedFrames:
    """An iterator over frames that adds up the time spent producing them (``seconds``) and counts them."""

    def __init__(self, frames: Iterable[np.ndarray]) -> None:
        self._frames = iter(frames)
        self.seconds = 0.0
        self.count = 0

    def __iter__(self) -> TimedFrames:
        return self

    def __next__(self) -> np.ndarray:
        start = time.perf_counter()
        try:
            image = next(self._frames)
        finally:
            self.seconds += time.perf_counter() - start
        self.count += 1
        return image


def checked_boundaries(found: Iterable[Any], frames: int) -> list[Boundary]:
    """Detections as :class:`Boundary` tuples, checked against the ``flowseg.shots`` contract.

    Parameters
    ----------
    found : iterable
        Objects with ``kind``, ``start`` and ``end``.
    frames : int
        Frames the detector was given.

    Returns
    -------
    list of Boundary
        Sorted by start.

    Raises
    ------
    ValueError
        For a kind other than :data:`KINDS`, or unless ``0 <= start < end < frames``.
    """
    boundaries = []
    for item in found:
        boundary = Boundary(str(item.kind), int(item.start), int(item.end))
        if boundary.kind not in KINDS or not 0 <= boundary.start < boundary.end < frames:
            raise ValueError(f"detection {item!r} breaks the contract: kind in {KINDS}, 0 <= start < end < {frames}")
        boundaries.append(boundary)
    return sorted(boundaries, key=lambda b: (b.start, b.end))


def _run_flowseg(frames: TimedFrames) -> tuple[list[Any], float, list[str]] | str:
    """flowseg's detector on the frames: (detections, seconds in the detector, notes), or why it is not available."""
    try:
        from flowseg.shots import detect
    except ImportError as error:
        return f"not available: {type(error).__name__}: {error}"
    start = time.perf_counter()
    found = list(detect(frames))
    return found, time.perf_counter() - start - frames.seconds, []


def _run_scenedetect(name: str, frames: TimedFrames) -> tuple[list[Any], float, list[str]] | str:
    """A PySceneDetect detector on the frames: (cuts as Boundary, seconds in it, notes), or why it is not available."""
    try:
        import scenedetect
        from scenedetect import AdaptiveDetector, ContentDetector, FrameTimecode
        from scenedetect.scene_manager import compute_downscale_factor
    except ImportError as error:
        return f"not measured: {type(error).__name__}: {error}"
    detector = ContentDetector() if name == "content" else AdaptiveDetector()
    starts: list[Any] = []
    seconds = 0.0
    factor: float | None = None
    position = FrameTimecode(0, fps=SET_FPS)
    for index, image in enumerate(frames):
        began = time.perf_counter()
        h, w = image.shape[:2]
        if factor is None:
            factor = compute_downscale_factor(max(w, h))  # SceneManager's default auto_downscale
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        if factor > 1.0:
            small = (max(1, round(w / factor)), max(1, round(h / factor)))
            bgr = cv2.resize(bgr, small, interpolation=cv2.INTER_LINEAR)
        position = FrameTimecode(index, fps=SET_FPS)
        starts += detector.process_frame(position, bgr)
        seconds += time.perf_counter() - began
    began = time.perf_counter()
    starts += detector.post_process(position)
    seconds += time.perf_counter() - began
    scene_starts = sorted({int(s.frame_num) for s in starts} - {0})
    note = (f"PySceneDetect {scenedetect.__version__}, default settings, "
            f"downscaled by {factor or 1:.2f} (as its SceneManager)")
    return [Boundary("cut", k - 1, k) for k in scene_starts], seconds, [note]


def run_detector(name: str, plan: SetPlan, paths: Mapping[str, str], size: tuple[int, int] = SIZE) -> dict[str, Any]:
    """Run one detector on the set; meant for a fresh process (:func:`_common.run_isolated`).

    Parameters
    ----------
    name : str
        A key of :data:`DETECTORS`.
    plan : SetPlan
        The set.
    paths : mapping of str to str
        Clip name to its folder or file (:func:`find_clips`).
    size : (int, int)
        Frame width and height.

    Returns
    -------
    dict
        ``"unavailable"``: why the detector cannot run here; or
        ``"detections"`` (list of :class:`Boundary`), ``"reports_kinds"``,
        ``"frames"``, ``"seconds"`` (in the detector, set generation
        excluded), ``"fps"``, ``"notes"`` and ``"peak_rss_mb"``.

    Raises
    ------
    ValueError
        If the detector did not consume the whole set, or its detections
        break the contract (:func:`checked_boundaries`).
    """
    frames = TimedFrames(render(plan, lambda clip: open_clip(paths[clip], size)))
    outcome = _run_flowseg(frames) if name == "flowseg" else _run_scenedetect(name, frames)
    if isinstance(outcome, str):
        return {"unavailable": outcome}
    found, seconds, notes = outcome
    if frames.count != plan.frames or next(frames, None) is not None:
        raise ValueError(f"{DETECTORS[name]} stopped after {frames.count} of {plan.frames} frames")
    print(f"[{name}] {len(found)} boundaries in {frames.count} frames, {seconds:.1f} s", file=sys.stderr, flush=True)
    return {
        "detections": checked_boundaries(found, frames.count),
        "reports_kinds": name == "flowseg",
        "frames": frames.count,
        "seconds": seconds,
        "fps": frames.count / seconds if seconds > 0 else None,
        "notes": notes,
        "peak_rss_mb": peak_rss_mb(),
    }


# --------------------------------------------------------------------------
# reporting
# --------------------------------------------------------------------------
def describe_set(plan: SetPlan) -> dict[str, Any]:
    """What the set holds: shots, frames, and counts of each transition and negative stretch.

    Returns
    -------
    dict
        ``"frames"``, ``"clips"`` (names, in set order), ``"pans"``,
        ``"cuts"``, ``"gradual"``, ``"transitions"`` (e.g. ``{"dissolve 6": 2}``)
        and ``"stretches"`` (count by kind).

    Examples
    --------
    >>> plan = SetPlan((Shot("a", 10, "moving objects"), Shot("a", 8, "fast pan", pan=Pan(True, False, 2.0)),
    ...                 Shot("b", 10, flash=(4, 1))), (Transition("cut"), Transition("dissolve", 2)))
    >>> describe_set(plan)["transitions"], describe_set(plan)["stretches"]
    ({'cut': 1, 'dissolve 2': 1}, {'flash': 1, 'fast pan': 1, 'moving objects': 1})
    """
    boundaries = plan.boundaries()
    order = {"cut": 0, "dissolve": 1, "fade": 2}
    kinds = Counter((order.get(t.kind, 3), t.kind, t.length) for t in plan.transitions)
    stretches = Counter(s.kind for s in plan.stretches())
    return {
        "frames": plan.frames,
        "clips": [shot.clip for shot in plan.shots if shot.pan is None],
        "pans": sum(shot.pan is not None for shot in plan.shots),
        "cuts": sum(b.kind == "cut" for b in boundaries),
        "gradual": sum(b.kind == "gradual" for b in boundaries),
        "transitions": {kind if kind == "cut" else f"{kind} {length}": kinds[key]
                        for key in sorted(kinds) for _, kind, length in [key]},
        "stretches": {kind: stretches[kind] for kind in NEGATIVE_KINDS},
    }  # fmt: skip


def scores_table(detectors: Mapping[str, Mapping[str, Any]]) -> str:
    """The markdown table of scores: rows detector x (cut, gradual, any), with each detector's fps."""
    headers = ["detector", "kind", "true", "detected", "matched", "precision", "recall", "F1", "fps"]
    rows = []
    for name, result in detectors.items():
        for kind, row in result["scores"].items():
            rows.append([DETECTORS.get(name, name), kind, str(row["true"]), str(row["detected"]), str(row["matched"]),
                         format_number(row["precision"]), format_number(row["recall"]), format_number(row["f1"]),
                         format_number(result["run"]["fps"], 1)])  # fmt: skip
    return markdown_table(headers, rows)


def false_alarm_table(detectors: Mapping[str, Mapping[str, Any]]) -> str:
    """The markdown table of false alarms by where they fall, with frames, fps and peak memory."""
    headers = ["detector", "frames", "fps", "peak RSS MB", "false alarms: flash", "fast pan", "moving objects", "other"]
    rows = []
    for name, result in detectors.items():
        run, alarms = result["run"], result["false_alarms"]
        rows.append([DETECTORS.get(name, name), str(run["frames"]), format_number(run["fps"], 1),
                     format_number(run["peak_rss_mb"], 0),
                     *(str(alarms[k]) for k in [*NEGATIVE_KINDS, "other"])])  # fmt: skip
    return markdown_table(headers, rows)


def report_lines(report: Mapping[str, Any]) -> list[str]:
    """The markdown lines describing a run: the set, the detectors not measured, then the tables."""
    described = report["set"]
    transitions = ", ".join(f"{count} {kind.replace(' ', ' of ')} frames"
                            for kind, count in described["transitions"].items() if kind != "cut")  # fmt: skip
    stretches = ", ".join(f"{count} {kind}" for kind, count in described["stretches"].items())
    lines = [
        f"- Set: {described['frames']} frames at {SIZE[0]}x{SIZE[1]} from `{report['data']}`, "
        f"seed {report['seed']}, at most {report['max_clip_frames']} frames per clip; "
        f"{len(described['clips'])} clips ({', '.join(described['clips'])}) and {described['pans']} fast pans",
        f"- Boundaries: {described['cuts']} cuts, {described['gradual']} gradual ({transitions})",
        f"- Negative stretches (no boundary): {stretches}",
    ]
    for name, result in report["detectors"].items():
        lines += [f"- {DETECTORS.get(name, name)}: {note}" for note in result["run"]["notes"]]
    lines += [f"- {DETECTORS.get(name, name)}: {u['reason']}" for name, u in report["unmeasured"].items()]
    if report["detectors"]:
        lines += ["", scores_table(report["detectors"]), "",
                  f"A cut matches a true cut within {CUT_TOLERANCE} frame; a gradual transition matches one it "
                  "overlaps; "
                  "one to one. A detection of the wrong kind is a false positive of its kind; row any ignores kinds. "
                  "PySceneDetect reports cuts only: its cuts are scored as cuts, and those matching no true cut as "
                  "gradual claims (a cut inside a true gradual span, or one frame beyond either end, matches it). "
                  "fps: frames / seconds in the detector, set generation excluded. See benchmarks/README.md.",
                  "", "False alarms (row any: detections matching no true boundary) by where they fall:", "",
                  false_alarm_table(report["detectors"])]  # fmt: skip
    return lines


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_data(),
                        help="folder holding davis2016/JPEGImages/480p/<sequence>/ and videos/ "
                             "(default: $FLOWSEG_SHARED/data or ../shared/data)")
    parser.add_argument("--max-clip-frames", type=int, default=60, metavar="N",
                        help=f"frames used per clip at most (default: 60; at least {MIN_CLIP_FRAMES})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the set's layout (default: 0)")
    parser.add_argument("--detectors", type=comma_choices(list(DETECTORS)), default=list(DETECTORS),
                        help=f"comma-separated detectors (default: all): {', '.join(DETECTORS)}")
    add_output_options(parser, out=Path("/tmp/flowseg-shots"))
    args = parser.parse_args(argv)
    if args.max_clip_frames < MIN_CLIP_FRAMES:
        parser.error(f"--max-clip-frames is {args.max_clip_frames}; expected at least {MIN_CLIP_FRAMES}")
    try:
        args.clips, args.paths = find_clips(args.data, args.max_clip_frames)
    except (OSError, ValueError) as error:  # flowseg's VideoOpenError is an OSError, ShapeError a ValueError
        parser.error(f"--data {args.data}: {error}")
    short = [f"{clip.name} has {clip.frames} frames" for clip in args.clips if clip.frames < MIN_CLIP_FRAMES]
    if short:
        parser.error(f"--data {args.data}: {', '.join(short)}; every clip needs at least {MIN_CLIP_FRAMES}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns the exit status (1 when a detector failed)."""
    args = _parse_args(argv)
    env = environment()  # first: the load average before our own work
    plan = plan_set(args.clips, seed=args.seed, pan_frames=min(PAN_FRAMES, args.max_clip_frames))
    truths, stretches = plan.boundaries(), plan.stretches()
    detectors: dict[str, dict[str, Any]] = {}
    unmeasured: dict[str, dict[str, Any]] = {}
    for name in args.detectors:
        outcome = attempt(name, run_detector, name, plan, args.paths)
        if outcome.reason is None and "unavailable" in outcome.result:
            unmeasured[name] = {"reason": outcome.result["unavailable"], "failed": False}
        elif outcome.reason is not None:
            unmeasured[name] = {"reason": outcome.reason, "failed": outcome.failed}
        else:
            run = outcome.result
            detected = run["detections"]
            detectors[name] = {
                "run": run,
                "scores": score_detector(truths, detected, reports_kinds=run["reports_kinds"]),
                "false_alarms": false_alarms(truths, detected, stretches),
            }

    report = {
        "environment": env,
        "data": display_path(args.data),
        "max_clip_frames": args.max_clip_frames,
        "seed": args.seed,
        "set": describe_set(plan),
        "plan": {"shots": [asdict(shot) for shot in plan.shots], "transitions": [asdict(t) for t in plan.transitions]},
        "truth": [b._asdict() for b in truths],
        "stretches": [s._asdict() for s in stretches],
        "detectors": {name: {**result, "run": {**result["run"],
                                               "detections": [b._asdict() for b in result["run"]["detections"]]}}
                      for name, result in detectors.items()},  # fmt: skip
        "unmeasured": unmeasured,
    }
    publish(report, report_lines(report), title="Shot boundaries", out=args.out, record=args.record)
    return 1 if any(u["failed"] for u in unmeasured.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
