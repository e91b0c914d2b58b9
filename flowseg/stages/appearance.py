"""Object appearance stage (semi-supervised mode): evidence for the one object given in a first mask.

The evidence of each frame is the object's appearance (colour, and where a
semantic model recognises the object, its class probability) restricted to
the neighbourhood of where the flow says the object now is, averaged with
what the colours say near each pixel in the previous frame (a local colour
model that tells the object from a background of the same colours elsewhere).
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from .._validate import check_image, check_prob
from ..models._memo import LastAnswer
from ..types import Flow, Frame, Image, Mask, ProbMap, Stage, StageOutput
from ._boxes import grown_box, kept_parts, union_box
from ._colours import ColourModel
from ._sampling import pixel_grid
from ._recovery import ObjectTrack
from .motion import object_motion_agreement
from .semantics import is_part_of_a_larger_find
from .warp import warp_mask

__all__ = ["LocalColourModel", "spatial_prior", "prior_anchor", "regions_apart", "ObjectAppearance"]


OBJECT_COLOUR_BINS: int = 32
"""Bins per channel of :class:`ObjectAppearance`'s colour histograms.

On the 12 DAVIS-2016 sequences (``balanced``) J&F was 0.680 at 16, 0.704 at
32, 0.694 at 64; in ``dog.mp4`` (a white and brown dog on pale paving) 16 let
the paving into the dog's mask. Finer bins need more pixels per colour: with
``target="moving"`` 32 bins raised DAVIS J&F from 0.566 to 0.577 but lost a
small synthetic mover of uniformly random colours when it stopped, so
:class:`~flowseg.stages.MovingObjects` keeps 16."""


GIST_COLOUR_BINS: int = 8
"""Bins per channel of the coarse colour histograms a region found after a loss must resemble as a whole
(:meth:`~flowseg.stages.ColourModel.resemblance`): coarse, so lighting changes count less."""


class LocalColourModel:
    """Object-versus-background colour posterior that varies over the frame: one joint RGB histogram per grid cell.

    Where the object and the background share colours (a black swan on dark
    water, a grey car before a grey wall), a histogram of the whole frame
    cannot tell them apart; near any one place they usually differ. Each cell
    of a grid counts the object's and the background's pixels of each colour
    over its own and its 8 neighbouring cells; a pixel's posterior is read
    from the cell it comes from (where the flow says it was).

    Parameters
    ----------
    cell : int
        Side of a grid cell in pixels (>= 1).
    bins : int
        Histogram bins per channel (a power of two from 2 to 64).

    Notes
    -----
    ``posterior = (n_obj + k * prior) / (n_obj + n_bg + k)``, with ``n`` the
    counts of the pixel's colour in the 3 x 3 cells around its cell, as
    fractions of their pixels, and ``k`` = :attr:`PSEUDO_COUNT`: where a
    colour was seen nearby it decides, elsewhere the `prior` does.

    Examples
    --------
    Black on the left is object, black on the right is background:

    >>> image = np.zeros((8, 32, 3), np.uint8)
    >>> mask = np.zeros((8, 32), bool); mask[:, :8] = True
    >>> model = LocalColourModel(cell=4).fit(image, mask)
    >>> p = model.posterior(image, prior=np.full((8, 32), 0.5, np.float32))
    >>> float(p[4, 2]) > 0.9, float(p[4, 30]) < 0.1
    (True, True)
    """

    PSEUDO_COUNT: float = 0.02
    """Weight of the prior, as a fraction of the pixels around a cell (0.1 and 0.3 did worse on DAVIS)."""

    def __init__(self, cell: int, bins: int = 8) -> None:
        if cell < 1:
            raise ValueError(f"cell is {cell}; expected at least 1 pixel")
        self._colours = ColourModel(bins)
        self.cell = int(cell)
        self._object: np.ndarray | None = None  # by (cell row, cell column, colour slot): the object's counts
        self._total: np.ndarray | None = None  # ... and the object's and background's together
        self._slot = np.zeros(0, np.int32)  # each colour bin's slot: seen in the region, or the last (never counted)
        self._slots = 0
        self._cols = 0
        self._region = (slice(0, 0), slice(0, 0))

    def fit(self, image: Image, mask: Mask, region: tuple[slice, slice] | None = None) -> LocalColourModel:
        """Count the colours of the object (`mask`) and of the background around each cell; returns self.

        With `region` (rows, columns), only that part of the frame is modelled
        (the grid starts at its corner); elsewhere :meth:`posterior` gives the prior.
        """
        self._region = region = region or (slice(0, mask.shape[0]), slice(0, mask.shape[1]))
        image, mask = image[region], mask[region]
        h, w = mask.shape
        rows, self._cols = -(-h // self.cell), -(-w // self.cell)
        step = max(self.cell // 8, 1)  # every step-th pixel each way: 64 or more per cell
        image, mask = image[::step, ::step], np.asarray(mask, bool)[::step, ::step]
        ys, xs = np.arange(0, h, step), np.arange(0, w, step)
        cells = (ys[:, None] // self.cell) * self._cols + xs[None, :] // self.cell
        colours = self._colours.bin_index(image)
        seen = np.bincount(colours.ravel(), minlength=self._colours.bins**3) > 0  # count only the colours seen
        self._slots = int(seen.sum()) + 1
        self._slot = np.where(seen, np.cumsum(seen) - 1, self._slots - 1).astype(np.int32)
        key = (cells * self._slots + self._slot[colours]) * 2 + mask  # background 0, object 1
        counts = np.bincount(key.ravel(), minlength=rows * self._cols * self._slots * 2).reshape(rows, self._cols, -1)
        summed = counts.copy()  # sum over 3 x 3 cells, separably (whole numbers: exact in any order)
        summed[1:] += counts[:-1]
        summed[:-1] += counts[1:]
        counts = summed.copy()
        counts[:, 1:] += summed[:, :-1]
        counts[:, :-1] += summed[:, 1:]
        counts = (counts.astype(np.float32) * (step**2 / (9.0 * self.cell**2))).reshape(-1, 2)
        self._object, self._total = counts[:, 1].copy(), counts[:, 0] + counts[:, 1]
        return self

    def posterior(self, image: Image, prior: ProbMap, flow_bwd: Flow | None = None, *,
                  motion: np.ndarray | None = None) -> ProbMap:
        """``(H, W) float32`` in [0, 1]: the object posterior of each pixel of `image`.

        Parameters
        ----------
        image : (H, W, 3) uint8 ndarray
            The frame to label.
        prior : (H, W) float32 ndarray
            The posterior where the cell saw no pixel of that colour, in [0, 1].
        flow_bwd : (H, W, 2) float32 ndarray, optional
            Flow from `image` back to the frame the model was fitted on: each
            pixel is read from the cell it came from (its own cell if None).
            Only the pixels of the fitted region are labelled.
        motion : (2, 3) float ndarray, optional
            Instead of `flow_bwd`, an affine map from the pixels (x, y) of
            `image` to the frame the model was fitted on, for a model that
            moves with its object: the pixels labelled are those that map
            into the fitted region.
        """
        if self._object is None or self._total is None:
            raise RuntimeError("LocalColourModel used before fit")
        model_region = self._region  # pixels of `image` that come from outside it are taken for outside it too
        region = self.labelled_box(prior.shape, motion)
        if region is None:
            return np.array(prior, dtype=np.float32)
        if motion is None:
            source = pixel_grid(*prior.shape)[region]
            if flow_bwd is not None:
                source = source + flow_bwd[region]
        else:
            linear, shift = motion[:, :2].astype(np.float32), motion[:, 2].astype(np.float32)
            source = pixel_grid(*prior.shape)[region] @ linear.T + shift
        ys = np.floor(source[..., 1]).astype(np.int32) - model_region[0].start
        xs = np.floor(source[..., 0]).astype(np.int32) - model_region[1].start
        height, width = model_region[0].stop - model_region[0].start, model_region[1].stop - model_region[1].start
        inside = (ys >= 0) & (ys < height) & (xs >= 0) & (xs < width)
        cells = np.clip(ys, 0, height - 1) // self.cell * self._cols + np.clip(xs, 0, width - 1) // self.cell
        at = cells * self._slots + self._slot[self._colours.bin_index(image[region])]
        posterior = np.array(prior, dtype=np.float32)
        crop = posterior[region]
        k = self.PSEUDO_COUNT
        np.copyto(crop, (self._object[at] + k * crop) / (self._total[at] + k), where=inside)
        return posterior

    def labelled_box(self, shape: tuple[int, int], motion: np.ndarray | None = None) -> tuple[slice, slice] | None:
        """The box of the pixels :meth:`posterior` labels in a frame of `shape` (elsewhere it gives the prior),
        read through the affine map `motion` if given; None when there are none."""
        return self._region if motion is None else _mapped_box(self._region, motion, shape)


def _mapped_box(region: tuple[slice, slice], motion: np.ndarray,
                shape: tuple[int, int]) -> tuple[slice, slice] | None:
    """The box of the pixels of a frame of `shape` that the affine map `motion` takes into `region`, or None."""
    rows, cols = region
    corners = np.array([[cols.start, rows.start], [cols.stop, rows.start], [cols.start, rows.stop],
                        [cols.stop, rows.stop]], np.float64)  # fmt: skip
    linear, shift = motion[:, :2], motion[:, 2]
    if abs(np.linalg.det(linear)) < 1e-6:
        return None
    back = (corners - shift) @ np.linalg.inv(linear).T
    (x0, y0), (x1, y1) = np.floor(back.min(axis=0)), np.ceil(back.max(axis=0))
    box = (slice(int(max(y0, 0)), int(min(y1, shape[0]))), slice(int(max(x0, 0)), int(min(x1, shape[1]))))
    return box if all(part.start < part.stop for part in box) else None


def _local_model(image: Image, mask: Mask, size: float) -> LocalColourModel:
    """:class:`LocalColourModel` of an object of `size` (square root of its area, pixels) in `image`: cells of an
    eighth of its size (4 to 64 px), over its box grown by its size."""
    return LocalColourModel(cell=int(np.clip(size / 8, 4, 64))).fit(image, mask, grown_box(mask, size))


_OBJECT_COLOUR_BINS = LastAnswer(ColourModel(OBJECT_COLOUR_BINS).bin_index)
"""Each pixel's bin of :class:`ObjectAppearance`'s colour histograms, worked out once a frame for all the objects
followed in it (about 2 ms each at 854x480)."""


SPREAD: float = 1.5
"""Among other given objects, :class:`ObjectAppearance` fits the object's motion to its object-like pixels alone
once the carried mask covers more than this times the object's first-frame area (it has spread onto something
else). On the composites of ``benchmarks/instances.py`` J&F was 0.634 at 1.5 and at 1.25, 0.622 at 2, 0.620
without; always (any area) 0.638, but c00-blackswan fell from 0.654 to 0.592."""


REACH: float = 6.0
"""How far, in fall-offs of its spatial prior, an object's evidence is worked out around where it can be (and
wherever a local colour model reads the frame): beyond, the prior is below ``exp(-REACH**2 / 2)`` (1.5e-8), too
little for any appearance or motion to lift a pixel to the object."""


SPECK: float = 1 / 64
"""A part of an object's mask smaller than this share of the mask's area (a cell of its local colour model, an
eighth of its size across) is a speck: unless it lies within :data:`SPECK_REACH` fall-offs of a larger part, the
spatial prior does not fall off around it (:func:`prior_anchor`)."""

SPECK_REACH: float = 2.0
"""Fall-offs of the spatial prior around the object's larger parts within which its specks are looked around too."""


def prior_anchor(mask: Mask, sigma: float) -> Mask:
    """The parts of `mask` that :func:`spatial_prior` should fall off around: all but its far specks.

    A speck (a part under :data:`SPECK` of the mask's area; the largest part
    never is) more than :data:`SPECK_REACH` times `sigma` pixels from every
    larger part is left out. Each such speck, with its prior's fall-off,
    would let the evidence of the object's colours seed specks a fall-off
    further out, frame after frame: on DAVIS-2016 mallard-water, started
    from a box's mask that took in a little dark water, specks walked out
    from the duck and grew into the rippled water 300 px away (J 0.84 at
    frame 40, 0.33 at frame 70).

    Parameters
    ----------
    mask : (H, W) bool ndarray
        Where the object is expected.
    sigma : float
        The spatial prior's fall-off in pixels (> 0).

    Returns
    -------
    (H, W) bool ndarray
        `mask` without its far specks.
    """
    def near_large_ones(box: tuple[slice, slice], parts: np.ndarray, areas: np.ndarray) -> np.ndarray:
        large = areas >= min(SPECK * areas.sum(), areas.max())
        if large.all():
            return large
        near = spatial_prior(np.concatenate([[False], large])[parts], sigma) > np.exp(-(SPECK_REACH**2) / 2)
        return np.bincount(parts[near], minlength=len(areas) + 1)[1:] > 0  # the parts with a pixel near

    return kept_parts(mask, near_large_ones)


DEFAULT_LOCALITY: float = 0.25
"""Default fall-off of the spatial prior around an object, as a fraction of its size (the square root of its area)."""


def spatial_prior(mask: Mask, sigma: float) -> ProbMap:
    """Where the object can be: 1 on `mask`, falling off as a Gaussian of the distance to it.

    Parameters
    ----------
    mask : (H, W) bool ndarray
        Where the object is expected.
    sigma : float
        Fall-off in pixels (> 0).

    Returns
    -------
    (H, W) float32 ndarray
        ``exp(-d^2 / (2 sigma^2))`` with ``d`` the distance to the nearest
        pixel of `mask`; all ones when `mask` is empty (no idea where). For
        ``sigma >= 8`` the distances are taken on a grid ``sigma // 4``
        (at most 8) times coarser, which shifts ``d`` by at most about that
        step. They are scipy's exact Euclidean distances: OpenCV's precise
        transform gave the same input different last bits from call to
        call (it reads memory it has not written), which the recovery's
        decisions made into J&F 0.443 or 0.467 on breakdance from one run
        to the next.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((1, 5), bool); m[0, 0] = True
    >>> spatial_prior(m, sigma=1.0).round(2)
    array([[1.  , 0.61, 0.14, 0.01, 0.  ]], dtype=float32)
    """
    if not sigma > 0:
        raise ValueError(f"sigma is {sigma}; expected a positive number of pixels")
    if not mask.any():
        return np.ones(mask.shape, np.float32)
    h, w = mask.shape
    step = int(np.clip(sigma // 4, 1, 8))  # the prior is smooth over sigma: distances on a coarser grid will do
    if step > 1:  # a coarse cell is the object's if any of its pixels is
        small = (max(w // step, 1), max(h // step, 1))
        mask = cv2.resize(mask.astype(np.float32), small, interpolation=cv2.INTER_AREA) > 0
    distance = ndimage.distance_transform_edt(~mask).astype(np.float32) * (w / mask.shape[1])
    prior = np.exp(-(distance**2) / (2.0 * sigma**2)).astype(np.float32)
    return prior if step == 1 else cv2.resize(prior, (w, h), interpolation=cv2.INTER_LINEAR)


def regions_apart(detected: Mask, where: Mask) -> Mask:
    """The connected regions of `detected` that lie mostly (more than half their pixels) outside `where`.

    Parameters
    ----------
    detected, where : (H, W) bool ndarray
        What a model found, and where the object is thought to be.

    Returns
    -------
    (H, W) bool ndarray
        The pixels of those regions (8-connected).

    Examples
    --------
    >>> detected = np.array([[1, 1, 0, 1, 1]], bool)
    >>> where = np.array([[1, 0, 0, 0, 0]], bool)
    >>> regions_apart(detected, where).astype(int)
    array([[0, 0, 0, 1, 1]])
    """
    count, labels = cv2.connectedComponents(detected.view(np.uint8), connectivity=8)
    sizes = np.bincount(labels.ravel(), minlength=count)
    inside = np.bincount(labels[where], minlength=count)
    apart = 2 * inside < sizes
    apart[0] = False  # the background of `detected`
    return apart[labels]


class ObjectAppearance:
    """Evidence for the object given by a first-frame mask (semi-supervised mode).

    On the frame that carries ``"init_mask"`` the stage learns the object's
    colours against the background's (:class:`~flowseg.stages.ColourModel`) and, with a
    `semantics` stage, asks which classes that model sees in the mask
    (:meth:`~flowseg.stages.SemanticSegmenter.classes_in`, then
    :meth:`~flowseg.stages.SemanticSegmenter.retarget` to them; for another
    stage: whether its mean evidence in the mask is above 0.5; either way,
    unless among others, not where the object is a small part of what the
    model finds, :func:`~flowseg.stages.semantics.is_part_of_a_larger_find`). On every later
    frame the evidence is the mean of ``global = spatial_prior(warped previous
    mask) * appearance``, where appearance is the colour posterior,
    averaged with the class probability when a class was found (else times
    one minus it on the model's finds apart from the object), and of
    ``local``, the posterior of a :class:`LocalColourModel` fitted on the
    previous frame and its mask (`global` standing in where the colour was
    not seen nearby), weighed by `local_weight`, then weighed by motion
    (with `use_motion`, below). The appearance and the motion are worked out
    only within :data:`REACH` fall-offs of where the object can be and where
    a local model reads the frame (over the whole frame while the object is
    lost); elsewhere the evidence is 0, as good as it was: the same masks on
    every frame of the 34 DAVIS-2016 sequences, and each of several objects
    costs less (6 objects on the first 25 frames of the 3-person composites
    of ``benchmarks/instances.py``: 3.3 -> 3.9 frames per second, 1 object
    6.7 -> 6.9, on a 2-core Intel Xeon).

    Mechanisms that keep the mask on its object:

    - **Locality.** The spatial prior, with a fall-off of `locality` times the
      object's first-frame size (square root of its area), gives nothing to
      look-alikes elsewhere, including other objects of the same class.
      It falls off around the carried mask but its far specks
      (:func:`prior_anchor`), which would otherwise seed specks further out
      frame after frame. On the 34 DAVIS-2016 sequences J&F went from
      0.7757 to 0.7758 (fold A 0.7831 -> 0.7836, B 0.7684 -> 0.7680;
      mallard-water 0.731 -> 0.753, kite-surf 0.645 -> 0.615, whose kite
      lines the truth holds in fragments: far specks), and from a box's
      mask (``object+box``) from 0.745 to 0.750 (A 0.769 either way, B
      0.721 -> 0.732; mallard-water 0.517 -> 0.725). Without looking
      around any speck, near or far: 0.777 and 0.750, but bmx-trees fell
      below 0.45 (0.458 -> 0.448). Not among other given objects, where an
      object partly hidden behind another shows in pieces: on the
      composites of ``benchmarks/instances.py`` J&F was 0.628 with the rule
      (c01-camel 0.525 -> 0.465), 0.635 without.
    - **Local colours.** The local model, fitted on the previous frame over
      the object's box grown by its size, in cells of an eighth of its size
      (both as it was in that frame), tells the object from background of the
      same colours around it, which the global histograms cannot: on the 12
      DAVIS-2016 sequences (``balanced``) J&F is 0.706 with it, 0.681 without
      (camel 0.883 / 0.846). Over the 34 sequences, cells of a sixth, an
      eighth, a twelfth and a sixteenth of the object's size gave 0.7816,
      0.7837, 0.7865 and 0.7850 (a twelfth: A 0.7915, B 0.7814; breakdance
      0.443 -> 0.476, no sequence lower by 0.01), but a twelfth lowered the
      composites of ``benchmarks/instances.py --configs objects`` (seed 0
      0.635 -> 0.622, seed 1 0.618 -> 0.613; with cells of at least 8 px
      rather than 4, 0.624 and 0.595; a tenth, 0.615 and 0.613; coarser
      cells too, a sixth 0.618 and 0.603, a fifth 0.623 and 0.604): one
      size for all, an eighth. At weight 1.0 (16-bin global histograms then)
      J&F fell from 0.647 to 0.520: alone it loses fast objects whose flow
      fails. With the local models (this one and the given frame's below)
      fitted without the pixels within 2 px of the mask's edge (where its
      errors lie, so they would not teach the next frame's model), mean J
      over the 34 sequences went from 0.7911 to 0.7899 (A 0.8022, B 0.7775;
      motorbike 0.733 -> 0.681), and the composites' J&F from 0.635 to
      0.613: where objects touch, the edge is what tells them apart.
    - **Surroundings** (`surroundings`). What surrounded each part of the
      object where it was given stays around it: a second local model,
      fitted on that frame, is read where each pixel was then on the object
      (:attr:`~flowseg.stages._recovery.ObjectTrack.to_given`, the object's
      own motions composed), and averaged into the local posterior as far
      as the object moves rigidly and those motions still hold (weight
      ``rigidity``, the share of its trusted flow that its last similarity
      explains, times the share of the given object that they take onto
      where it is now, :meth:`~flowseg.stages._recovery.ObjectTrack.given_share`,
      from an exact given mask; half that from a guessed one,
      ``"init_mask_exact"`` false: a prompt's). A reflection or a shadow
      that has the object's colours and moves with it, which neither the
      colours nor the motion tell apart, was background there. On the 34 DAVIS-2016 sequences, weighted
      ``0.5 * rigidity`` from every mask, J&F went from 0.770 to 0.776
      (fold A 0.782 -> 0.783, B 0.758 -> 0.768; boat 0.533 -> 0.587,
      blackswan 0.754 -> 0.802, mallard-water 0.683 -> 0.731; bmx-bumps
      0.572 -> 0.503, whose rider is lost and found again at other frames);
      weighted 0.5 whatever the rigidity, 0.775 (A 0.780: breakdance 0.506
      -> 0.462). Weighted ``rigidity`` from the true first mask, 0.779 (A
      0.786, B 0.773; boat 0.664, blackswan 0.846, drift-chicane 0.693,
      whose car turns and shows a side not seen when given), but from a
      box's mask (``object+box``) 0.748 against 0.750 (A 0.768, B 0.728;
      camel 0.818 -> 0.782): the parts the box's mask misses are held out
      by its surroundings. Hence the two weights. (From a guessed mask,
      learning the first frame's background colours outside the mask's
      bounding box only, where the box says background surely, left
      ``object+box`` at 0.750, A 0.768, B 0.731, on the AMD EPYC: bmx-bumps
      alone moved, 0.514 -> 0.499.) From the true first mask
      weighted ``rigidity ** 2`` (full for a rigid object, as before for a
      half-rigid dancer), 0.7816 against 0.7812, but B 0.7768 against
      0.7771 (A 0.7863: breakdance 0.467 -> 0.485, bmx-bumps 0.519 ->
      0.504). At full weight only where it says background more than the
      previous frame's model (half where it says object), mean J over the
      34 went from 0.7911 to 0.7916 but fold A fell (0.8018 -> 0.8001;
      breakdance 0.484 -> 0.453, drift-chicane 0.691 -> 0.615); so from a
      box's mask, whose background was mostly outside the box, J&F 0.7505
      against 0.7503 but A 0.7676 against 0.7688 (boat 0.470 -> 0.520, mallard-water 0.725 ->
      0.761, drift-chicane 0.632 -> 0.554, breakdance 0.467 -> 0.436).
      Weighted also by the share of the object, mapped back to the given
      frame, that falls inside the given mask (low where a car turns and
      shows a new side), J&F from the true first mask 0.7806 against 0.7812
      (A 0.7871 against 0.7852, B 0.7741 against 0.7771): drift-chicane
      0.693 -> 0.757, but boat 0.664 -> 0.604, whose mask, once it holds
      the reflection, maps outside the given one and so weakens what would
      take the reflection out. Weighted instead by the share of the given
      object that the composed motions take onto the carried mask
      (``given_share``: it falls as they drift from where each part was,
      as a spinning dancer's similarities do, and a reflection held in the
      mask does not lower it), J&F went from 0.7837 to 0.7867 (A 0.7888 ->
      0.7939, B 0.7786 -> 0.7796; breakdance 0.443 -> 0.494, whose jeans
      the drifted map had read as the crowd's; drift-chicane 0.663 -> 0.703,
      surf 0.914 -> 0.944; kite-surf 0.671 -> 0.645, motorbike 0.714 ->
      0.689), and from a box's mask from 0.7537 to 0.7562 (A 0.7714 ->
      0.7747, B 0.7360 -> 0.7377; bmx-bumps 0.508 -> 0.558, bmx-trees 0.484
      -> 0.451): so weighted. Their intersection over union instead gave
      0.7829 (B 0.7736), the share squared 0.7841 (B 0.7764), the overlap
      over the smaller of the two (which an occlusion does not lower)
      0.7862 (B 0.7776). Not after the object was found again
      (where its parts were is not known).
    - **Motion.** The evidence is weighed (odds multiplied) by whether each
      pixel's flow fits the object's own motion (an affine map fitted to the
      flow inside the carried mask) better than the camera's
      (:func:`~flowseg.stages.object_motion_agreement`): background of the
      object's colours that keeps still while the object moves stays
      background. On the 12 DAVIS-2016 sequences J went from 0.664 to 0.690,
      F from 0.630 to 0.670 (car-roundabout 0.741 -> 0.853, dog 0.767 ->
      0.844); what moves with the object is taken for it, as a swan's
      reflection (blackswan 0.889 -> 0.699). No effect while both stand still.
    - **Other objects.** When the semantic model sees its classes no more in
      the object than around it (mean probability in the init mask at most
      that outside it: a dog, for the person model), what it finds apart
      from the object (:func:`regions_apart` of its detections and the warped
      mask) is another object: there the colour posterior is multiplied by
      one minus the class probability. In ``dog.mp4`` the woman playing with
      the dog, in a white top of the dog's colours, stays out of its mask.
      Should the model come to find most of the object after all (a person
      too small to be seen at first), this stops. No effect on DAVIS-2016
      (J&F 0.704 either way); in the composites of several given people
      (``benchmarks/instances.py``) J&F 0.538 with, 0.493 without the stop.
    - **Re-anchoring.** The colour model is the mean of the first frame's
      histograms (fixed) and running ones, so updates cannot drift it away.
    - **Confidence-gated updates.** Running histograms take in, at rate
      `update_rate`, only pixels the flow carries with confidence above 0.8
      and whose warped previous mask is above 0.9 (object) or below 0.1
      (background).
    - **Recovery** (:class:`~flowseg.stages._recovery.ObjectTrack`). The
      object counts as lost when the mask the flow carries covers less than
      half its largest area of the last 10 frames it was followed well, or
      looks less than half as much like it (its mean appearance), as when it
      passes behind a tree or a small fast ball leaves the flow behind. It
      is then looked for over the frame: where its appearance is densest
      over windows of half its size, near where its motion would have taken
      it, the search widening by its size each frame it stays lost
      (:func:`~flowseg.stages._recovery.densest_region`). A region at least
      0.6 object-like, within 4 times its area, that explains it better
      than the carried mask, and whose colours as a whole resemble the
      object's more than the background's, and more than the carried
      mask's do, is where propagation resumes
      (``"redetected"``: :class:`~flowseg.stages.MaskWarper` starts from the
      evidence there). Meanwhile the prior also covers the previous mask
      moved by the object's motion, so its parts coming out from behind a
      pole are expected where they come out. (Without the comparison with
      the carried mask, DAVIS bmx-trees jumped from its rider, shaded by a
      tree and so counted as lost, to a grey box 300 px away: J&F 0.390;
      with it 0.457, and the 34 sequences 0.768 -> 0.770.) A carried mask
      that has collapsed both in area and in looks
      (:meth:`~flowseg.stages._recovery.ObjectTrack.is_remnant`) is what the
      flow kept of something else, and no rival, from an exact given mask:
      on bmx-bumps a 1 500-pixel patch of a passer-by's black jacket
      out-resembled the rider, in full view again, from frame 79 to 85 (J&F
      0.526 -> 0.584; the 34 sequences 0.782 -> 0.784, fold A 0.785 ->
      0.789, B 0.779 unchanged, no other sequence changed). From a box's
      mask it took a region 300 px from bmx-trees' hidden rider at frame 65
      (``object+box`` B 0.736 -> 0.734, bmx-trees 0.484 -> 0.451); a floor
      of half the resemblance of the given mask itself for what is found
      over a remnant or nothing lost mallard-fly's duck after the camera
      whips round (0.687 -> 0.607). Where the
      search finds nothing likelier and the carried mask looks at least as
      much like the object as the given mask did, the object was lost by
      its size alone (bmx-trees, frames 58-61, the rider shrunk behind a
      tree; bmx-bumps, frames 34-58, followed at J 0.95 but counted lost
      against an early mask that held much more): from an exact given mask
      it is followed on at its new size
      (:meth:`~flowseg.stages._recovery.ObjectTrack.follow_rescaled`), its
      surroundings kept. From the true first mask J&F went from 0.7758 to
      0.7780 (A 0.7836 -> 0.7838, B 0.7680 -> 0.7721; bmx-trees 0.458 ->
      0.527, no sequence worse). Not from a guessed mask: from a box's
      (``object+box``) 0.7484 against 0.7503 (A 0.765 against 0.769,
      bmx-bumps 0.514 -> 0.447, whose box mask looks less like the rider
      than the true one, so a sliver passes; the same with the colours as a
      whole required to resemble the object's). Nor among other given
      objects (the composites of ``benchmarks/instances.py``): 0.615
      against 0.635 (c01-camel's first person 0.330 -> 0.194, taken at the
      size of what showed of him behind the other). Measured against the
      running likeness instead (which decays while a poor mask is
      followed), 0.7768 (A 0.781: bmx-bumps 0.453, a sliver of the rider
      taken for him at frame 41); taken as found again (its surroundings
      then forgotten), 0.7757 (drift-chicane 0.749 -> 0.713). An object
      lost while its last motion takes most of its previous mask, which
      reaches the frame's edge, out of the frame was taken as gone from
      view (nothing carried, looked for anywhere): surf's windsurfer sailing
      out left no patch of sky behind (0.925 -> 0.934), but bmx-bumps'
      rider going behind a bystander at the edge was blanked for 9 frames
      (0.519 -> 0.495; J&F 0.7812 -> 0.7807, fold A 0.7852 -> 0.7838), so
      it was not kept.
    - **Shot boundaries.** At a frame flagged ``"shot_change"`` (by
      :class:`~flowseg.stages.ShotBoundaries`) nothing is carried across:
      the object is looked for over the whole frame alike, its evidence
      empty until it is found, and :attr:`lost_at` names the first such
      frame. (The detector also flags a camera whipping round, as after a
      duck taking off; the object is then found again.)

    Parameters
    ----------
    semantics : Stage, optional
        A stage providing ``"evidence"`` of the target class(es).
    locality : float
        Fall-off of the spatial prior as a fraction of the object's size (> 0).
    update_rate : float
        Weight of each frame in the running colour histograms, in [0, 1].
    local_weight : float
        Weight of the local colour model in the evidence, in [0, 1] (0: the
        global evidence alone).
    use_motion : bool
        Weigh the evidence by whether each pixel moves like the object or like
        the camera (:func:`~flowseg.stages.motion.object_motion_agreement`).
    surroundings : bool
        Keep what surrounded the object where it was given around it (see
        **Surroundings** above).
    among_others : bool
        The object is followed among other given objects, which its first
        frame's background holds, so its colours tell it from them. Then:

        - the previous frame's mask, where it has several connected parts,
          is taken without those whose colours, as a whole, resemble the
          first frame's background more than the object, when another part
          resembles the object: they are not carried, do not anchor where the
          object can be and teach the local colours as background. On the
          composites of ``benchmarks/instances.py`` (several given people)
          J&F went from 0.597 to 0.620, each composite better (c01-camel
          0.465 -> 0.525), and IDF1 from 0.687 to 0.736; dropping the parts
          only from the motion fit and the prior's anchor gave 0.612;
        - once the carried mask covers more than :data:`SPREAD` times the
          object's first-frame area, the object's motion is fitted to its
          pixels whose appearance is above 0.5 only, so the motion of what
          it spread onto does not pass for its own: J&F 0.620 -> 0.634, IDF1
          0.736 -> 0.758 (c04-blackswan 0.570 -> 0.634, where a person's
          mask spreads onto a black swan, the others within 0.004);
        - the surroundings are not kept: the given objects move past each
          other, so what surrounded one where it was given does not stay
          around it (J&F 0.634 -> 0.611 with them);
        - a class the semantic model sees over the object counts even where
          the object is a small part of what the model finds there
          (:func:`~flowseg.stages.semantics.is_part_of_a_larger_find`, which
          keeps a ball in a juggler's hand, followed alone, from being taken
          for a person and its mask from spreading over him: in
          ``examples/juggle.mp4`` 9.8 times its first area by frame 71
          without the rule, 2.1 at most with it). Among others the rule
          lost: on the composites J&F went from 0.634 to 0.626 (c04-blackswan
          0.634 -> 0.565: a person who is 9% of a region that holds the
          black swan lost her class); at a half, two touching look-alike
          discs, each a sixth of the person model's region, fell from J 0.78
          and 0.77 to 0.61 and 0.28 (``tests/test_instances.py``).

        :meth:`flowseg.Pipeline.stream` turns it on when it follows several
        objects. It is off by default: following one object on the 34
        DAVIS-2016 sequences, the parts dropped lowered J&F from 0.770 to
        0.766 (fold A 0.782 -> 0.781, B 0.758 -> 0.751; drift-chicane 0.764
        -> 0.665, parts of a car apart in its smoke; kite-surf 0.616 ->
        0.594), the anchor-only version to 0.768; the motion fitted to the
        object-like pixels of a spread mask gave 0.769 (A 0.778, B 0.760).

    Attributes
    ----------
    requires : tuple of str
        ``("flow_bwd", "flow_confidence", "previous_mask")``; ``"previous_mask"``
        (the previous frame's final mask, ``(H, W) float32`` 0 or 1),
        ``"init_mask"`` and ``"init_mask_exact"`` (a 0-d bool beside it:
        whether the mask is exact or a guess; exact where absent) are given
        by :meth:`flowseg.Pipeline.stream` in semi-supervised mode.
    provides : tuple of str
        ``("evidence", "redetected")``: ``(H, W) float32`` in [0, 1], and a
        0-d bool, true on a frame where the lost object was found again.
    object_classes : tuple of str
        The classes the semantic model recognised in the object (set on the
        init frame; empty when none, and then the colours decide, the model
        at most marking other objects).
    lost_at : int or None
        The first shot boundary where the object was lost (it may have been
        found again after it), if any.
    """

    provides: tuple[str, ...] = ("evidence", "redetected")

    def __init__(
        self,
        semantics: Stage | None = None,
        *,
        locality: float = DEFAULT_LOCALITY,
        update_rate: float = 0.1,
        local_weight: float = 0.5,
        use_motion: bool = True,
        surroundings: bool = True,
        among_others: bool = False,
    ) -> None:
        if semantics is not None and "evidence" not in semantics.provides:
            raise ValueError(f"{type(semantics).__name__} provides no 'evidence'; expected a semantics stage")
        if not locality > 0:
            raise ValueError(f"locality is {locality}; expected a positive fraction of the object's size")
        if not 0.0 <= update_rate <= 1.0:
            raise ValueError(f"update_rate is {update_rate}; expected a value in [0, 1]")
        if not 0.0 <= local_weight <= 1.0:
            raise ValueError(f"local_weight is {local_weight}; expected a value in [0, 1]")
        self.requires: tuple[str, ...] = ("flow_bwd", "flow_confidence", "previous_mask")
        self.locality = locality
        self.update_rate = update_rate
        self.local_weight = local_weight
        self.use_motion = use_motion
        self.surroundings = surroundings
        self.among_others = among_others
        self._semantics = semantics
        self._target = getattr(semantics, "target", None) if hasattr(semantics, "retarget") else None
        self.reset()

    def _learn(self, frame: Frame, mask: Mask, exact: bool) -> np.ndarray:
        self._exact = exact
        self._first = ColourModel(OBJECT_COLOUR_BINS).fit(frame.image, mask, ~mask)
        self._running = ColourModel(OBJECT_COLOUR_BINS).fit(frame.image, mask, ~mask)
        self._gist = ColourModel(GIST_COLOUR_BINS).fit(frame.image, mask, ~mask)
        self._size = max(float(np.sqrt(mask.sum())), 1.0)
        keeps_surroundings = mask.any() and self.surroundings and not self.among_others
        self._track = ObjectTrack(mask, float(self._first.posterior(frame.image)[mask].mean()) if mask.any() else 0.0,
                                  relates_to_given=keeps_surroundings)
        self._given_local = _local_model(frame.image, mask, self._size) if keeps_surroundings else None
        self._previous_image = frame.image
        self._object_classes = ()
        self._finds_others = False
        if self._semantics is not None and mask.any():
            evidence = None  # the model's evidence on this frame: asked for at most once (the stage may keep state)
            if hasattr(self._semantics, "classes_in"):
                self._object_classes = self._semantics.classes_in(frame.image, mask, as_whole=not self.among_others)
                if self._object_classes:
                    self._semantics.retarget(self._object_classes)
            else:
                evidence = self._semantics.process(frame)["evidence"]
                part = not self.among_others and is_part_of_a_larger_find(mask, evidence > 0.5)
                if evidence[mask].mean() > 0.5 and not part:
                    self._object_classes = tuple(getattr(self._semantics, "target", ()) or ("target",))
            if not self._object_classes and not mask.all():
                if evidence is None:
                    evidence = self._semantics.process(frame)["evidence"]
                # The model sees its classes no more in the object than around it: what it finds is something else.
                self._finds_others = bool(evidence[mask].mean() <= evidence[~mask].mean())
        return mask.astype(np.float32)

    def _class_terms(self, frame: Frame, where: Mask) -> tuple[ProbMap | None, ProbMap | None]:
        """What the semantic stage adds to the colours on `frame`, ``(H, W) float32`` each or None: the class
        probability averaged with them (where the model recognises the object), or the factor they are multiplied
        by (one minus the class probability on the model's finds apart from `where`, where the object is thought to
        be). Worked out once a frame, for :meth:`_appearance`."""
        if self._object_classes:
            return self._semantics.process(frame)["evidence"], None
        if self._finds_others:
            classes = self._semantics.process(frame)["evidence"]
            detected = classes > 0.5
            if 2 * np.count_nonzero(detected & where) > np.count_nonzero(where):
                self._finds_others = False  # the model finds most of the object after all: its finds are no others
            else:
                return None, np.where(regions_apart(detected, where), 1 - classes, np.float32(1))
        return None, None

    def _appearance(self, index: np.ndarray, terms: tuple[ProbMap | None, ProbMap | None],
                    box: tuple[slice, slice] | None = None) -> ProbMap:
        """``(H, W) float32``: how object-like each pixel of `box` looks, 0 outside it (the whole frame if None).

        `index`: each pixel's colour bin; `terms`: :meth:`_class_terms`."""
        region = box or (slice(None), slice(None))
        colour = (0.5 * (self._first.table() + self._running.table()))[index[region]]
        classes, factor = terms
        if classes is not None:
            colour = 0.5 * (colour + classes[region])
        elif factor is not None:
            colour = colour * factor[region]
        if box is None:
            return colour
        appearance = np.zeros(index.shape, np.float32)
        appearance[box] = colour
        return appearance

    def _update(self, index: np.ndarray, warped: ProbMap, trusted: Mask) -> None:
        obj, bg = warped > 0.9, warped < 0.1
        if not (obj & trusted).any():
            return
        self._running.blend(index, obj & trusted, bg & trusted, self.update_rate)

    def _recover(self, carried: Mask, appearance: ProbMap, frame: Frame, trusted: Mask,
                 lost: bool) -> tuple[Mask, bool]:
        """Where the object is: where the flow carried it, or (`lost`) where it is found again."""
        track = self._track
        if not lost:
            track.follow(carried, appearance, frame.data["flow_bwd"], trusted)
            return carried, False
        region = track.search(appearance, carried)
        # Found: a region that, as a whole, looks more like the object than the background does, and than the
        # carried mask does unless (from an exact given mask) that is a remnant of something else.
        remnant = self._exact and track.is_remnant(carried, appearance)
        rival = 0.0 if remnant else max(self._gist.resemblance(frame.image, carried), 0.0)
        if region is None or self._gist.resemblance(frame.image, region) <= rival:
            if self._exact and not self.among_others:  # nothing likelier: it may have been lost by its size alone
                track.follow_rescaled(carried, appearance, frame.data["flow_bwd"], trusted)
            return carried, False
        track.found(region, appearance)
        return region, True

    def _without_foreign_parts(self, mask: Mask, image: Image) -> Mask:
        """`mask` without its connected parts whose colours in `image` resemble the first frame's background more
        than the object (:meth:`~flowseg.stages.ColourModel.resemblance`), when another part resembles the object."""
        def object_like(box: tuple[slice, slice], parts: np.ndarray, areas: np.ndarray) -> np.ndarray:
            like = self._gist.resemblances(image[box], parts, len(areas)) > 0
            return like if like.any() else np.ones_like(like)

        return kept_parts(mask, object_like)

    def process(self, frame: Frame) -> StageOutput:
        """Evidence for the object in ``frame``."""
        image = check_image(frame.image)
        if "init_mask" in frame.data:
            exact = bool(frame.data.get("init_mask_exact", True))
            return {"evidence": self._learn(frame, np.asarray(frame.data["init_mask"]) > 0.5, exact),
                    "redetected": np.array(False)}
        nothing = {"evidence": np.zeros(image.shape[:2], np.float32), "redetected": np.array(False)}
        if self._first is None:  # before the init frame
            return nothing
        previous = check_prob(frame.data["previous_mask"], image.shape[:2], "previous_mask")
        if frame.data.get("shot_change"):  # nothing is carried across a cut: the object is looked for anywhere
            self._lost_at = frame.index if self._lost_at is None else self._lost_at
            self._track.anywhere = True
            previous = np.zeros_like(previous)
        if self.among_others:
            previous = self._without_foreign_parts(previous > 0.5, self._previous_image).astype(np.float32)
        warped = warp_mask(previous, frame.data["flow_bwd"])
        carried = warped > 0.5
        index = _OBJECT_COLOUR_BINS(image)
        terms = self._class_terms(frame, carried)
        box = grown_box(carried, 0)
        appearance = self._appearance(index, terms, box)  # as much as telling whether it is lost takes
        lost = self._track.is_lost(carried, appearance)
        if lost and box is not None:  # it is looked for over the whole frame
            appearance = self._appearance(index, terms)
        trusted = frame.data["flow_confidence"] > 0.8  # where the flow teaches the colours and the object's motion
        where, redetected = self._recover(carried, appearance, frame, trusted, lost)
        if not where.any() and self._track.anywhere:  # not found again since a cut
            return nothing
        # Where the object can be: where it was carried or found (or last seen), and where its hidden parts went.
        anchor = where if where.any() else self._track.last_seen
        if not redetected:
            anchor = anchor | self._track.ahead(previous > 0.5)
        last = previous > 0.5
        models = []  # the local colour models read this frame (the previous frame's, the given one's) and their maps
        if self.local_weight > 0 and last.any():
            size = float(np.sqrt(np.count_nonzero(last)))  # the object's size now: cells follow it as it scales
            models.append((_local_model(self._previous_image, last, size), None))
            if self._given_local is not None and self._track.to_given is not None:
                models.append((self._given_local, self._track.to_given))
        window = None if lost else union_box(grown_box(anchor, REACH * self.locality * self._size),
                                             *(model.labelled_box(image.shape[:2], motion) for model, motion in models))
        if window is not None:  # elsewhere the evidence is negligible: the appearance is not looked at there
            appearance = self._appearance(index, terms, window)
        sigma = self.locality * self._size
        spread = anchor if self.among_others else prior_anchor(anchor, sigma)  # among others: in pieces behind them
        evidence = np.maximum(spatial_prior(spread, sigma), anchor) * appearance
        if models:
            nearby = models[0][0].posterior(image, evidence, frame.data["flow_bwd"])
            for model, motion in models[1:]:  # what surrounded the object where it was given
                weight = ((1.0 if self._exact else 0.5)  # a guessed mask's surroundings: half
                          * self._track.rigidity * self._track.given_share(where))
                nearby += weight * (model.posterior(image, evidence, motion=motion) - nearby)
            evidence += self.local_weight * (nearby - evidence)
        self._previous_image = image
        if self.use_motion and where.any():
            moving = where
            if self.among_others and np.count_nonzero(where) > SPREAD * self._size**2:
                moving = where & (appearance > 0.5)  # spread onto something else: the object's own pixels move it
            region = window or (slice(None), slice(None))
            motion = object_motion_agreement(frame.data["flow_bwd"], frame.data["flow_confidence"], moving,
                                             window)[region]
            inside = evidence[region]
            evidence[region] = inside * motion / np.maximum(inside * motion + (1 - inside) * (1 - motion), 1e-6)
        if not redetected:
            self._update(index, warped, trusted)
        return {"evidence": evidence.astype(np.float32, copy=False), "redetected": np.array(redetected)}

    def reset(self) -> None:
        """Forget the object: the next ``"init_mask"`` defines it anew (and the semantic stage's target is restored)."""
        if self._semantics is not None:
            self._semantics.reset()
            if self._target is not None and getattr(self._semantics, "target", None) != self._target:
                self._semantics.retarget(self._target)
        self._first: ColourModel | None = None
        self._running: ColourModel | None = None
        self._gist: ColourModel | None = None
        self._size = 1.0
        self._track: ObjectTrack | None = None
        self._given_local: LocalColourModel | None = None
        self._exact = True
        self._previous_image: Image | None = None
        self._object_classes: tuple[str, ...] = ()
        self._finds_others = False
        self._lost_at: int | None = None

    @property
    def object_classes(self) -> tuple[str, ...]:
        """The classes the semantic stage recognised in the object, whose probability serves as evidence."""
        return self._object_classes

    @property
    def lost_at(self) -> int | None:
        """The first shot boundary where the object was lost (and looked for anew), or None."""
        return self._lost_at
