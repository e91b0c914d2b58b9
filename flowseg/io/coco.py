"""Masks for other tools: COCO run-length encoding and a streaming COCO JSON writer.

The encoding is the one of the COCO API (``pycocotools.mask``), written here
without depending on it: a mask is flattened in column-major (Fortran) order,
cut into runs that alternate between background and object starting with a
(possibly empty) run of background, and the run lengths are packed into a
string, as ``rleToString`` of the COCO API's ``maskApi.c`` does. The result
equals ``pycocotools.mask.encode(np.asfortranarray(mask.astype(np.uint8)))``
character for character, except that ``counts`` is a ``str`` here (JSON
needs text) where pycocotools gives ``bytes``.

Examples
--------
>>> import numpy as np
>>> from flowseg.io.coco import decode_rle, encode_rle, mask_area, mask_box
>>> mask = np.zeros((4, 5), bool)
>>> mask[1:3, 2:4] = True
>>> rle = encode_rle(mask)
>>> rle
{'size': [4, 5], 'counts': '92203'}
>>> bool((decode_rle(rle) == mask).all()), mask_area(rle), mask_box(mask)
(True, 4, [2.0, 1.0, 2.0, 2.0])

Writing a video's masks as one COCO file:

>>> with CocoWriter("out/clip.json", width=854, height=480,
...                 categories=["person"], video_name="clip") as writer:   # doctest: +SKIP
...     for index, (name, mask) in enumerate(masks):
...         writer.add(index, f"{name}.jpg", mask, track_id=1)

References
----------
.. [1] T.-Y. Lin et al., "Microsoft COCO: Common Objects in Context", ECCV
   2014; data format: https://cocodataset.org/#format-data
.. [2] The COCO API, ``common/maskApi.c`` (``rleEncode``, ``rleToString``,
   ``rleFrString``, ``rleToBbox``): https://github.com/cocodataset/cocoapi
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._validate import check_mask
from ..errors import MaskError, OutputError, ShapeError, UnknownTargetError

__all__ = ["encode_rle", "decode_rle", "mask_area", "mask_box", "CocoWriter"]

RLE = dict[str, Any]
"""A COCO RLE: ``{"size": [H, W], "counts": str}`` (compressed) or ``{"size": [H, W], "counts": [int, ...]}``."""


# --------------------------------------------------------------------------
# run-length encoding
# --------------------------------------------------------------------------
def _runs(mask: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Run lengths of `mask` in column-major order, starting with a run of background (possibly 0 long)."""
    flat = mask.ravel(order="F")
    if flat.size == 0:
        return np.zeros(1, np.int64)
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate(([0], changes, [flat.size])))
    if flat[0]:
        counts = np.concatenate(([0], counts))
    return counts.astype(np.int64, copy=False)


def _pack(counts: NDArray[np.int64]) -> str:
    """COCO's ``rleToString``: each count (from the fourth on, minus the count two before) as 6-bit chunks."""
    values = counts.copy()
    values[3:] -= counts[1:-2]  # the COCO API starts the deltas at index 3 (``if (i > 2)``), not 2
    chars: list[str] = []
    for x in values.tolist():
        more = True
        while more:
            c = x & 0x1F
            x >>= 5  # arithmetic shift, as on the C ``long``
            more = x != -1 if c & 0x10 else x != 0
            chars.append(chr((c | 0x20 if more else c) + 48))
    return "".join(chars)


def _unpack(text: str) -> list[int]:
    """COCO's ``rleFrString``: the inverse of :func:`_pack`; raises MaskError on a corrupt string."""
    counts: list[int] = []
    x = shift = 0
    for char in text:
        c = ord(char) - 48
        if not 0 <= c < 64:
            raise MaskError(f"RLE counts hold {char!r}, which is not a COCO RLE character ('0' to 'o')")
        x |= (c & 0x1F) << shift
        shift += 5
        if c & 0x20:
            continue
        if c & 0x10:
            x |= -1 << shift
        if len(counts) > 2:
            x += counts[-2]
        if x < 0:
            raise MaskError("RLE counts decode to a negative run length; the string is corrupt")
        counts.append(x)
        x = shift = 0
    if shift:
        raise MaskError("RLE counts end in the middle of a run length; the string is truncated")
    return counts


def _size_and_counts(rle: RLE) -> tuple[int, int, list[int]]:
    """Check an RLE dict; return ``(H, W, counts)`` with the counts as plain ints."""
    try:
        size, counts = rle["size"], rle["counts"]
        height, width = (int(v) for v in size)
    except (KeyError, TypeError, ValueError):
        raise MaskError('an RLE is a dict {"size": [H, W], "counts": str or list of int}') from None
    if height < 0 or width < 0:
        raise ShapeError(f"RLE size {[height, width]} is negative", expected="[H, W] >= 0", actual=(height, width))
    if isinstance(counts, bytes):
        counts = counts.decode("ascii", errors="replace")
    if isinstance(counts, str):
        runs = _unpack(counts)
    else:
        runs = [int(v) for v in counts]
        if any(v < 0 for v in runs):
            raise MaskError("RLE counts hold a negative run length")
    if sum(runs) != height * width:
        raise ShapeError(
            f"RLE counts cover {sum(runs)} pixels but its size {height}x{width} (HxW) has {height * width}",
            expected=f"{height * width} pixels",
            actual=(height, width),
        )
    return height, width, runs


def encode_rle(mask: ArrayLike) -> RLE:
    """Compressed COCO RLE of a mask.

    Parameters
    ----------
    mask : (H, W) bool or integer array_like
        ``True`` / non-zero = object. Any memory layout.

    Returns
    -------
    dict
        ``{"size": [H, W], "counts": str}``, equal to
        ``pycocotools.mask.encode(np.asfortranarray(mask.astype(np.uint8)))``
        with ``counts`` decoded to ``str``.

    Raises
    ------
    ShapeError
        If `mask` is not 2-D.
    DTypeError
        If `mask` is neither bool nor integer.

    Examples
    --------
    >>> encode_rle(np.array([[0, 1], [1, 1]], bool))
    {'size': [2, 2], 'counts': '13'}
    >>> encode_rle(np.zeros((3, 3), bool))
    {'size': [3, 3], 'counts': '9'}
    """
    mask = check_mask(mask, empty=True)
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": _pack(_runs(mask))}


def decode_rle(rle: RLE) -> NDArray[np.bool_]:
    """The mask of a COCO RLE.

    Parameters
    ----------
    rle : dict
        ``{"size": [H, W], "counts": ...}`` with compressed counts (``str`` or
        ``bytes``, as :func:`encode_rle` and pycocotools give) or uncompressed
        counts (a list of run lengths, column-major, starting with background).

    Returns
    -------
    (H, W) bool ndarray
        C-contiguous; ``True`` = object.

    Raises
    ------
    MaskError
        If `rle` is not such a dict or its counts string is corrupt.
    ShapeError
        If the run lengths do not add up to ``H * W``.

    Examples
    --------
    >>> decode_rle({"size": [2, 2], "counts": [1, 3]}).tolist()
    [[False, True], [True, True]]
    """
    height, width, runs = _size_and_counts(rle)
    values = np.arange(len(runs)) % 2 == 1
    flat = np.repeat(values, np.asarray(runs, np.int64))
    return np.ascontiguousarray(flat.reshape((height, width), order="F"))


def mask_area(rle: RLE) -> int:
    """Number of object pixels of a COCO RLE, as ``pycocotools.mask.area``.

    Parameters
    ----------
    rle : dict
        Compressed or uncompressed RLE (see :func:`decode_rle`).

    Returns
    -------
    int

    Examples
    --------
    >>> mask_area({"size": [2, 2], "counts": "13"})
    3
    """
    return int(sum(_size_and_counts(rle)[2][1::2]))


def mask_box(mask: ArrayLike) -> list[float]:
    """Bounding box of the object pixels as COCO defines it (``pycocotools.mask.toBbox``).

    Parameters
    ----------
    mask : (H, W) bool or integer array_like
        ``True`` / non-zero = object.

    Returns
    -------
    list of float
        ``[x, y, width, height]`` in pixels, `x` along W; the box covers whole
        pixels, so a single pixel at ``(row, col)`` gives ``[col, row, 1, 1]``.
        ``[0.0, 0.0, 0.0, 0.0]`` for an empty mask.

    Examples
    --------
    >>> mask_box(np.array([[0, 0, 0], [0, 1, 1]]))
    [1.0, 1.0, 2.0, 1.0]
    >>> mask_box(np.zeros((2, 2), bool))
    [0.0, 0.0, 0.0, 0.0]
    """
    mask = check_mask(mask, empty=True)
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return [0.0, 0.0, 0.0, 0.0]
    cols = np.flatnonzero(mask.any(axis=0))
    return [float(cols[0]), float(rows[0]), float(cols[-1] - cols[0] + 1), float(rows[-1] - rows[0] + 1)]


# --------------------------------------------------------------------------
# streaming writer
# --------------------------------------------------------------------------
def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class CocoWriter:
    """Writes the per-frame masks of a video as one COCO JSON file, in constant memory.

    Annotations are written to a hidden temporary file beside `path` as they
    come and the image entries to a second (anonymous) temporary file; :meth:`close`
    appends the images to the first and renames it to `path`, so the file
    appears only when complete. Leaving a ``with`` block normally closes the
    writer, leaving it on an exception aborts it (nothing is left behind).

    The finished file is a standard COCO dict, read by ``json.load`` and
    ``pycocotools.coco.COCO``::

        {"info": {"description", "video_name", "version", "date_created"},
         "categories": [{"id", "name"}, ...],            ids 1, 2, ... in the order given
         "annotations": [{"id", "image_id", "category_id",
                          "segmentation": {"size": [H, W], "counts": str},
                          "area", "bbox": [x, y, w, h], "iscrowd": 0,
                          "track_id" (if given), "score" (if given)}, ...],
         "images": [{"id", "file_name", "width", "height", "frame_index"}, ...]}

    An image's id is its ``frame_index + 1``; annotation ids count from 1.

    Parameters
    ----------
    path : str or Path
        The JSON file to write. Its folder must exist; an existing file is
        replaced at :meth:`close`.
    width, height : int
        Frame size in pixels; every mask must be ``(height, width)``.
    categories : list of str
        Category names (at least one, no repeats).
    video_name : str
        Name of the video, recorded in ``info``.

    Raises
    ------
    OutputError
        If `path` is a folder or its folder is missing or not writable.
    ValueError
        If the size is not positive or `categories` is empty or repeats a name.

    Notes
    -----
    Only the set of frame indices seen so far is kept in memory (to write one
    image entry per frame). Annotations are ``iscrowd: 0`` with an RLE
    segmentation, which pycocotools and most COCO readers accept (older tools
    that expect polygons for ``iscrowd: 0`` may not).
    """

    def __init__(self, path: str | Path, *, width: int, height: int, categories: list[str], video_name: str) -> None:
        self.path = Path(path)
        if int(width) < 1 or int(height) < 1:
            raise ValueError(f"frame size {width}x{height} (WxH) must be at least 1x1")
        names = [str(name) for name in categories]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"categories {names!r} must be a non-empty list of distinct names")
        self.width, self.height = int(width), int(height)
        self.categories = names
        self.video_name = str(video_name)
        self.images_written = 0
        self.annotations_written = 0
        self._category_ids = {name: index + 1 for index, name in enumerate(names)}
        self._frames: set[int] = set()
        self._closed = False
        if self.path.is_dir():
            raise OutputError(f"cannot write COCO file {str(self.path)!r}: it is a folder")
        parent = self.path.absolute().parent
        self._tmp = parent / f".{self.path.name}.{uuid.uuid4().hex[:12]}.partial"
        self._file: TextIO | None = None
        self._images: TextIO | None = None
        self._created = False
        try:
            # os.open with 0o666 lets the umask set the final file's mode (mkstemp would make it 0600)
            descriptor = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            self._created = True
            self._file = open(descriptor, "w", encoding="utf-8")
            self._images = tempfile.TemporaryFile("w+", encoding="utf-8", dir=parent, prefix=f".{self.path.name}.")
            self._file.write(
                f'{{"info":{_dumps(self._info())},"categories":{_dumps(self._category_list())},"annotations":['
            )
        except OSError as error:
            self.abort()
            raise OutputError(f"cannot write COCO file {str(self.path)!r}: {error.strerror or error}") from None

    def _info(self) -> dict[str, Any]:
        import flowseg  # here, not at the top: flowseg/__init__ may import this module

        return {
            "description": f"flowseg masks of {self.video_name}",
            "video_name": self.video_name,
            "version": str(getattr(flowseg, "__version__", "")),
            "date_created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    def _category_list(self) -> list[dict[str, Any]]:
        return [{"id": index, "name": name} for name, index in self._category_ids.items()]

    def __enter__(self) -> CocoWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()
        elif not self._closed:
            self.close()

    def add(
        self,
        frame_index: int,
        file_name: str,
        mask: ArrayLike,
        category: str | None = None,
        track_id: int | None = None,
        score: float | None = None,
    ) -> None:
        """Add one mask of one frame.

        The first call for a `frame_index` writes its image entry (later calls
        for the same frame add annotations to it; their `file_name` is not
        used). An empty mask writes the image entry and no annotation.

        Parameters
        ----------
        frame_index : int
            Zero-based frame number (>= 0); the image id is ``frame_index + 1``.
        file_name : str
            The frame's file name, recorded in the image entry.
        mask : (H, W) bool or integer array_like
            ``True`` / non-zero = object; ``(height, width)`` of the writer.
        category : str, optional
            One of the writer's categories; the first when omitted.
        track_id : int, optional
            Object identity across frames, written as ``track_id``.
        score : float, optional
            Confidence, written as ``score``; must be finite.

        Raises
        ------
        ShapeError
            If `mask` is not ``(height, width)``.
        DTypeError
            If `mask` is neither bool nor integer.
        UnknownTargetError
            If `category` is not one of the writer's categories.
        ValueError
            If `frame_index` is negative or `score` is not finite.
        OutputError
            If the writer is closed or the temporary files cannot be written
            (the writer is then aborted).
        """
        if self._closed:
            raise OutputError(f"COCO file {str(self.path)!r} is already closed or aborted")
        mask = check_mask(mask, empty=True)
        if mask.shape != (self.height, self.width):
            raise ShapeError(
                f"mask of frame {frame_index} has shape {mask.shape}; expected (H, W) = {(self.height, self.width)}",
                expected=f"(H, W) = {(self.height, self.width)}",
                actual=mask.shape,
            )
        category = self.categories[0] if category is None else category
        if category not in self._category_ids:
            raise UnknownTargetError(f"category {category!r} is not one of {self.categories!r}")
        frame_index = int(frame_index)
        if frame_index < 0:
            raise ValueError(f"frame_index {frame_index} must be >= 0")
        if score is not None and not math.isfinite(float(score)):
            raise ValueError(f"score {score!r} must be a finite number")
        image_id = frame_index + 1
        lines = []
        if frame_index not in self._frames:
            image = {"id": image_id, "file_name": str(file_name), "width": self.width, "height": self.height,
                     "frame_index": frame_index}
            lines.append((self._images, image, self.images_written))
        annotation: dict[str, Any] | None = None
        if mask.any():
            rle = encode_rle(mask)
            annotation = {
                "id": self.annotations_written + 1,
                "image_id": image_id,
                "category_id": self._category_ids[category],
                "segmentation": rle,
                "area": int(np.count_nonzero(mask)),
                "bbox": mask_box(mask),
                "iscrowd": 0,
            }
            if track_id is not None:
                annotation["track_id"] = int(track_id)
            if score is not None:
                annotation["score"] = float(score)
            lines.append((self._file, annotation, self.annotations_written))
        try:
            for file, entry, count in lines:
                file.write(("," if count else "") + _dumps(entry) + "\n")
        except OSError as error:
            self.abort()
            raise OutputError(f"cannot write COCO file {str(self.path)!r}: {error.strerror or error}") from None
        if frame_index not in self._frames:
            self._frames.add(frame_index)
            self.images_written += 1
        if annotation is not None:
            self.annotations_written += 1

    def close(self) -> Path:
        """Finish the JSON and rename it to `path`.

        Returns
        -------
        Path
            The finished file.

        Raises
        ------
        OutputError
            If it cannot be finished (the writer is then aborted) or the writer
            was already closed or aborted.
        """
        if self._closed:
            raise OutputError(f"COCO file {str(self.path)!r} is already closed or aborted")
        try:
            self._file.write('],"images":[')
            self._images.seek(0)
            shutil.copyfileobj(self._images, self._file)
            self._file.write("]}\n")
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self._tmp, self.path)
            self._created = False
        except OSError as error:
            self.abort()
            raise OutputError(f"cannot finish COCO file {str(self.path)!r}: {error.strerror or error}") from None
        self._images.close()
        self._closed = True
        return self.path

    def abort(self) -> None:
        """Delete the temporary files; `path` is left as it was. Safe to call more than once."""
        self._closed = True
        for file in (self._file, self._images):
            if file is not None:
                try:
                    file.close()
                except OSError:
                    pass
        if self._created:
            try:
                os.unlink(self._tmp)
            except OSError:
                pass
            self._created = False
