"""Input checks shared by every public function and stage: one place, one wording."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import DTypeError, ShapeError

__all__ = ["check_image", "check_mask", "check_prob", "check_flow", "check_same_size"]


def check_image(image: object, name: str = "image") -> np.ndarray:
    """Check that `image` is an ``(H, W, 3) uint8`` RGB array and return it.

    Raises
    ------
    ShapeError
        If it is not 3-D with 3 channels (grayscale and RGBA are refused).
    DTypeError
        If it is not an ndarray of dtype uint8.
    """
    if not isinstance(image, np.ndarray):
        raise DTypeError(f"{name} is a {type(image).__name__}; expected an (H, W, 3) uint8 numpy array")
    is_3d = image.ndim == 3
    has_rgb = is_3d and image.shape[2] == 3
    if not has_rgb:
        hint = ""
        if image.ndim == 2 or (is_3d and image.shape[2] == 1):
            hint = " (grayscale; convert it to RGB first)"
        elif is_3d and image.shape[2] == 4:
            hint = " (RGBA; drop the alpha channel first)"
        raise ShapeError(
            f"{name} has shape {image.shape}{hint}; expected (H, W, 3) RGB",
            expected="(H, W, 3)",
            actual=image.shape,
        )
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ShapeError(f"{name} has shape {image.shape}; expected H, W >= 1", expected="(H, W, 3)", actual=image.shape)
    if image.dtype != np.uint8:
        raise DTypeError(f"{name} has dtype {image.dtype}; expected uint8 with values 0-255")
    return image


def check_mask(mask: ArrayLike, name: str = "mask", *, empty: bool = False) -> NDArray[np.bool_]:
    """Return `mask` as a 2-D bool array, checking shape and dtype.

    Parameters
    ----------
    mask : (H, W) bool or integer array_like
        0 / ``False`` = background, anything else = object.
    name : str
        Argument name used in error messages.
    empty : bool
        Accept a mask with a zero-length side.

    Returns
    -------
    mask : (H, W) bool ndarray
        A view or a new array; never written to.

    Raises
    ------
    ShapeError
        If `mask` is not 2-D, or has a zero-length side without `empty`.
    DTypeError
        If `mask` is neither bool nor integer (float probability maps must be
        thresholded by the caller).
    """
    arr = np.asarray(mask)
    if arr.ndim != 2 or (0 in arr.shape and not empty):
        wanted = "an (H, W) mask" if empty else "a non-empty (H, W) mask"
        raise ShapeError(f"{name} has shape {arr.shape}; expected {wanted}", expected="(H, W)",
                         actual=tuple(arr.shape))
    if arr.dtype == np.bool_:
        return arr
    if np.issubdtype(arr.dtype, np.integer):
        return arr != 0
    raise DTypeError(
        f"{name} has dtype {arr.dtype}; expected bool or an integer type "
        "(0 = background, non-zero = object). Threshold probability maps first, "
        "e.g. prob > 0.5"
    )


def check_mask_size(mask: np.ndarray, shape: tuple[int, int], name: str = "mask", *,
                    frames: str = "the frames are", hint: str = "") -> None:
    """Raise ShapeError if `mask` is not ``shape`` in (H, W), naming both sizes: ``"{name} is WxH (WxH) but
    {frames} WxH"``, then `hint`."""
    if mask.shape != tuple(shape):
        raise ShapeError(f"{name} is {mask.shape[1]}x{mask.shape[0]} (WxH) but {frames} {shape[1]}x{shape[0]}{hint}",
                         expected=f"(H, W) = {tuple(shape)}", actual=mask.shape)


def check_prob(prob: object, shape: tuple[int, int], name: str = "prob") -> np.ndarray:
    """Check that `prob` is an ``(H, W)`` float array matching `shape`; return it as float32."""
    if not isinstance(prob, np.ndarray) or not np.issubdtype(prob.dtype, np.floating):
        kind = prob.dtype if isinstance(prob, np.ndarray) else type(prob).__name__
        raise DTypeError(f"{name} has type {kind}; expected a float32 array with values in [0, 1]")
    if prob.shape != tuple(shape):
        raise ShapeError(
            f"{name} has shape {prob.shape}; expected (H, W) = {tuple(shape)}",
            expected=f"(H, W) = {tuple(shape)}",
            actual=prob.shape,
        )
    return prob.astype(np.float32, copy=False)


def check_flow(flow: object, shape: tuple[int, int], name: str = "flow") -> np.ndarray:
    """Check that `flow` is an ``(H, W, 2)`` float array matching `shape`; return it as float32."""
    if not isinstance(flow, np.ndarray) or not np.issubdtype(flow.dtype, np.floating):
        kind = flow.dtype if isinstance(flow, np.ndarray) else type(flow).__name__
        raise DTypeError(f"{name} has type {kind}; expected a float32 array in pixels")
    expected = (*shape, 2)
    if flow.shape != expected:
        raise ShapeError(
            f"{name} has shape {flow.shape}; expected (H, W, 2) with H, W = {shape[0]}, {shape[1]}",
            expected="(H, W, 2)",
            actual=flow.shape,
        )
    return flow.astype(np.float32, copy=False)


def check_same_size(image: np.ndarray, reference_shape: tuple[int, int], name: str = "frame") -> None:
    """Raise ShapeError if `image` is not ``reference_shape`` in (H, W)."""
    if image.shape[:2] != tuple(reference_shape):
        raise ShapeError(
            f"{name} is {image.shape[1]}x{image.shape[0]} (WxH) but earlier frames are "
            f"{reference_shape[1]}x{reference_shape[0]}; all frames of a video must have one size",
            expected=f"(H, W) = {tuple(reference_shape)}",
            actual=image.shape[:2],
        )
