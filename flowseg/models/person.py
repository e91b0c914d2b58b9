"""The embedded person model: MediaPipe selfie segmentation run by OpenCV's DNN module."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from ..errors import WeightsError
from ..types import Image, ProbMap

__all__ = ["PersonModel", "PERSON_MODEL_FILE"]

PERSON_MODEL_FILE = "selfie_segmentation_landscape.tflite"
"""File name of the embedded model inside ``flowseg/models`` (Apache-2.0, see its LICENSE file)."""


class PersonModel:
    """Per-pixel person probability from the embedded MediaPipe model.

    The model takes a 256x144 RGB image (NCHW, values in [0, 1]) and returns one
    channel of person probability; the output is resized back to the frame.

    Parameters
    ----------
    path : path-like, optional
        A ``.tflite`` file to use instead of the embedded one.

    Notes
    -----
    Trained for people near the camera; small, distant or upside-down people get
    weaker probabilities. About 10-15 ms a frame on one CPU core.
    """

    input_size: tuple[int, int] = (256, 144)
    """(width, height) the network expects."""

    description = "selfie (embedded MediaPipe selfie segmentation, Apache-2.0)"

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            path = Path(str(resources.files("flowseg.models") / PERSON_MODEL_FILE))
        path = Path(path)
        if not path.is_file():
            raise WeightsError(f"person model file {path} is missing; reinstall flowseg to restore it")
        try:
            self._net = cv2.dnn.readNetFromTFLite(str(path))
        except cv2.error as exc:
            raise WeightsError(f"person model file {path} cannot be loaded by OpenCV ({exc.err})") from None

    def predict(self, image: Image) -> ProbMap:
        """Person probability of each pixel.

        Parameters
        ----------
        image : (H, W, 3) uint8 ndarray
            RGB frame.

        Returns
        -------
        (H, W) float32 ndarray
            Probability in [0, 1].
        """
        small = cv2.resize(image, self.input_size, interpolation=cv2.INTER_AREA)
        blob = cv2.dnn.blobFromImage(small, 1.0 / 255.0, self.input_size, swapRB=False)
        self._net.setInput(blob)
        out = self._net.forward()[0, 0]
        prob = cv2.resize(out, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
        return np.clip(prob, 0.0, 1.0).astype(np.float32, copy=False)
