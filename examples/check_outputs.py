"""Decode every video in a ``flowseg run`` output folder and check it against the source and the masks.

Usage::

    python examples/check_outputs.py OUT [SOURCE]

For each of ``cutout.mov``, ``cutout.webm``, ``mask.mp4``, ``overlay.mp4``
present in OUT it prints the codec, pixel format, frame count, video
duration and audio streams; with SOURCE (the video that was segmented), it
also compares the frame times, the video duration and each audio stream's
duration with the source's. For the cut-outs it compares the decoded alpha,
cut at half, with ``masks/*.png``: the share of pixels that agree. It reads
``shots.edl`` back as well. Exit status 1 if anything disagrees.
"""

from __future__ import annotations

import sys
from pathlib import Path

import av
import cv2
import numpy as np

from flowseg.io.timeline import parse_edl

ALPHA_DECODERS = {".mov": None, ".webm": "libvpx-vp9"}  # FFmpeg's own vp9 decoder drops the alpha


def frames_of(path: Path, decoder: str | None = None):
    """Each decoded video frame of `path`."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        context = av.CodecContext.create(decoder, "r") if decoder else None
        for packet in container.demux(stream):
            yield from (context.decode(packet) if context else packet.decode())


def stream_summary(path: Path) -> dict:
    """Codec, frame times and per-stream durations (seconds, from the packets) of a video file."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        ends: dict[int, float] = {s.index: 0.0 for s in container.streams if s.type in ("video", "audio")}
        times = []
        for packet in container.demux(*[s for s in container.streams if s.index in ends]):
            if packet.size and packet.pts is not None:
                ends[packet.stream.index] = max(ends[packet.stream.index],
                                                float((packet.pts + packet.duration) * packet.time_base))
                if packet.stream.index == video.index:
                    times.append(float(packet.pts * packet.time_base))
        return {
            "codec": video.codec_context.name,
            "video_seconds": ends[video.index],
            "audio": [(s.codec_context.name, ends[s.index]) for s in container.streams.audio],
            "times": sorted(times),
        }


def main(out: Path, source: Path | None) -> bool:
    ok = True
    reference = stream_summary(source) if source else None
    masks = sorted((out / "masks").iterdir())
    for name in ("cutout.mov", "cutout.webm", "mask.mp4", "overlay.mp4"):
        path = out / name
        if not path.exists():
            continue
        info = stream_summary(path)
        frames = list(frames_of(path, ALPHA_DECODERS.get(path.suffix) if name.startswith("cutout") else None))
        audio = ", ".join(f"{codec} {seconds:.3f}s" for codec, seconds in info["audio"]) or "none"
        print(f"{name}: {info['codec']} {frames[0].format.name}, {len(frames)} frames, "
              f"video {info['video_seconds']:.3f}s, audio: {audio}")
        ok &= len(frames) == len(masks)
        if reference:
            same_times = np.allclose(info["times"], reference["times"], atol=1e-3)
            same_video = abs(info["video_seconds"] - reference["video_seconds"]) < 1e-3
            same_audio = len(info["audio"]) == len(reference["audio"]) and all(
                abs(a[1] - b[1]) < 0.03 for a, b in zip(info["audio"], reference["audio"]))
            print(f"  frame times as the source's: {same_times}; duration: {same_video}; audio: {same_audio}")
            ok &= same_times and same_video and same_audio
        if name.startswith("cutout"):
            agree = [np.mean((frame.to_ndarray(format="rgba")[..., 3] >= 128)
                             == (cv2.imread(str(mask), cv2.IMREAD_UNCHANGED) > 0))
                     for frame, mask in zip(frames, masks)]
            print(f"  alpha >= 128 agrees with masks/*.png on {min(agree):.4%} of pixels (worst frame)")
            ok &= min(agree) > 0.99
    if (out / "shots.edl").exists():
        fps = float(av.open(str(source)).streams.video[0].average_rate) if source else 25.0
        print(f"shots.edl: shots {parse_edl((out / 'shots.edl').read_text(), fps)}")
    print("all consistent" if ok else "INCONSISTENT")
    return ok


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    sys.exit(0 if main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) == 3 else None) else 1)
