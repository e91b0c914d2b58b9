"""COCO RLE and the streaming COCO writer, checked against pycocotools as the independent reader."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from flowseg.io.coco import CocoWriter, decode_rle, encode_rle, mask_area, mask_box
from flowseg.errors import MaskError, OutputError, ShapeError, UnknownTargetError

mask_utils = pytest.importorskip(
    "pycocotools.mask", reason="pycocotools is the independent COCO reader these tests compare with"
)
coco_api = pytest.importorskip("pycocotools.coco", reason="pycocotools is the independent COCO reader")

# pycocotools' decode warns under numpy 2 about its own __array__; not ours
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _reference(mask: np.ndarray) -> dict:
    return mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))


def _masks() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    cases: list[tuple[str, np.ndarray]] = []
    for h, w in [(1, 1), (2, 3), (7, 5), (31, 17), (64, 64), (120, 97)]:
        cases.append((f"random {h}x{w}", rng.random((h, w)) < 0.5))
        cases.append((f"sparse {h}x{w}", rng.random((h, w)) < 0.03))
        # large blobs give long runs: multi-chunk counts and negative deltas
        blob = np.zeros((h, w), bool)
        blob[h // 4: h // 4 + max(1, h // 2), w // 3: w // 3 + max(1, w // 2)] = True
        cases.append((f"blob {h}x{w}", blob))
    single = np.zeros((40, 30), bool)
    single[17, 11] = True
    first = np.zeros((9, 8), bool)
    first[0, 0] = True
    last = np.zeros((9, 8), bool)
    last[-1, -1] = True
    cases += [
        ("empty", np.zeros((50, 60), bool)),
        ("full", np.ones((50, 60), bool)),
        ("single pixel", single),
        ("first pixel", first),
        ("last pixel", last),
        ("1xN", rng.random((1, 257)) < 0.5),
        ("Nx1", rng.random((257, 1)) < 0.5),
        ("1xN full", np.ones((1, 300), bool)),
        ("huge run", np.pad(np.ones((1000, 1000), bool), ((0, 0), (0, 3)))),
    ]
    return cases


CASES = _masks()


@pytest.mark.parametrize("name, mask", CASES, ids=[name for name, _ in CASES])
def test_encode_matches_pycocotools_exactly(name: str, mask: np.ndarray) -> None:
    ours = encode_rle(mask)
    theirs = _reference(mask)
    assert isinstance(ours["counts"], str)
    assert ours["counts"].encode("ascii") == theirs["counts"]
    assert ours["size"] == list(theirs["size"]) == list(mask.shape)
    np.testing.assert_array_equal(mask_utils.decode(ours).astype(bool), mask)
    np.testing.assert_array_equal(decode_rle(ours), mask)
    assert decode_rle(ours).dtype == np.bool_
    assert mask_area(ours) == int(mask_utils.area(theirs)) == int(mask.sum())
    assert mask_box(mask) == mask_utils.toBbox(theirs).tolist()


def test_encode_any_layout_and_integer_masks() -> None:
    rng = np.random.default_rng(3)
    mask = rng.random((23, 19)) < 0.4
    expected = encode_rle(mask)
    assert encode_rle(np.asfortranarray(mask)) == expected
    assert encode_rle(mask.astype(np.uint8) * 255) == expected
    assert encode_rle(mask.T.copy().T) == expected


def test_decode_uncompressed_and_bytes_counts() -> None:
    rng = np.random.default_rng(5)
    mask = rng.random((13, 21)) < 0.5
    uncompressed = {"size": list(mask.shape), "counts": _runs_reference(mask)}
    np.testing.assert_array_equal(decode_rle(uncompressed), mask)
    assert mask_area(uncompressed) == int(mask.sum())
    from_bytes = mask_utils.frPyObjects(uncompressed, *mask.shape)  # pycocotools compresses to bytes counts
    assert isinstance(from_bytes["counts"], bytes)
    np.testing.assert_array_equal(decode_rle(from_bytes), mask)


def _runs_reference(mask: np.ndarray) -> list[int]:
    """Run lengths by a plain Python loop, independent of the module's numpy version."""
    runs, current, length = [], False, 0
    for value in mask.ravel(order="F").tolist():
        if value != current:
            runs.append(length)
            current, length = value, 0
        length += 1
    return runs + [length]


def test_decode_rejects_bad_rle() -> None:
    with pytest.raises(ShapeError):
        decode_rle({"size": [3, 3], "counts": [4, 4]})
    with pytest.raises(MaskError):
        decode_rle({"size": [3, 3], "counts": "9~"})
    with pytest.raises(MaskError):
        decode_rle({"counts": "9"})
    with pytest.raises(ShapeError):
        encode_rle(np.zeros((2, 2, 2), bool))


def _frames(count: int, height: int, width: int) -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    masks = []
    for index in range(count):
        mask = np.zeros((height, width), bool)
        if index != 2:  # frame 2 is empty
            top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
            mask[top: top + height // 3, left: left + width // 4] = True
            mask[rng.random((height, width)) < 0.02] = True
        masks.append(mask)
    return masks


def test_writer_output_is_read_by_pycocotools(tmp_path: Path) -> None:
    height, width = 36, 48
    people = _frames(5, height, width)
    balls = [np.roll(mask, 9, axis=1) for mask in people]
    path = tmp_path / "clip.json"
    with CocoWriter(path, width=width, height=height, categories=["person", "ball"], video_name="clip") as writer:
        for index, (person, ball) in enumerate(zip(people, balls)):
            writer.add(index, f"{index:05d}.jpg", person, track_id=1, score=0.5 + index / 10)
            writer.add(index, f"{index:05d}.jpg", ball, category="ball", track_id=7)
    assert sorted(os.listdir(tmp_path)) == ["clip.json"]

    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["info"]["video_name"] == "clip"
    assert data["categories"] == [{"id": 1, "name": "person"}, {"id": 2, "name": "ball"}]
    assert [image["frame_index"] for image in data["images"]] == list(range(5))
    assert data["images"][3] == {"id": 4, "file_name": "00003.jpg", "width": width, "height": height, "frame_index": 3}

    coco = coco_api.COCO(str(path))
    assert len(coco.getImgIds()) == 5
    assert coco.getAnnIds(imgIds=[3]) == []  # frame 2 (image id 3) is empty
    for index in range(5):
        annotations = coco.loadAnns(coco.getAnnIds(imgIds=[index + 1]))
        by_track = {ann["track_id"]: ann for ann in annotations}
        expected = {} if index == 2 else {1: (people[index], 1), 7: (balls[index], 2)}
        assert set(by_track) == set(expected)
        for track, (mask, category_id) in expected.items():
            ann = by_track[track]
            np.testing.assert_array_equal(coco.annToMask(ann).astype(bool), mask)
            assert ann["category_id"] == category_id
            assert ann["iscrowd"] == 0
            assert ann["area"] == int(mask.sum())
            assert ann["bbox"] == mask_utils.toBbox(_reference(mask)).tolist()
        if index != 2:
            assert by_track[1]["score"] == pytest.approx(0.5 + index / 10)
            assert "score" not in by_track[7]
    assert sorted(ann["id"] for ann in data["annotations"]) == list(range(1, 9))


def test_writer_without_annotations_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    writer = CocoWriter(path, width=4, height=3, categories=["person"], video_name="v")
    writer.add(0, "a.png", np.zeros((3, 4), bool))
    assert writer.close() == path
    coco = coco_api.COCO(str(path))
    assert coco.getImgIds() == [1] and coco.getAnnIds() == []


@pytest.mark.parametrize("where", ["missing", "file", "read-only"])
def test_unwritable_location_raises_output_error(tmp_path: Path, where: str) -> None:
    if where == "missing":
        path = tmp_path / "no" / "such" / "out.json"
    elif where == "file":
        (tmp_path / "plain").write_text("x")
        path = tmp_path / "plain" / "out.json"
    else:  # a read-only file system (folder permissions would not stop root, who runs CI)
        if not Path("/proc/self").is_dir():
            pytest.skip("no /proc file system to stand in for a read-only one")
        path = Path("/proc/out.json")
    with pytest.raises(OutputError, match="out.json"):
        CocoWriter(path, width=4, height=3, categories=["person"], video_name="v")
    assert not path.exists()


def test_exception_in_with_block_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "clip.json"
    mask = np.ones((3, 4), bool)
    with pytest.raises(RuntimeError, match="boom"):
        with CocoWriter(path, width=4, height=3, categories=["person"], video_name="v") as writer:
            writer.add(0, "a.png", mask)
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []


def test_abort_keeps_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "clip.json"
    path.write_text("old")
    writer = CocoWriter(path, width=4, height=3, categories=["person"], video_name="v")
    writer.add(0, "a.png", np.ones((3, 4), bool))
    writer.abort()
    assert os.listdir(tmp_path) == ["clip.json"] and path.read_text() == "old"
    with pytest.raises(OutputError):
        writer.add(1, "b.png", np.ones((3, 4), bool))


def test_writer_rejects_bad_masks_and_categories(tmp_path: Path) -> None:
    with CocoWriter(tmp_path / "c.json", width=4, height=3, categories=["person"], video_name="v") as writer:
        with pytest.raises(ShapeError) as error:
            writer.add(0, "a.png", np.ones((4, 3), bool))
        assert error.value.actual == (4, 3)
        with pytest.raises(ShapeError):
            writer.add(0, "a.png", np.ones((3, 4, 1), bool))
        with pytest.raises(UnknownTargetError):
            writer.add(0, "a.png", np.ones((3, 4), bool), category="dog")
        with pytest.raises(ValueError):
            writer.add(0, "a.png", np.ones((3, 4), bool), score=float("nan"))
        writer.add(0, "a.png", np.ones((3, 4), bool))
    coco = coco_api.COCO(str(tmp_path / "c.json"))
    assert len(coco.getAnnIds()) == 1 and len(coco.getImgIds()) == 1
