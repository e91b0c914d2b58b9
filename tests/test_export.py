"""What the CLI hands to editors and other tools, checked by decoding the files.

``run --export editor``, ``run --coco`` and ``shots --edl/--otio``.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from flowseg.cli import main
from flowseg.io.timeline import parse_edl

from synthetic import write_av_clip
from test_shots import BLUE, RED, shot
from test_video import PRORES_TOLERANCE, decoded, stream_seconds

FPS = 25.0


@pytest.fixture(scope="module")
def edited_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two shots of 15 frames (a cut between frames 14 and 15) at 25 fps, with an audio stream."""
    frames = shot(0, RED, 15) + shot(1, BLUE, 15)
    return write_av_clip(tmp_path_factory.mktemp("clip") / "edited.mp4", frames, audio_streams=1)


def masks_of(out: Path) -> list[np.ndarray]:
    return [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted((out / "masks").iterdir())]


def test_export_editor_gives_prores_alpha_matte_preview_and_edl(tmp_path: Path, edited_clip: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(edited_clip), "--init-mask", str(first_mask(tmp_path)),
                                       "--export", "editor", "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["cutout.mov", "mask.mp4", "masks", "overlay.mp4", "quality.csv",
                                                     "shots.edl", "summary.json"]
    masks = masks_of(out)
    assert masks[5].any()
    cutout = decoded(out / "cutout.mov")
    assert cutout[0].format.name.startswith("yuva444p") and len(cutout) == 30
    with av.open(str(out / "cutout.mov")) as container:
        assert container.streams.video[0].codec_context.name == "prores"
        assert container.streams.video[0].profile == "4444"
    for frame, mask in zip(cutout, masks):
        assert np.abs(frame.to_ndarray(format="rgba")[..., 3].astype(int) - mask).max() <= PRORES_TOLERANCE
    for name in ("mask.mp4", "overlay.mp4"):
        frames = decoded(out / name)
        assert frames[0].format.name == "yuv420p" and len(frames) == 30
        with av.open(str(out / name)) as container:
            assert container.streams.video[0].codec_context.name == "h264"
    matte = decoded(out / "mask.mp4")[5].to_ndarray(format="gray").astype(int)
    assert np.abs(matte - masks[5]).mean() < 2
    for name in ("cutout.mov", "mask.mp4", "overlay.mp4"):
        assert stream_seconds(out / name, "audio") == pytest.approx(stream_seconds(edited_clip, "audio"), abs=1e-6)
    assert parse_edl((out / "shots.edl").read_text(), FPS) == [(0, 14), (15, 29)]


def first_mask(tmp_path: Path) -> Path:
    mask = np.zeros((72, 128), np.uint8)
    mask[20:50, 30:70] = 255
    cv2.imwrite(str(tmp_path / "first.png"), mask)
    return tmp_path / "first.png"


def test_coco_json_decodes_to_the_written_masks(tmp_path: Path, edited_clip: Path) -> None:
    mask_util = pytest.importorskip("pycocotools.mask", reason="pycocotools (the test extra) reads COCO RLE")
    out, coco = tmp_path / "out", tmp_path / "masks.json"
    result = CliRunner().invoke(main, ["run", str(edited_clip), "--init-mask", str(first_mask(tmp_path)),
                                       "--coco", str(coco), "--no-video", "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    data = json.loads(coco.read_text())
    assert [c["name"] for c in data["categories"]] == ["object"] and len(data["images"]) == 30
    masks = masks_of(out)
    by_image = {a["image_id"]: a for a in data["annotations"]}
    for image in data["images"]:
        mask = masks[image["frame_index"]] > 0
        if image["id"] in by_image:
            segmentation = by_image[image["id"]]["segmentation"]
            rle = dict(segmentation, counts=segmentation["counts"].encode())
            np.testing.assert_array_equal(mask_util.decode(rle).astype(bool), mask)
        else:
            assert not mask.any()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_shots_edl_and_otio_open_in_editorial_tools(tmp_path: Path, edited_clip: Path) -> None:
    otio = pytest.importorskip("opentimelineio")
    edl, timeline = tmp_path / "shots.edl", tmp_path / "shots.otio"
    result = CliRunner().invoke(main, ["shots", str(edited_clip), "--edl", str(edl), "--otio", str(timeline)])
    assert result.exit_code == 0, result.output
    shots = [(0, 14), (15, 29)]
    assert parse_edl(edl.read_text(), FPS) == shots
    pytest.importorskip("otio_cmx3600_adapter", reason="otio-cmx3600-adapter (the test extra) reads CMX 3600 EDLs")
    read_back = otio.adapters.read_from_string(edl.read_text(), "cmx_3600", rate=FPS)
    ranges = [c.source_range for c in read_back.find_clips()]
    assert [(r.start_time.to_frames(), r.end_time_inclusive().to_frames()) for r in ranges] == shots
    loaded = otio.adapters.read_from_file(str(timeline))
    clips = list(loaded.find_clips())
    assert [(c.source_range.start_time.to_frames(), c.source_range.end_time_inclusive().to_frames())
            for c in clips] == shots
    assert clips[0].source_range.start_time.rate == FPS
    assert clips[0].media_reference.target_url.endswith("edited.mp4")
