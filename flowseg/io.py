"""Frame readers (video file, image folder) and result writers (PNG, video, JSON).

Readers convert from OpenCV's BGR to RGB here and nowhere else. Writers build
an output folder under a temporary name beside the destination and rename it
into place only when everything is written, so an interrupted or failed run
never leaves output that looks finished.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np

from ._validate import check_image
from .errors import OutputError, ShapeError, VideoOpenError
from .types import Image, Mask

__all__ = ["IMAGE_EXTENSIONS", "FOLDER_FPS", "FrameSource", "ResultWriter", "overlay"]

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
        A video file OpenCV can read, or a folder of images (``.jpg``,
        ``.png``, ... read in file-name order; hidden files are skipped).

    Attributes
    ----------
    path : Path
        The input.
    is_folder : bool
        Whether `path` is a folder of images.
    fps : float
        Frame rate of the video; :data:`FOLDER_FPS` for a folder.
    frame_count : int or None
        Number of frames: exact for a folder, the container's estimate for a
        video (None when it gives none).

    Raises
    ------
    VideoOpenError
        If the path does not exist, a folder holds no images or holds
        non-image files, or a video cannot be opened or has no frames.

    Notes
    -----
    Iterating yields ``(name, image)`` pairs: `name` is the file name without
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
        if self.is_folder:
            self._files = self._list_images()
            self.fps = FOLDER_FPS
            self.frame_count: int | None = len(self._files)
        else:
            capture = self._open_video()
            fps = capture.get(cv2.CAP_PROP_FPS)
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            ok, _ = capture.read()
            capture.release()
            if not ok:
                raise VideoOpenError(f"video {str(self.path)!r} has no frames that OpenCV can decode")
            self.fps = float(fps) if fps and fps > 0 else FOLDER_FPS
            self.frame_count = count if count > 0 else None

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

    def _open_video(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            raise VideoOpenError(
                f"cannot read {str(self.path)!r}: OpenCV cannot open it as a video "
                "(no frames, corrupt, unsupported codec, or not a video)"
            )
        return capture

    def __iter__(self) -> Iterator[tuple[str, Image]]:
        size: tuple[int, int] | None = None
        for name, image in self._folder_frames() if self.is_folder else self._video_frames():
            if size is None:
                size = image.shape[:2]
            elif image.shape[:2] != size:
                raise ShapeError(
                    f"frame {name!r} of {str(self.path)!r} is {image.shape[1]}x{image.shape[0]}; "
                    f"earlier frames are {size[1]}x{size[0]}: all frames of a video must be the same size",
                    expected=f"(H, W) = {size}",
                    actual=image.shape[:2],
                )
            yield name, image

    def _folder_frames(self) -> Iterator[tuple[str, Image]]:
        for file in self._files:
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
            yield file.stem, check_image(cv2.cvtColor(raw, cv2.COLOR_BGR2RGB), str(file))

    def _video_frames(self) -> Iterator[tuple[str, Image]]:
        capture = self._open_video()
        try:
            index = 0
            while True:
                ok, bgr = capture.read()
                if not ok:
                    break
                yield f"{index:05d}", cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                index += 1
        finally:
            capture.release()


def overlay(image: Image, mask: Mask, *, color: tuple[int, int, int] = (255, 40, 40), alpha: float = 0.45) -> Image:
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
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, contours, -1, color, thickness=max(1, round(max(image.shape[:2]) / 400)))
    return out


class OutputFolder:
    """An output folder that appears only when complete.

    Everything is written into a hidden temporary folder beside `output_dir`
    and renamed to it by :meth:`finish`; :meth:`abort` (or leaving the
    ``with`` block on an exception) deletes it. Subclasses add a ``write``
    method for one frame's outputs.

    Parameters
    ----------
    output_dir : str or Path
        Destination folder. It must not exist, or be empty, or
        `overwrite` must be set.
    fps : float
        Frame rate of the videos.
    overwrite : bool
        Replace an existing non-empty `output_dir`.
    folders : sequence of str
        Subfolders to create.

    Raises
    ------
    OutputError
        If `output_dir` exists and is not empty (without `overwrite`), is a
        file, or its parent cannot be created or written.
    """

    def __init__(
        self, output_dir: str | Path, *, fps: float, overwrite: bool = False, folders: tuple[str, ...] = ()
    ) -> None:
        self.output_dir = Path(output_dir)
        if self.output_dir.exists():
            if not self.output_dir.is_dir():
                raise OutputError(f"output {str(self.output_dir)!r} exists and is not a folder")
            if any(self.output_dir.iterdir()) and not overwrite:
                raise OutputError(
                    f"output folder {str(self.output_dir)!r} exists and is not empty; "
                    "choose another folder or pass --overwrite"
                )
        parent = self.output_dir.absolute().parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.output_dir.name}.partial-", dir=parent))
        except OSError as error:
            raise OutputError(f"cannot write to output folder {str(self.output_dir)!r}: {error.strerror}") from None
        self.fps = fps
        self.frames_written = 0
        self._video_writers: dict[str, cv2.VideoWriter] = {}
        for folder in folders:
            (self._tmp / folder).mkdir()

    def __enter__(self) -> OutputFolder:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()

    def write_video_frame(self, name: str, image: Image) -> None:
        """Append an RGB frame to the video ``<name>.mp4`` (created on first use)."""
        if name not in self._video_writers:
            path = self._tmp / f"{name}.mp4"
            size_wh = (image.shape[1], image.shape[0])
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, size_wh)
            if not writer.isOpened():
                raise OutputError(f"cannot create video {str(path)!r}: OpenCV has no mp4v encoder here")
            self._video_writers[name] = writer
        self._video_writers[name].write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))

    def write_png(self, relative: str, image: np.ndarray) -> None:
        """Write a grey, RGB or RGBA image as ``<relative>.png`` (RGB order in, converted for OpenCV here)."""
        if image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR if image.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
        path = self._tmp / f"{relative}.png"
        if not cv2.imwrite(str(path), image):
            raise OutputError(f"cannot write {str(path)!r} (disk full or not writable?)")

    def _close_videos(self) -> None:
        for writer in self._video_writers.values():
            writer.release()
        self._video_writers.clear()

    def finish(self, summary: dict[str, Any]) -> Path:
        """Write ``summary.json`` and move the folder into place.

        Parameters
        ----------
        summary : dict
            JSON-serialisable run summary.

        Returns
        -------
        Path
            The finished output folder.
        """
        self._close_videos()
        try:
            with open(self._tmp / "summary.json", "w", encoding="utf-8") as file:
                json.dump(summary, file, indent=2)
                file.write("\n")
            if self.output_dir.exists():
                shutil.rmtree(self.output_dir)
            os.replace(self._tmp, self.output_dir)
        except OSError as error:
            self.abort()
            raise OutputError(f"cannot finish output folder {str(self.output_dir)!r}: {error}") from None
        return self.output_dir

    def abort(self) -> None:
        """Delete everything written so far."""
        self._close_videos()
        shutil.rmtree(self._tmp, ignore_errors=True)


class ResultWriter(OutputFolder):
    """Writes a segmentation run's outputs into a folder that appears only when complete.

    Layout of the finished folder::

        masks/<name>.png     0/255 masks, the frame's size
        cutouts/<name>.png   RGBA: the frame with alpha = mask (if `cutouts`)
        mask.mp4             the masks as a video
        overlay.mp4          the frames with the mask tinted and outlined
        summary.json         written last (see :meth:`finish`)

    Parameters
    ----------
    output_dir, fps, overwrite
        See :class:`OutputFolder`.
    cutouts : bool
        Also write RGBA cut-outs.
    videos : bool
        Write ``mask.mp4`` and ``overlay.mp4``.
    """

    def __init__(
        self,
        output_dir: str | Path,
        *,
        fps: float,
        cutouts: bool = False,
        videos: bool = True,
        overwrite: bool = False,
    ) -> None:
        folders = ("masks", "cutouts") if cutouts else ("masks",)
        super().__init__(output_dir, fps=fps, overwrite=overwrite, folders=folders)
        self.cutouts = cutouts
        self.videos = videos

    def write(self, name: str, image: Image, mask: Mask) -> None:
        """Write the outputs of one frame.

        Parameters
        ----------
        name : str
            Output file name without extension (see :class:`FrameSource`).
        image : (H, W, 3) uint8 ndarray
            RGB frame.
        mask : (H, W) bool ndarray
            Its mask.
        """
        mask_u8 = mask.astype(np.uint8) * 255
        self.write_png(f"masks/{name}", mask_u8)
        if self.cutouts:
            self.write_png(f"cutouts/{name}", np.dstack([image, mask_u8]))
        if self.videos:
            self.write_video_frame("mask", np.dstack([mask_u8] * 3))
            self.write_video_frame("overlay", overlay(image, mask))
        self.frames_written += 1


class PredictionWriter(OutputFolder):
    """Writes a prediction run's outputs into a folder that appears only when complete.

    Layout of the finished folder::

        predicted/<name>.png         the predicted frame (RGB)
        predicted_masks/<name>.png   its predicted 0/255 mask (if `masks`)
        side_by_side.mp4             real frame | predicted frame (with the predicted mask tinted)
        summary.json                 written last (see :meth:`finish`)

    Parameters
    ----------
    output_dir, fps, overwrite
        See :class:`OutputFolder`.
    masks : bool
        Also write predicted masks.
    videos : bool
        Write ``side_by_side.mp4``.
    """

    def __init__(
        self, output_dir: str | Path, *, fps: float, masks: bool = False, videos: bool = True, overwrite: bool = False
    ) -> None:
        folders = ("predicted", "predicted_masks") if masks else ("predicted",)
        super().__init__(output_dir, fps=fps, overwrite=overwrite, folders=folders)
        self.masks = masks
        self.videos = videos

    def write(self, name: str, real: Image, predicted: Image, predicted_mask: Mask | None = None) -> None:
        """Write the prediction of one frame, beside the real frame in the video.

        Parameters
        ----------
        name : str
            Output file name without extension (see :class:`FrameSource`).
        real, predicted : (H, W, 3) uint8 ndarray
            The frame as it came, and as it was predicted.
        predicted_mask : (H, W) bool ndarray, optional
            The predicted mask (needed when `masks`).
        """
        self.write_png(f"predicted/{name}", predicted)
        if self.masks:
            self.write_png(f"predicted_masks/{name}", predicted_mask.astype(np.uint8) * 255)
        if self.videos:
            shown = predicted if predicted_mask is None else overlay(predicted, predicted_mask)
            self.write_video_frame("side_by_side", np.hstack([real, shown]))
        self.frames_written += 1
