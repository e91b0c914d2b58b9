"""Still images as frames: any depth, channel count and orientation in, 8-bit RGB out.

A folder of frames comes from cameras, microscopes, thermal imagers and
render farms: grey, 16-bit or float, with alpha, palette, CMYK, turned by an
EXIF tag. :func:`read_image` converts each to what the pipeline takes, the
way the video path converts a video's pixel formats: grey is repeated over
R, G and B, deeper samples are scaled to 0-255, and alpha is split off
(the colour composited over black, as :func:`split_alpha` does).
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from ..errors import VideoOpenError
from ..types import Image

__all__ = ["read_image", "split_alpha", "unpremultiplied", "natural_key"]

_EXIF_ORIENTATION_TAG = 0x0112


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders the numbers inside names by value: ``frame2`` before ``frame10``.

    Examples
    --------
    >>> sorted(["frame10.png", "frame2.png", "Frame1.png"], key=natural_key)
    ['Frame1.png', 'frame2.png', 'frame10.png']
    """
    parts = re.split(r"(\d+)", name)
    return tuple((0, int(part)) if part.isdigit() else (1, part.lower()) for part in parts if part)


def split_alpha(rgba: NDArray[np.uint8]) -> tuple[Image, NDArray[np.uint8]]:
    """Split an RGBA image into its colour composited over black, and its alpha.

    Parameters
    ----------
    rgba : (H, W, 4) uint8 ndarray
        Colour with straight (not premultiplied) alpha, 255 = opaque.

    Returns
    -------
    image : (H, W, 3) uint8 ndarray
        ``rgb * alpha / 255``: what is transparent is black, whatever colour it held.
    alpha : (H, W) uint8 ndarray
    """
    alpha = np.ascontiguousarray(rgba[..., 3])
    image = np.round(rgba[..., :3] * (alpha[..., None] / np.float32(255))).astype(np.uint8)
    return image, alpha


def unpremultiplied(image: Image, alpha: NDArray[np.uint8]) -> Image:
    """The colour :func:`split_alpha` composited over black, divided by its alpha again.

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
        Colour composited over black.
    alpha : (H, W) uint8 ndarray
        Its alpha; where it is 0 the colour is lost and comes back black.

    Returns
    -------
    (H, W, 3) uint8 ndarray
        Straight colour, as a cut-out with alpha wants it (exact where alpha is 255).
    """
    scale = np.divide(np.float32(255), alpha, out=np.zeros(alpha.shape, np.float32), where=alpha > 0)
    return np.round(np.minimum(image * scale[..., None], 255)).astype(np.uint8)


def _to_uint8(raw: np.ndarray, path: Path) -> NDArray[np.uint8]:
    """Samples of any depth scaled to 0-255: integers by their type's range, floats from [0, 1]."""
    if raw.dtype == np.uint8:
        return raw
    if np.issubdtype(raw.dtype, np.unsignedinteger):
        return np.round(raw * (255.0 / np.iinfo(raw.dtype).max)).astype(np.uint8)
    if np.issubdtype(raw.dtype, np.floating):
        return np.round(np.clip(np.nan_to_num(raw), 0.0, 1.0) * 255).astype(np.uint8)
    raise VideoOpenError(f"image {str(path)!r} has {raw.dtype} samples; flowseg reads unsigned integer or "
                         "floating-point (0-1) images")


def _exif_orientation(path: Path) -> int:
    """The EXIF orientation tag (1-8; 1 = as stored), read from the header only."""
    from PIL import Image as PILImage, UnidentifiedImageError

    try:
        with PILImage.open(path) as image:
            return int(image.getexif().get(_EXIF_ORIENTATION_TAG, 1))
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError):  # a format Pillow does not parse
        return 1


def _oriented(raw: np.ndarray, orientation: int) -> np.ndarray:
    """`raw` turned as EXIF `orientation` says, as cameras and viewers show it."""
    if orientation in (5, 6, 7, 8):  # stored on its side: transposed first
        raw = raw.swapaxes(0, 1)
    flips = {2: (1,), 3: (0, 1), 4: (0,), 6: (1,), 7: (0, 1), 8: (0,)}.get(orientation, ())
    return np.flip(raw, flips) if flips else raw


def read_image(path: str | Path) -> tuple[Image, NDArray[np.uint8] | None]:
    """Read an image file as an upright 8-bit RGB frame, with its alpha if it has one.

    Parameters
    ----------
    path : str or Path
        Any format OpenCV reads (PNG, JPEG including CMYK, TIFF, BMP, WebP,
        ...), of any channel count (grey, grey with alpha, palette, RGB,
        RGBA) and sample type (8- and 16-bit, float in [0, 1]).

    Returns
    -------
    image : (H, W, 3) uint8 ndarray
        RGB, turned by its EXIF orientation; grey repeated over the three
        channels; composited over black where it has alpha.
    alpha : (H, W) uint8 ndarray or None
        The alpha channel (255 = opaque), or None for an image without one.

    Raises
    ------
    VideoOpenError
        If the file cannot be decoded, or its samples are of a type with no
        obvious 0-255 scale (signed integers).

    Notes
    -----
    16-bit samples are scaled by 255 / 65535, so 12-bit data stored in 16
    bits comes out dark (at most 16).
    """
    path = Path(path)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise VideoOpenError(f"cannot decode image {str(path)!r} (corrupt or unsupported format)")
    raw = _oriented(_to_uint8(raw, path), _exif_orientation(path))
    if raw.ndim == 2 or raw.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(raw.reshape(*raw.shape[:2], 1), 3, axis=2)), None
    if raw.shape[2] == 2:  # grey and alpha
        raw = np.dstack([raw[..., :1].repeat(3, axis=2), raw[..., 1:]])
    elif raw.shape[2] == 4:
        raw = cv2.cvtColor(np.ascontiguousarray(raw), cv2.COLOR_BGRA2RGBA)
    else:
        return cv2.cvtColor(np.ascontiguousarray(raw), cv2.COLOR_BGR2RGB), None
    return split_alpha(raw)
