"""Small media files as people have them, made with PyAV and Pillow, and readings of the videos flowseg writes.

Every maker writes a few small frames into a file of the test's own temporary
folder: the oddity under test (a container that stores decode order, a pixel
format, a start offset, a damaged packet) is real, the size is not.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray

from synthetic import texture

__all__ = ["frames_of", "encode_video", "damage_packet", "truncate", "decoded", "decodable_frames", "stream_spans",
           "encode_audio_only"]

AUDIO_RATE = 48000


def frames_of(count: int, shape: tuple[int, int] = (48, 64), *, seed: int = 0) -> list[NDArray[np.uint8]]:
    """`count` RGB frames of a texture sliding 2 px a frame to the right, each with its number as a bright bar."""
    height, width = shape
    base = texture((height, width + 2 * count), seed=seed)
    frames = []
    for i in range(count):
        frame = np.ascontiguousarray(base[:, 2 * i: 2 * i + width])
        frame[: max(2, height // 12), : min(width, 4 * (i + 1))] = 255  # tells frames apart after lossy coding
        frames.append(frame)
    return frames


def encode_video(
    path: Path,
    frames: list[NDArray[np.uint8]],
    *,
    codec: str = "libx264",
    pixel_format: str = "yuv420p",
    options: dict[str, str] | None = None,
    container_format: str | None = None,
    rate: int = 25,
    times: list[int] | None = None,
    start_seconds: float = 0.0,
    audio: str | None = None,
    alphas: list[NDArray[np.uint8]] | None = None,
    second_video: list[NDArray[np.uint8]] | None = None,
) -> Path:
    """Encode RGB frames (and a tone, alpha or a second video stream) the way cameras and tools write them.

    Parameters
    ----------
    path : Path
        Output file; its suffix picks the container unless `container_format` does.
    frames : list of (H, W, 3) uint8 ndarray
        The frames.
    codec, pixel_format, options
        FFmpeg encoder, its pixel format and options (``{"bf": "2"}`` for B-frames).
    container_format : str, optional
        FFmpeg muxer name (``"mpegts"``, ``"h264"`` for a raw elementary stream).
    rate : int
        Frames per second; frame times are in units of ``1 / rate``.
    times : list of int, optional
        Each frame's time in ``1 / rate`` units (default 0, 1, 2, ...): gaps
        make a camera that dropped frames, uneven steps a variable rate.
    start_seconds : float
        Added to every video and audio time (an MPEG-TS recording that starts at 10 s).
    audio : str, optional
        Audio encoder for a mono tone as long as the video, interleaved with it.
    alphas : list of (H, W) uint8 ndarray, optional
        An alpha channel per frame (`pixel_format` must hold alpha).
    second_video : list of (H, W, 3) uint8 ndarray, optional
        Frames of a second video stream, same codec and times.
    """
    times = times if times is not None else list(range(len(frames)))
    unit = Fraction(1, rate)
    offset = round(Fraction(start_seconds) / unit)
    with av.open(str(path), "w", format=container_format) as container:
        videos = [container.add_stream(codec, rate=rate, options=dict(options or {}))
                  for _ in range(1 + (second_video is not None))]
        for stream in videos:
            stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], pixel_format
        tone = container.add_stream(audio, rate=AUDIO_RATE) if audio else None
        if tone is not None:
            tone.layout = "mono"
        end_seconds = float((times[-1] + 1) * unit)
        samples_done = 0
        for index, t in enumerate(times):
            streams_frames = [frames[index]] + ([second_video[index]] if second_video is not None else [])
            for stream, image in zip(videos, streams_frames):
                if alphas is not None:
                    frame = av.VideoFrame.from_ndarray(np.dstack([image, alphas[index]]), format="rgba")
                else:
                    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts, frame.time_base = offset + t, unit
                container.mux(stream.encode(frame))
            if tone is not None:
                until = round(min(float((t + 1) * unit), end_seconds) * AUDIO_RATE)
                samples_done = _encode_tone(container, tone, samples_done, until, start_seconds)
        for stream in videos:
            container.mux(stream.encode(None))
        if tone is not None:
            container.mux(tone.encode(None))
    return path


def _encode_tone(container, stream, start: int, stop: int, start_seconds: float) -> int:
    """Encode samples [start, stop) of a 440 Hz tone in the encoder's frame size; return where it stopped."""
    size = stream.codec_context.frame_size or 1152
    sample_format = stream.codec_context.format.name
    offset = round(start_seconds * AUDIO_RATE)
    while start + size <= stop:
        tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(start, start + size) / AUDIO_RATE)[None]
        if sample_format.startswith("s"):  # integer samples: s16, s32, planar or not
            dtype = np.dtype(f"int{sample_format[1:3]}")
            tone = tone * np.iinfo(dtype).max
        else:
            dtype = np.dtype(np.float32 if sample_format.startswith("flt") else np.float64)
        chunk = av.AudioFrame.from_ndarray(tone.astype(dtype), format=sample_format, layout="mono")
        chunk.sample_rate, chunk.pts, chunk.time_base = AUDIO_RATE, offset + start, Fraction(1, AUDIO_RATE)
        container.mux(stream.encode(chunk))
        start += size
    return start


def encode_audio_only(path: Path, codec: str = "aac") -> Path:
    """A short voice memo: one audio stream, no video."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=AUDIO_RATE)
        stream.layout = "mono"
        _encode_tone(container, stream, 0, AUDIO_RATE // 5, 0.0)
        container.mux(stream.encode(None))
    return path


def damage_packet(path: Path, number: int, copy: Path) -> Path:
    """A copy of `path` whose `number`-th video packet (in file order) is overwritten with noise after 8 bytes."""
    with av.open(str(path)) as container:
        packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    position, size = packets[number]
    data = bytearray(path.read_bytes())
    noise = np.random.default_rng(number).integers(0, 256, size - 8, dtype=np.uint8)
    data[position + 8: position + size] = noise.tobytes()
    copy.write_bytes(bytes(data))
    return copy


def truncate(path: Path, fraction: float, copy: Path) -> Path:
    """A copy of `path` cut off after `fraction` of its bytes, as a recording stopped by a full card."""
    data = path.read_bytes()
    copy.write_bytes(data[: int(len(data) * fraction)])
    return copy


def decoded(path: Path, codec: str | None = None, stream: int = 0) -> list[av.VideoFrame]:
    """Every frame of video stream `stream` of `path`, decoded with `codec` (the default decoder when None)."""
    with av.open(str(path)) as container:
        video = container.streams.video[stream]
        if codec is None:
            return list(container.decode(video))
        decoder = av.CodecContext.create(codec, "r")
        return [frame for packet in container.demux(video) for frame in decoder.decode(packet)]


def decodable_frames(path: Path) -> int:
    """Frames a plain PyAV loop decodes from video stream 0, passing over what fails, as FFmpeg's tools do."""
    count = 0
    with av.open(str(path)) as container:
        try:
            for packet in container.demux(video=0):
                try:
                    count += len(packet.decode())
                except av.FFmpegError:
                    pass
        except av.FFmpegError:
            pass
    return count


def stream_spans(path: Path, kind: str) -> list[tuple[float, float]]:
    """``(start, end)`` in seconds of each stream of `kind` ("video" or "audio"), from its packets.

    The end is that of the packet shown last (an MP4's packet durations are decode-order steps, so with
    B-frames an earlier frame's packet may seem to reach further).
    """
    with av.open(str(path)) as container:
        streams = [s for s in container.streams if s.type == kind]
        spans: dict[int, tuple[float, float, float]] = {}  # index -> (start, last start, its end)
        for packet in container.demux(*streams):
            if packet.size and packet.pts is not None:  # end-of-stream markers have neither
                start = float(packet.pts * packet.time_base)
                end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                first, last, last_end = spans.get(packet.stream.index, (start, start, end))
                if start >= last:
                    last, last_end = start, end
                spans[packet.stream.index] = (min(first, start), last, last_end)
        return [(spans[s.index][0], spans[s.index][2]) for s in streams if s.index in spans]
