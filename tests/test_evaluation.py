"""Tests of flowseg.evaluation: DAVIS folder scoring and the report table."""

from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from flowseg.errors import ShapeError, VideoOpenError
from flowseg.evaluation import evaluate_folders, format_table, read_mask_png

H, W = 32, 48


def square(top: int, left: int, size: int = 10) -> np.ndarray:
    mask = np.zeros((H, W), dtype=bool)
    mask[top : top + size, left : left + size] = True
    return mask


def moving_square(n: int) -> list[np.ndarray]:
    """A 10x10 square moving 2 px right per frame."""
    return [square(10, 5 + 2 * t) for t in range(n)]


def write_sequence(folder: Path, masks: list[np.ndarray], digits: int = 5) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for t, mask in enumerate(masks):
        path = folder / f"{t:0{digits}d}.png"
        assert cv2.imwrite(str(path), mask.astype(np.uint8) * 255), path


def test_perfect_results_score_one(tmp_path: Path) -> None:
    masks = moving_square(5)
    write_sequence(tmp_path / "gt" / "car", masks)
    write_sequence(tmp_path / "res" / "car", masks)
    report = evaluate_folders(tmp_path / "res", tmp_path / "gt")
    assert list(report["sequences"]) == ["car"]
    seq = report["sequences"]["car"]
    assert seq["frames"] == 3
    assert "J_per_frame" not in seq and "F_per_frame" not in seq
    for key in ("JF_mean", "J_mean", "F_mean", "J_recall", "F_recall"):
        assert report[key] == 1.0, key
        assert seq[key] == 1.0, key
    assert report["J_decay"] == 0.0 and report["F_decay"] == 0.0
    # flicker of the predictions over scored frames 1-3: each step moves the
    # 10x10 square 2 px, IoU = 80 / 120, so T = 1 - 2/3.
    assert report["T_mean"] == pytest.approx(1 / 3, abs=1e-12)


def test_hand_computed_report(tmp_path: Path) -> None:
    gt = moving_square(5)
    pred = [m.copy() for m in gt]
    pred[2] = np.zeros((H, W), dtype=bool)  # middle frame missed
    pred[0] = np.zeros((H, W), dtype=bool)  # first frame is not scored
    write_sequence(tmp_path / "gt" / "car", gt)
    write_sequence(tmp_path / "res" / "car", pred)
    seq = evaluate_folders(tmp_path / "res", tmp_path / "gt")["sequences"]["car"]
    # scored J = F = [1, 0, 1]; n = 3 -> first bin [1, 0], last bin [1]
    for m in "JF":
        assert seq[f"{m}_mean"] == pytest.approx(2 / 3, abs=1e-12)
        assert seq[f"{m}_recall"] == pytest.approx(2 / 3, abs=1e-12)
        assert seq[f"{m}_decay"] == pytest.approx(-0.5, abs=1e-12)
    # T: pairs (1, 2) and (2, 3) each go square <-> empty: 1 - 0 = 1
    assert seq["T"] == 1.0


def test_global_means_weigh_sequences_equally(tmp_path: Path) -> None:
    # "a": 4 frames, perfect (J_mean 1). "b": 10 frames, scored frames 1-8
    # with the prediction empty on frames 1-4 (J = 0) and right on 5-8.
    write_sequence(tmp_path / "gt" / "a", moving_square(4))
    write_sequence(tmp_path / "res" / "a", moving_square(4))
    gt_b = moving_square(10)
    pred_b = [np.zeros((H, W), bool) if 1 <= t <= 4 else m for t, m in enumerate(gt_b)]
    write_sequence(tmp_path / "gt" / "b", gt_b)
    write_sequence(tmp_path / "res" / "b", pred_b)
    report = evaluate_folders(tmp_path / "res", tmp_path / "gt")
    assert report["sequences"]["b"]["J_mean"] == pytest.approx(0.5, abs=1e-12)
    # mean over sequences (1 + 0.5) / 2, not over frames (2 + 4) / 10
    assert report["J_mean"] == pytest.approx(0.75, abs=1e-12)
    assert report["JF_mean"] == pytest.approx((report["J_mean"] + report["F_mean"]) / 2)


def test_davis_root_with_annotations_480p(tmp_path: Path) -> None:
    masks = moving_square(4)
    write_sequence(tmp_path / "DAVIS" / "Annotations" / "480p" / "dog", masks)
    (tmp_path / "DAVIS" / "JPEGImages" / "480p" / "dog").mkdir(parents=True)
    write_sequence(tmp_path / "res" / "dog", masks)
    report = evaluate_folders(tmp_path / "res", tmp_path / "DAVIS")
    assert list(report["sequences"]) == ["dog"]
    assert report["JF_mean"] == 1.0


def test_flowseg_run_layout_with_masks_subfolder(tmp_path: Path) -> None:
    gt = moving_square(4)
    write_sequence(tmp_path / "gt" / "dog", gt)
    # The top level holds a wrong mask; the masks/ subfolder must be used.
    write_sequence(tmp_path / "res" / "dog", [np.zeros((H, W), bool)] * 4)
    write_sequence(tmp_path / "res" / "dog" / "masks", gt, digits=6)  # 000000.png
    report = evaluate_folders(tmp_path / "res", tmp_path / "gt")
    assert report["JF_mean"] == 1.0


def test_palette_png_read_as_indices(tmp_path: Path) -> None:
    # Index 1 is painted black in the palette: reading colours would lose it.
    labels = np.zeros((H, W), dtype=np.uint8)
    labels[5:10, 5:10] = 1
    img = Image.frombytes("P", (W, H), labels.tobytes())
    img.putpalette([0, 0, 0] * 256)
    path = tmp_path / "p.png"
    img.save(path)
    with Image.open(path) as check:
        assert check.mode == "P"
    np.testing.assert_array_equal(read_mask_png(path), labels == 1)


def test_rgb_png_any_channel_nonzero(tmp_path: Path) -> None:
    rgb = np.zeros((H, W, 3), dtype=np.uint8)
    rgb[3, 4, 2] = 1  # a faint blue pixel: grey conversion would round it to 0
    path = tmp_path / "rgb.png"
    Image.fromarray(rgb).save(path)
    mask = read_mask_png(path)
    assert mask.shape == (H, W) and mask.sum() == 1 and mask[3, 4]


def test_default_sequences_are_common_and_sorted(tmp_path: Path) -> None:
    for name in ("zebra", "ant", "only_gt"):
        write_sequence(tmp_path / "gt" / name, moving_square(3))
    for name in ("zebra", "ant", "only_res"):
        write_sequence(tmp_path / "res" / name, moving_square(3))
    report = evaluate_folders(tmp_path / "res", tmp_path / "gt")
    assert list(report["sequences"]) == ["ant", "zebra"]
    report = evaluate_folders(tmp_path / "res", tmp_path / "gt", sequences=["zebra"])
    assert list(report["sequences"]) == ["zebra"]


def test_named_sequence_missing_raises(tmp_path: Path) -> None:
    write_sequence(tmp_path / "gt" / "a", moving_square(3))
    write_sequence(tmp_path / "res" / "a", moving_square(3))
    write_sequence(tmp_path / "gt" / "b", moving_square(3))
    with pytest.raises(VideoOpenError, match=r"sequence 'b' is not in the results folder .*res"):
        evaluate_folders(tmp_path / "res", tmp_path / "gt", sequences=["a", "b"])
    with pytest.raises(VideoOpenError, match=r"sequence 'c' is not in the ground-truth folder"):
        evaluate_folders(tmp_path / "res", tmp_path / "gt", sequences=["c"])


def test_no_common_sequence_raises(tmp_path: Path) -> None:
    write_sequence(tmp_path / "gt" / "a", moving_square(3))
    write_sequence(tmp_path / "res" / "b", moving_square(3))
    with pytest.raises(VideoOpenError, match="no sequence folder is present in both"):
        evaluate_folders(tmp_path / "res", tmp_path / "gt")


def test_missing_folder_raises(tmp_path: Path) -> None:
    (tmp_path / "gt").mkdir()
    with pytest.raises(VideoOpenError, match=r"results folder .*nope.* does not exist"):
        evaluate_folders(tmp_path / "nope", tmp_path / "gt")


def test_missing_result_frame_raises(tmp_path: Path) -> None:
    write_sequence(tmp_path / "gt" / "a", moving_square(4))
    write_sequence(tmp_path / "res" / "a", moving_square(4))
    (tmp_path / "res" / "a" / "00002.png").unlink()
    with pytest.raises(VideoOpenError, match=r"result frame .*a.00002\.png' is missing"):
        evaluate_folders(tmp_path / "res", tmp_path / "gt")


def test_size_mismatch_raises(tmp_path: Path) -> None:
    write_sequence(tmp_path / "gt" / "a", moving_square(3))
    (tmp_path / "res" / "a").mkdir(parents=True)
    for t in range(3):
        cv2.imwrite(str(tmp_path / "res" / "a" / f"{t:05d}.png"), np.zeros((H, W + 2), np.uint8))
    with pytest.raises(ShapeError, match=r"is 50x32 \(W x H\) but ground truth .* is 48x32"):
        evaluate_folders(tmp_path / "res", tmp_path / "gt")


def test_corrupt_png_raises(tmp_path: Path) -> None:
    write_sequence(tmp_path / "gt" / "a", moving_square(3))
    write_sequence(tmp_path / "res" / "a", moving_square(3))
    (tmp_path / "res" / "a" / "00001.png").write_bytes(b"not a png")
    with pytest.raises(VideoOpenError, match=r"cannot read mask file .*00001\.png"):
        evaluate_folders(tmp_path / "res", tmp_path / "gt")


def test_format_table(tmp_path: Path) -> None:
    write_sequence(tmp_path / "gt" / "a-long-name", moving_square(4))
    write_sequence(tmp_path / "res" / "a-long-name", moving_square(4))
    write_sequence(tmp_path / "gt" / "b", moving_square(4))
    write_sequence(tmp_path / "res" / "b", [np.zeros((H, W), bool)] * 4)
    table = format_table(evaluate_folders(tmp_path / "res", tmp_path / "gt"))
    lines = table.splitlines()
    assert lines[0].split() == [
        "Sequence", "J&F", "J-mean", "J-recall", "J-decay",
        "F-mean", "F-recall", "F-decay", "T",
    ]
    assert lines[1].split()[:3] == ["a-long-name", "1.000", "1.000"]
    assert lines[2].split()[:3] == ["b", "0.000", "0.000"]
    assert set(lines[3]) == {"-"}
    assert lines[4].split()[:3] == ["mean", "0.500", "0.500"]
    assert len({len(line) for line in lines}) == 1, "rows must be the same width"


def test_format_table_shows_nan(tmp_path: Path) -> None:
    # One-frame sequence: a single scored frame, so T is undefined.
    write_sequence(tmp_path / "gt" / "a", moving_square(1))
    write_sequence(tmp_path / "res" / "a", moving_square(1))
    report = evaluate_folders(tmp_path / "res", tmp_path / "gt")
    assert math.isnan(report["T_mean"])
    assert format_table(report).splitlines()[1].split()[-1] == "nan"


def _davis_root() -> Path | None:
    env = os.environ.get("FLOWSEG_DAVIS_ROOT")
    root = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data" / "davis2016"
    return root if (root / "Annotations" / "480p").is_dir() else None


@pytest.mark.slow
def test_real_davis_ground_truth_against_itself() -> None:
    root = _davis_root()
    if root is None:
        pytest.skip(
            "DAVIS-2016 not found: set FLOWSEG_DAVIS_ROOT or place it at "
            "../shared/data/davis2016 (with Annotations/480p)"
        )
    annotations = root / "Annotations" / "480p"
    name = "blackswan" if (annotations / "blackswan").is_dir() else sorted(
        p.name for p in annotations.iterdir() if p.is_dir()
    )[0]
    report = evaluate_folders(annotations, root, sequences=[name])
    seq = report["sequences"][name]
    assert seq["frames"] == len(list((annotations / name).glob("*.png"))) - 2
    assert report["JF_mean"] == 1.0
    assert report["J_recall"] == 1.0 and report["F_recall"] == 1.0
    assert report["J_decay"] == 0.0 and report["F_decay"] == 0.0


def test_a_folder_of_masks_is_one_object_each(tmp_path: Path) -> None:
    from flowseg import MaskError, ShapeError, VideoOpenError
    from flowseg.evaluation import read_objects

    folder = tmp_path / "objects"
    folder.mkdir()
    with pytest.raises(VideoOpenError, match="holds no image"):
        read_objects(folder)
    first, second = np.zeros((H, W), np.uint8), np.zeros((H, W), np.uint8)
    first[2:8, 2:8], second[5:12, 5:12] = 255, 255
    Image.fromarray(second).save(folder / "obj10.png")
    Image.fromarray(first).save(folder / "obj2.png")
    (folder / "notes.txt").write_text("not a mask")
    labels = read_objects(folder)
    assert labels[3, 3] == 1 and labels[10, 10] == 2 and labels[6, 6] == 2  # obj2 before obj10; the later in front
    Image.fromarray(np.zeros((H, W), np.uint8)).save(folder / "obj11.png")
    with pytest.raises(MaskError, match="obj11.png' is empty"):
        read_objects(folder)
    Image.fromarray(np.full((H + 1, W), 255, np.uint8)).save(folder / "obj11.png")
    with pytest.raises(ShapeError, match="the same size"):
        read_objects(folder)
