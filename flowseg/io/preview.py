"""Previews and mattes of masks: tinted overlays, instance colours, feathered alpha."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from ..types import Image, Mask
from .tracks import objects_in

__all__ = ["overlay", "draw_outline", "OVERLAY_COLOUR", "instance_colours", "instance_overlay", "feathered_alpha"]

OVERLAY_COLOUR: tuple[int, int, int] = (255, 40, 40)
"""RGB of a mask's tint and outline in previews (:func:`overlay`, the app's mask layer)."""


def draw_outline(canvas: np.ndarray, mask: Mask, colour: tuple[int, ...]) -> None:
    """Draw `mask`'s outer outline on `canvas` (``(H, W, C)`` uint8, in place) in `colour` (C values).

    The line is about a 400th of the frame's longer side wide (at least 1 pixel).
    """
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(canvas, contours, -1, colour, thickness=max(1, round(max(mask.shape[:2]) / 400)))


def overlay(image: Image, mask: Mask, *, color: tuple[int, int, int] = OVERLAY_COLOUR, alpha: float = 0.45) -> Image:
    """Preview of a mask: the object tinted with `color` and outlined.

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
        RGB frame.
    mask : (H, W) bool ndarray
        Object mask.
    color : tuple of int
        RGB tint, 0-255.
    alpha : float
        Tint opacity in [0, 1].

    Returns
    -------
    (H, W, 3) uint8 ndarray
        RGB preview.
    """
    out = image.copy()
    tint = np.asarray(color, np.float32)
    out[mask] = (image[mask] * (1 - alpha) + tint * alpha).astype(np.uint8)
    draw_outline(out, mask, color)
    return out


def instance_colours(count: int) -> NDArray[np.uint8]:
    """``(count + 1, 3)`` RGB colours: black for 0, then distinct colours for IDs 1, 2, ...

    Hues step by the golden ratio; saturation and brightness take turns, so
    IDs whose hues come close (1 and 9, say) still differ.
    """
    if count == 0:
        return np.zeros((1, 3), np.uint8)
    ids = np.arange(1, count + 1)
    hues = (ids * 0.618034) % 1.0
    hsv = np.stack([hues * 180, 255 - 90 * (ids // 3 % 2), 255 - 80 * (ids % 3 == 2)], axis=1).astype(np.uint8)[None]
    return np.vstack([[0, 0, 0], cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0]]).astype(np.uint8)


def instance_overlay(image: Image, labels: NDArray[np.integer], *, alpha: float = 0.45) -> Image:
    """Preview of instance labels: each object as in :func:`overlay`, in its own colour, with its ID above it.

    `labels` is ``(H, W)`` integer, 0 = background, k > 0 = object k; `image`,
    `alpha` and the result as for :func:`overlay`.
    """
    colours = instance_colours(int(labels.max()) if labels.size else 0)
    scale = max(image.shape[:2]) / 800
    out = image
    for number, mask, (x, y, _, _) in objects_in(labels):
        colour = tuple(int(c) for c in colours[number])
        out = overlay(out, mask, color=colour, alpha=alpha)
        origin = (int(x), max(int(y) - 4, int(14 * scale) + 2))
        for ink, thickness in (((255, 255, 255), 4), (colour, 2)):  # the ID in its colour, edged in white
            cv2.putText(out, str(number), origin, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * max(scale, 0.5), ink,
                        thickness=max(thickness // 2, round(thickness * scale)), lineType=cv2.LINE_AA)  # fmt: skip
    return out.copy() if out is image else out


def feathered_alpha(mask: Mask, feather: float) -> NDArray[np.uint8]:
    """Alpha matte of a mask with its edge softened over `feather` pixels.

    Parameters
    ----------
    mask : (H, W) bool ndarray
        Object mask.
    feather : float
        Width in pixels of the ramp from opaque to transparent, centred on
        the mask's edge; 0 gives the hard mask.

    Returns
    -------
    (H, W) uint8 ndarray
        Alpha, 255 = object.

    Examples
    --------
    >>> mask = np.zeros((1, 9), bool); mask[0, :5] = True
    >>> feathered_alpha(mask, 4.0)[0].tolist()
    [255, 255, 255, 223, 159, 96, 32, 0, 0]
    """
    if feather <= 0 or not mask.any() or mask.all():
        return mask.astype(np.uint8) * 255
    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    outside = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    signed = np.where(mask, inside - 0.5, 0.5 - outside)  # distance of each pixel centre to the edge
    return np.round(np.clip(0.5 + signed / feather, 0.0, 1.0) * 255).astype(np.uint8)
