"""An answer for the last array asked about: a model's for a frame, or work on a frame's flow (several followed
objects ask about each frame in turn)."""

from __future__ import annotations

import threading
from typing import Callable, Generic, TypeVar

import numpy as np

from ..types import Image

__all__ = ["LastAnswer"]

Answer = TypeVar("Answer")


class LastAnswer(Generic[Answer]):
    """`compute(image)`, remembered for the last image (or other array): asked again about an equal one, the same
    answer.

    Asking about the same frame once per followed object then costs one
    comparison of the images (about 0.05 ms at 854x480), not a forward pass
    (13 ms for the person model). One question at a time: a network is not
    asked from two threads at once. The answer is shared: callers must not
    modify it.

    Examples
    --------
    >>> calls = []
    >>> mean = LastAnswer(lambda image: calls.append(1) or float(image.mean()))
    >>> image = np.ones((2, 2, 3), np.uint8)
    >>> mean(image), mean(image.copy()), len(calls)
    (1.0, 1.0, 1)
    """

    def __init__(self, compute: Callable[[Image], Answer]) -> None:
        self._compute = compute
        self._lock = threading.Lock()
        self._last: tuple[Image, Answer] | None = None

    def __call__(self, image: Image) -> Answer:
        with self._lock:
            last = self._last
            if last is not None and last[0].shape == image.shape and np.array_equal(last[0], image):
                return last[1]
            answer = self._compute(image)
            self._last = (image.copy(), answer)
            return answer
