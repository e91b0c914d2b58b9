"""Video files through FFmpeg (PyAV): exact timestamps in, editor-ready videos out.

Reading gives every decoded frame upright (the container's rotation applied)
with its presentation timestamp, so a variable frame rate survives. Writing
encodes one of :data:`VIDEO_FORMATS` with the source's timestamps and copies
the source's audio streams in beside the video, interleaved as the frames
arrive, so an output has the source's timing and sound.

Timestamps are integers in a stream's ``time_base`` (a :class:`~fractions.Fraction`
of a second), as in FFmpeg.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import OutputError, VideoOpenError
from ..types import Image

__all__ = ["FrameTime", "VideoInfo", "VideoFormat", "VIDEO_FORMATS", "probe", "VideoReader", "VideoEncoder"]

@dataclass(frozen=True)
class FrameTime:
    """When a frame is shown: ``pts`` and ``duration`` in the stream's ``time_base``."""

    pts: int
    duration: int


@dataclass(frozen=True)
class VideoInfo:
    """What a video file's container says about it.

    Attributes
    ----------
    width, height : int
        Upright frame size in pixels (after `rotation`).
    fps : float
        Average frame rate.
    time_base : Fraction
        Unit of the timestamps, in seconds.
    frame_count : int or None
        The container's claim (decoding may find fewer or more frames).
    duration : float or None
        Duration of the video stream in seconds.
    rotation : int
        Degrees counter-clockwise the frames are turned to show them upright.
    audio_streams : int
        Number of audio streams.
    codec : str
        The video codec's name.
    """

    width: int
    height: int
    fps: float
    time_base: Fraction
    frame_count: int | None
    duration: float | None
    rotation: int
    audio_streams: int
    codec: str


def _open(path: Path) -> Any:
    import av

    try:
        return av.open(str(path))
    except av.FFmpegError as error:
        raise VideoOpenError(f"cannot read {str(path)!r}: not a video FFmpeg can open ({error.strerror})") from None


def _video_stream(container: Any, path: Path) -> Any:
    import av

    if not container.streams.video:
        container.close()
        raise VideoOpenError(f"{str(path)!r} has no video stream")
    stream = container.streams.video[0]
    if stream.codec_context is None or not _has_decoder(stream.codec_context.name):
        container.close()
        codec = stream.codec_context.name if stream.codec_context is not None else "unknown"
        raise VideoOpenError(f"cannot decode {str(path)!r}: FFmpeg (PyAV {av.__version__}) has no decoder for "
                             f"its {codec!r} video codec")
    stream.thread_type = "AUTO"
    return stream


def _has_decoder(name: str) -> bool:
    import av

    try:
        av.codec.Codec(name, "r")
    except (av.codec.codec.UnknownCodecError, ValueError):
        return False
    return True


def probe(path: str | Path) -> VideoInfo:
    """Read a video file's header and its first frame's rotation.

    Parameters
    ----------
    path : str or Path
        A video file.

    Returns
    -------
    VideoInfo

    Raises
    ------
    VideoOpenError
        If the file is missing, is not a video, has no video stream, no
        decoder for its codec, or no frame that decodes.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoOpenError(f"input {str(path)!r} does not exist")
    container = _open(path)
    try:
        stream = _video_stream(container, path)
        first = next(_decoded(container, stream, path), None)
        if first is None:
            raise VideoOpenError(f"video {str(path)!r} has no frames that FFmpeg can decode")
        rotation = _rotation(first)
        width, height = (first.height, first.width) if rotation % 180 else (first.width, first.height)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        duration = float(stream.duration * stream.time_base) if stream.duration else None
        return VideoInfo(
            width=width,
            height=height,
            fps=float(rate) if rate else 25.0,
            time_base=Fraction(stream.time_base),
            frame_count=stream.frames or None,
            duration=duration,
            rotation=rotation,
            audio_streams=len(container.streams.audio),
            codec=stream.codec_context.name,
        )
    finally:
        container.close()


def _rotation(frame: Any) -> int:
    """Counter-clockwise degrees (0, 90, 180 or 270) that show `frame` upright."""
    return int(round(frame.rotation / 90.0)) % 4 * 90


def _decoded(container: Any, stream: Any, path: Path, skipped: list[int] | None = None) -> Iterator[Any]:
    """Decode `stream`; with `skipped`, a damaged packet is counted there and passed over, as FFmpeg's player does.

    Without `skipped`, damage raises :class:`VideoOpenError`. Reading past a
    truncated file's end stops the stream either way.
    """
    import av

    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError as error:
            if skipped is None:
                raise VideoOpenError(f"cannot read {str(path)!r}: {error.strerror} (corrupt or truncated?)") from None
            skipped[0] += 1
            return
        try:
            frames = packet.decode()
        except av.FFmpegError as error:
            if skipped is None:
                raise VideoOpenError(f"cannot decode {str(path)!r}: {error.strerror} (corrupt?)") from None
            skipped[0] += 1
            continue
        yield from frames


class VideoReader:
    """A video's frames one at a time, upright, with their timestamps.

    Parameters
    ----------
    path : str or Path
        A video file (see :func:`probe` for what it checks).

    Attributes
    ----------
    skipped_packets : int
        Damaged packets passed over so far, as FFmpeg's own tools do (a
        truncated download or a broken stretch of a file); their frames are
        missing from the iteration.

    Notes
    -----
    Iterating yields ``(image, time)``: an ``(H, W, 3) uint8`` RGB frame
    turned upright by the container's rotation, and its :class:`FrameTime`
    in the stream's ``time_base``. Frames without a timestamp are placed one
    average frame after the previous. Iteration raises
    :class:`VideoOpenError` if the file cannot be opened.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.skipped_packets = 0

    def __iter__(self) -> Iterator[tuple[Image, FrameTime]]:
        container = _open(self.path)
        skipped = [0]
        try:
            stream = _video_stream(container, self.path)
            step = _frame_step(stream)
            next_pts = 0
            for frame in _decoded(container, stream, self.path, skipped):
                self.skipped_packets = skipped[0]
                pts = frame.pts if frame.pts is not None else next_pts
                duration = frame.duration or step
                next_pts = pts + duration
                image = np.rot90(frame.to_ndarray(format="rgb24"), _rotation(frame) // 90)
                yield np.ascontiguousarray(image), FrameTime(int(pts), int(duration))
        finally:
            self.skipped_packets = skipped[0]
            container.close()


def _frame_step(stream: Any) -> int:
    """One average frame in the stream's time base (at least 1)."""
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate or 25
    return max(1, round(1 / (Fraction(rate) * Fraction(stream.time_base))))


@dataclass(frozen=True)
class VideoFormat:
    """How one kind of output video is encoded.

    Attributes
    ----------
    suffix : str
        File name extension.
    codec : str
        FFmpeg encoder.
    pixel_format : str
        Encoded pixel format; ``yuva...`` keeps an alpha channel.
    options : dict of str to str
        Encoder options.
    container_options : dict of str to str
        Muxer options.
    """

    suffix: str
    codec: str
    pixel_format: str
    options: dict[str, str]
    container_options: dict[str, str] = field(default_factory=dict)


VIDEO_FORMATS: dict[str, VideoFormat] = {
    "h264": VideoFormat(".mp4", "libx264", "yuv420p", {"preset": "veryfast", "crf": "18"}, {"movflags": "+faststart"}),
    "prores": VideoFormat(".mov", "prores_ks", "yuva444p10le", {"profile": "4444", "alpha_bits": "16"}),
    "webm": VideoFormat(".webm", "libvpx-vp9", "yuva420p",
                        {"deadline": "realtime", "cpu-used": "8", "crf": "24", "b": "0", "auto-alt-ref": "0"}),
}
"""Output video formats: ``h264`` plays everywhere (browsers included; no alpha,
frames of odd size are padded by one pixel); ``prores`` is ProRes 4444 with
alpha for editors; ``webm`` is VP9 with alpha for the web."""


class VideoEncoder:
    """Writes one video file, with the source's timestamps and audio.

    Parameters
    ----------
    path : str or Path
        Output file; its suffix should be the format's.
    video_format : str
        A key of :data:`VIDEO_FORMATS`.
    time_base : Fraction
        Unit of the timestamps given to :meth:`write`.
    fps : float
        Nominal frame rate (a hint to the encoder; the timestamps rule).
    audio_from : str or Path, optional
        A video file whose audio streams are copied in; streams the output
        container cannot hold are re-encoded to its default audio codec
        (e.g. AAC into WebM becomes Opus).

    Raises
    ------
    OutputError
        If the file cannot be created or written.

    Notes
    -----
    Frames are ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA ``uint8`` arrays, all
    the same size. Audio packets are interleaved as the frames arrive: those
    up to each frame's time are written with it, and the rest by
    :meth:`close`.
    """

    def __init__(
        self,
        path: str | Path,
        video_format: str,
        *,
        time_base: Fraction,
        fps: float,
        audio_from: str | Path | None = None,
    ) -> None:
        import av

        self.path = Path(path)
        self.format = VIDEO_FORMATS[video_format]
        self.time_base = Fraction(time_base)
        self._fps = Fraction(fps).limit_denominator(1001)
        self._audio_from = Path(audio_from) if audio_from is not None else None
        try:
            self._container = av.open(str(self.path), "w", options=self.format.container_options)
        except (av.FFmpegError, OSError) as error:
            raise OutputError(f"cannot create video {str(self.path)!r}: {error}") from None
        self._stream: Any = None
        self._audio: _AudioCopy | None = None
        self._last_pts: int | None = None
        self._durations: dict[int, int] = {}  # pts -> duration of the frames inside the encoder

    def _open_video_stream(self, width: int, height: int) -> None:
        stream = self._container.add_stream(self.format.codec, rate=self._fps, options=self.format.options)
        stream.width, stream.height = width, height
        stream.pix_fmt = self.format.pixel_format
        stream.time_base = self.time_base
        stream.codec_context.time_base = self.time_base
        self._stream = stream
        if self._audio_from is not None:
            self._audio = _AudioCopy(self._audio_from, self._container)

    def write(self, image: np.ndarray, time: FrameTime) -> None:
        """Encode one frame shown at ``time`` (RGB, or RGBA for an alpha format)."""
        import av

        height, width = image.shape[:2]
        if self.format.codec == "libx264" and (width % 2 or height % 2):
            image = np.pad(image, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        if self._stream is None:
            self._guarded(self._open_video_stream, image.shape[1], image.shape[0])
        if self._last_pts is not None and time.pts <= self._last_pts:
            raise OutputError(f"frame timestamps must increase: {time.pts} after {self._last_pts} "
                              f"in {str(self.path)!r}")
        self._last_pts = time.pts
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=_layout(image))
        frame.pts, frame.duration, frame.time_base = time.pts, time.duration, self.time_base
        self._durations[time.pts] = time.duration
        self._guarded(self._mux, self._stream.encode(frame))
        if self._audio is not None:
            self._guarded(self._audio.copy_until, float((time.pts + time.duration) * self.time_base))

    def _mux(self, packets: list[Any]) -> None:
        for packet in packets:
            # Encoders leave the duration to the muxer, which guesses the last frame's; the source's is known.
            packet.duration = self._durations.pop(packet.pts, packet.duration)
            self._container.mux(packet)

    def _guarded(self, step: Any, *args: Any) -> None:
        import av

        try:
            step(*args)
        except (av.FFmpegError, OSError) as error:
            self.abort()
            raise OutputError(f"cannot write video {str(self.path)!r}: {error} (disk full or not writable?)") from None

    def close(self) -> None:
        """Flush the encoder, copy the remaining audio and finish the file."""
        if self._stream is not None:
            self._guarded(self._mux, self._stream.encode(None))
            if self._audio is not None:
                self._guarded(self._audio.copy_until, None)
        self._guarded(self._container.close)

    def abort(self) -> None:
        """Close without finishing; the caller deletes the file."""
        try:
            self._container.close()
        except Exception:  # noqa: BLE001 - the file is being discarded anyway
            pass


def _layout(image: np.ndarray) -> str:
    return {3: "rgb24", 4: "rgba"}[image.shape[2]]


class _AudioCopy:
    """The audio streams of a source file, copied (or re-encoded) into an output container."""

    def __init__(self, source: Path, output: Any) -> None:
        self._input = _open(source)
        self._streams = {}
        self._transcoders = {}
        for stream in self._input.streams.audio:
            if stream.codec_context.name in output.supported_codecs:
                self._streams[stream.index] = output.add_stream_from_template(stream)
            else:
                codec = output.default_audio_codec
                rate = 48000 if "opus" in codec else stream.codec_context.sample_rate or 48000
                encoder = output.add_stream(codec, rate=rate)
                self._streams[stream.index] = encoder
                self._transcoders[stream.index] = encoder
        self._packets = self._input.demux(*self._input.streams.audio) if self._streams else iter(())
        self._pending: Any = None
        self._output = output

    def copy_until(self, seconds: float | None) -> None:
        """Write the audio packets that start before `seconds` (all that are left when None)."""
        while True:
            packet = self._pending if self._pending is not None else next(self._packets, None)
            self._pending = None
            if packet is None:
                if seconds is None:
                    self._flush()
                return
            if packet.dts is None and packet.size == 0:  # a demuxer's end-of-stream marker
                continue
            if seconds is not None and packet.pts is not None and float(packet.pts * packet.time_base) >= seconds:
                self._pending = packet
                return
            self._write(packet)

    def _write(self, packet: Any) -> None:
        out = self._streams[packet.stream.index]
        if packet.stream.index in self._transcoders:
            for frame in packet.decode():
                frame.pts = None
                for encoded in out.encode(frame):
                    self._output.mux(encoded)
            return
        packet.stream = out
        self._output.mux(packet)

    def _flush(self) -> None:
        for encoder in self._transcoders.values():
            for encoded in encoder.encode(None):
                self._output.mux(encoded)
        self._input.close()
