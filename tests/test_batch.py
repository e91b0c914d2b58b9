"""flowseg batch on a local Ray runtime: outputs as 'flowseg run', failures recorded, workers killed, reruns resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from flowseg import Pipeline, segment_video
from flowseg.batch import REPORT_NAME, BatchInput, collect_inputs, run_batch

from synthetic import moving_object_clip, write_av_clip

ray = pytest.importorskip("ray", reason="flowseg batch needs Ray (pip install 'flowseg[batch]')")


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray runtime with 2 CPUs for the module's tests."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for seed in range(2):
        frames, _ = moving_object_clip(10, seed=seed)
        write_av_clip(folder / f"clip{seed}.mp4", frames)
    (folder / "broken.mp4").write_bytes(b"not a video" * 100)
    return folder


def masks_of(folder: Path) -> list[np.ndarray]:
    return [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted((folder / "masks").iterdir())]


def test_outputs_equal_flowseg_run_and_a_corrupt_input_is_reported(local_ray, clips: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = run_batch(collect_inputs([str(clips / "*.mp4")]), out, workers=2)
    assert (report["done"], report["failed"], report["skipped"]) == (2, 1, 0)
    failed = next(row for row in report["inputs"] if row["status"] == "failed")
    assert failed["input"].endswith("broken.mp4") and "not a video FFmpeg can open" in failed["error"]
    assert "\n" not in failed["error"]
    assert json.loads((out / REPORT_NAME).read_text())["failed"] == 1
    assert sorted(p.name for p in out.iterdir()) == [REPORT_NAME, "clip0", "clip1"]
    for name in ("clip0", "clip1"):
        alone = segment_video(clips / f"{name}.mp4", tmp_path / "alone" / name)
        assert alone["frames"] == 10
        for batched, single in zip(masks_of(out / name), masks_of(tmp_path / "alone" / name), strict=True):
            np.testing.assert_array_equal(batched, single)


def test_a_rerun_skips_finished_inputs_and_redoes_interrupted_ones(local_ray, clips: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    inputs = [BatchInput(clips / "clip0.mp4"), BatchInput(clips / "clip1.mp4")]
    run_batch(inputs[:1], out, workers=1)
    finished = (out / "clip0" / "summary.json").stat().st_mtime_ns
    (out / ".clip1.partial-abc123").mkdir()  # what a killed run leaves behind
    report = run_batch(inputs, out, workers=2)
    assert [row["status"] for row in report["inputs"]] == ["skipped", "done"]
    assert (out / "clip0" / "summary.json").stat().st_mtime_ns == finished
    assert (out / "clip1" / "summary.json").is_file()
    assert not list(out.glob(".*partial*"))


def _worker_pids() -> list[int]:
    listing = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in listing.splitlines() if "ray::_Worker.process" in line]


def test_a_killed_worker_costs_only_a_retry(local_ray, tmp_path: Path) -> None:
    frames, _ = moving_object_clip(150, shape=(192, 256))
    long_clip = write_av_clip(tmp_path / "long.mp4", frames)
    out = tmp_path / "out"
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(run_batch([BatchInput(long_clip)], out, workers=1)))
    thread.start()
    killed = False
    deadline = time.monotonic() + 60
    while thread.is_alive() and time.monotonic() < deadline and not killed:
        if list(out.glob(".long.partial-*")):  # the worker is writing
            for pid in _worker_pids():
                os.kill(pid, signal.SIGKILL)
                killed = True
        time.sleep(0.05)
    thread.join(timeout=120)
    assert killed, "the worker finished before it could be killed; make the clip longer"
    assert result["done"] == 1 and result["failed"] == 0
    assert len(masks_of(out / "long")) == 150


def test_inputs_from_lists_and_manifests(tmp_path: Path) -> None:
    (tmp_path / "a.mp4").write_bytes(b"")
    (tmp_path / "shots").mkdir()
    (tmp_path / "list.txt").write_text("a.mp4  # a clip\n\nshots\n")
    (tmp_path / "objects.csv").write_text("input,init_mask,init_frame\na.mp4,a.png,3\n")
    assert [(e.path.name, e.name) for e in collect_inputs([tmp_path / "list.txt"])] == [("a.mp4", "a"),
                                                                                         ("shots", "shots")]
    [entry] = collect_inputs([tmp_path / "objects.csv"])
    assert (entry.init_mask, entry.init_frame) == (tmp_path / "a.png", 3)


def test_two_inputs_with_one_output_name_are_refused(tmp_path: Path) -> None:
    from flowseg.errors import ConfigError

    (tmp_path / "x").mkdir()
    with pytest.raises(ConfigError, match="would both write to OUT/a"):
        collect_inputs([tmp_path / "a.mp4", tmp_path / "x" / "a.mov"])
    with pytest.raises(ConfigError, match="no input matches"):
        collect_inputs([str(tmp_path / "*.avi")])


def test_an_unreachable_cluster_is_a_one_line_error() -> None:
    from flowseg.batch import _start_ray
    from flowseg.errors import ConfigError

    with pytest.raises(ConfigError, match=r"cannot reach the Ray cluster at '127.0.0.1:1'"):
        _start_ray(ray, "127.0.0.1:1", None)


def test_without_ray_the_cli_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from flowseg.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails, as where it is not installed
    result = CliRunner().invoke(main, ["batch", str(tmp_path / "a.mp4"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.stderr.strip() == ("Error: flowseg batch runs on Ray, which is not installed: "
                                     "pip install 'flowseg[batch]'")


def test_a_long_video_split_in_parts_matches_the_unsplit_run(local_ray, davis_root: Path, tmp_path: Path) -> None:
    files = sorted((davis_root / "JPEGImages" / "480p" / "parkour").glob("*.jpg"))[:40]
    frames = [cv2.cvtColor(cv2.resize(cv2.imread(str(f)), (426, 240)), cv2.COLOR_BGR2RGB) for f in files]
    clip = write_av_clip(tmp_path / "parkour.mp4", frames, audio_streams=1)
    out = tmp_path / "out"
    report = run_batch([BatchInput(clip)], out, workers=2, split_frames=15)
    assert report["inputs"][0]["segments"] == 3 and report["done"] == 1
    assert sorted(p.name for p in out.iterdir()) == [REPORT_NAME, "parkour"]  # the parts are gone
    alone = segment_video(clip, tmp_path / "alone")
    split, unsplit = masks_of(out / "parkour"), masks_of(tmp_path / "alone")
    assert len(split) == len(unsplit) == 40 and sum(m.any() for m in unsplit) > 30
    for a, b in zip(split, unsplit):
        assert (a & b).astype(bool).sum() >= 0.9 * (a | b).astype(bool).sum()
    with av.open(str(out / "parkour" / "overlay.mp4")) as container:
        assert container.streams.video[0].frames == 40 and len(container.streams.audio) == 1
    summary = json.loads((out / "parkour" / "summary.json").read_text())
    assert summary["frames"] == alone["frames"]
    assert summary["passes"] == alone["passes"] == {"count": 1, "why": Pipeline().two_pass_blocker()}


def test_parts_of_a_long_video_are_cut_at_its_shot_changes(tmp_path: Path) -> None:
    from flowseg.batch import _shot_changes, plan_segments

    from test_shots import BLUE, RED, shot

    clip = write_av_clip(tmp_path / "edited.mp4", shot(0, RED, 26) + shot(1, BLUE, 18))
    cuts = _shot_changes(clip)
    assert cuts == [26]
    parts = plan_segments(BatchInput(clip), 44, 30, cuts)  # two parts; the even cut (22) moves to the shot's
    assert [(p.start, p.stop, p.warmup) for p in parts] == [(0, 26, 8), (26, 44, 0)]


def test_instance_ids_are_matched_across_the_parts_of_a_split_video(tmp_path: Path) -> None:
    from PIL import Image

    from flowseg.batch import Segment, _IdStitcher
    from flowseg.io import instance_colours

    left, right = np.zeros((20, 40), np.uint16), np.zeros((20, 40), np.uint16)
    left[5:15, 2:12], right[5:15, 25:35] = 1, 1

    def save(path: Path, labels: np.ndarray) -> Path:
        png = Image.fromarray(labels.astype(np.uint8), mode="P")
        png.putpalette(instance_colours(255).ravel().tolist())  # without one, Pillow merges same-colour indices
        png.save(path)
        return path

    first, second = tmp_path / "000", tmp_path / "001"
    for folder in (first, second):
        (folder / "instances").mkdir(parents=True)
    stitcher = _IdStitcher()
    stitcher.start_part(first, Segment(BatchInput(tmp_path / "v.mp4"), 0, 0, 3, warmup=0))
    for t in range(3):  # part 0: the left object is 1, the right one 2
        got = stitcher.labels(save(first / "instances" / f"{t:05d}.png", left + 2 * right), f"{t:05d}")
        np.testing.assert_array_equal(got, left + 2 * right)
    for t in (1, 2):  # part 1 warmed up on frames 1-2 and numbered them the other way round
        cv2.imwrite(str(second / f"overlap_{t:05d}.png"), (2 * left + right).astype(np.uint16))
    stitcher.start_part(second, Segment(BatchInput(tmp_path / "v.mp4"), 1, 3, 6, warmup=2))
    newcomer = np.zeros_like(left)
    newcomer[0:3, 15:20] = 3
    got = stitcher.labels(save(second / "instances" / "00003.png", 2 * left + right + newcomer), "00003")
    np.testing.assert_array_equal(got[left > 0], 1)
    np.testing.assert_array_equal(got[right > 0], 2)
    np.testing.assert_array_equal(got[newcomer > 0], 3)  # an object the overlap never saw gets a new ID
