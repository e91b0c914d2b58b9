"""Overlapping decoding, segmenting and writing: bounded queues between threads.

OpenCV, numpy and torch release the GIL in their heavy calls, so a decoder
thread and a writer thread run beside the pipeline on other cores. The
queues are bounded, so memory stays flat however long the video is.
"""

from __future__ import annotations

import os
import queue
import threading
from typing import Any, Callable, Iterable, Iterator, TypeVar

__all__ = ["usable_cores", "configure_threads", "prefetch", "BackgroundWorker"]

_T = TypeVar("_T")
_DONE = object()


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def configure_threads() -> int:
    """Give OpenCV, and torch where it is loaded, one thread per usable core.

    Returns
    -------
    int
        The thread count set.
    """
    import sys

    import cv2

    cores = usable_cores()
    cv2.setNumThreads(cores)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(cores)
    return cores


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(items: Iterable[_T], depth: int = 4) -> Iterator[_T]:
    """Iterate over `items` in a background thread, at most `depth` items ahead.

    Parameters
    ----------
    items : iterable
        Produced in the background thread (e.g. a video decoder).
    depth : int
        Largest number of items waiting to be consumed (>= 1).

    Yields
    ------
    The items, in order. An exception raised while producing them is raised
    here, at the position it occurred.

    Examples
    --------
    >>> list(prefetch(range(5), depth=2))
    [0, 1, 2, 3, 4]
    """
    if depth < 1:
        raise ValueError(f"depth is {depth}; expected at least 1")
    buffer: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(_DONE)
        except BaseException as error:  # handed to the consumer, raised there
            buffer.put(_Failure(error))

    thread = threading.Thread(target=produce, name="flowseg-prefetch", daemon=True)
    thread.start()
    try:
        while (item := buffer.get()) is not _DONE:
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()


class BackgroundWorker:
    """Run calls of one function, in order, in a background thread.

    Parameters
    ----------
    function : callable
        Called as ``function(*args)`` for each :meth:`submit`.
    depth : int
        Largest number of calls waiting (>= 1); :meth:`submit` blocks beyond it.

    Notes
    -----
    The first exception raised by `function` stops the worker; it is raised
    again by the next :meth:`submit` or by :meth:`join`. Use as a context
    manager, or call :meth:`join` at the end.
    """

    def __init__(self, function: Callable[..., Any], depth: int = 4) -> None:
        if depth < 1:
            raise ValueError(f"depth is {depth}; expected at least 1")
        self._function = function
        self._calls: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="flowseg-writer", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while (args := self._calls.get()) is not _DONE:
            if self._error is None:
                try:
                    self._function(*args)
                except BaseException as error:  # raised again in the submitting thread
                    self._error = error

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, *args: Any) -> None:
        """Queue ``function(*args)``; raise the worker's error if one occurred."""
        self._raise_error()
        self._calls.put(args)

    def join(self) -> None:
        """Wait for every queued call; raise the worker's error if one occurred."""
        self._stop()
        self._raise_error()

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._calls.put(_DONE)
            self._thread.join()

    def __enter__(self) -> BackgroundWorker:
        return self

    def __exit__(self, exc_type: Any, *exc_info: Any) -> None:
        if exc_type is None:
            self.join()
        else:  # an error is already on its way: finish quietly
            self._stop()
