"""The embedded person model: MediaPipe selfie segmentation run by OpenCV's DNN module."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from ..errors import WeightsError
from ..types import Image, ProbMap
from ._memo import LastAnswer

__all__ = ["PersonModel", "PERSON_MODEL_FILES"]

PERSON_MODEL_FILES: dict[str, tuple[str, tuple[int, int]]] = {
    "landscape": ("selfie_segmentation_landscape.tflite", (256, 144)),
    "square": ("selfie_segmentation.tflite", (256, 256)),
}
"""The embedded networks: file inside ``flowseg/models`` and (width, height) input.
Both Apache-2.0, see ``LICENSE-selfie_segmentation.txt``."""


def _bounding_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


class _TFLiteNet:
    """One selfie-segmentation network: RGB image in, person probability out."""

    def __init__(self, path: Path, input_size: tuple[int, int]) -> None:
        if not path.is_file():
            raise WeightsError(f"person model file {path} is missing; reinstall flowseg to restore it")
        try:
            self._net = cv2.dnn.readNetFromTFLite(str(path))
        except cv2.error as exc:
            raise WeightsError(f"person model file {path} cannot be loaded by OpenCV ({exc.err})") from None
        self.input_size = input_size

    def __call__(self, image: Image) -> ProbMap:
        small = cv2.resize(image, self.input_size, interpolation=cv2.INTER_AREA)
        self._net.setInput(cv2.dnn.blobFromImage(small, 1.0 / 255.0, self.input_size, swapRB=False))
        out = self._net.forward()[0, 0]
        prob = cv2.resize(out, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
        return np.clip(prob, 0.0, 1.0).astype(np.float32, copy=False)


class PersonModel:
    """Per-pixel person probability from the embedded MediaPipe models.

    A first pass runs the landscape network (256x144) on the whole frame.
    With `zoom`, a second pass runs the square network (256x256) on a square
    crop around the people found (their bounding box at probability
    `locate_threshold`, grown by `zoom_margin` of its size on each side) and
    its output replaces the first pass inside the crop. The networks were
    trained on people near the camera; the crop makes a distant person fill
    the network's input, which is what it knows.

    Parameters
    ----------
    model_dir : path-like, optional
        Folder holding the files of :data:`PERSON_MODEL_FILES` (default: the
        embedded copies).
    zoom : bool
        Run the second, zoomed pass (twice the cost).
    zoom_margin : float
        Margin around the people's bounding box, as a fraction of its larger
        side, on each side (>= 0).
    locate_threshold : float
        Probability above which the first pass counts as a person, in (0, 1).

    Notes
    -----
    Mean per-frame IoU at 0.5 on every 5th frame of the six DAVIS-2016 person
    sequences rose from 0.40 (one pass) to 0.45 (zoom, margin 0.2-0.25);
    ``benchmarks/`` has the full J&F. Each pass takes 10-15 ms on one CPU
    core. Upside-down people (breakdance) and riders whose ground truth
    includes the horse or bike stay weak.
    """

    description = "selfie (embedded MediaPipe selfie segmentation, Apache-2.0)"

    def __init__(
        self,
        *,
        model_dir: str | Path | None = None,
        zoom: bool = True,
        zoom_margin: float = 0.2,
        locate_threshold: float = 0.3,
    ) -> None:
        if zoom_margin < 0:
            raise ValueError(f"zoom_margin is {zoom_margin}; expected a fraction >= 0")
        if not 0.0 < locate_threshold < 1.0:
            raise ValueError(f"locate_threshold is {locate_threshold}; expected a value in (0, 1)")
        self.zoom = zoom
        self.zoom_margin = zoom_margin
        self.locate_threshold = locate_threshold
        folder = Path(str(resources.files("flowseg.models"))) if model_dir is None else Path(model_dir)
        self._nets = {
            kind: _TFLiteNet(folder / name, size) for kind, (name, size) in PERSON_MODEL_FILES.items()
        }
        self._answer = LastAnswer(self._predict)

    def _zoom_window(self, prob: ProbMap) -> tuple[slice, slice] | None:
        box = _bounding_box(prob > self.locate_threshold)
        if box is None:
            return None
        y0, y1, x0, x1 = box
        height, width = prob.shape
        side = max(y1 - y0, x1 - x0) * (1 + 2 * self.zoom_margin)
        crop_h, crop_w = min(side, height), min(side, width)
        top = int(np.clip((y0 + y1 - crop_h) / 2, 0, height - crop_h))
        left = int(np.clip((x0 + x1 - crop_w) / 2, 0, width - crop_w))
        return slice(top, top + round(crop_h)), slice(left, left + round(crop_w))

    def predict(self, image: Image) -> ProbMap:
        """Person probability of each pixel.

        Parameters
        ----------
        image : (H, W, 3) uint8 ndarray
            RGB frame.

        Returns
        -------
        (H, W) float32 ndarray
            Probability in [0, 1]; a new array each call (the last frame's
            answer is remembered: asked again, the model does not run).
        """
        return self._answer(image).copy()

    def _predict(self, image: Image) -> ProbMap:
        prob = self._nets["landscape"](image)
        window = self._zoom_window(prob) if self.zoom else None
        if window is not None:
            prob[window] = self._nets["square"](np.ascontiguousarray(image[window]))
        return prob
