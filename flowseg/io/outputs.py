"""Result writers (PNG, video, JSON) into an output folder that appears only when complete.

Writers build the folder under a temporary name beside the destination and
rename it into place only when everything is written, so an interrupted or
failed run never leaves output that looks finished.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from ..errors import ConfigError, OutputError
from ..types import Image, Mask
from .images import unpremultiplied
from .preview import feathered_alpha, instance_colours, instance_overlay, overlay
from .tracks import TracksWriter
from .video import VIDEO_FORMATS, FrameTime, VideoEncoder

__all__ = ["ALPHA_FORMATS", "OutputFolder", "ResultWriter", "PredictionWriter", "check_output_folder"]


def check_output_folder(output_dir: str | Path, *, overwrite: bool = False) -> None:
    """Refuse an output folder that exists and is a file, or holds something (without `overwrite`).

    Raises
    ------
    OutputError
        Naming the folder, and ``--overwrite`` where that would do.
    """
    output_dir = Path(output_dir)
    if output_dir.exists():
        if not output_dir.is_dir():
            raise OutputError(f"output {str(output_dir)!r} exists and is not a folder")
        if any(output_dir.iterdir()) and not overwrite:
            raise OutputError(
                f"output folder {str(output_dir)!r} exists and is not empty; choose another folder or pass --overwrite"
            )


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
    audio_start : Fraction
        Seconds of `audio_from`'s timeline that are 0 in the frame times
        (:attr:`FrameSource.audio_start <flowseg.io.frames.FrameSource>`).
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
        audio_start: Fraction = Fraction(0),
        overwrite: bool = False,
        folders: tuple[str, ...] = (),
    ) -> None:
        self.output_dir = Path(output_dir)
        check_output_folder(self.output_dir, overwrite=overwrite)
        parent = self.output_dir.absolute().parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.output_dir.name}.partial-", dir=parent))
        except OSError as error:
            raise OutputError(f"cannot write to output folder {str(self.output_dir)!r}: {error.strerror}") from None
        self.fps = fps
        self.time_base = time_base if time_base is not None else 1 / Fraction(fps).limit_denominator(1001)
        self.audio_from = audio_from
        self.audio_start = audio_start
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
            A key of :data:`flowseg.io.video.VIDEO_FORMATS`.
        """
        file_name = f"{name}{VIDEO_FORMATS[video_format].suffix}"
        if file_name not in self._videos:
            encoder = VideoEncoder(self._tmp / file_name, video_format, time_base=self.time_base, fps=self.fps,
                                   audio_from=self.audio_from, audio_start=self.audio_start)
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
        tracks.json          every object's frames, boxes and masks (with `instances`, see flowseg.io.tracks)
        summary.json         written last (see :meth:`finish`)

    With `instances`, ``overlay.mp4`` shows each object in its own colour with its ID.

    Every video has the source's frame times and carries its audio.

    Parameters
    ----------
    output_dir, fps, time_base, audio_from, audio_start, overwrite
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
        audio_start: Fraction = Fraction(0),
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
        super().__init__(output_dir, fps=fps, time_base=time_base, audio_from=audio_from, audio_start=audio_start,
                         overwrite=overwrite, folders=folders)
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
        source_alpha: NDArray[np.uint8] | None = None,
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
        source_alpha : (H, W) uint8 ndarray, optional
            The input's own alpha, where it has one (`image` is then the
            colour composited over black): the matte and the cut-outs' alpha
            become the mask's times it, so what the input hides stays hidden.
        """
        self.write_png(f"masks/{name}", mask.astype(np.uint8) * 255)
        if self._tracks is not None:
            self._write_labels(f"instances/{name}.png", labels)
            self._tracks.add(labels)
        matte = feathered_alpha(mask, self.feather)
        if source_alpha is not None:
            matte = np.round(matte * (source_alpha / np.float32(255))).astype(np.uint8)
        if self.alpha:
            rgba = np.dstack([image if source_alpha is None else unpremultiplied(image, source_alpha), matte])
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
    output_dir, fps, time_base, audio_from, audio_start, overwrite
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
        audio_start: Fraction = Fraction(0),
        masks: bool = False,
        videos: bool = True,
        overwrite: bool = False,
    ) -> None:
        folders = ("predicted", "predicted_masks") if masks else ("predicted",)
        super().__init__(output_dir, fps=fps, time_base=time_base, audio_from=audio_from, audio_start=audio_start,
                         overwrite=overwrite, folders=folders)
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
