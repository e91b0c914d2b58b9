"""Colour models shared by the stages: object-versus-background posteriors from joint RGB histograms."""

from __future__ import annotations

import numpy as np

from .._validate import check_image
from ..types import Image, Mask, ProbMap

__all__ = ["ColourModel"]


class ColourModel:
    """Object-versus-background colour posterior from joint RGB histograms.

    Parameters
    ----------
    bins : int
        Histogram bins per channel (a power of two from 2 to 64).

    Notes
    -----
    ``posterior(image)[y, x] = h_obj(c) / (h_obj(c) + h_bg(c))`` with ``c`` the
    pixel's colour bin and each histogram normalised to sum 1 after adding
    one count to every bin (so an unseen colour gets 0.5).
    """

    def __init__(self, bins: int = 16) -> None:
        if bins not in (2, 4, 8, 16, 32, 64):
            raise ValueError(f"bins is {bins}; expected a power of two from 2 to 64")
        self.bins = bins
        self._shift = 8 - int(np.log2(bins))
        self.object_hist: np.ndarray | None = None
        self.background_hist: np.ndarray | None = None

    def bin_index(self, image: Image) -> np.ndarray:
        """``(H, W) int32`` colour bin of each pixel of an RGB image."""
        return self._bins_of(check_image(image))

    def _bins_of(self, colours: np.ndarray) -> np.ndarray:
        """Colour bin of each RGB colour of a ``(..., 3) uint8`` array, ``(...) int32``."""
        q = (colours >> self._shift).astype(np.int32)
        return (q[..., 0] * self.bins + q[..., 1]) * self.bins + q[..., 2]

    def histograms(self, index: np.ndarray, object_mask: Mask, background_mask: Mask) -> tuple[np.ndarray, np.ndarray]:
        """Normalised colour histograms of the object and background pixels, from :meth:`bin_index`."""
        size = self.bins**3
        obj = np.bincount(index[object_mask], minlength=size).astype(np.float64) + 1.0
        bg = np.bincount(index[background_mask], minlength=size).astype(np.float64) + 1.0
        return obj / obj.sum(), bg / bg.sum()

    def blend(self, index: np.ndarray, object_mask: Mask, background_mask: Mask, rate: float) -> None:
        """Move both histograms a fraction `rate` towards those of the given pixels (indices from :meth:`bin_index`)."""
        new_obj, new_bg = self.histograms(index, object_mask, background_mask)
        self.object_hist = (1 - rate) * self.object_hist + rate * new_obj
        self.background_hist = (1 - rate) * self.background_hist + rate * new_bg

    def fit(self, image: Image, object_mask: Mask, background_mask: Mask) -> ColourModel:
        """Learn both histograms from one frame; returns self."""
        self.object_hist, self.background_hist = self.histograms(self.bin_index(image), object_mask, background_mask)
        return self

    def resemblance(self, image: Image, region: Mask) -> float:
        """How much nearer the colours of `region`, as a whole, are to the object's than to the background's.

        Nearness is the Bhattacharyya coefficient of the region's colour
        histogram with each of the two; the result is their difference, in
        [-1, 1], positive where the region resembles the object. A region of
        colours that are each somewhat object-like, but not in the object's
        proportions (a patch of one colour the object also has), does not.
        -1 for an empty region.
        """
        return float(self.resemblances(image, np.asarray(region, bool).view(np.uint8), 1)[0])

    def resemblances(self, image: Image, labels: np.ndarray, regions: int) -> np.ndarray:
        """:meth:`resemblance` of each region of ``(H, W)`` integer `labels` 1..`regions` (0: none), ``(regions,)
        float64``."""
        size = self.bins**3
        labelled = labels > 0  # only the regions' pixels are counted
        key = (labels[labelled].astype(np.int64) - 1) * size + self._bins_of(check_image(image)[labelled])
        counts = np.bincount(key, minlength=regions * size).reshape(regions, size).astype(np.float64)
        totals = counts.sum(axis=1)
        counts /= np.maximum(totals, 1)[:, None]
        nearer = np.sqrt(counts * self.object_hist).sum(axis=1) - np.sqrt(counts * self.background_hist).sum(axis=1)
        return np.where(totals > 0, nearer, -1.0)

    def table(self) -> np.ndarray:
        """``(bins**3,) float32``: the object posterior of each colour bin."""
        if self.object_hist is None or self.background_hist is None:
            raise RuntimeError("ColourModel used before fit")
        return (self.object_hist / (self.object_hist + self.background_hist)).astype(np.float32)

    def posterior(self, image: Image) -> ProbMap:
        """``(H, W) float32`` probability in [0, 1] that each pixel's colour is the object's."""
        return self.table()[self.bin_index(image)]
