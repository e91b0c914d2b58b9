"""Arrays kept in a temporary file instead of memory, for a pass that must hold something of every frame it reads.

A backward pass from a frame marked late in a long video reads every frame
before it first: those frames, and what the pass gives each of them, wait on
disk until the forward pass reaches them, so memory stays flat however long
the video is.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from types import TracebackType
from typing import Iterator

import numpy as np

from .errors import OutputError

__all__ = ["SpilledArrays", "ensure_room"]


def ensure_room(nbytes: int, purpose: str) -> None:
    """Raise :class:`~flowseg.OutputError` now, rather than when the disk fills, where the temporary folder has
    less than `nbytes` free for `purpose` (a phrase: what will be written there).

    Examples
    --------
    >>> ensure_room(1, "one byte")
    """
    folder = tempfile.gettempdir()
    free = shutil.disk_usage(folder).free
    if nbytes > free:
        raise OutputError(f"{purpose} needs about {_megabytes(nbytes)} in the temporary folder {folder}, which has "
                          f"{_megabytes(free)} free: point TMPDIR at a larger disk")


def _megabytes(nbytes: int) -> str:
    return f"{nbytes / 1e6:,.1f} MB"


class SpilledArrays:
    """A list of arrays of one shape and dtype, kept in a temporary file (in the system's temporary folder, as
    :func:`tempfile.TemporaryFile` places it): appended in order, read back by index.

    The disk holds ``nbytes`` per array (1.2 MB for an 854x480 RGB frame, 6.2
    MB for 1920x1080); memory holds none of them. Safe to read from one thread
    while another appends. The file is deleted on :meth:`close` (or when the
    object is collected, or at exit).

    Examples
    --------
    >>> with SpilledArrays() as held:
    ...     for value in range(3):
    ...         held.append(np.full((2, 2), value, np.uint8))
    ...     len(held), int(held[1][0, 0]), [int(a[0, 0]) for a in reversed(held)]
    (3, 1, [2, 1, 0])
    """

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="flowseg-")
        self._shape: tuple[int, ...] | None = None
        self._dtype: np.dtype | None = None
        self._nbytes = 0  # of each array
        self._count = 0
        self._lock = threading.Lock()  # a seek and its read or write go together

    def append(self, array: np.ndarray) -> None:
        """Write `array` at the end.

        Raises
        ------
        ValueError
            For an array of another shape or dtype than the first.
        """
        array = np.ascontiguousarray(array)
        if self._shape is None:
            self._shape, self._dtype, self._nbytes = array.shape, array.dtype, array.nbytes
        elif array.shape != self._shape or array.dtype != self._dtype:
            raise ValueError(f"array is {array.dtype} {array.shape}; this list holds {self._dtype} {self._shape}")
        with self._lock:
            self._file.seek(self._count * self._nbytes)
            self._file.write(array.data)
            self._count += 1

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> np.ndarray:
        """The `index`-th array (negative: from the end), read-only."""
        if not -self._count <= index < self._count:
            raise IndexError(f"index {index} is out of range for {self._count} arrays")
        with self._lock:
            self._file.seek(index % self._count * self._nbytes)
            data = self._file.read(self._nbytes)
        return np.frombuffer(data, self._dtype).reshape(self._shape)

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[index] for index in range(self._count))

    def __reversed__(self) -> Iterator[np.ndarray]:
        return (self[index] for index in range(self._count - 1, -1, -1))

    def close(self) -> None:
        """Delete the file; the arrays can no longer be read."""
        self._file.close()

    def __enter__(self) -> SpilledArrays:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
