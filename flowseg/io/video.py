"""Video files through FFmpeg (PyAV): trustworthy timestamps in, editor-ready videos out.

Reading gives every decoded frame upright (the container's rotation applied),
as RGB whatever the pixel format (10- and 12-bit, 4:2:2 and 4:4:4, grey,
with alpha), with a presentation time that increases: the container's where
it is sound, put back in order where the container stores decode order (AVI
with B-frames), regenerated from the frame rate where it has none (see
:mod:`flowseg.io.timing`). Frames are numbered by their place among the
frames the container lists, so one that cannot be decoded leaves a gap
instead of shifting the rest. Writing encodes one of :data:`VIDEO_FORMATS`
with the source's timestamps and copies the source's audio streams in
beside the video, interleaved as the frames arrive, so an output has the
source's timing and sound.

Timestamps are integers in a stream's ``time_base`` (a :class:`~fractions.Fraction`
of a second), as in FFmpeg; both reading and writing count them from the
source's start (an MPEG-TS stream that starts at 10 s starts at 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import numpy as np
from numpy.typing import NDArray

from ..errors import OutputError, VideoOpenError
from ..types import Image
from .images import split_alpha
from .timing import FrameClock, FrameTime, TimingReport

__all__ = ["FrameTime", "VideoInfo", "VideoFrame", "VideoFormat", "VIDEO_FORMATS", "probe", "VideoReader",
           "VideoEncoder"]


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
        The header's claim (never trusted: decoding may find fewer or more frames).
    duration : float or None
        Duration of the video stream in seconds.
    rotation : int
        Degrees counter-clockwise the frames are turned to show them upright.
    audio_streams : int
        Number of audio streams.
    codec : str
        The video codec's name.
    pixel_format : str
        The decoded pixel format (FFmpeg's name, e.g. ``"yuv422p10le"``).
    has_alpha : bool
        Whether the frames carry an alpha channel that is decoded.
    video_stream : int
        Which of the video streams this describes (0 = the first).
    video_streams : int
        Number of video streams (cover pictures not counted).
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
    pixel_format: str
    has_alpha: bool
    video_stream: int
    video_streams: int


def _open(path: Path) -> Any:
    import av

    try:
        return av.open(str(path))
    except av.FFmpegError as error:
        raise VideoOpenError(f"cannot read {str(path)!r}: not a video FFmpeg can open ({error.strerror})") from None


def _video_streams(container: Any) -> list[Any]:
    """The container's video streams, without cover pictures (a song's album art)."""
    import av

    return [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]


def _video_stream(container: Any, path: Path, number: int) -> Any:
    import av

    streams = _video_streams(container)
    if not streams:
        found = len(container.streams), len(container.streams.video)
        container.close()
        if not found[0]:
            raise VideoOpenError(f"{str(path)!r} holds no streams FFmpeg can find (a recording cut off before its "
                                 "index was written?)")
        raise VideoOpenError(f"{str(path)!r} has no video stream{' (only a cover picture)' if found[1] else ''}")
    if not 0 <= number < len(streams):
        container.close()
        raise VideoOpenError(f"{str(path)!r} has {len(streams)} video stream{'s' * (len(streams) > 1)}; "
                             f"there is no video stream {number} (counting from 0)")
    stream = streams[number]
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


_ALPHA_DECODERS = {"vp8": "libvpx", "vp9": "libvpx-vp9"}
"""FFmpeg's own VP8/VP9 decoders drop the alpha of WebM (kept beside the frame); libvpx's keep it."""


def _decoder(stream: Any) -> Any:
    """The codec context that decodes `stream`: its own, or libvpx's where WebM carries alpha beside VP8/VP9."""
    import av

    alpha_decoder = _ALPHA_DECODERS.get(stream.codec_context.name)
    if alpha_decoder and stream.metadata.get("alpha_mode") == "1" and _has_decoder(alpha_decoder):
        decoder = av.CodecContext.create(alpha_decoder, "r")
        decoder.thread_type = "AUTO"
        return decoder
    return stream.codec_context


def _has_alpha(frame: Any) -> bool:
    return any(component.is_alpha for component in frame.format.components)


def probe(path: str | Path, *, video_stream: int = 0) -> VideoInfo:
    """Read a video file's header, the times of its frames and its first frame.

    Parameters
    ----------
    path : str or Path
        A video file.
    video_stream : int
        Which video stream (0 = the first; cover pictures are not counted).

    Returns
    -------
    VideoInfo

    Raises
    ------
    VideoOpenError
        If the file is missing, is not a video, has no video stream (or not
        `video_stream`), no decoder for its codec, or no frame that decodes.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoOpenError(f"input {str(path)!r} does not exist")
    container = _open(path)
    try:
        stream = _video_stream(container, path, video_stream)
        decoder = _decoder(stream)
        first = next(_decoded(container, stream, decoder, path), None)
        if first is None:
            raise VideoOpenError(f"video {str(path)!r} has no frames that FFmpeg can decode")
        rotation = _rotation(first)
        width, height = (first.height, first.width) if rotation % 180 else (first.width, first.height)
        duration = float(stream.duration * stream.time_base) if stream.duration else None
        return VideoInfo(
            width=width,
            height=height,
            fps=float(_frame_rate(stream)),
            time_base=Fraction(stream.time_base),
            frame_count=stream.frames or None,
            duration=duration,
            rotation=rotation,
            audio_streams=len(container.streams.audio),
            codec=stream.codec_context.name,
            pixel_format=first.format.name,
            has_alpha=_has_alpha(first),
            video_stream=video_stream,
            video_streams=len(_video_streams(container)),
        )
    finally:
        container.close()


def _rotation(frame: Any) -> int:
    """Counter-clockwise degrees (0, 90, 180 or 270) that show `frame` upright."""
    return int(round(frame.rotation / 90.0)) % 4 * 90


class _Damage:
    """What went wrong while decoding: packets that would not decode, and why reading stopped early."""

    def __init__(self) -> None:
        self.packets = 0
        self.read_error: str | None = None


def _decoded(container: Any, stream: Any, decoder: Any, path: Path, damage: _Damage | None = None) -> Iterator[Any]:
    """Decode `stream` with `decoder`; with `damage`, a damaged packet is counted there and passed over.

    Without `damage`, damage raises :class:`VideoOpenError`. An error while
    reading (a truncated file's end) stops the stream either way.
    """
    import av

    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.FFmpegError as error:
            if damage is None:
                raise VideoOpenError(f"cannot read {str(path)!r}: {error.strerror} (corrupt or truncated?)") from None
            damage.read_error = error.strerror
            break
        try:
            yield from decoder.decode(packet)  # the demuxer's last, empty packet flushes the decoder
        except av.FFmpegError as error:
            if damage is None:
                raise VideoOpenError(f"cannot decode {str(path)!r}: {error.strerror} (corrupt?)") from None
            damage.packets += 1


def _listed_times(path: Path, video_stream: int) -> tuple[NDArray[np.int64], int, Fraction, int]:
    """The frames the container lists (its video packets), read once without decoding.

    A header's frame count is not trusted, and the numbering of frames must
    not depend on which decode.

    Returns
    -------
    times : (N,) int64 ndarray
        The listed frames' timestamps, sorted.
    untimed : int
        Listed frames without a timestamp.
    start : Fraction
        Seconds of the container's timeline to count as 0: the video
        stream's start, or an audio stream's where that is earlier.
    lag : int
        Time units by which the first listed timestamp trails the video
        stream's start. AVI stores no presentation times, and FFmpeg puts
        its B-frames' decoder delay there (the first frame at 1, not 0);
        frames are moved back by it, so the first is shown at the start.
    """
    import av

    container = _open(path)
    try:
        stream = _video_stream(container, path, video_stream)
        times, untimed = [], 0
        try:
            for packet in container.demux(stream):
                if packet.size == 0:  # the demuxer's end-of-stream marker
                    continue
                if packet.pts is None:
                    untimed += 1
                else:
                    times.append(packet.pts)
        except av.FFmpegError:
            pass  # a truncated file lists what can be read; decoding stops at the same place
        first = min(times, default=0)
        video_start = stream.start_time if stream.start_time is not None else first
        starts = [Fraction(video_start) * stream.time_base]
        starts += [Fraction(a.start_time) * a.time_base for a in container.streams.audio if a.start_time is not None]
        return np.sort(np.asarray(times, np.int64)), untimed, min(starts), max(0, first - video_start)
    finally:
        container.close()


class VideoFrame(NamedTuple):
    """One decoded frame of a :class:`VideoReader`."""

    number: int
    """Its place among the frames the container lists, from 0."""
    image: Image
    """``(H, W, 3) uint8`` RGB, upright; with alpha, composited over black."""
    alpha: NDArray[np.uint8] | None
    """``(H, W) uint8`` alpha (255 = opaque) where the video carries one, else None."""
    time: FrameTime
    """When it is shown, in the stream's ``time_base``, counted from :attr:`VideoReader.start`."""


class VideoReader:
    """A video's frames one at a time: RGB, upright, with times that increase and stable numbers.

    Parameters
    ----------
    path : str or Path
        A video file (see :func:`probe` for what it checks).
    video_stream : int
        Which video stream to read (0 = the first; cover pictures are not counted).

    Attributes
    ----------
    info : VideoInfo
        What :func:`probe` found.
    start : Fraction
        Seconds of the container's timeline counted as 0 (an MPEG-TS stream
        often starts at 1.4 s or later): the video stream's start, or an
        audio stream's where that is earlier, so that audio copied into an
        output with the same shift stays in sync.
    listed_frames : int
        Frames the container lists (its video packets), read without
        decoding; the header's frame count is not trusted.
    missing : list of int
        After an iteration: the numbers of listed frames that did not decode
        (damaged, or cut off at a truncated file's end).
    damaged_packets : int
        Packets passed over because they would not decode, as FFmpeg's own
        tools do.
    read_error : str or None
        Why reading stopped before the container's end (a truncated file), if it did.
    timing : TimingReport
        How the frames' times were derived (see :class:`~flowseg.io.timing.FrameClock`).

    Notes
    -----
    Iterating yields :class:`VideoFrame` tuples ``(number, image, alpha,
    time)``. A frame's number is its place among the frames the container
    lists, by presentation time, so a frame that cannot be decoded leaves
    a gap in the numbers rather than shifting the frames after it (where the
    container gives no timestamps, frames are numbered as they decode).
    Colour comes from FFmpeg's conversion of any pixel format to 8-bit RGB;
    where the frames carry alpha, the image is composited over black and
    the alpha given beside it. Only the frames held back to reorder
    timestamps (:data:`~flowseg.io.timing.REORDER_WINDOW`) are held at a time.
    """

    def __init__(self, path: str | Path, *, video_stream: int = 0) -> None:
        self.path = Path(path)
        self.video_stream = video_stream
        self.info = probe(self.path, video_stream=video_stream)
        self._times, self._untimed, self.start, self._lag = _listed_times(self.path, video_stream)
        self.listed_frames = len(self._times) + self._untimed
        self.missing: list[int] = []
        self.damaged_packets = 0
        self.read_error: str | None = None
        self.timing = TimingReport()

    def __iter__(self) -> Iterator[VideoFrame]:
        container = _open(self.path)
        damage = _Damage()
        stream = _video_stream(container, self.path, self.video_stream)
        step = _frame_step(stream)
        origin = round(self.start / stream.time_base) + self._lag
        clock: FrameClock[Any] = FrameClock(step=step, origin=origin)
        self.timing, self.missing = clock.report, []
        numbers = _Numbering(self._times if not self._untimed else self._times[:0], origin)
        try:
            decoder = _decoder(stream)
            for frame in _decoded(container, stream, decoder, self.path, damage):
                self.damaged_packets = damage.packets
                for decoded, time in clock.push(frame, frame.pts, frame.duration or None):
                    yield self._converted(decoded, time, numbers)
            for decoded, time in clock.flush():
                yield self._converted(decoded, time, numbers)
            self.missing = numbers.missing + list(range(numbers.last + 1, self.listed_frames))
        finally:
            self.damaged_packets, self.read_error = damage.packets, damage.read_error
            container.close()

    def _converted(self, frame: Any, time: FrameTime, numbers: _Numbering) -> VideoFrame:
        turns = _rotation(frame) // 90
        if not _has_alpha(frame):
            image = np.rot90(frame.to_ndarray(format="rgb24"), turns)
            return VideoFrame(numbers.next(time), np.ascontiguousarray(image), None, time)
        image, alpha = split_alpha(np.rot90(frame.to_ndarray(format="rgba"), turns))
        return VideoFrame(numbers.next(time), image, alpha, time)


class _Numbering:
    """Frame numbers from presentation times: each frame's place among the listed times, always increasing."""

    def __init__(self, listed: NDArray[np.int64], origin: int) -> None:
        self._listed = listed
        self._origin = origin
        self.last = -1
        self.missing: list[int] = []  # numbers skipped so far

    def next(self, time: FrameTime) -> int:
        raw = time.pts + self._origin
        place = int(np.searchsorted(self._listed, raw))
        found = place < len(self._listed) and self._listed[place] == raw
        number = place if found and place > self.last else self.last + 1
        self.missing.extend(range(self.last + 1, number))
        self.last = number
        return number


def _frame_rate(stream: Any) -> Fraction:
    """The stream's average frame rate, else the one FFmpeg guesses or its base rate, else 25."""
    return Fraction(stream.average_rate or stream.guessed_rate or stream.base_rate or 25)


def _frame_step(stream: Any) -> int:
    """One average frame in the stream's time base (at least 1)."""
    return max(1, round(1 / (_frame_rate(stream) * Fraction(stream.time_base))))


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
    audio_start : Fraction
        Seconds of `audio_from`'s timeline that are 0 in the output (the
        :attr:`VideoReader.start` the frames' times count from).

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
        audio_start: Fraction = Fraction(0),
    ) -> None:
        import av

        self.path = Path(path)
        self.format = VIDEO_FORMATS[video_format]
        self.time_base = Fraction(time_base)
        self._fps = Fraction(fps).limit_denominator(1001)
        self._audio_from = Path(audio_from) if audio_from is not None else None
        self._audio_start = Fraction(audio_start)
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
            self._audio = _AudioCopy(self._audio_from, self._container, self._audio_start)

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
    """The audio streams of a source file, copied (or re-encoded) into an output container.

    Times are shifted by `start` seconds, as the video's are.
    """

    def __init__(self, source: Path, output: Any, start: Fraction) -> None:
        self._input = _open(source)
        self._start = start
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
            packet = self._pending if self._pending is not None else self._next_packet()
            self._pending = None
            if packet is None:
                if seconds is None:
                    self._flush()
                return
            if seconds is not None and packet.pts is not None and float(packet.pts * packet.time_base) >= seconds:
                self._pending = packet
                return
            self._write(packet)

    def _next_packet(self) -> Any:
        """The next audio packet with its times shifted by the start, or None at the end."""
        for packet in self._packets:
            if packet.dts is None and packet.size == 0:  # a demuxer's end-of-stream marker
                continue
            shift = round(self._start / packet.time_base)
            if packet.pts is not None:
                packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
            return packet
        return None

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
