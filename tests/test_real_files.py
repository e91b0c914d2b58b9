"""A catalogue of real-world files, each made small by the test: every one runs, from the API and the CLI.

Each video oddity must give one mask per frame that decodes, named by its
place in the video, and output videos with that many frames, the input's
duration and its audio; each image-folder oddity must read as the RGB frames
a viewer shows. What cannot be read is refused with exit status 2 and one line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from flowseg import segment_video
from flowseg.cli import main
from flowseg.io import FrameSource
from flowseg.io.frames import ALPHA_RULE

from media import (damage_packet, decodable_frames, decoded, encode_audio_only, encode_video, frames_of, stream_spans,
                   truncate)
from test_cli import assert_clean_error

RATE = 25
FRAME_SECONDS = 1 / RATE


@dataclass(frozen=True)
class Oddity:
    """A video file people have, and what reading it must give."""

    make: Callable[[Path], Path]
    """Writes the file into a folder and returns its path."""
    frames: int | None
    """Frames that decode (None: as many as a plain PyAV loop decodes, :func:`media.decodable_frames`)."""
    timing: str = "container"
    """The timing method ``summary.json`` must report."""
    missing: tuple[str, ...] = ()
    """Names of listed frames that cannot be decoded."""
    audio: int = 0
    """Audio streams the outputs must carry."""
    alpha: bool = False
    """Whether the input carries alpha."""
    size: tuple[int, int] = (64, 48)
    """Frame width and height."""
    warning: str | None = None
    """A fragment of the CLI's warning, where it must give one."""


def _bframes_avi(folder: Path, audio: str | None = None) -> Path:
    return encode_video(folder / "camera.avi", frames_of(12), options={"bf": "2"}, audio=audio)


def _truncated(folder: Path, suffix: str) -> Path:
    whole = encode_video(folder / f"whole{suffix}", frames_of(24), options={"g": "6"})
    return truncate(whole, 0.6, folder / f"recording{suffix}")


def _corrupt_middle(folder: Path) -> Path:
    whole = encode_video(folder / "whole.avi", frames_of(12), codec="mjpeg", pixel_format="yuvj420p")
    return damage_packet(whole, 5, folder / "damaged.avi")


VIDEO_ODDITIES: dict[str, Oddity] = {
    "h264-bframes-avi": Oddity(_bframes_avi, 12, timing="reordered", warning="timestamps reordered"),
    "h264-bframes-avi-audio": Oddity(lambda d: _bframes_avi(d, audio="mp3"), 12, timing="reordered", audio=1),
    "prores422-10bit": Oddity(lambda d: encode_video(d / "grade.mov", frames_of(8), codec="prores_ks",
                                                     pixel_format="yuv422p10le", options={"profile": "2"}), 8),
    "prores4444-alpha": Oddity(lambda d: encode_video(d / "render.mov", frames_of(8), codec="prores_ks",
                                                      pixel_format="yuva444p10le", options={"profile": "4444"},
                                                      alphas=[np.full((48, 64), 255, np.uint8)] * 8),
                               8, alpha=True, warning="the input has alpha"),
    "odd-size-319x239": Oddity(lambda d: encode_video(d / "odd.avi", frames_of(6, (239, 319)), codec="mjpeg",
                                                      pixel_format="yuvj420p"), 6, size=(319, 239)),
    "grey-ffv1": Oddity(lambda d: encode_video(d / "thermal.mkv", frames_of(6), codec="ffv1", pixel_format="gray"),
                        6),
    "vp9-opus": Oddity(lambda d: encode_video(d / "web.webm", frames_of(8), codec="libvpx-vp9",
                                              options={"deadline": "realtime", "cpu-used": "8"}, audio="libopus"),
                       8, audio=1),
    "vp9-alpha": Oddity(lambda d: encode_video(d / "sticker.webm", frames_of(6), codec="libvpx-vp9",
                                               pixel_format="yuva420p", options={"deadline": "realtime"},
                                               alphas=[np.full((48, 64), 255, np.uint8)] * 6), 6, alpha=True),
    "variable-frame-rate": Oddity(lambda d: encode_video(d / "phone.mp4", frames_of(6), times=[0, 1, 3, 4, 7, 8],
                                                         audio="aac"), 6, audio=1),
    "dropped-frames": Oddity(lambda d: encode_video(d / "webcam.mkv", frames_of(6), times=[0, 1, 2, 6, 7, 8]), 6),
    "mpegts-start-10s": Oddity(lambda d: encode_video(d / "broadcast.ts", frames_of(10), container_format="mpegts",
                                                      start_seconds=10.0, options={"bf": "2"}, audio="aac"),
                               10, audio=1),
    "mpeg2-program-stream": Oddity(lambda d: encode_video(d / "dvd.mpg", frames_of(8), codec="mpeg2video",
                                                          container_format="mpeg", audio="mp2"), 8, audio=1),
    "hevc-main10": Oddity(lambda d: encode_video(d / "drone.mp4", frames_of(6), codec="libx265",
                                                 pixel_format="yuv420p10le", options={"x265-params": "log-level=error"}),
                          6),
    "h264-444": Oddity(lambda d: encode_video(d / "screen.mp4", frames_of(6), pixel_format="yuv444p"), 6),
    "png-in-mov": Oddity(lambda d: encode_video(d / "export.mov", frames_of(4), codec="png", pixel_format="rgba",
                                                alphas=[np.full((48, 64), 255, np.uint8)] * 4), 4, alpha=True),
    "raw-h264-no-timestamps": Oddity(lambda d: encode_video(d / "stream.h264", frames_of(6), container_format="h264"),
                                     6, timing="regenerated", warning="timestamps regenerated"),
    "one-frame": Oddity(lambda d: encode_video(d / "still.mp4", frames_of(1)), 1),
    "non-ascii-name-with-spaces": Oddity(lambda d: encode_video(d / "vidéo d'été 1.mp4", frames_of(4)), 4),
    "truncated-avi": Oddity(lambda d: _truncated(d, ".avi"), None, warning="the header claims 24 frames but the file "
                                                                         "holds"),
    "truncated-mpegts": Oddity(lambda d: _truncated(d, ".ts"), None),
    "corrupt-frame-in-the-middle": Oddity(_corrupt_middle, 11, missing=("00005",),
                                          warning="1 of 12 frames could not be decoded (00005)"),
    "two-video-streams": Oddity(lambda d: encode_video(d / "stereo.mkv", frames_of(5), second_video=frames_of(5, seed=1)),
                                5),
}


def _input_span(path: Path, kind: str, start: float) -> list[tuple[float, float]]:
    return [(a - start, b - start) for a, b in stream_spans(path, kind)]


def assert_outputs(out: Path, source: Path, oddity: Oddity, summary: dict) -> None:
    """One mask per decodable frame, named by its place; output videos with that many frames, the span and audio."""
    frames = oddity.frames if oddity.frames is not None else decodable_frames(source)
    names = sorted(p.stem for p in (out / "masks").iterdir())
    expected = [f"{n:05d}" for n in range(frames + len(oddity.missing)) if f"{n:05d}" not in oddity.missing]
    assert names == expected
    assert summary["frames"] == frames and summary["source"]["decoded_frames"] == frames
    assert summary["source"]["missing_frames"] == list(oddity.missing)
    assert summary["source"]["timing"]["method"] == oddity.timing
    assert summary["source"]["alpha"] == (ALPHA_RULE if oddity.alpha else None)
    assert (summary["width"], summary["height"]) == oddity.size
    mask = cv2.imread(str(out / "masks" / f"{names[0]}.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == oddity.size[::-1] and set(np.unique(mask)) <= {0, 255}
    matte = out / "mask.mp4"
    assert len(decoded(matte)) == frames
    start = summary["source"]["start_seconds"]
    # The matte starts where the input's video stream starts and lasts as long as its frames, counted from the
    # input's start (its packets' times: AVI's carry FFmpeg's decoder delay, which the stream's start does not).
    (video_start, video_end), = stream_spans(matte, "video")
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        declared = float(stream.start_time * stream.time_base) - start if stream.start_time is not None else 0.0
    assert video_start == pytest.approx(declared, abs=FRAME_SECONDS / 2)
    # A raw stream has no times: its frames are one frame duration apart.
    source_start, source_end = (_input_span(source, "video", start) or [(0.0, frames * FRAME_SECONDS)])[0]
    if not oddity.missing:
        assert video_end - video_start == pytest.approx(source_end - source_start, abs=FRAME_SECONDS / 2)
    audio = stream_spans(matte, "audio")
    assert len(audio) == oddity.audio
    for (out_start, out_end), (in_start, in_end) in zip(audio, _input_span(source, "audio", start)):
        assert out_start == pytest.approx(in_start, abs=0.03) and out_end == pytest.approx(in_end, abs=0.03)


@pytest.mark.parametrize("name", list(VIDEO_ODDITIES))
def test_video_oddity_from_the_api(tmp_path: Path, name: str) -> None:
    oddity = VIDEO_ODDITIES[name]
    source = oddity.make(tmp_path)
    out = tmp_path / "out"
    summary = segment_video(source, out)
    assert_outputs(out, source, oddity, summary)
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["source"] == summary["source"]


@pytest.mark.parametrize("name", [n for n, oddity in VIDEO_ODDITIES.items() if oddity.warning])
def test_video_oddity_from_the_cli(runner, tmp_path: Path, name: str) -> None:
    oddity = VIDEO_ODDITIES[name]
    source = oddity.make(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(main, ["run", str(source), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("warning: ") and oddity.warning in result.stderr
    assert_outputs(out, source, oddity, json.loads((out / "summary.json").read_text(encoding="utf-8")))


def test_every_oddity_runs_from_the_cli(runner, tmp_path: Path) -> None:
    for name, oddity in VIDEO_ODDITIES.items():
        folder = tmp_path / name
        folder.mkdir()
        source = oddity.make(folder)
        result = runner.invoke(main, ["run", str(source), "-o", str(folder / "out"), "-q"])
        assert result.exit_code == 0, f"{name}: {result.output}"
        frames = oddity.frames if oddity.frames is not None else decodable_frames(source)
        assert len(list((folder / "out" / "masks").iterdir())) == frames, name


def test_decoded_colours_follow_the_pixel_format(tmp_path: Path) -> None:
    """10-bit, 4:4:4 and grey sources decode to the RGB that was encoded (within the codec's loss)."""
    frames = frames_of(3)
    for name, codec, pixel_format, tolerance in [("a.mov", "prores_ks", "yuv422p10le", 12),
                                                 ("b.mp4", "libx264", "yuv444p", 8), ("c.mkv", "ffv1", "gray", 0)]:
        path = encode_video(tmp_path / name, frames, codec=codec, pixel_format=pixel_format)
        got = [frame.image for frame in FrameSource(path).timed()]
        if pixel_format == "gray":  # FFmpeg's grey is luma, a weighted mean: compare the structure
            luma = [f @ np.array([0.299, 0.587, 0.114]) for f in frames]
            assert all(np.abs(g[..., 0] - y).mean() < 3 for g, y in zip(got, luma))
            assert all(np.array_equal(g[..., 0], g[..., 2]) for g in got)
            continue
        for image, truth in zip(got, frames):  # 4:2:2 loses some colour detail; swapped channels lose far more
            error = np.abs(image.astype(int) - truth).mean()
            assert error < tolerance < np.abs(image.astype(int) - truth[..., ::-1]).mean(), name


def test_alpha_of_the_input_reaches_the_cut_out(tmp_path: Path) -> None:
    """ProRes 4444 with a transparent left half: the pipeline sees black there and the cut-out stays transparent."""
    frames = frames_of(4)
    alpha = np.full((48, 64), 255, np.uint8)
    alpha[:, :32] = 0
    path = encode_video(tmp_path / "render.mov", frames, codec="prores_ks", pixel_format="yuva444p10le",
                        options={"profile": "4444"}, alphas=[alpha] * 4)
    frame = next(FrameSource(path).timed())
    assert np.abs(frame.alpha.astype(int) - alpha).max() <= 1
    assert frame.image[:, :32].max() == 0 and np.abs(frame.image[:, 32:].astype(int) - frames[0][:, 32:]).mean() < 4
    from flowseg.io import ResultWriter

    with ResultWriter(tmp_path / "out", fps=RATE, alpha=("png",)) as writer:
        writer.write("a", frame.image, np.ones((48, 64), bool), source_alpha=frame.alpha)
        writer.finish({})
    cutout = cv2.imread(str(tmp_path / "out" / "cutouts" / "a.png"), cv2.IMREAD_UNCHANGED)
    assert cutout[:, :32, 3].max() == 0 and cutout[:, 32:, 3].min() >= 254  # mask everywhere, times the input's alpha
    # The cut-out's colour is the input's own (straight, not darkened by the compositing).
    assert np.abs(cutout[:, 32:, 2::-1].astype(int) - frames[0][:, 32:]).mean() < 4


def test_another_video_stream_can_be_chosen(runner, tmp_path: Path) -> None:
    first, second = frames_of(5), frames_of(5, seed=1)
    path = encode_video(tmp_path / "two.mkv", first, second_video=second)
    got = [frame.image for frame in FrameSource(path, video_stream=1).timed()]
    assert 2 * np.abs(got[2].astype(int) - second[2]).mean() < np.abs(got[2].astype(int) - first[2]).mean()
    result = runner.invoke(main, ["run", str(path), "--video-stream", "1", "-o", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["source"]["video_stream"] == 1
    result = runner.invoke(main, ["run", str(path), "--video-stream", "2", "-o", str(tmp_path / "none")])
    assert_clean_error(result, "has 2 video streams; there is no video stream 2 (counting from 0)")


def test_the_progress_total_is_the_frames_listed_not_the_header(tmp_path: Path) -> None:
    path = _truncated(tmp_path, ".avi")
    calls: list[tuple[int, int]] = []
    summary = segment_video(path, tmp_path / "out", progress=lambda done, total: calls.append((done, total)))
    listed = summary["source"]["listed_frames"]
    assert summary["source"]["header_frames"] == 24 and listed < 24
    assert [total for _, total in calls] == [listed] * len(calls) and calls[-1][0] == decodable_frames(path)


@pytest.mark.parametrize(
    ("make_input", "fragment"),
    [
        pytest.param(lambda d: encode_audio_only(d / "memo.m4a"), "memo.m4a' has no video stream", id="audio-only"),
        pytest.param(lambda d: truncate(encode_video(d / "whole.mp4", frames_of(6)), 0.7, d / "cut.mp4"),
                     "holds no streams FFmpeg can find (a recording cut off before its index was written?)",
                     id="mp4-cut-off-before-its-index"),
    ],
)
def test_unreadable_video_exits_2_with_one_line(runner, tmp_path: Path, make_input, fragment: str) -> None:
    result = runner.invoke(main, ["run", str(make_input(tmp_path)), "-o", str(tmp_path / "out")])
    assert_clean_error(result, fragment)
    assert not (tmp_path / "out").exists()


# --- image folders -------------------------------------------------------------------------------------------------

SHAPE = (24, 32)


def _rgb() -> np.ndarray:
    return frames_of(1, SHAPE)[0]


def _save(folder: Path, name: str, image: Image.Image, **options) -> None:
    folder.mkdir(exist_ok=True)
    image.save(folder / name, **options)


def _grey16(folder: Path) -> np.ndarray:
    values = _rgb()[..., 0].astype(np.uint16) * 257
    for i in range(2):
        cv2.imwrite(str(folder / f"f{i}.png"), values)
    return np.repeat(_rgb()[..., :1], 3, axis=2)


def _rgb16_tiff(folder: Path) -> np.ndarray:
    for i in range(2):
        cv2.imwrite(str(folder / f"f{i}.tif"), cv2.cvtColor(_rgb(), cv2.COLOR_RGB2BGR).astype(np.uint16) * 257)
    return _rgb()


def _grey(folder: Path) -> np.ndarray:
    for i in range(2):
        _save(folder, f"f{i}.png", Image.fromarray(_rgb()[..., 0]))
    return np.repeat(_rgb()[..., :1], 3, axis=2)


def _rgba(folder: Path) -> np.ndarray:
    alpha = np.full(SHAPE, 255, np.uint8)
    alpha[:, :8] = 0
    for i in range(2):
        _save(folder, f"f{i}.png", Image.fromarray(np.dstack([_rgb(), alpha])))
    expected = _rgb().copy()
    expected[:, :8] = 0
    return expected


def _palette(folder: Path) -> np.ndarray:
    image = Image.fromarray(_rgb()).quantize(32)
    for i in range(2):
        _save(folder, f"f{i}.png", image)
    return np.asarray(image.convert("RGB"))


def _cmyk_jpeg(folder: Path) -> np.ndarray:
    for i in range(2):
        _save(folder, f"f{i}.jpg", Image.fromarray(_rgb()).convert("CMYK"), quality=95)
    return _rgb()


def _exif_rotated(folder: Path) -> np.ndarray:
    image = Image.fromarray(_rgb())
    exif = image.getexif()
    exif[0x0112] = 6  # stored on its side: shown turned 90 degrees clockwise
    for i in range(2):
        _save(folder, f"f{i}.jpg", image, exif=exif, quality=95)
    return np.rot90(_rgb(), -1)


def _float_tiff(folder: Path) -> np.ndarray:
    for i in range(2):
        cv2.imwrite(str(folder / f"f{i}.tif"), cv2.cvtColor(_rgb(), cv2.COLOR_RGB2BGR).astype(np.float32) / 255)
    return _rgb()


IMAGE_ODDITIES: dict[str, tuple[Callable[[Path], np.ndarray], float, bool]] = {
    "grey-16-bit-png": (_grey16, 0.0, False),
    "rgb-16-bit-tiff": (_rgb16_tiff, 0.0, False),
    "grey-png": (_grey, 0.0, False),
    "rgba-png": (_rgba, 0.0, True),
    "palette-png": (_palette, 0.0, False),
    "cmyk-jpeg": (_cmyk_jpeg, 10.0, False),
    "exif-rotated-jpeg": (_exif_rotated, 10.0, False),
    "float-tiff": (_float_tiff, 0.0, False),
}
"""Folder maker (returns the RGB a viewer shows), the mean error the format allows (JPEG is lossy), alpha."""


@pytest.mark.parametrize("name", list(IMAGE_ODDITIES))
def test_image_folder_reads_as_a_viewer_shows_it(runner, tmp_path: Path, name: str) -> None:
    make, tolerance, has_alpha = IMAGE_ODDITIES[name]
    folder = tmp_path / "frames"
    folder.mkdir()
    expected = make(folder)
    source = FrameSource(folder)
    frames = list(source.timed())
    assert [f.name for f in frames] == ["f0", "f1"]
    assert frames[0].image.shape == expected.shape and frames[0].image.dtype == np.uint8
    assert np.abs(frames[0].image.astype(int) - expected).mean() <= tolerance + 0.5
    assert (frames[0].alpha is not None) == has_alpha
    out = tmp_path / "out"
    result = runner.invoke(main, ["run", str(folder), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["f0.png", "f1.png"]
    assert ("the input has alpha" in result.stderr) == has_alpha


def test_folder_in_natural_order_with_gaps_and_mixed_extensions(runner, tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    rgb = _rgb()
    for stem, ext in [("frame10", ".tif"), ("frame2", ".jpg"), ("frame1", ".png"), ("frame7", ".bmp")]:
        cv2.imwrite(str(folder / f"{stem}{ext}"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    (folder / "frame1.jpg").write_bytes((folder / "frame2.jpg").read_bytes())  # two files, one stem
    (folder / "notes.txt").write_text("shot on Tuesday")
    source = FrameSource(folder)
    assert [name for name, _ in source] == ["frame1.jpg", "frame1.png", "frame2", "frame7", "frame10"]
    out = tmp_path / "out"
    result = runner.invoke(main, ["run", str(folder), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert result.stderr == "warning: skipped 1 files that are not images: notes.txt\n"
    assert sorted(p.name for p in (out / "masks").iterdir()) == \
        ["frame1.jpg.png", "frame1.png.png", "frame10.png", "frame2.png", "frame7.png"]


@pytest.mark.parametrize(
    ("make_folder", "fragment"),
    [
        pytest.param(lambda d: (d / "f1.png").write_bytes(b"\x89PNG cut off"), "cannot decode image", id="unreadable"),
        pytest.param(lambda d: cv2.imwrite(str(d / "f1.png"), np.zeros((10, 10, 3), np.uint8)),
                     "all frames of a video must be the same size", id="other-size"),
    ],
)
def test_folder_refused_with_one_line_naming_the_file(runner, tmp_path: Path, make_folder, fragment: str) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "f0.png"), _rgb())
    make_folder(folder)
    result = runner.invoke(main, ["run", str(folder), "-o", str(tmp_path / "out")])
    assert_clean_error(result, fragment)
    assert "f1" in result.stderr
    assert not (tmp_path / "out").exists()


# --- interruption --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("signal_number", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["ctrl-c", "sigterm"])
def test_interrupted_run_removes_its_partial_output(tmp_path: Path, signal_number: int, status: int,
                                                    request: pytest.FixtureRequest) -> None:
    if signal_number == signal.SIGINT:
        request.getfixturevalue("interruptible")
    video = encode_video(tmp_path / "long.mp4", frames_of(600, (48, 64)))
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("from an earlier run")
    before = sorted(p.name for p in tmp_path.iterdir())
    process = subprocess.Popen([sys.executable, "-m", "flowseg", "run", str(video), "-o", str(out), "--overwrite",
                                "-q"], stderr=subprocess.PIPE, text=True, env={**os.environ, "FLOWSEG_DEBUG": ""})
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:  # wait until it is writing masks
            partial = [p for p in tmp_path.iterdir() if p.name.startswith(".out.partial")]
            if partial and (partial[0] / "masks").is_dir() and len(os.listdir(partial[0] / "masks")) >= 3:
                break
            time.sleep(0.05)
        assert process.poll() is None, "the run ended before it could be interrupted"
        process.send_signal(signal_number)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == status
    assert stderr.strip().count("\n") == 0 and "Interrupted" in stderr and "Traceback" not in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no partial folder left
    assert [p.name for p in out.iterdir()] == ["keep.txt"]  # what was there is untouched


def test_predict_reads_the_same_files(runner, tmp_path: Path) -> None:
    """``flowseg predict`` takes its frames and times from the same reader: B-frames in AVI with audio run."""
    source = _bframes_avi(tmp_path, audio="mp3")
    out = tmp_path / "out"
    result = runner.invoke(main, ["predict", str(source), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert "timestamps reordered" in result.stderr
    assert len(decoded(out / "side_by_side.mp4")) == 11  # frames 1..11, each predicted from the one before
    assert len(stream_spans(out / "side_by_side.mp4", "audio")) == 1
