"""Synthetic clips and masks with a known answer, for the stage tests.

Every generator takes a ``seed`` and is deterministic for it. Frames are
``(H, W, 3) uint8`` RGB and masks ``(H, W) bool``, as in :mod:`flowseg.types`.

The texture is Gaussian-smoothed uniform noise: fine enough that every local
window has structure for the flow methods and colour statistics for the
refiners, smooth enough that bilinear sampling and image pyramids see the same
pattern at every scale.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = [
    "SHAPE",
    "texture",
    "shifted_pair",
    "object_mask",
    "moving_object_clip",
    "panning_clip",
    "degrade_mask",
    "soft_prob",
    "write_av_clip",
]

SHAPE: tuple[int, int] = (96, 128)
"""Default (H, W) of the synthetic frames: small, and neither side a multiple of 128."""


def texture(
    shape: tuple[int, int], *, seed: int, sigma: float = 1.5, low: int = 0, high: int = 255
) -> NDArray[np.uint8]:
    """Smoothed random-noise RGB texture with values stretched over ``[low, high]``.

    Parameters
    ----------
    shape : (H, W)
        Size of the texture.
    seed : int
        Seed of the noise.
    sigma : float
        Standard deviation of the Gaussian smoothing in pixels.
    low, high : int
        Range the values are stretched to (per channel), 0-255.

    Returns
    -------
    (H, W, 3) uint8 ndarray
    """
    rng = np.random.default_rng(seed)
    noise = rng.random((*shape, 3), dtype=np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    lo = smooth.min(axis=(0, 1))
    hi = smooth.max(axis=(0, 1))
    stretched = low + (smooth - lo) / (hi - lo) * (high - low)
    return np.round(stretched).astype(np.uint8)


def shifted_pair(
    shift: tuple[int, int], shape: tuple[int, int] = SHAPE, *, seed: int = 0
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Two frames of one texture, the second moved by ``shift = (dx, dy)`` pixels.

    Both are crops of a larger texture, so no border is invented:
    ``second[y + dy, x + dx] == first[y, x]`` wherever both are defined. The
    true flow from `first` to `second` is ``(dx, dy)`` everywhere, and from
    `second` to `first` it is ``(-dx, -dy)``.
    """
    dx, dy = shift
    h, w = shape
    margin = max(abs(dx), abs(dy))
    big = texture((h + 2 * margin, w + 2 * margin), seed=seed)
    first = big[margin : margin + h, margin : margin + w]
    second = big[margin - dy : margin - dy + h, margin - dx : margin - dx + w]
    return np.ascontiguousarray(first), np.ascontiguousarray(second)


def object_mask(
    shape: tuple[int, int], center: tuple[float, float], size: int, *, kind: str = "square"
) -> NDArray[np.bool_]:
    """A filled square (side `size`) or disk (diameter `size`) centred at ``center = (x, y)``."""
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w]
    cx, cy = center
    if kind == "square":
        half = size / 2
        return (np.abs(xs - cx) < half) & (np.abs(ys - cy) < half)
    if kind == "disk":
        return (xs - cx) ** 2 + (ys - cy) ** 2 < (size / 2) ** 2
    raise ValueError(f"kind is {kind!r}; expected 'square' or 'disk'")


def box_of(mask: NDArray[np.bool_], margin: int = 0) -> tuple[int, int, int, int]:
    """The box ``(x0, y0, x1, y1)`` around a non-empty mask's pixels (corners included), grown by `margin` pixels."""
    rows, cols = np.nonzero(mask)
    return (int(cols.min()) - margin, int(rows.min()) - margin, int(cols.max()) + margin,
            int(rows.max()) + margin)  # fmt: skip


def moving_object_clip(
    n_frames: int = 4,
    *,
    shape: tuple[int, int] = SHAPE,
    shift: tuple[int, int] = (3, -2),
    size: int = 32,
    kind: str = "square",
    seed: int = 0,
) -> tuple[list[NDArray[np.uint8]], list[NDArray[np.bool_]]]:
    """A textured object moving by ``shift = (dx, dy)`` pixels a frame over a still textured background.

    The object has its own texture, in a brighter range than the background's,
    so it differs from the background both in pattern and in colour. It starts
    at the centre of the frame.

    Returns
    -------
    frames : list of (H, W, 3) uint8 ndarray
    masks : list of (H, W) bool ndarray
        The object's true support in each frame.
    """
    h, w = shape
    dx, dy = shift
    background = texture(shape, seed=seed, low=0, high=150)
    # The object's texture travels with it: frame t shows it rolled by t * shift.
    object_texture = texture(shape, seed=seed + 1, low=105, high=255)
    frames, masks = [], []
    for t in range(n_frames):
        mask = object_mask(shape, (w / 2 + t * dx, h / 2 + t * dy), size, kind=kind)
        moved = np.roll(object_texture, (t * dy, t * dx), axis=(0, 1))
        frames.append(np.where(mask[..., None], moved, background))
        masks.append(mask)
    return frames, masks


def panning_clip(
    n: int, *, camera: int = 4, mover: tuple[int, int] = (3, -2), stop: range = range(0), near_rows: int = 0
) -> tuple[list[NDArray[np.uint8]], list[NDArray[np.bool_]]]:
    """A textured square moving by `mover` a frame over a textured background the camera pans `camera` px a frame.

    The square holds still (relative to the background) on the frames in `stop`. The bottom `near_rows`
    rows are near ground, which parallax moves twice as fast as the rest of the background.
    """
    h, w = SHAPE
    background = texture((h, w + camera * n), seed=0, low=0, high=150)
    near = texture((max(near_rows, 1), w + 2 * camera * n), seed=2, low=0, high=150)[:near_rows]
    skin = texture(SHAPE, seed=1, low=105, high=255)
    frames, masks = [], []
    x, y = w / 2 - 20, h / 2 + 10
    for t in range(n):
        if t and t not in stop:
            x, y = x + mover[0], y + mover[1]
        # The square sits on the background, so when the camera pans it moves with it unless it moves itself.
        mask = object_mask(SHAPE, (x - camera * t, y), 28)
        frame = np.ascontiguousarray(background[:, camera * t : camera * t + w]).copy()
        frame[h - near_rows :] = near[:, 2 * camera * t : 2 * camera * t + w]
        shifted = np.roll(skin, (round(y), round(x - camera * t)), axis=(0, 1))
        frame[mask] = shifted[mask]
        frames.append(frame)
        masks.append(mask)
    return frames, masks


def degrade_mask(
    mask: NDArray[np.bool_], *, erode: int = 0, dilate: int = 0, blobs: int = 0, blob_radius: int = 4, seed: int = 0
) -> NDArray[np.bool_]:
    """A damaged copy of `mask`: eroded, dilated, and with blobs of the wrong label.

    Parameters
    ----------
    mask : (H, W) bool ndarray
    erode, dilate : int
        Radius in pixels of a disk erosion, then dilation (0 skips it).
    blobs : int
        Number of disks of radius `blob_radius`, centred at random pixels, whose
        label is flipped.
    seed : int
        Seed of the blob positions.
    """
    out = mask.astype(np.uint8)
    for radius, op in ((erode, cv2.erode), (dilate, cv2.dilate)):
        if radius:
            out = op(out, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)))
    out = out.astype(bool)
    rng = np.random.default_rng(seed)
    h, w = mask.shape
    for _ in range(blobs):
        blob = object_mask(mask.shape, (rng.integers(w), rng.integers(h)), 2 * blob_radius, kind="disk")
        out ^= blob
    return out


def soft_prob(
    mask: NDArray[np.bool_], *, blur: float = 4.0, noise: float = 0.15, seed: int = 0
) -> NDArray[np.float32]:
    """A soft, noisy probability map made from `mask`.

    The mask is blurred by a Gaussian of standard deviation `blur` pixels (its
    boundary becomes a ramp that does not follow the image) and Gaussian noise
    of standard deviation `noise` is added; the result is clipped to [0, 1].
    """
    rng = np.random.default_rng(seed)
    prob = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), blur)
    prob = prob + rng.normal(0.0, noise, mask.shape).astype(np.float32)
    return np.clip(prob, 0.0, 1.0).astype(np.float32)


class KnownMasks:
    """A stand-in semantics stage: frame t's evidence is ``masks[t]`` (0 or 1), as if a model knew the truth."""

    requires: tuple[str, ...] = ()
    provides: tuple[str, ...] = ("evidence",)

    def __init__(self, masks: list[NDArray[np.bool_]]) -> None:
        self.masks = masks

    def process(self, frame) -> dict[str, NDArray[np.float32]]:
        return {"evidence": self.masks[frame.index].astype(np.float32)}

    def reset(self) -> None:
        """Stateless."""


def write_av_clip(
    path,
    frames: list[NDArray[np.uint8]],
    *,
    times_ms: list[int] | None = None,
    audio_streams: int = 0,
    audio_codec: str = "aac",
    rotation: int = 0,
    faststart: bool = False,
):
    """Encode RGB frames as an H.264 video with PyAV, the way phones and cameras write them.

    Parameters
    ----------
    path : Path
        Output file (``.mp4``, ``.mov`` or ``.mkv``).
    frames : list of (H, W, 3) uint8 ndarray
        RGB frames, even sizes.
    times_ms : list of int, optional
        Each frame's presentation time in milliseconds (a variable frame rate);
        default 40 ms apart (25 fps).
    audio_streams : int
        Number of audio streams (a tone each, as long as the video).
    audio_codec : str
        Their encoder.
    rotation : int
        Display rotation written in the container (degrees counter-clockwise).
    faststart : bool
        Put the index (with the frame count) before the data.

    Returns
    -------
    Path
        `path`.
    """
    from fractions import Fraction

    import av

    times_ms = times_ms if times_ms is not None else [40 * i for i in range(len(frames))]
    duration_ms = times_ms[-1] + 40
    container = av.open(str(path), "w", options={"movflags": "+faststart"} if faststart else {})
    video = container.add_stream("libx264", rate=25, options={"crf": "10"})
    video.width, video.height, video.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
    milliseconds = Fraction(1, 1000)
    video.time_base = video.codec_context.time_base = milliseconds
    if rotation:
        video.set_display_rotation(rotation)
    audio = [container.add_stream(audio_codec, rate=48000) for _ in range(audio_streams)]
    for stream in audio:
        stream.layout = "mono"
    for frame, pts in zip(frames, times_ms):
        encoded = av.VideoFrame.from_ndarray(frame, format="rgb24")
        # The frames' own unit: the muxer changes the stream's time base once it has written the header.
        encoded.pts, encoded.time_base = pts, milliseconds
        container.mux(video.encode(encoded))
    container.mux(video.encode(None))
    for number, stream in enumerate(audio):
        samples = 48 * duration_ms
        for start in range(0, samples, 1024):
            tone = np.sin(np.arange(start, min(start + 1024, samples)) * (0.05 + 0.02 * number))
            chunk = av.AudioFrame.from_ndarray(tone[None].astype(np.float32), format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts = 48000, start
            container.mux(stream.encode(chunk))
        container.mux(stream.encode(None))
    container.close()
    return path
