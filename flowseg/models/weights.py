"""Registry of the torchvision models flowseg can use, and their checked loading.

Weights are looked for, in order, at an explicit path, in the folder named by
the environment variable ``FLOWSEG_WEIGHTS_DIR``, and in torchvision's cache
(``torch.hub.get_dir()/checkpoints``). Only when asked (``download=True``) are
they fetched through torchvision's weights API. Every file is checked against
its SHA-256 before ``torch.load(..., weights_only=True)`` reads it.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import ConfigError, WeightsError

__all__ = [
    "WEIGHTS",
    "WeightsSpec",
    "build_model",
    "find_weights_file",
    "load_state_dict",
    "weights_search_dirs",
]

WEIGHTS_DIR_ENV = "FLOWSEG_WEIGHTS_DIR"
"""Environment variable naming a folder that holds weights files under their official names."""


@dataclass(frozen=True)
class WeightsSpec:
    """One set of official torchvision weights.

    Attributes
    ----------
    name : str
        The model name used by flowseg (``"deeplabv3_mobilenet_v3_large"``).
    kind : str
        ``"segmentation"`` or ``"flow"``.
    builder : str
        Name of the torchvision builder function.
    enum : str
        Dotted name of the torchvision weights entry, e.g.
        ``"segmentation.DeepLabV3_MobileNet_V3_Large_Weights.DEFAULT"``.
    url : str
        Where torchvision downloads the file from.
    sha256 : str
        SHA-256 hex digest of the official file. Where the full digest is not
        published, the prefix torchvision puts in the file name (torch.hub's
        convention), which is then compared as a prefix.
    license : str
        Licence of the weights.
    builder_kwargs : mapping
        Keyword arguments that make the architecture match the checkpoint.
    metrics : mapping
        Published accuracy of these weights on a named dataset.
    """

    name: str
    kind: str
    builder: str
    enum: str
    url: str
    sha256: str
    license: str = "BSD-3-Clause (torchvision)"
    builder_kwargs: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)

    @property
    def filename(self) -> str:
        """The official file name, e.g. ``deeplabv3_mobilenet_v3_large-fc3c493d.pth``."""
        return self.url.rsplit("/", 1)[-1]


_DOWNLOAD = "https://download.pytorch.org/models/"
_SEG_KWARGS = {"num_classes": 21, "aux_loss": True}

WEIGHTS: dict[str, WeightsSpec] = {
    spec.name: spec
    for spec in (
        WeightsSpec(
            "deeplabv3_mobilenet_v3_large", "segmentation", "segmentation.deeplabv3_mobilenet_v3_large",
            "segmentation.DeepLabV3_MobileNet_V3_Large_Weights.DEFAULT",
            _DOWNLOAD + "deeplabv3_mobilenet_v3_large-fc3c493d.pth",
            "fc3c493d68e89cc31ef488c803d5d7dd2f3190fb570598faa49fef69be8e5e70",
            builder_kwargs=_SEG_KWARGS, metrics={"COCO-val2017-VOC-labels": {"miou": 60.3, "pixel_acc": 91.2}},
        ),
        WeightsSpec(
            "deeplabv3_resnet50", "segmentation", "segmentation.deeplabv3_resnet50",
            "segmentation.DeepLabV3_ResNet50_Weights.DEFAULT",
            _DOWNLOAD + "deeplabv3_resnet50_coco-cd0a2569.pth",
            "cd0a25694c4a0f7106b38f4938bf90a874f2f241cc410b8f63c7024399538f06",
            builder_kwargs=_SEG_KWARGS, metrics={"COCO-val2017-VOC-labels": {"miou": 66.4, "pixel_acc": 92.4}},
        ),
        WeightsSpec(
            "deeplabv3_resnet101", "segmentation", "segmentation.deeplabv3_resnet101",
            "segmentation.DeepLabV3_ResNet101_Weights.DEFAULT",
            _DOWNLOAD + "deeplabv3_resnet101_coco-586e9e4e.pth",
            "586e9e4e203fcbf17e1ad45533d8d33ab133fc762bf03101c5dd743995c08c0d",
            builder_kwargs=_SEG_KWARGS, metrics={"COCO-val2017-VOC-labels": {"miou": 67.4, "pixel_acc": 92.4}},
        ),
        WeightsSpec(
            "raft_small", "flow", "optical_flow.raft_small", "optical_flow.Raft_Small_Weights.DEFAULT",
            _DOWNLOAD + "raft_small_C_T_V2-01064c6d.pth",
            "01064c6dba73b0fc9fc8edf772248560a00a3acfd62ac6677e9eeebad9680e27",
            metrics={"Sintel-Train-Cleanpass": {"epe": 1.9901}, "Sintel-Train-Finalpass": {"epe": 3.2831}},
        ),
        WeightsSpec(
            "raft_large", "flow", "optical_flow.raft_large", "optical_flow.Raft_Large_Weights.DEFAULT",
            _DOWNLOAD + "raft_large_C_T_SKHT_V2-ff5fadd5.pth",
            "ff5fadd5",
            metrics={"Sintel-Test-Cleanpass": {"epe": 1.3822}, "Sintel-Test-Finalpass": {"epe": 2.7161}},
        ),
    )
}


def _spec(name: str) -> WeightsSpec:
    try:
        return WEIGHTS[name]
    except KeyError:
        valid = ", ".join(sorted(WEIGHTS))
        raise ConfigError(f"unknown model {name!r}; valid models: {valid}") from None


def weights_search_dirs() -> list[Path]:
    """Folders searched for weights files, in order.

    Returns
    -------
    list of Path
        ``$FLOWSEG_WEIGHTS_DIR`` when set, then torchvision's checkpoint cache.
    """
    dirs = []
    if os.environ.get(WEIGHTS_DIR_ENV):
        dirs.append(Path(os.environ[WEIGHTS_DIR_ENV]).expanduser())
    dirs.append(_torch_hub_dir() / "checkpoints")
    return dirs


def _torch_hub_dir() -> Path:
    """``torch.hub.get_dir()`` without importing torch (about 0.5 GB resident).

    torch's rule: ``$TORCH_HOME/hub``, else ``$XDG_CACHE_HOME/torch/hub``, else
    ``~/.cache/torch/hub``. A directory set by ``torch.hub.set_dir`` in an
    already imported torch wins.
    """
    if "torch" in sys.modules:
        return Path(sys.modules["torch"].hub.get_dir())
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "torch"
    )
    return Path(torch_home).expanduser() / "hub"


def find_weights_file(name: str) -> Path | None:
    """Return the local weights file of model `name`, or None when it is not on this machine."""
    spec = _spec(name)
    for folder in weights_search_dirs():
        candidate = folder / spec.filename
        if candidate.is_file():
            return candidate
    return None


def _missing_message(spec: WeightsSpec, reason: str) -> str:
    where = " or ".join(str(d) for d in weights_search_dirs())
    return (
        f"weights file {spec.filename} for {spec.name} {reason}; download it from {spec.url} "
        f"and put it in {where} (or set {WEIGHTS_DIR_ENV}, or pass --weights PATH)"
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(spec: WeightsSpec, progress: bool) -> Path:
    """Fetch the file through torchvision's weights API into its cache."""
    import importlib

    import torch.hub

    module_name, enum_name, member = spec.enum.rsplit(".", 2)
    enum = getattr(importlib.import_module(f"torchvision.models.{module_name}"), enum_name)
    try:
        getattr(enum, member).get_state_dict(progress=progress, check_hash=True)
    except Exception as exc:  # network errors come in many types
        reason = f"is not on this machine and could not be downloaded ({type(exc).__name__}: {exc})"
        raise WeightsError(_missing_message(spec, reason)) from None
    return Path(torch.hub.get_dir()) / "checkpoints" / spec.filename


def load_state_dict(
    name: str,
    *,
    path: str | os.PathLike[str] | None = None,
    sha256: str | None = None,
    download: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Load the checked state dict of model `name`.

    Parameters
    ----------
    name : str
        A key of :data:`WEIGHTS`.
    path : path-like, optional
        An explicit weights file. Default: search :func:`weights_search_dirs`.
    sha256 : str, optional
        Expected SHA-256 hex digest (or prefix). Default: the official file's.
    download : bool
        Fetch the official file through torchvision when it is not found locally.
    progress : bool
        Show torchvision's download progress bar.

    Returns
    -------
    dict
        The state dict, read with ``torch.load(..., weights_only=True)``.

    Raises
    ------
    WeightsError
        If the file is missing (and not downloaded), its hash does not match,
        or it cannot be read as a state dict.
    ConfigError
        If `name` is not a registered model.
    """
    spec = _spec(name)
    expected = (sha256 or spec.sha256).lower()
    if path is not None:
        file = Path(path).expanduser()
        if not file.is_file():
            raise WeightsError(f"weights file {file} for {spec.name} does not exist; official file: {spec.url}")
    else:
        found = find_weights_file(name)
        if found is None and not download:
            raise WeightsError(_missing_message(spec, "is not on this machine"))
        file = found if found is not None else _download(spec, progress)
    actual = _sha256(file)
    if not actual.startswith(expected):
        raise WeightsError(
            f"weights file {file} has SHA-256 {actual}, expected {expected} for {spec.name}; "
            f"the file is corrupt or not the right one (official file: {spec.url})"
        )
    import torch

    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"weights file {file} cannot be read as a state dict ({exc})") from None
    if not isinstance(state, dict):
        raise WeightsError(f"weights file {file} holds a {type(state).__name__}, not a state dict")
    return state


def build_model(name: str, *, state_dict: Mapping[str, Any] | None = None) -> Any:
    """Build the torchvision architecture of model `name`, in eval mode.

    Parameters
    ----------
    name : str
        A key of :data:`WEIGHTS`.
    state_dict : mapping, optional
        Weights to load strictly. None keeps the random initialisation (no
        network access).

    Returns
    -------
    torch.nn.Module
    """
    import importlib

    spec = _spec(name)
    module_name, fn_name = spec.builder.rsplit(".", 1)
    builder = getattr(importlib.import_module(f"torchvision.models.{module_name}"), fn_name)
    model = builder(weights=None, **({"weights_backbone": None} if spec.kind == "segmentation" else {}), **spec.builder_kwargs)
    if state_dict is not None:
        try:
            model.load_state_dict(state_dict)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise WeightsError(f"weights do not fit {spec.name}: {first}") from None
    return model.eval()
