"""Frame readers: a video file or a folder of images, one RGB frame at a time.

Readers convert from the decoder's pixel layout (FFmpeg's pixel formats,
OpenCV's BGR, grey, 16-bit, alpha) to RGB here and nowhere else, and say
what they found and repaired (:meth:`FrameSource.report`).
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import numpy as np
from numpy.typing import NDArray

from .._validate import check_image
from ..errors import ShapeError, VideoOpenError
from ..types import Image
from .images import natural_key, read_image
from .timing import FrameTime
from .video import VideoReader

__all__ = ["IMAGE_EXTENSIONS", "FOLDER_FPS", "ALPHA_RULE", "SourceFrame", "FrameSource"]

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".tif", ".tiff", ".webp", ".jp2",
                                     ".pbm", ".pgm", ".ppm", ".pnm")
"""File name extensions read as frames from a folder (case-insensitive); other files are skipped."""

FOLDER_FPS: float = 25.0
"""Frame rate assumed for a folder of images (it has none of its own)."""

ALPHA_RULE: str = ("the frames are segmented composited over black, and each cut-out's alpha is the mask's times "
                   "the input's, so what the input hides stays hidden")
"""What flowseg does with an input's alpha channel (said in ``summary.json`` and by the CLI)."""

_IGNORED_FILES = frozenset({"thumbs.db", "desktop.ini"})

_SHOWN = 5
"""File or frame names listed in one message before '... and N more'."""


def _video_frame_name(number: int) -> str:
    """The output name of a video's frame: its number among the frames the container lists, five digits."""
    return f"{number:05d}"


def _listing(names: list[str]) -> str:
    more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more


def image_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """The image files of `folder` (:data:`IMAGE_EXTENSIONS`) in natural order (``frame2`` before ``frame10``), and
    its other files; hidden and system files (``Thumbs.db``, ``desktop.ini``) are left out of both."""
    files = sorted(
        (p for p in folder.iterdir()
         if p.is_file() and not p.name.startswith(".") and p.name.lower() not in _IGNORED_FILES),
        key=lambda p: natural_key(p.name),
    )
    images = [p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS]
    return images, [p for p in files if p.suffix.lower() not in IMAGE_EXTENSIONS]


class SourceFrame(NamedTuple):
    """One frame of a :class:`FrameSource`."""

    name: str
    """Output file name without extension: the image's file name, or the frame's number (``"00000"``) in a video."""
    image: Image
    """``(H, W, 3) uint8`` RGB; composited over black where the input has alpha."""
    time: FrameTime
    """When it is shown, in :attr:`FrameSource.time_base`, from the input's start."""
    alpha: NDArray[np.uint8] | None
    """``(H, W) uint8`` alpha of the input (255 = opaque), or None where it has none."""


class FrameSource:
    """The frames of a video file or of a folder of images, decoded one at a time.

    Parameters
    ----------
    path : str or Path
        A video file FFmpeg can read (see :class:`~flowseg.io.video.VideoReader`),
        or a folder of images (see :func:`~flowseg.io.images.read_image`), read
        in natural order (``frame2`` before ``frame10``); hidden files and
        files of other types are skipped.
    video_stream : int
        Which video stream of a file to read (0 = the first).

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
    frame_count : int
        Frames to expect: the images of a folder, or the frames a video's
        container lists (read without decoding; the header's claim is not
        trusted). Decoding may give fewer, if some are damaged.
    has_audio : bool
        Whether the video has an audio stream.
    audio_start : Fraction
        Seconds of the video's timeline that are 0 in the frames' times (and
        in outputs carrying its audio).
    ignored_files : list of str
        Files of a folder skipped as not images.

    Raises
    ------
    VideoOpenError
        If the path does not exist, a folder holds no images, or a video
        cannot be opened, has no video stream (or not `video_stream`) or no
        frame that decodes.

    Notes
    -----
    Iterating yields ``(name, image)`` pairs, and :meth:`timed` gives
    :class:`SourceFrame` tuples ``(name, image, time, alpha)``. A video frame
    that cannot be decoded is skipped and its name left out (the others keep
    theirs); :meth:`report` and :meth:`warnings` say which. Iteration raises
    :class:`VideoOpenError` for an image file that cannot be decoded and
    :class:`ShapeError` for a frame whose size differs from the first. Only
    a few frames are held at a time.

    Examples
    --------
    >>> source = FrameSource("examples/juggle.mp4")          # doctest: +SKIP
    >>> name, image = next(iter(source))                     # doctest: +SKIP
    >>> name, image.shape                                    # doctest: +SKIP
    ('00000', (240, 426, 3))
    """

    def __init__(self, path: str | Path, *, video_stream: int = 0) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise VideoOpenError(f"input {str(self.path)!r} does not exist")
        self.is_folder = self.path.is_dir()
        self._files: list[tuple[str, Path]] = []
        self._reader: VideoReader | None = None
        self._alpha_frames = self._decoded = 0
        self.has_audio = False
        self.audio_start = Fraction(0)
        self.ignored_files: list[str] = []
        if self.is_folder:
            self._files = self._list_images()
            self.fps = FOLDER_FPS
            self.time_base = 1 / Fraction(FOLDER_FPS)
            self.frame_count = len(self._files)
        else:
            self._reader = VideoReader(self.path, video_stream=video_stream)
            self.fps = self._reader.info.fps
            self.time_base = self._reader.info.time_base
            self.frame_count = self._reader.listed_frames
            self.has_audio = self._reader.info.audio_streams > 0
            self.audio_start = self._reader.start

    def _list_images(self) -> list[tuple[str, Path]]:
        """``(name, file)`` of each image in natural order; a name shared by two files becomes the full file name."""
        images, others = image_files(self.path)
        self.ignored_files = [p.name for p in others]
        if not images:
            others = f"; it holds {_listing(self.ignored_files)}" if self.ignored_files else ""
            raise VideoOpenError(f"folder {str(self.path)!r} holds no images ({', '.join(IMAGE_EXTENSIONS)}){others}")
        stems = Counter(p.stem for p in images)
        return [(p.stem if stems[p.stem] == 1 else p.name, p) for p in images]

    def __iter__(self) -> Iterator[tuple[str, Image]]:
        for frame in self.timed():
            yield frame.name, frame.image

    def timed(self) -> Iterator[SourceFrame]:
        """Iterate over :class:`SourceFrame` tuples: the frames with when they are shown and their alpha."""
        size: tuple[int, int] | None = None
        self._alpha_frames = self._decoded = 0
        frames = self._folder_frames() if self.is_folder else self._video_frames()
        for frame in frames:
            if size is None:
                size = frame.image.shape[:2]
            elif frame.image.shape[:2] != size:
                raise ShapeError(
                    f"frame {frame.name!r} of {str(self.path)!r} is {frame.image.shape[1]}x{frame.image.shape[0]}; "
                    f"earlier frames are {size[1]}x{size[0]}: all frames of a video must be the same size",
                    expected=f"(H, W) = {size}",
                    actual=frame.image.shape[:2],
                )
            self._decoded += 1
            self._alpha_frames += frame.alpha is not None
            yield frame

    def _folder_frames(self) -> Iterator[SourceFrame]:
        for index, (name, file) in enumerate(self._files):
            image, alpha = read_image(file)
            yield SourceFrame(name, check_image(image, str(file)), FrameTime(index, 1), alpha)

    def _video_frames(self) -> Iterator[SourceFrame]:
        assert self._reader is not None
        for number, image, alpha, time in self._reader:
            yield SourceFrame(_video_frame_name(number), image, time, alpha)

    def output_timing(self) -> dict[str, Any]:
        """Keywords for an :class:`~flowseg.io.outputs.OutputFolder` whose videos keep this input's times and audio."""
        return {"fps": self.fps, "time_base": self.time_base, "audio_from": self.path if self.has_audio else None,
                "audio_start": self.audio_start}

    def report(self) -> dict[str, Any]:
        """What was read and how, for ``summary.json`` (complete after an iteration).

        Returns
        -------
        dict
            ``"kind"`` (``"video"`` or ``"images"``), ``"listed_frames"``
            (frames the container or folder holds), ``"decoded_frames"``,
            ``"alpha"`` (:data:`ALPHA_RULE` where frames had alpha, else
            None) and ``"timing"`` (``"method"``: ``"container"``,
            ``"reordered"``, ``"regenerated"`` or ``"folder"``, and
            ``"reason"``, a sentence). A video adds ``"codec"``,
            ``"pixel_format"``, ``"video_stream"``, ``"video_streams"``,
            ``"header_frames"`` (the header's claim), ``"missing_frames"``
            (names of listed frames that did not decode), ``"damaged_packets"``,
            ``"read_error"`` (why reading stopped early, or None),
            ``"start_seconds"`` (the input's start, counted as 0) and, in
            ``"timing"``, the counts of :class:`~flowseg.io.timing.TimingReport`.
            A folder adds ``"ignored_files"``.
        """
        common = {"listed_frames": self.frame_count, "decoded_frames": self._decoded,
                  "alpha": ALPHA_RULE if self._alpha_frames else None}
        if self._reader is None:
            timing = {"method": "folder", "reason": f"a folder of images has no times: one frame every 1/{FOLDER_FPS:g} s"}
            return {"kind": "images", **common, "ignored_files": self.ignored_files, "timing": timing}
        reader, info = self._reader, self._reader.info
        clock = reader.timing
        return {
            "kind": "video", **common, "codec": info.codec, "pixel_format": info.pixel_format,
            "video_stream": reader.video_stream, "video_streams": info.video_streams,
            "header_frames": info.frame_count, "missing_frames": [_video_frame_name(n) for n in reader.missing],
            "damaged_packets": reader.damaged_packets, "read_error": reader.read_error,
            "start_seconds": float(reader.start),
            "timing": {"method": clock.method, "reason": clock.reason, "reordered": clock.reordered,
                       "regenerated": clock.regenerated, "gaps": clock.gaps,
                       "variable_frame_rate": clock.variable_rate},
        }

    def warnings(self) -> list[str]:
        """One line for each thing about the input a user should know (after an iteration)."""
        lines = []
        if self._reader is not None:
            reader = self._reader
            if reader.missing:
                names = [_video_frame_name(n) for n in reader.missing]
                lines.append(f"{len(names)} of {reader.listed_frames} frames could not be decoded ({_listing(names)}); "
                             "they have no masks and the other frames keep their numbers")
            claimed = reader.info.frame_count
            if claimed is not None and claimed > reader.listed_frames:
                lines.append(f"the header claims {claimed} frames but the file holds {reader.listed_frames}: cut off?")
            if reader.read_error is not None:
                lines.append(f"reading stopped before the end of the file ({reader.read_error}): truncated?")
            if reader.timing.method != "container":
                lines.append(f"timestamps {reader.timing.method}: {reader.timing.reason}")
        if self.ignored_files:
            lines.append(f"skipped {len(self.ignored_files)} files that are not images: {_listing(self.ignored_files)}")
        if self._alpha_frames:
            lines.append(f"the input has alpha: {ALPHA_RULE}")
        return lines
