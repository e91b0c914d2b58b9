"""Exception hierarchy.

Every error flowseg raises on bad input derives from :class:`FlowsegError` and
from the matching built-in, so ``except ValueError`` keeps working. The CLI maps
``FlowsegError`` to one line on stderr and exit status 2.
"""

from __future__ import annotations

__all__ = [
    "FlowsegError",
    "ShapeError",
    "DTypeError",
    "StageOrderError",
    "VideoOpenError",
    "WeightsError",
    "UnknownTargetError",
    "OutputError",
    "MaskError",
    "PromptError",
    "MissingDependencyError",
]


class FlowsegError(Exception):
    """Base class of every error flowseg raises on purpose."""


class ShapeError(FlowsegError, ValueError):
    """An array has the wrong shape.

    Attributes
    ----------
    expected : str
        The expected shape, in symbolic form such as ``"(H, W, 3)"``.
    actual : tuple of int
        The shape that arrived.
    """

    def __init__(self, message: str, *, expected: str = "", actual: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class DTypeError(FlowsegError, TypeError):
    """An array has the wrong dtype."""


class StageOrderError(FlowsegError, ValueError):
    """A stage needs a data key that no earlier stage provides."""


class VideoOpenError(FlowsegError, OSError):
    """A video file or image folder is missing, unreadable, corrupt or empty."""


class WeightsError(FlowsegError, RuntimeError):
    """Model weights are missing, corrupt or do not match their expected hash."""


class ConfigError(FlowsegError, ValueError):
    """A setting names something flowseg does not know (model, method, stage, device)."""


class UnknownTargetError(ConfigError):
    """A target class name is not one of the model's classes."""


class OutputError(FlowsegError, OSError):
    """An output location cannot be written."""


class MaskError(FlowsegError, ValueError):
    """An initial mask is empty, or its frame is not in the video."""


class PromptError(FlowsegError, ValueError):
    """A prompt (box, point, stroke) is malformed, marks nothing on the object, or lies outside its frame."""


class MissingDependencyError(FlowsegError, ImportError):
    """An optional package a feature needs is not installed (the message says how to install it)."""
