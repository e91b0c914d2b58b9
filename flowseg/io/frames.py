"""Frame readers: a video file or a folder of images, one RGB frame at a time.

Readers convert from the decoder's pixel layout (OpenCV's BGR, FFmpeg's
formats) to RGB here and nowhere else.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from .._validate import check_image
from ..errors import ShapeError, VideoOpenError
from ..types import Image
from .video import FrameTime, VideoReader, probe

__all__ = ["IMAGE_EXTENSIONS", "FOLDER_FPS", "FrameSource"]

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
"""File name extensions read as frames from a folder (case-insensitive)."""

FOLDER_FPS: float = 25.0
"""Frame rate assumed for a folder of images (it has none of its own)."""

_IGNORED_FILES = frozenset({"thumbs.db", "desktop.ini"})


def _describe_channels(channels: int) -> str:
    return {1: "grayscale", 2: "grayscale with alpha", 4: "RGBA"}.get(channels, f"{channels}-channel")


class FrameSource:
    """The frames of a video file or of a folder of images, decoded one at a time.

    Parameters
    ----------
    path : str or Path
        A video file FFmpeg can read (decoded by PyAV, turned upright by its
        rotation), or a folder of images (``.jpg``, ``.png``, ... read with
        OpenCV in file-name order; hidden files are skipped).

    Attributes
    ----------
    path : Path
        The input.
    is_folder : bool
        Whether `path` is a folder of images.
    fps : float
        Average frame rate of the video; :data:`FOLDER_FPS` for a folder.
    time_base : Fraction
        Unit of the frames' timestamps in seconds (``1 / FOLDER_FPS`` for a
        folder, whose frames are one unit apart).
    frame_count : int or None
        Number of frames: exact for a folder, the container's claim for a
        video (None when it gives none); decoding yields the frames there are.
    has_audio : bool
        Whether the video has an audio stream.

    Raises
    ------
    VideoOpenError
        If the path does not exist, a folder holds no images or holds
        non-image files, or a video cannot be opened or has no frames.

    Notes
    -----
    Iterating yields ``(name, image)`` pairs, and :meth:`timed` adds each
    frame's :class:`~flowseg.io.video.FrameTime`: `name` is the file name without
    extension for a folder and the zero-based five-digit index (``"00000"``)
    for a video; `image` is an ``(H, W, 3) uint8`` RGB array. Iteration raises
    :class:`VideoOpenError` for a file that cannot be decoded and
    :class:`ShapeError` for a grayscale or RGBA image or a frame whose size
    differs from the first. Only one frame is held at a time.

    Examples
    --------
    >>> source = FrameSource("examples/juggle.mp4")          # doctest: +SKIP
    >>> name, image = next(iter(source))                     # doctest: +SKIP
    >>> name, image.shape                                    # doctest: +SKIP
    ('00000', (240, 426, 3))
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise VideoOpenError(f"input {str(self.path)!r} does not exist")
        self.is_folder = self.path.is_dir()
        self._files: list[Path] = []
        self._reader: VideoReader | None = None
        self.has_audio = False
        if self.is_folder:
            self._files = self._list_images()
            self.fps = FOLDER_FPS
            self.time_base = 1 / Fraction(FOLDER_FPS)
            self.frame_count: int | None = len(self._files)
        else:
            info = probe(self.path)
            self.fps = info.fps
            self.time_base = info.time_base
            self.frame_count = info.frame_count
            self.has_audio = info.audio_streams > 0

    def _list_images(self) -> list[Path]:
        files = sorted(
            p for p in self.path.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.name.lower() not in _IGNORED_FILES
        )
        others = [p.name for p in files if p.suffix.lower() not in IMAGE_EXTENSIONS]
        if others:
            shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
            raise VideoOpenError(
                f"folder {str(self.path)!r} holds files that are not images ({shown}); "
                f"a frame folder may hold only {', '.join(IMAGE_EXTENSIONS)} files"
            )
        if not files:
            raise VideoOpenError(f"folder {str(self.path)!r} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        return files

    def __iter__(self) -> Iterator[tuple[str, Image]]:
        for name, image, _ in self.timed():
            yield name, image

    def timed(self) -> Iterator[tuple[str, Image, FrameTime]]:
        """Iterate over ``(name, image, time)``: the frames with when they are shown (in :attr:`time_base`)."""
        size: tuple[int, int] | None = None
        frames = self._folder_frames() if self.is_folder else self._video_frames()
        for name, image, time in frames:
            if size is None:
                size = image.shape[:2]
            elif image.shape[:2] != size:
                raise ShapeError(
                    f"frame {name!r} of {str(self.path)!r} is {image.shape[1]}x{image.shape[0]}; "
                    f"earlier frames are {size[1]}x{size[0]}: all frames of a video must be the same size",
                    expected=f"(H, W) = {size}",
                    actual=image.shape[:2],
                )
            yield name, image, time

    def _folder_frames(self) -> Iterator[tuple[str, Image, FrameTime]]:
        for index, file in enumerate(self._files):
            raw = cv2.imread(str(file), cv2.IMREAD_UNCHANGED)
            if raw is None:
                raise VideoOpenError(f"cannot decode image {str(file)!r} (corrupt or unsupported format)")
            channels = 1 if raw.ndim == 2 else raw.shape[2]
            if channels != 3:
                raise ShapeError(
                    f"image {str(file)!r} is {_describe_channels(channels)}; flowseg needs RGB colour "
                    "frames (convert them, e.g. with ImageMagick: mogrify -type TrueColor -alpha off)",
                    expected="3 channels",
                    actual=raw.shape,
                )
            if raw.dtype != np.uint8:
                raw = cv2.convertScaleAbs(raw, alpha=255.0 / np.iinfo(raw.dtype).max)
            yield file.stem, check_image(cv2.cvtColor(raw, cv2.COLOR_BGR2RGB), str(file)), FrameTime(index, 1)

    def _video_frames(self) -> Iterator[tuple[str, Image, FrameTime]]:
        self._reader = VideoReader(self.path)
        for index, (image, time) in enumerate(self._reader):
            yield f"{index:05d}", image, time

    @property
    def skipped_packets(self) -> int:
        """Damaged video packets passed over by the last iteration (see :class:`~flowseg.io.video.VideoReader`)."""
        return self._reader.skipped_packets if self._reader is not None else 0
