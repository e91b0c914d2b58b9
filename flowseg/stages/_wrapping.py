"""The base of stages that run a semantics stage inside them and need the flow."""

from __future__ import annotations

from ..types import Stage

__all__ = ["SemanticsWrapper"]


class SemanticsWrapper:
    """Holds the wrapped semantics stage and passes its keys and names through.

    Parameters
    ----------
    semantics : Stage
        A stage that provides ``"evidence"`` from the image alone, such as
        :class:`~flowseg.stages.SemanticSegmenter`.

    Attributes
    ----------
    requires : tuple of str
        ``("flow_bwd", "flow_confidence")``, and whatever `semantics` requires.
    target, model_used
        Those of `semantics` (None where it has none).
    """

    def __init__(self, semantics: Stage) -> None:
        if "evidence" not in semantics.provides:
            raise ValueError(f"{type(semantics).__name__} provides no 'evidence'; expected a semantics stage")
        self.requires: tuple[str, ...] = ("flow_bwd", "flow_confidence", *semantics.requires)
        self.target = getattr(semantics, "target", None)
        self.model_used = getattr(semantics, "model_used", None)
        self._semantics = semantics

    @property
    def semantics(self) -> Stage:
        """The wrapped semantics stage."""
        return self._semantics
