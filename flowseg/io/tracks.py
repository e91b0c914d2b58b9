"""``tracks.json``: every tracked object of a video, in the YouTube-VIS results layout, written in constant memory.

The file is a JSON list with one entry per track, in ID order::

    [{"id": 1, "class": "person", "first_frame": 0, "last_frame": 41,
      "video_id": 1, "category_id": 1, "score": 1.0,
      "segmentations": [RLE or null, ...],     one per frame of the video
      "bboxes": [[x, y, w, h] or null, ...],
      "areas": [int or null, ...]}, ...]

``segmentations`` hold COCO run-length encodings (:func:`flowseg.io.coco.encode_rle`),
so YouTube-VIS evaluation code and ``pycocotools`` read them. Frames are
zero-based; a track's lists cover every frame of the video, ``null`` where it
was not seen.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ..errors import OutputError
from .coco import encode_rle

__all__ = ["TracksWriter", "objects_in"]


def objects_in(labels: NDArray[np.integer]) -> list[tuple[int, NDArray[np.bool_], list[float]]]:
    """Each object of a label map: ``(id, mask, [x, y, w, h])``, by increasing ID.

    Examples
    --------
    >>> labels = np.zeros((4, 5), np.uint16); labels[1:3, 2:4] = 7
    >>> [(i, int(m.sum()), box) for i, m, box in objects_in(labels)]
    [(7, 4, [2.0, 1.0, 2.0, 2.0])]
    """
    found = []
    for number, box in enumerate(ndimage.find_objects(labels.astype(np.int64)), start=1):
        if box is not None:
            found.append((number, labels == number,
                          [float(box[1].start), float(box[0].start), float(box[1].stop - box[1].start),
                           float(box[0].stop - box[0].start)]))  # fmt: skip
    return found


class TracksWriter:
    """Collects each frame's instance labels and writes ``tracks.json`` at the end.

    Each track's per-frame entries go to a temporary file of its own as they
    come; :meth:`write` joins them, one track at a time.

    Parameters
    ----------
    category : str
        The class of every track (the pipeline's target, or ``"object"``).
    """

    def __init__(self, category: str) -> None:
        self.category = category
        self._folder = Path(tempfile.mkdtemp(prefix="flowseg-tracks-"))
        self._spans: dict[int, list[int]] = {}  # id -> [first frame, last frame]
        self.frames = 0

    def add(self, labels: NDArray[np.integer]) -> None:
        """Record the objects of the next frame (``(H, W)`` labels, 0 = background)."""
        for number, mask, box in objects_in(labels):
            entry = {"frame": self.frames, "rle": encode_rle(mask), "box": box, "area": int(mask.sum())}
            with open(self._folder / f"{number}.jsonl", "a", encoding="utf-8") as file:
                file.write(json.dumps(entry) + "\n")
            self._spans.setdefault(number, [self.frames, self.frames])[1] = self.frames
        self.frames += 1

    def write(self, path: str | Path) -> None:
        """Write ``tracks.json`` to `path` and delete the temporary files."""
        try:
            with open(path, "w", encoding="utf-8") as out:
                out.write("[")
                for order, number in enumerate(sorted(self._spans)):
                    out.write(("," if order else "") + "\n" + json.dumps(self._track(number)))
                out.write("\n]\n")
        except OSError as error:
            raise OutputError(f"cannot write {str(path)!r}: {error.strerror}") from None
        finally:
            self.discard()

    def _track(self, number: int) -> dict[str, Any]:
        segmentations: list[Any] = [None] * self.frames
        boxes: list[Any] = [None] * self.frames
        areas: list[Any] = [None] * self.frames
        with open(self._folder / f"{number}.jsonl", encoding="utf-8") as file:
            for line in file:
                entry = json.loads(line)
                frame = entry["frame"]
                segmentations[frame], boxes[frame], areas[frame] = entry["rle"], entry["box"], entry["area"]
        first, last = self._spans[number]
        return {"id": number, "class": self.category, "first_frame": first, "last_frame": last, "video_id": 1,
                "category_id": 1, "score": 1.0, "segmentations": segmentations, "bboxes": boxes, "areas": areas}

    def discard(self) -> None:
        """Delete the temporary files."""
        shutil.rmtree(self._folder, ignore_errors=True)
