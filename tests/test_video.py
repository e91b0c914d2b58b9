"""Video IO through FFmpeg (flowseg/io/video.py) and the editor outputs of ResultWriter: decoded back, not only named."""

from __future__ import annotations

import errno
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from flowseg import segment_video
from flowseg.cli import main
from flowseg.errors import OutputError, VideoOpenError
from flowseg.io import FrameSource, ResultWriter, feathered_alpha
from flowseg.io.video import VideoEncoder, VideoReader, probe

from synthetic import moving_object_clip, write_av_clip

PRORES_TOLERANCE = 2
"""Largest alpha error (0-255) allowed after ProRes 4444 (its alpha is near lossless)."""

VP9_TOLERANCE = 8
"""Largest alpha error (0-255) allowed after VP9, lossy; edges of a hard mask ring a little."""


def decoded(path: Path, codec: str | None = None) -> list[av.VideoFrame]:
    """Every video frame of `path`, decoded with `codec` (the default decoder when None)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if codec is None:
            return list(container.decode(stream))
        decoder = av.CodecContext.create(codec, "r")
        return [frame for packet in container.demux(stream) for frame in decoder.decode(packet)]


def stream_seconds(path: Path, kind: str) -> list[float]:
    """Duration in seconds of each stream of `kind` ("video" or "audio"), from its packets."""
    with av.open(str(path)) as container:
        streams = [s for s in container.streams if s.type == kind]
        ends = {s.index: 0.0 for s in streams}
        for packet in container.demux(*streams):
            if packet.size and packet.pts is not None:  # end-of-stream markers have neither
                end = float((packet.pts + packet.duration) * packet.time_base)
                ends[packet.stream.index] = max(ends[packet.stream.index], end)
        return [ends[s.index] for s in streams]  # (a closed container's streams have no index)


@pytest.fixture(scope="module")
def clip() -> tuple[list[np.ndarray], list[np.ndarray]]:
    return moving_object_clip(6)


class TestReading:
    def test_variable_frame_rate_timestamps_are_kept(self, tmp_path: Path, clip) -> None:
        frames, _ = clip
        times = [0, 30, 90, 100, 180, 200]
        source = FrameSource(write_av_clip(tmp_path / "vfr.mp4", frames, times_ms=times))
        got = [float(frame.time.pts * source.time_base) * 1000 for frame in source.timed()]
        np.testing.assert_allclose(got, times, atol=1e-6)
        assert source.report()["timing"]["method"] == "container"
        assert source.report()["timing"]["variable_frame_rate"]

    @pytest.mark.parametrize("rotation", [90, 180, 270])
    def test_rotated_clip_comes_upright(self, tmp_path: Path, clip, rotation: int) -> None:
        frames, _ = clip
        path = write_av_clip(tmp_path / "phone.mp4", frames, rotation=rotation)
        upright = [frame.image for frame in VideoReader(path)]
        assert probe(path).rotation == rotation
        # OpenCV applies the same display matrix: an independent reading of which way is up.
        capture = cv2.VideoCapture(str(path))
        ok, bgr = capture.read()
        assert ok and upright[0].shape == bgr.shape
        # The codec loses about 5 grey levels on this texture; another orientation differs by 20 or more.
        assert np.abs(upright[0].astype(int) - cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).mean() < 10
        expected = np.rot90(frames[0], rotation // 90)
        assert np.abs(upright[0].astype(int) - expected).mean() < 10
        if rotation == 180:
            assert np.abs(upright[0].astype(int) - frames[0]).mean() > 15

    def test_truncated_file_whose_header_claims_more_frames_than_there_are(self, tmp_path: Path, clip) -> None:
        frames, _ = clip
        full = write_av_clip(tmp_path / "full.mp4", frames * 4, faststart=True).read_bytes()
        truncated = tmp_path / "truncated.mp4"
        truncated.write_bytes(full[: len(full) * 85 // 100])  # past the first key frame, which is most of the file
        source = FrameSource(truncated)
        real = sum(1 for _ in source)
        # The header's 24 is not trusted: the frames listed are those whose data is in the file.
        assert 0 < real < source.frame_count < 24
        summary = segment_video(truncated, tmp_path / "out")
        assert summary["frames"] == real and summary["source"]["header_frames"] == 24
        assert summary["source"]["decoded_frames"] == real and summary["source"]["listed_frames"] == source.frame_count
        lost = source.frame_count - real
        assert len(summary["source"]["missing_frames"]) == lost and summary["source"]["missing_frames"][-1] == \
            f"{source.frame_count - 1:05d}"
        result = CliRunner().invoke(main, ["run", str(truncated), "-o", str(tmp_path / "cli")])
        assert result.exit_code == 0, result.output
        assert f"warning: {lost} of {source.frame_count} frames could not be decoded" in result.stderr

    def test_audio_only_file_has_no_video_stream(self, tmp_path: Path) -> None:
        path = tmp_path / "voice.m4a"
        with av.open(str(path), "w") as container:
            stream = container.add_stream("aac", rate=48000)
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate = 48000
            container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        with pytest.raises(VideoOpenError, match="voice.m4a' has no video stream"):
            FrameSource(path)

    def test_codec_without_decoder(self, tmp_path: Path, clip, monkeypatch: pytest.MonkeyPatch) -> None:
        path = write_av_clip(tmp_path / "clip.mp4", clip[0])
        monkeypatch.setattr("flowseg.io.video._has_decoder", lambda name: False)
        with pytest.raises(VideoOpenError, match="has no decoder for its 'h264' video codec"):
            FrameSource(path)


class TestWriting:
    def test_alpha_outputs_decode_to_the_written_matte(self, tmp_path: Path, clip) -> None:
        frames, masks = clip
        out = tmp_path / "out"
        with ResultWriter(out, fps=25, alpha=("png", "prores", "webm"), feather=3.0) as writer:
            for i, (frame, mask) in enumerate(zip(frames, masks)):
                writer.write(f"{i:05d}", frame, mask)
            writer.finish({})
        mattes = [feathered_alpha(mask, 3.0) for mask in masks]
        assert 0 < np.mean((mattes[0] > 0) & (mattes[0] < 255))  # the edge is soft
        for i, matte in enumerate(mattes):
            png = cv2.imread(str(out / "cutouts" / f"{i:05d}.png"), cv2.IMREAD_UNCHANGED)
            np.testing.assert_array_equal(png[..., 3], matte)
            np.testing.assert_array_equal(cv2.cvtColor(png[..., :3], cv2.COLOR_BGR2RGB), frames[i])
        prores = decoded(out / "cutout.mov")
        assert prores[0].format.name.startswith("yuva444p")
        webm = decoded(out / "cutout.webm", codec="libvpx-vp9")
        assert webm[0].format.name == "yuva420p"
        for got, tolerance in ((prores, PRORES_TOLERANCE), (webm, VP9_TOLERANCE)):
            assert len(got) == len(mattes)
            for frame, matte in zip(got, mattes):
                alpha = frame.to_ndarray(format="rgba")[..., 3].astype(int)
                assert np.abs(alpha - matte).max() <= tolerance
        matte_video = decoded(out / "mask.mp4")
        assert matte_video[0].format.name == "yuv420p"
        assert np.abs(matte_video[2].to_ndarray(format="gray").astype(int) - mattes[2]).mean() < 2

    def test_audio_and_frame_times_follow_the_source(self, tmp_path: Path, clip) -> None:
        frames, _ = clip
        times = [0, 30, 90, 100, 180, 200]
        source = write_av_clip(tmp_path / "src.mp4", frames, times_ms=times, audio_streams=2)
        summary = segment_video(source, tmp_path / "out", alpha=("prores", "webm"))
        assert summary["frames"] == 6
        source_audio = stream_seconds(source, "audio")
        assert len(source_audio) == 2
        for name in ("mask.mp4", "overlay.mp4", "cutout.mov", "cutout.webm"):
            path = tmp_path / "out" / name
            shown = [float(frame.pts * frame.time_base) * 1000 for frame in decoded(path)]
            np.testing.assert_allclose(shown, times, atol=1.0, err_msg=name)
            assert stream_seconds(path, "video") == pytest.approx(stream_seconds(source, "video"), abs=0.002)
            # Opus in WebM starts with a pre-skip of its own; AAC is copied packet for packet.
            tolerance = 0.03 if name.endswith(".webm") else 1e-6
            assert stream_seconds(path, "audio") == pytest.approx(source_audio, abs=tolerance), name
        with av.open(str(tmp_path / "out" / "mask.mp4")) as container:
            assert [s.codec_context.name for s in container.streams.audio] == ["aac", "aac"]
        with av.open(str(tmp_path / "out" / "cutout.webm")) as container:
            assert [s.codec_context.name for s in container.streams.audio] == ["opus", "opus"]

    def test_no_audio_in_no_audio_out(self, tmp_path: Path, clip) -> None:
        source = write_av_clip(tmp_path / "silent.mp4", clip[0])
        segment_video(source, tmp_path / "out")
        with av.open(str(tmp_path / "out" / "overlay.mp4")) as container:
            assert not container.streams.audio and len(container.streams.video) == 1

    def test_rotated_source_gives_upright_masks(self, tmp_path: Path, clip) -> None:
        frames, _ = clip
        source = write_av_clip(tmp_path / "portrait.mp4", frames, rotation=90)
        summary = segment_video(source, tmp_path / "out")
        height, width = frames[0].shape[:2]
        assert (summary["width"], summary["height"]) == (height, width)
        mask = cv2.imread(str(tmp_path / "out" / "masks" / "00000.png"), cv2.IMREAD_UNCHANGED)
        assert mask.shape == (width, height)
        assert decoded(tmp_path / "out" / "overlay.mp4")[0].width == height

    def test_odd_frame_size_is_padded_for_h264_only(self, tmp_path: Path) -> None:
        image = np.full((45, 61, 3), 90, np.uint8)
        with ResultWriter(tmp_path / "out", fps=10, alpha=("prores",)) as writer:
            writer.write("a", image, np.ones((45, 61), bool))
            writer.finish({})
        preview, cutout = decoded(tmp_path / "out" / "overlay.mp4")[0], decoded(tmp_path / "out" / "cutout.mov")[0]
        assert (preview.width, preview.height) == (62, 46)
        assert (cutout.width, cutout.height) == (61, 45)

    def test_full_disk_leaves_nothing_that_looks_finished(
        self, tmp_path: Path, clip, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        frames, masks = clip

        def disk_full(self, packets) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(VideoEncoder, "_mux", disk_full)
        out = tmp_path / "out"
        with pytest.raises(OutputError, match="cannot write video .*mask.mp4.*No space left on device"):
            with ResultWriter(out, fps=25) as writer:
                for i, (frame, mask) in enumerate(zip(frames, masks)):
                    writer.write(f"{i:05d}", frame, mask)
                writer.finish({})
        assert list(tmp_path.iterdir()) == []

    def test_output_on_a_read_only_file_system(self, clip) -> None:
        with pytest.raises(OutputError, match="cannot write to output folder '/proc/flowseg-out'"):
            ResultWriter("/proc/flowseg-out", fps=25)

    def test_timestamps_must_increase(self, tmp_path: Path) -> None:
        from flowseg.io.video import FrameTime

        encoder = VideoEncoder(tmp_path / "a.mp4", "h264", time_base=Fraction(1, 25), fps=25)
        image = np.zeros((16, 16, 3), np.uint8)
        encoder.write(image, FrameTime(3, 1))
        with pytest.raises(OutputError, match="timestamps must increase: 3 after 3"):
            encoder.write(image, FrameTime(3, 1))
