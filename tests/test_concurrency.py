"""Background decoding and writing: order kept, bounded, errors raised where the caller can see them."""

from __future__ import annotations

import threading
import time
from typing import Iterator

import pytest

from flowseg._concurrency import BackgroundWorker, configure_threads, prefetch, usable_cores


class TestPrefetch:
    def test_order_is_kept(self) -> None:
        assert list(prefetch(iter(range(50)), depth=3)) == list(range(50))

    def test_runs_at_most_depth_ahead(self) -> None:
        produced: list[int] = []

        def items() -> Iterator[int]:
            for i in range(100):
                produced.append(i)
                yield i

        stream = prefetch(items(), depth=2)
        assert next(stream) == 0
        time.sleep(0.2)
        # One handed out, two waiting in the queue, one blocked on put.
        assert len(produced) <= 4
        stream.close()

    def test_error_is_raised_at_its_position(self) -> None:
        def items() -> Iterator[int]:
            yield 1
            yield 2
            raise OSError("frame 2 is corrupt")

        seen = []
        with pytest.raises(OSError, match="frame 2 is corrupt"):
            for item in prefetch(items()):
                seen.append(item)
        assert seen == [1, 2]

    def test_stopping_early_ends_the_thread(self) -> None:
        before = threading.active_count()
        for item in prefetch(iter(range(1000)), depth=1):
            if item == 3:
                break
        assert threading.active_count() == before

    def test_bad_depth(self) -> None:
        with pytest.raises(ValueError, match="depth is 0; expected at least 1"):
            next(prefetch([1], depth=0))


class TestBackgroundWorker:
    def test_calls_run_in_order(self) -> None:
        done: list[int] = []
        with BackgroundWorker(done.append, depth=2) as worker:
            for i in range(20):
                worker.submit(i)
        assert done == list(range(20))

    def test_error_reaches_the_caller(self) -> None:
        def write(i: int) -> None:
            if i == 2:
                raise PermissionError("output folder is read-only")

        worker = BackgroundWorker(write)
        with pytest.raises(PermissionError, match="read-only"):
            for i in range(100):
                worker.submit(i)
                time.sleep(0.001)
            worker.join()

    def test_error_in_the_caller_wins(self) -> None:
        with pytest.raises(KeyError):
            with BackgroundWorker(lambda i: 1 / 0) as worker:
                worker.submit(1)
                raise KeyError("the caller's own error")


def test_threads_match_the_cores() -> None:
    import cv2

    assert configure_threads() == usable_cores() >= 1
    assert cv2.getNumThreads() == usable_cores()
