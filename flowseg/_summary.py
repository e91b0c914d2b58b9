"""What every ``summary.json`` shares: JSON-safe values and where and when the run was made."""

from __future__ import annotations

import platform
from datetime import datetime, timezone
from typing import Any

__all__ = ["json_safe", "provenance"]


def json_safe(value: Any) -> Any:
    """`value` with tuples as lists and anything JSON cannot hold as its ``str``."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def provenance() -> dict[str, str]:
    """``"flowseg_version"``, ``"created"`` (UTC, ISO 8601) and ``"machine"`` of the run."""
    from . import __version__

    return {
        "flowseg_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.system()}, Python {platform.python_version()}",
    }
