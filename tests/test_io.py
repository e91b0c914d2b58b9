"""Frame readers and the atomic result writer (flowseg/io/frames.py, flowseg/io/outputs.py)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from flowseg.errors import OutputError, ShapeError, VideoOpenError
from flowseg.io import FrameSource, ResultWriter, overlay

from synthetic import moving_object_clip


def write_video(path: Path, frames: list[np.ndarray], fps: float = 12.0) -> Path:
    """Write RGB frames as an mp4v video (what every OpenCV build can encode)."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def write_folder(folder: Path, frames: list[np.ndarray], ext: str = ".png") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"frame_{i:03d}{ext}"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return folder


class TestFrameSource:
    def test_folder_yields_rgb_frames_named_by_file_stem(self, tmp_path: Path) -> None:
        frames, _ = moving_object_clip(3)
        source = FrameSource(write_folder(tmp_path / "clip", frames))
        got = list(source)
        assert [name for name, _ in got] == ["frame_000", "frame_001", "frame_002"]
        assert source.frame_count == 3 and source.is_folder
        # PNG is lossless, so RGB order is checked exactly.
        np.testing.assert_array_equal(got[1][1], frames[1])

    def test_video_yields_frames_named_by_five_digit_index(self, tmp_path: Path) -> None:
        frames, _ = moving_object_clip(5)
        source = FrameSource(write_video(tmp_path / "clip.mp4", frames))
        got = list(source)
        assert [name for name, _ in got] == ["00000", "00001", "00002", "00003", "00004"]
        assert source.fps == pytest.approx(12.0)
        assert got[0][1].shape == frames[0].shape and got[0][1].dtype == np.uint8
        # lossy codec: colours close, and in RGB order (a BGR mix-up would differ by far more)
        assert np.abs(got[2][1].astype(int) - frames[2]).mean() < 12

    def test_missing_path(self, tmp_path: Path) -> None:
        with pytest.raises(VideoOpenError, match="does not exist"):
            FrameSource(tmp_path / "nope.mp4")

    def test_empty_folder(self, tmp_path: Path) -> None:
        with pytest.raises(VideoOpenError, match="holds no images"):
            FrameSource(tmp_path)

    def test_folder_with_non_image_files_skips_them_and_says_so(self, tmp_path: Path) -> None:
        frames, _ = moving_object_clip(2)
        folder = write_folder(tmp_path / "clip", frames)
        (folder / "notes.txt").write_text("hello")
        source = FrameSource(folder)
        assert [name for name, _ in source] == ["frame_000", "frame_001"]
        assert source.report()["ignored_files"] == ["notes.txt"]
        assert source.warnings() == ["skipped 1 files that are not images: notes.txt"]
        (folder / "frame_000.png").unlink()
        (folder / "frame_001.png").unlink()
        with pytest.raises(VideoOpenError, match=r"holds no images \(.*\); it holds notes.txt"):
            FrameSource(folder)

    def test_corrupt_video(self, tmp_path: Path) -> None:
        bad = tmp_path / "bad.mp4"
        bad.write_bytes(b"\x00\x01 definitely not a video" * 50)
        with pytest.raises(VideoOpenError, match="bad.mp4"):
            FrameSource(bad)

    def test_corrupt_image_names_the_file(self, tmp_path: Path) -> None:
        frames, _ = moving_object_clip(2)
        folder = write_folder(tmp_path / "clip", frames)
        (folder / "frame_001.png").write_bytes(b"broken")
        with pytest.raises(VideoOpenError, match="cannot decode image .*frame_001.png"):
            list(FrameSource(folder))

    def test_mixed_frame_sizes(self, tmp_path: Path) -> None:
        frames, _ = moving_object_clip(2)
        folder = write_folder(tmp_path / "clip", [frames[0], frames[1][:50]])
        with pytest.raises(ShapeError, match="frame 'frame_001' .* is 128x50; earlier frames are 128x96"):
            list(FrameSource(folder))



class TestResultWriter:
    def test_writes_layout_and_appears_only_when_finished(self, tmp_path: Path) -> None:
        frames, masks = moving_object_clip(3)
        out = tmp_path / "out"
        with ResultWriter(out, fps=10, alpha=("png",)) as writer:
            for i, (frame, mask) in enumerate(zip(frames, masks)):
                writer.write(f"{i:05d}", frame, mask)
            assert not out.exists()
            writer.finish({"frames": 3})
        assert sorted(p.name for p in out.iterdir()) == ["cutouts", "mask.mp4", "masks", "overlay.mp4", "summary.json"]
        png = cv2.imread(str(out / "masks" / "00001.png"), cv2.IMREAD_UNCHANGED)
        assert png.shape == masks[1].shape and set(np.unique(png)) == {0, 255}
        np.testing.assert_array_equal(png == 255, masks[1])
        cutout = cv2.imread(str(out / "cutouts" / "00001.png"), cv2.IMREAD_UNCHANGED)
        assert cutout.shape == (*masks[1].shape, 4)
        np.testing.assert_array_equal(cutout[..., 3] == 255, masks[1])
        capture = cv2.VideoCapture(str(out / "overlay.mp4"))
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
        assert [p.name for p in tmp_path.iterdir()] == ["out"], "temporary folder left behind"

    def test_error_inside_block_leaves_nothing(self, tmp_path: Path) -> None:
        frames, masks = moving_object_clip(2)
        with pytest.raises(RuntimeError):
            with ResultWriter(tmp_path / "out", fps=10) as writer:
                writer.write("a", frames[0], masks[0])
                raise RuntimeError("decoder failed")
        assert list(tmp_path.iterdir()) == []

    def test_refuses_non_empty_folder_unless_overwrite(self, tmp_path: Path) -> None:
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "keep.txt").write_text("x")
        with pytest.raises(OutputError, match="exists and is not empty; choose another folder or pass --overwrite"):
            ResultWriter(tmp_path / "out", fps=10)
        frames, masks = moving_object_clip(1)
        with ResultWriter(tmp_path / "out", fps=10, overwrite=True, videos=False) as writer:
            writer.write("a", frames[0], masks[0])
            writer.finish({})
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["masks", "summary.json"]

    def test_unwritable_parent(self, tmp_path: Path) -> None:
        blocker = tmp_path / "file"
        blocker.write_text("x")
        with pytest.raises(OutputError, match="cannot write to output folder"):
            ResultWriter(blocker / "out", fps=10)


def test_overlay_tints_only_the_mask() -> None:
    image = np.full((40, 40, 3), 100, np.uint8)
    mask = np.zeros((40, 40), bool)
    mask[10:30, 10:30] = True
    out = overlay(image, mask, color=(255, 0, 0))
    assert out[20, 20, 0] > 150 and out[20, 20, 2] < 100
    np.testing.assert_array_equal(out[0:5, 0:5], image[0:5, 0:5])
