"""Semantics stage: per-frame probability that a pixel belongs to the target classes.

Two models sit behind one interface: torchvision DeepLabV3 (21 VOC classes) and
the embedded MediaPipe person model (class ``person`` only).
"""

from __future__ import annotations

import difflib
import weakref
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from .._validate import check_image
from ..errors import ConfigError, UnknownTargetError, WeightsError
from ..models._memo import LastAnswer
from ..models.person import PersonModel
from ..models.weights import WEIGHTS, _missing_message, build_model, find_weights_file, load_state_dict
from ..types import Frame, Image, ProbMap, StageOutput

__all__ = ["VOC_CLASSES", "DEEPLAB_MODELS", "PART_OF_A_FIND", "SemanticSegmenter", "is_part_of_a_larger_find",
           "resolve_targets", "resolve_device"]

VOC_CLASSES: tuple[str, ...] = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip
"""The 21 PASCAL VOC classes in DeepLabV3's output order (index 0 is background)."""

DEEPLAB_MODELS: tuple[str, ...] = tuple(name for name, spec in WEIGHTS.items() if spec.kind == "segmentation")
"""DeepLabV3 variants, fastest first."""

MODEL_CHOICES: tuple[str, ...] = ("auto", *DEEPLAB_MODELS, "selfie")
"""Values accepted by ``SemanticSegmenter(model=...)``."""

_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def resolve_targets(target: str | Sequence[str]) -> tuple[int, ...]:
    """VOC class indices of the target names.

    Parameters
    ----------
    target : str or sequence of str
        Class names, or one comma-separated string (``"person,horse"``).

    Returns
    -------
    tuple of int
        Indices into :data:`VOC_CLASSES`, in the order given.

    Raises
    ------
    UnknownTargetError
        For a name that is not a VOC class (the closest one is suggested), or
        for no name at all.

    Examples
    --------
    >>> resolve_targets("person,horse")
    (15, 13)
    """
    names = target.split(",") if isinstance(target, str) else list(target)
    names = [n.strip().lower() for n in names if n.strip()]
    if not names:
        raise UnknownTargetError("no target class given; name one of: " + ", ".join(VOC_CLASSES[1:]))
    indices = []
    for name in names:
        if name not in VOC_CLASSES[1:]:
            close = difflib.get_close_matches(name, VOC_CLASSES[1:], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UnknownTargetError(
                f"unknown target class {name!r}{hint}; valid classes: {', '.join(VOC_CLASSES[1:])} "
                "(or 'moving' for whatever moves, with no class model)"
            )
        indices.append(VOC_CLASSES.index(name))
    return tuple(indices)


def resolve_device(device: str) -> str:
    """Resolve ``"auto" | "cpu" | "cuda"`` to the torch device to use.

    Raises
    ------
    ConfigError
        For another value, or ``"cuda"`` on a machine without a CUDA device.
    """
    if device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"unknown device {device!r}; valid devices: auto, cpu, cuda")
    if device == "cpu":
        return "cpu"
    import torch

    has_cuda = torch.cuda.is_available()
    if device == "cuda" and not has_cuda:
        raise ConfigError("device 'cuda' was asked for but torch sees no CUDA device; use --device cpu")
    return "cuda" if has_cuda else "cpu"


class _DeepLab:
    """DeepLabV3 class probabilities: softmax over the 21 classes (the last frame's remembered)."""

    def __init__(self, name: str, *, weights: str | Path | None, sha256: str | None, device: str,
                 input_size: int) -> None:
        import torch

        state = load_state_dict(name, path=weights, sha256=sha256, download=weights is None)
        self._device = torch.device(device)
        self._model = build_model(name, state_dict=state).to(self._device)
        self._input_size = input_size
        self._softmax = LastAnswer(self._forward)
        self.description = f"{name} (torchvision DeepLabV3, VOC classes) on {device}"

    def _forward(self, image: Image):
        """``(1, 21, h, w)`` torch tensor: the class probabilities at the model's input size (shared: not to modify)."""
        import torch
        import torch.nn.functional as F

        h, w = image.shape[:2]
        scale = self._input_size / min(h, w)
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        x = torch.from_numpy((image.astype(np.float32) / 255.0 - _IMAGENET_MEAN) / _IMAGENET_STD)
        x = x.permute(2, 0, 1)[None].to(self._device)
        with torch.inference_mode():
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            return self._model(x)["out"].softmax(dim=1)

    def _to_frame(self, prob, shape: tuple[int, int]) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        with torch.inference_mode():
            prob = F.interpolate(prob, size=shape, mode="bilinear", align_corners=False)[0].clamp_(0.0, 1.0)
        return prob.cpu().numpy().astype(np.float32, copy=False)

    def predict(self, image: Image, targets: Sequence[int]) -> ProbMap:
        """``(H, W) float32``: the probability of any of the `targets` (VOC class indices)."""
        target = self._softmax(image)[:, list(targets)].sum(dim=1, keepdim=True)
        return self._to_frame(target, image.shape[:2])[0]

    def class_probabilities(self, image: Image) -> np.ndarray:
        """``(21, H, W) float32``: the probability of every VOC class."""
        return self._to_frame(self._softmax(image), image.shape[:2])


PART_OF_A_FIND: float = 0.1
"""An object less than this share of the regions a semantic model finds over it is a part of that find, or held by
it, not an object of its class (:func:`is_part_of_a_larger_find`).

Shares the person model gives: a ball in a juggler's hand 0.06 (``examples/juggle.mp4``); on the first frames of
the 34 DAVIS-2016 sequences, the least of an object it covers 0.17 (breakdance's dancer, whom it joins with the
crowd), and over all their frames 0.09 (flamingo, dance-jump, mallard-fly on a few frames). At a half, breakdance
and flamingo no longer counted as persons: breakdance's J&F went from 0.488 to 0.502, but its confidence no longer
ranked its frames (Spearman rank correlation with their true J 0.71 -> 0.31); at a tenth no DAVIS-2016 first
mask, true or from its box, changes class."""


def is_part_of_a_larger_find(mask: np.ndarray, found: np.ndarray) -> bool:
    """Whether `mask` is less than :data:`PART_OF_A_FIND` of the regions of `found` it overlaps.

    Parameters
    ----------
    mask : (H, W) bool ndarray
        An object.
    found : (H, W) bool ndarray
        What a model finds of a class (its probability above 0.5).

    Returns
    -------
    bool
        True where the 8-connected regions of `found` that hold a pixel of
        `mask` are more than ten times its pixels in them: the model sees
        the object as a small part of something larger, as the person model
        sees a ball in a juggler's hand. False where no region overlaps it.

    Examples
    --------
    >>> found = np.zeros((1, 40), bool); found[0, :30] = True
    >>> ball, person = np.arange(40) < 2, np.arange(40) < 25
    >>> is_part_of_a_larger_find(ball[None], found), is_part_of_a_larger_find(person[None], found)
    (True, False)
    """
    _, regions = cv2.connectedComponents(found.astype(np.uint8), connectivity=8)
    overlapped = np.unique(regions[mask & found])
    within = np.isin(regions, overlapped[overlapped > 0])
    return bool(np.count_nonzero(within & mask) < PART_OF_A_FIND * np.count_nonzero(within))


_BACKENDS: weakref.WeakValueDictionary[tuple, PersonModel | _DeepLab] = weakref.WeakValueDictionary()


def _shared_backend(model: str, weights: str | None, sha256: str | None, device: str,
                    input_size: int) -> PersonModel | _DeepLab:
    """The loaded model of one configuration, shared by every segmenter that uses it while any does.

    Several followed objects each have a segmenter (targets of their own)
    asking about the same frames: one model in memory, one forward pass per
    frame (the backends remember the last frame's answer).
    """
    if model != "selfie":
        device = resolve_device(device)
    key = (model,) if model == "selfie" else (model, weights, sha256, device, input_size)  # the person model has one
    backend = _BACKENDS.get(key)
    if backend is None:
        backend = PersonModel() if model == "selfie" else _DeepLab(model, weights=weights, sha256=sha256,
                                                                     device=device, input_size=input_size)
        _BACKENDS[key] = backend
    return backend


class SemanticSegmenter:
    """Per-frame target probability from a semantic segmentation model.

    Parameters
    ----------
    target : str or sequence of str
        VOC class name(s) of the object to segment, e.g. ``"person"``.
    model : {"auto", "deeplabv3_mobilenet_v3_large", "deeplabv3_resnet50", "deeplabv3_resnet101", "selfie"}
        ``"auto"`` uses ``deeplabv3_mobilenet_v3_large`` when its weights are on
        this machine, otherwise the embedded person model when the target is
        ``person``, otherwise raises :class:`WeightsError`.
    weights : path-like, optional
        DeepLabV3 weights file to use instead of the official one.
    sha256 : str, optional
        Expected SHA-256 of `weights` (default: the official file's).
    device : {"auto", "cpu", "cuda"}
        Where DeepLabV3 runs; the person model always runs on the CPU.
    input_size : int
        Shorter image side DeepLabV3 sees, in pixels (torchvision's default 520).

    Attributes
    ----------
    requires : tuple of str
        Empty: reads only the image.
    provides : tuple of str
        ``("evidence",)``: ``(H, W) float32`` target probability in [0, 1].
    target : tuple of str
        The target class names.
    model_used : str
        Human-readable name of the model in use.
    cheap : bool
        Whether the model costs about what carrying its answer along the flow
        costs (the embedded person model: 12-16 ms a frame at 480p-720p on
        2 cores), so that running it only on keyframes saves no time.

    Notes
    -----
    Stateless: :meth:`reset` does nothing.
    """

    requires: tuple[str, ...] = ()
    provides: tuple[str, ...] = ("evidence",)

    def __init__(
        self,
        *,
        target: str | Sequence[str] = "person",
        model: str = "auto",
        weights: str | Path | None = None,
        sha256: str | None = None,
        device: str = "auto",
        input_size: int = 520,
    ) -> None:
        targets = resolve_targets(target)
        if model not in MODEL_CHOICES:
            close = difflib.get_close_matches(model, MODEL_CHOICES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown model {model!r}{hint}; valid models: {', '.join(MODEL_CHOICES)}")
        if input_size < 32:
            raise ValueError(f"input_size is {input_size}; expected at least 32 pixels")
        person_only = targets == (VOC_CLASSES.index("person"),)
        if model == "auto":
            default = DEEPLAB_MODELS[0]
            if weights is not None or find_weights_file(default) is not None:
                model = default
            elif person_only:
                model = "selfie"
            else:
                names = ", ".join(VOC_CLASSES[i] for i in targets)
                raise WeightsError(
                    f"target {names} needs DeepLabV3 weights (only 'person' works without them): "
                    + _missing_message(WEIGHTS[default], "is not on this machine")
                )
        if model == "selfie" and not person_only:
            raise UnknownTargetError("the embedded person model ('selfie') only segments the target 'person'")
        self._backend = _shared_backend(model, None if weights is None else str(weights), sha256, device, input_size)
        self._targets = targets
        self.target: tuple[str, ...] = tuple(VOC_CLASSES[i] for i in targets)
        self.model_used: str = self._backend.description
        self.cheap: bool = model == "selfie"

    def predict(self, image: Image) -> ProbMap:
        """Target probability of one RGB frame.

        Parameters
        ----------
        image : (H, W, 3) uint8 ndarray
            RGB frame.

        Returns
        -------
        (H, W) float32 ndarray
            Probability in [0, 1] that each pixel belongs to a target class.
        """
        image = check_image(image)
        if isinstance(self._backend, _DeepLab):
            return self._backend.predict(image, self._targets)
        return self._backend.predict(image)

    def classes_in(self, image: Image, mask: np.ndarray, *, min_share: float = 0.25,
                   as_whole: bool = False) -> tuple[str, ...]:
        """The target classes of the object a mask marks: what the model sees there.

        Parameters
        ----------
        image : (H, W, 3) uint8 ndarray
            RGB frame.
        mask : (H, W) bool ndarray
            The object (not empty).
        min_share : float
            Smallest mean probability of a class over the mask's pixels for it
            to count, in (0, 1].
        as_whole : bool
            Count a class only where the object is not a small part of what
            the model finds of it there (:func:`is_part_of_a_larger_find`):
            not a ball in a juggler's hand, which the person model marks
            with him.

        Returns
        -------
        tuple of str
            VOC classes (never ``background``), most probable first; empty
            when the model does not recognise the object. The person model
            knows only ``person``.
        """
        check_image(image)
        if isinstance(self._backend, _DeepLab):  # by class index, background left out
            probabilities = dict(enumerate(self._backend.class_probabilities(image)[1:], start=1))
        else:
            probabilities = {VOC_CLASSES.index("person"): self._backend.predict(image)}
        shares = {i: float(probability[mask].mean()) for i, probability in probabilities.items()}
        return tuple(VOC_CLASSES[i] for i in sorted(shares, key=lambda i: -shares[i]) if shares[i] >= min_share
                     and not (as_whole and is_part_of_a_larger_find(mask, probabilities[i] > 0.5)))

    def retarget(self, target: str | Sequence[str]) -> None:
        """Segment other classes from now on (same model).

        Raises
        ------
        UnknownTargetError
            For a name that is not a VOC class, or another class than
            ``person`` with the person model.
        """
        targets = resolve_targets(target)
        if isinstance(self._backend, _DeepLab):
            self._targets = targets
        elif targets != (VOC_CLASSES.index("person"),):
            raise UnknownTargetError("the embedded person model ('selfie') only segments the target 'person'")
        self.target = tuple(VOC_CLASSES[i] for i in targets)

    def process(self, frame: Frame) -> StageOutput:
        """Stage interface: ``{"evidence": predict(frame.image)}``."""
        return {"evidence": self.predict(frame.image)}

    def reset(self) -> None:
        """Nothing to clear: the stage keeps no state between frames."""
