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
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np
from numpy.typing import NDArray

from ._validate import check_image
from .errors import ConfigError, OutputError, ShapeError, VideoOpenError
from .tracks import TracksWriter, objects_in
from .types import Image, Mask
from .video import VIDEO_FORMATS, FrameTime, VideoEncoder, VideoReader, probe

__all__ = ["IMAGE_EXTENSIONS", "FOLDER_FPS", "ALPHA_FORMATS", "FrameSource", "ResultWriter", "PredictionWriter",
           "feathered_alpha", "overlay", "instance_overlay", "instance_colours"]

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
    frame's :class:`~flowseg.video.FrameTime`: `name` is the file name without
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
        """Damaged video packets passed over by the last iteration (see :class:`~flowseg.video.VideoReader`)."""
        return self._reader.skipped_packets if self._reader is not None else 0


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
        Nominal frame rate of the videos.
    time_base : Fraction, optional
        Unit of the frame times given to :meth:`write_video_frame`; default
        ``1 / fps``.
    audio_from : str or Path, optional
        A video whose audio streams every output video carries.
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
        self,
        output_dir: str | Path,
        *,
        fps: float,
        time_base: Fraction | None = None,
        audio_from: str | Path | None = None,
        overwrite: bool = False,
        folders: tuple[str, ...] = (),
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
        self.time_base = time_base if time_base is not None else 1 / Fraction(fps).limit_denominator(1001)
        self.audio_from = audio_from
        self.frames_written = 0
        self._videos: dict[str, tuple[VideoEncoder, int]] = {}
        for folder in folders:
            (self._tmp / folder).mkdir()

    def __enter__(self) -> OutputFolder:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()

    def write_video_frame(
        self, name: str, image: np.ndarray, time: FrameTime | None = None, video_format: str = "h264"
    ) -> None:
        """Append a frame to the video ``<name><suffix>`` (created on first use).

        Parameters
        ----------
        name : str
            File name without the format's suffix.
        image : (H, W, 3) or (H, W, 4) uint8 ndarray
            RGB frame, or RGBA for a format with alpha.
        time : FrameTime, optional
            When the frame is shown, in :attr:`time_base`; default: one
            ``1 / fps`` after the previous frame of this video.
        video_format : str
            A key of :data:`flowseg.video.VIDEO_FORMATS`.
        """
        file_name = f"{name}{VIDEO_FORMATS[video_format].suffix}"
        if file_name not in self._videos:
            encoder = VideoEncoder(self._tmp / file_name, video_format, time_base=self.time_base, fps=self.fps,
                                   audio_from=self.audio_from)
            self._videos[file_name] = (encoder, 0)
        encoder, count = self._videos[file_name]
        if time is None:
            step = max(1, round(1 / (Fraction(self.fps).limit_denominator(1001) * self.time_base)))
            time = FrameTime(count * step, step)
        encoder.write(image, time)
        self._videos[file_name] = (encoder, count + 1)

    def write_text(self, relative: str, text: str) -> None:
        """Write a UTF-8 text file at ``<relative>`` inside the folder."""
        path = self._tmp / relative
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as error:
            raise OutputError(f"cannot write {str(path)!r}: {error.strerror}") from None

    def write_png(self, relative: str, image: np.ndarray) -> None:
        """Write a grey, RGB or RGBA image as ``<relative>.png`` (RGB order in, converted for OpenCV here)."""
        if image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR if image.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
        path = self._tmp / f"{relative}.png"
        if not cv2.imwrite(str(path), image):
            raise OutputError(f"cannot write {str(path)!r} (disk full or not writable?)")

    def _close_videos(self, *, finished: bool) -> None:
        videos, self._videos = self._videos, {}
        for encoder, _ in videos.values():
            if finished:
                encoder.close()
            else:
                encoder.abort()

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
        try:
            self._close_videos(finished=True)
        except OutputError:
            self.abort()
            raise
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
        self._close_videos(finished=False)
        shutil.rmtree(self._tmp, ignore_errors=True)


ALPHA_FORMATS: tuple[str, ...] = ("prores", "webm", "png")
"""Cut-outs with alpha: ProRes 4444 ``cutout.mov``, VP9 ``cutout.webm``, or RGBA PNGs ``cutouts/<name>.png``."""


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


class ResultWriter(OutputFolder):
    """Writes a segmentation run's outputs into a folder that appears only when complete.

    Layout of the finished folder::

        masks/<name>.png     0/255 masks, the frame's size
        mask.mp4             the matte: white object on black, as the alpha (H.264)
        overlay.mp4          preview: the frames with the mask tinted and outlined (H.264)
        cutout.mov           the frames with alpha, ProRes 4444 (if "prores" in `alpha`)
        cutout.webm          the frames with alpha, VP9 (if "webm" in `alpha`)
        cutouts/<name>.png   RGBA: the frame with its alpha (if "png" in `alpha`)
        instances/<name>.png object IDs, indexed PNG with a palette (with `instances`)
        tracks.json          every object's frames, boxes and masks (with `instances`, see flowseg.tracks)
        summary.json         written last (see :meth:`finish`)

    With `instances`, ``overlay.mp4`` shows each object in its own colour with its ID.

    Every video has the source's frame times and carries its audio.

    Parameters
    ----------
    output_dir, fps, time_base, audio_from, overwrite
        See :class:`OutputFolder`.
    alpha : sequence of str
        Cut-out formats, from :data:`ALPHA_FORMATS`.
    feather : float
        Soften the alpha (and the matte) over this many pixels across the
        mask's edge (see :func:`feathered_alpha`); the PNG masks stay hard.
    videos : bool
        Write ``mask.mp4`` and ``overlay.mp4``.
    instances : str, optional
        Write each frame's object labels (given to :meth:`write`), with this
        class name for every track in ``tracks.json``.
    """

    def __init__(
        self,
        output_dir: str | Path,
        *,
        fps: float,
        time_base: Fraction | None = None,
        audio_from: str | Path | None = None,
        alpha: tuple[str, ...] = (),
        feather: float = 0.0,
        videos: bool = True,
        instances: str | None = None,
        overwrite: bool = False,
    ) -> None:
        unknown = sorted(set(alpha) - set(ALPHA_FORMATS))
        if unknown:
            raise ConfigError(f"unknown alpha format {unknown[0]!r}; choose from {', '.join(ALPHA_FORMATS)}")
        folders = ("masks",) + ("cutouts",) * ("png" in alpha) + ("instances",) * (instances is not None)
        super().__init__(output_dir, fps=fps, time_base=time_base, audio_from=audio_from, overwrite=overwrite,
                         folders=folders)
        self.alpha = tuple(alpha)
        self.feather = feather
        self.videos = videos
        self.instances = instances
        self._tracks = TracksWriter(instances) if instances is not None else None

    def write(
        self,
        name: str,
        image: Image,
        mask: Mask,
        time: FrameTime | None = None,
        labels: NDArray[np.integer] | None = None,
    ) -> None:
        """Write the outputs of one frame.

        Parameters
        ----------
        name : str
            Output file name without extension (see :class:`FrameSource`).
        image : (H, W, 3) uint8 ndarray
            RGB frame.
        mask : (H, W) bool ndarray
            Its mask.
        time : FrameTime, optional
            When the frame is shown (see :meth:`OutputFolder.write_video_frame`).
        labels : (H, W) integer ndarray, optional
            Object IDs (0 = background); needed with `instances`.
        """
        self.write_png(f"masks/{name}", mask.astype(np.uint8) * 255)
        if self._tracks is not None:
            self._write_labels(f"instances/{name}.png", labels)
            self._tracks.add(labels)
        matte = feathered_alpha(mask, self.feather)
        if self.alpha:
            rgba = np.dstack([image, matte])
            for video_format in self.alpha:
                if video_format == "png":
                    self.write_png(f"cutouts/{name}", rgba)
                else:
                    self.write_video_frame("cutout", rgba, time, video_format)
        if self.videos:
            self.write_video_frame("mask", np.dstack([matte] * 3), time)
            preview = overlay(image, mask) if labels is None else instance_overlay(image, labels)
            self.write_video_frame("overlay", preview, time)
        self.frames_written += 1

    def _write_labels(self, relative: str, labels: NDArray[np.integer]) -> None:
        """An indexed PNG with a palette (IDs up to 255), else a 16-bit grey PNG of the IDs."""
        from PIL import Image as PILImage

        path = self._tmp / relative
        try:
            if labels.max(initial=0) <= 255:
                png = PILImage.fromarray(labels.astype(np.uint8), mode="P")
                png.putpalette(instance_colours(255).ravel().tolist())
                png.save(path)
            elif not cv2.imwrite(str(path), labels.astype(np.uint16)):
                raise OSError(f"OpenCV could not write {path}")
        except OSError as error:
            raise OutputError(f"cannot write {str(path)!r}: {error} (disk full or not writable?)") from None

    def finish(self, summary: dict[str, Any]) -> Path:
        """Write ``tracks.json`` (with `instances`), then as :meth:`OutputFolder.finish`."""
        if self._tracks is not None:
            try:
                self._tracks.write(self._tmp / "tracks.json")
            except OutputError:
                self.abort()
                raise
        return super().finish(summary)

    def abort(self) -> None:
        """Delete everything written so far."""
        if self._tracks is not None:
            self._tracks.discard()
        super().abort()


class PredictionWriter(OutputFolder):
    """Writes a prediction run's outputs into a folder that appears only when complete.

    Layout of the finished folder::

        predicted/<name>.png         the predicted frame (RGB)
        predicted_masks/<name>.png   its predicted 0/255 mask (if `masks`)
        side_by_side.mp4             real frame | predicted frame (with the predicted mask tinted)
        summary.json                 written last (see :meth:`finish`)

    Parameters
    ----------
    output_dir, fps, time_base, audio_from, overwrite
        See :class:`OutputFolder`.
    masks : bool
        Also write predicted masks.
    videos : bool
        Write ``side_by_side.mp4``.
    """

    def __init__(
        self,
        output_dir: str | Path,
        *,
        fps: float,
        time_base: Fraction | None = None,
        audio_from: str | Path | None = None,
        masks: bool = False,
        videos: bool = True,
        overwrite: bool = False,
    ) -> None:
        folders = ("predicted", "predicted_masks") if masks else ("predicted",)
        super().__init__(output_dir, fps=fps, time_base=time_base, audio_from=audio_from, overwrite=overwrite,
                         folders=folders)
        self.masks = masks
        self.videos = videos

    def write(
        self,
        name: str,
        real: Image,
        predicted: Image,
        predicted_mask: Mask | None = None,
        time: FrameTime | None = None,
    ) -> None:
        """Write the prediction of one frame, beside the real frame in the video.

        Parameters
        ----------
        name : str
            Output file name without extension (see :class:`FrameSource`).
        real, predicted : (H, W, 3) uint8 ndarray
            The frame as it came, and as it was predicted.
        predicted_mask : (H, W) bool ndarray, optional
            The predicted mask (needed when `masks`).
        time : FrameTime, optional
            When the real frame is shown (see :meth:`OutputFolder.write_video_frame`).
        """
        self.write_png(f"predicted/{name}", predicted)
        if self.masks:
            self.write_png(f"predicted_masks/{name}", predicted_mask.astype(np.uint8) * 255)
        if self.videos:
            shown = predicted if predicted_mask is None else overlay(predicted, predicted_mask)
            self.write_video_frame("side_by_side", np.hstack([real, shown]), time)
        self.frames_written += 1
