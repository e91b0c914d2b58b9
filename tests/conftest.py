"""Shared fixtures: the real-data finder, a synthetic moving clip, a machine without weights, a CLI runner, a
Ctrl-C check, an ERROR-log guard."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from synthetic import moving_object_clip

REPO_ROOT = Path(__file__).resolve().parents[1]

SHARED_ENV = "FLOWSEG_SHARED"
"""Environment variable naming the ``shared`` folder (the one that holds ``data/``)."""


def _shared_dir() -> Path:
    """``$FLOWSEG_SHARED`` when set, else ``../shared`` beside the repository root."""
    env = os.environ.get(SHARED_ENV)
    return Path(env).expanduser() if env else REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def davis_root() -> Path:
    """The DAVIS-2016 folder (``JPEGImages/480p``, ``Annotations/480p``); skips the test when absent."""
    root = _shared_dir() / "data" / "davis2016"
    if not (root / "JPEGImages" / "480p").is_dir() or not (root / "Annotations" / "480p").is_dir():
        pytest.skip(
            f"DAVIS-2016 data not found at {root} (needs JPEGImages/480p and Annotations/480p); "
            f"set {SHARED_ENV} to the folder that holds data/davis2016"
        )
    return root


@pytest.fixture(scope="session")
def moving_clip() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Four 96x128 frames of a textured square moving (+3, -2) px a frame, and its true masks.

    The arrays are read-only: tests share them.
    """
    frames, masks = moving_object_clip(4, shift=(3, -2))
    for array in (*frames, *masks):
        array.flags.writeable = False
    return frames, masks


@pytest.fixture
def no_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A machine with no weights: empty ``$FLOWSEG_WEIGHTS_DIR`` and an empty torch hub.

    Returns the weights folder and the torch hub checkpoints folder, the two
    places flowseg looks for weights files.
    """
    weights_dir = tmp_path / "weights"
    torch_home = tmp_path / "torch_home"
    weights_dir.mkdir()
    torch_home.mkdir()
    monkeypatch.setenv("FLOWSEG_WEIGHTS_DIR", str(weights_dir))
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    return weights_dir, torch_home / "hub" / "checkpoints"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """A CLI runner with no DeepLabV3 weights in reach, so 'auto' means the embedded person model."""
    empty = tmp_path / "no-weights"
    empty.mkdir()
    monkeypatch.setenv("FLOWSEG_WEIGHTS_DIR", str(empty))
    monkeypatch.setenv("TORCH_HOME", str(empty))
    monkeypatch.delenv("FLOWSEG_DEBUG", raising=False)
    return CliRunner()


@pytest.fixture
def interruptible() -> None:
    """Skip where this process ignores Ctrl-C (SIGINT), as a background job of a shell script does: the programs it
    starts inherit that, so they cannot be interrupted."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        pytest.skip("SIGINT is ignored here (started as a background job), and so in the programs started")


@pytest.fixture(autouse=True)
def no_error_logs(caplog: pytest.LogCaptureFixture):
    """Fail any test during which anything logs at ERROR level or above."""
    yield
    errors = [r for r in caplog.get_records("call") if r.levelno >= logging.ERROR]
    if errors:
        pytest.fail("logged at ERROR level: " + "; ".join(r.getMessage() for r in errors))
