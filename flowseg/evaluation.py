"""Score folders of predicted masks against DAVIS ground truth.

This is what ``flowseg eval`` runs. Per-frame measures and per-sequence
statistics come from :mod:`flowseg.metrics`; this module finds the files,
reads them one frame at a time and averages over sequences the way the
DAVIS benchmark does (every sequence weighs the same, whatever its length).

Folder layouts
--------------
Ground truth, either of:

- ``<ground_truth>/<sequence>/<frame>.png``
- a DAVIS root, ``<ground_truth>/Annotations/480p/<sequence>/<frame>.png``
  (used whenever ``<ground_truth>/Annotations/480p`` exists).

Results, per sequence, either of:

- ``<results>/<sequence>/<frame>.png`` (DAVIS submission layout)
- ``<results>/<sequence>/masks/<frame>.png`` (a ``flowseg run`` output
  folder; used whenever that ``masks`` folder exists).

In every PNG a non-zero pixel is object and zero is background, for results
and ground truth alike; palette PNGs are read as palette indices.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from flowseg.errors import MaskError, ShapeError, VideoOpenError
from flowseg.metrics import DEFAULT_BOUND_TH, evaluate_sequence

__all__ = ["evaluate_folders", "format_table", "read_label_png", "read_mask_png", "read_objects"]

SUMMARY_KEYS: tuple[str, ...] = (
    "JF_mean",
    "J_mean",
    "J_recall",
    "J_decay",
    "F_mean",
    "F_recall",
    "F_decay",
)
"""Per-sequence fields that are averaged over sequences into the report."""

_DAVIS_ANNOTATIONS = Path("Annotations") / "480p"
_FLOWSEG_MASKS = "masks"

_TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("J&F", "JF_mean"),
    ("J-mean", "J_mean"),
    ("J-recall", "J_recall"),
    ("J-decay", "J_decay"),
    ("F-mean", "F_mean"),
    ("F-recall", "F_recall"),
    ("F-decay", "F_decay"),
    ("T", "T"),
)


def read_mask_png(path: str | Path) -> NDArray[np.bool_]:
    """Read a mask image as an ``(H, W)`` bool array (non-zero = object).

    Parameters
    ----------
    path : str or Path
        A PNG (or any image PIL reads), see :func:`read_label_png`; any
        non-zero label is object.

    Returns
    -------
    mask : (H, W) bool ndarray

    Raises
    ------
    VideoOpenError
        If the file is missing or cannot be decoded (the path is named).
    """
    return read_label_png(path) != 0


def read_label_png(path: str | Path) -> NDArray[np.uint8] | NDArray[np.uint16]:
    """Read an object-label image as an ``(H, W)`` array: 0 = background, k = object k.

    Parameters
    ----------
    path : str or Path
        A PNG (or any image PIL reads), read as annotation tools write them:

        - palette (mode ``"P"``): the palette indices, not the colours
          (DAVIS-2017's indexed annotations), one label per object;
        - grey, 8- or 16-bit: the values themselves where the non-zero ones
          are exactly 1, 2, ..., N with N >= 2 (a label image); else one
          object, label 1, where the value is non-zero (a 0/255 mask, or a
          soft or anti-aliased one);
        - RGB(A): one object, label 1, where any colour channel is non-zero
          (alpha is ignored).

    Returns
    -------
    labels : (H, W) uint8 ndarray, or uint16 with labels above 255

    Raises
    ------
    VideoOpenError
        If the file is missing or cannot be decoded (the path is named).
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            mode = im.mode
            if mode in ("P", "PA"):
                return np.asarray(im.getchannel("P") if mode == "PA" else im).astype(np.uint8)
            if mode in ("RGB", "RGBA"):
                arr = np.asarray(im.convert("RGB"))
            elif mode == "LA":
                arr = np.asarray(im.getchannel("L"))
            else:  # "1", "L", "I", "I;16", "F", ...
                arr = np.asarray(im)
    except FileNotFoundError:
        raise VideoOpenError(f"mask file {str(path)!r} does not exist") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise VideoOpenError(f"cannot read mask file {str(path)!r}: {exc}") from exc
    if arr.ndim == 3:
        arr = np.any(arr != 0, axis=2)
    if np.issubdtype(arr.dtype, np.integer) and arr.dtype != bool:
        values = np.unique(arr[arr != 0])
        if len(values) >= 2 and values[0] == 1 and values[-1] == len(values):  # labels 1..N
            return arr.astype(np.uint8 if len(values) <= 255 else np.uint16)
    return (arr != 0).astype(np.uint8)


def read_objects(path: str | Path) -> NDArray[np.uint8] | NDArray[np.uint16]:
    """The objects a mask file or a folder of masks marks, as labels: 0 = background, k = object k.

    Parameters
    ----------
    path : str or Path
        A label image (:func:`read_label_png`), or a folder of mask images,
        one object each (non-zero = object), numbered 1, 2, ... in the
        files' natural order (``obj2`` before ``obj10``); where two overlap,
        the later one is in front. Hidden files and files of other types are
        skipped.

    Returns
    -------
    labels : (H, W) uint8 ndarray, or uint16 with labels above 255

    Raises
    ------
    VideoOpenError
        If the path is missing, a file cannot be read, or a folder holds no image.
    ShapeError
        If a folder's masks differ in size.
    MaskError
        If a folder's mask is empty.
    """
    from .io.frames import image_files

    path = Path(path)
    if not path.is_dir():
        return read_label_png(path)
    files, _ = image_files(path)
    if not files:
        raise VideoOpenError(f"mask folder {str(path)!r} holds no image (one mask per object)")
    first = read_mask_png(files[0])
    labels = np.zeros(first.shape, np.uint8 if len(files) <= 255 else np.uint16)
    for number, file in enumerate(files, start=1):
        mask = first if number == 1 else read_mask_png(file)
        if mask.shape != labels.shape:
            raise ShapeError(f"mask {file.name!r} is {mask.shape[1]}x{mask.shape[0]} but {files[0].name!r} is "
                             f"{labels.shape[1]}x{labels.shape[0]}: the masks of one frame must be the same size",
                             expected=labels.shape, actual=mask.shape)  # fmt: skip
        if not mask.any():
            raise MaskError(f"mask {str(file)!r} is empty: each file of {str(path)!r} marks one object")
        labels[mask] = number
    return labels


def _ground_truth_root(ground_truth: Path) -> Path:
    """The folder holding one sub-folder per ground-truth sequence."""
    if not ground_truth.is_dir():
        raise VideoOpenError(
            f"ground-truth folder {str(ground_truth)!r} does not exist or is not a folder"
        )
    davis = ground_truth / _DAVIS_ANNOTATIONS
    return davis if davis.is_dir() else ground_truth


def _subfolders(root: Path) -> set[str]:
    return {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}


def _result_folder(results: Path, sequence: str) -> Path:
    """``<results>/<sequence>/masks`` if it exists, else ``<results>/<sequence>``."""
    seq_dir = results / sequence
    masks = seq_dir / _FLOWSEG_MASKS
    return masks if masks.is_dir() else seq_dir


def _png_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".png")


def _match_result_file(gt_file: Path, res_dir: Path, by_index: dict[int, Path]) -> Path:
    """The result file for `gt_file`: same name, else same frame number."""
    same_name = res_dir / gt_file.name
    if same_name.is_file():
        return same_name
    if gt_file.stem.isdigit() and int(gt_file.stem) in by_index:
        return by_index[int(gt_file.stem)]
    raise VideoOpenError(
        f"result frame {str(same_name)!r} is missing (needed for ground truth "
        f"{str(gt_file)!r}); write one mask per ground-truth frame, with the same "
        "name or the same frame number"
    )


def _frame_pairs(
    sequence: str, gt_dir: Path, res_dir: Path
) -> Iterator[tuple[NDArray[np.bool_], NDArray[np.bool_]]]:
    """Yield ``(pred, gt)`` masks of one sequence, one frame at a time."""
    gt_files = _png_files(gt_dir)
    if not gt_files:
        raise VideoOpenError(
            f"ground-truth folder {str(gt_dir)!r} of sequence {sequence!r} has no PNG masks"
        )
    by_index = {int(p.stem): p for p in _png_files(res_dir) if p.stem.isdigit()}
    for gt_file in gt_files:
        res_file = _match_result_file(gt_file, res_dir, by_index)
        gt = read_mask_png(gt_file)
        pred = read_mask_png(res_file)
        if pred.shape != gt.shape:
            raise ShapeError(
                f"result {str(res_file)!r} is {pred.shape[1]}x{pred.shape[0]} (W x H) but "
                f"ground truth {str(gt_file)!r} is {gt.shape[1]}x{gt.shape[0]}; "
                "write masks at the ground-truth resolution",
                expected=f"(H, W) = {gt.shape}",
                actual=tuple(pred.shape),
            )
        yield pred, gt


def _select_sequences(
    results: Path, gt_root: Path, sequences: Sequence[str] | None
) -> list[str]:
    in_results = _subfolders(results)
    in_gt = _subfolders(gt_root)
    if sequences is None:
        common = sorted(in_results & in_gt)
        if not common:
            raise VideoOpenError(
                f"no sequence folder is present in both results {str(results)!r} "
                f"({len(in_results)} folders) and ground truth {str(gt_root)!r} "
                f"({len(in_gt)} folders)"
            )
        return common
    if isinstance(sequences, str):
        sequences = [sequences]
    for name in sequences:
        if name not in in_gt:
            raise VideoOpenError(
                f"sequence {name!r} is not in the ground-truth folder {str(gt_root)!r}"
            )
        if name not in in_results:
            raise VideoOpenError(f"sequence {name!r} is not in the results folder {str(results)!r}")
    return list(sequences)


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


def evaluate_folders(
    results: str | Path,
    ground_truth: str | Path,
    *,
    sequences: Sequence[str] | None = None,
    bound_th: float = DEFAULT_BOUND_TH,
) -> dict[str, Any]:
    """Score a folder of predicted masks against DAVIS ground truth.

    Each sequence is scored by :func:`flowseg.metrics.evaluate_sequence`
    (first and last frames left out), and the report's global values are the
    mean over sequences of the per-sequence values, as in the DAVIS
    benchmark.

    Parameters
    ----------
    results : str or Path
        ``<results>/<sequence>/<frame>.png`` or, per sequence,
        ``<results>/<sequence>/masks/<frame>.png`` (``flowseg run`` output).
        For each ground-truth frame the result with the same file name is
        used, else the one with the same frame number (``00005.png`` matches
        ``000005.png``). Extra result frames are ignored.
    ground_truth : str or Path
        ``<ground_truth>/<sequence>/<frame>.png``, or a DAVIS root holding
        ``Annotations/480p/<sequence>/`` (used when it exists).
    sequences : sequence of str, optional
        Sequence names to score, in this order. Default: every sequence
        folder present in both `results` and the ground truth, sorted.
    bound_th : float, optional
        Boundary tolerance of F, see :func:`flowseg.metrics.boundary_measure`.

    Returns
    -------
    report : dict
        ``"JF_mean", "J_mean", "J_recall", "J_decay", "F_mean", "F_recall",
        "F_decay"`` (float): means over sequences of the per-sequence values.
        ``"T_mean"`` (float): mean over sequences of the per-sequence flicker
        ``T`` (sequences where it is NaN are skipped).
        ``"sequences"`` (dict of str to dict): per sequence, the fields of
        :func:`~flowseg.metrics.evaluate_sequence` without the per-frame
        lists: ``"J_mean", "J_recall", "J_decay", "F_mean", "F_recall",
        "F_decay", "JF_mean", "T", "frames"``.

    Raises
    ------
    VideoOpenError
        If a folder is missing, no sequence is common to both folders, a
        named sequence is missing from either folder (the sequence and the
        folder are named), a ground-truth sequence has no PNG, a result
        frame is missing (the file is named), or a PNG cannot be read.
    ShapeError
        If a result mask's size differs from its ground truth (both sizes
        and files are named).
    ValueError
        If `bound_th` is invalid.

    Notes
    -----
    Only one frame pair is held in memory at a time, plus a few floats per
    frame of the current sequence.

    Ground truth is binary here: a DAVIS-2017 multi-object annotation is
    scored as the union of its objects, not object by object as the official
    DAVIS-2017 script does. The official script also turns label 255 into
    background; here 255 is object, which is what the binary DAVIS-2016
    annotations (0 / 255) need.
    """
    results = Path(results)
    ground_truth = Path(ground_truth)
    if not results.is_dir():
        raise VideoOpenError(f"results folder {str(results)!r} does not exist or is not a folder")
    gt_root = _ground_truth_root(ground_truth)
    names = _select_sequences(results, gt_root, sequences)

    per_sequence: dict[str, dict[str, Any]] = {}
    for name in names:
        res_dir = _result_folder(results, name)
        # evaluate_sequence pulls pred t then gt t, so tee buffers one pair.
        for_preds, for_gts = itertools.tee(_frame_pairs(name, gt_root / name, res_dir))
        scores = evaluate_sequence(
            (pred for pred, _ in for_preds),
            (gt for _, gt in for_gts),
            bound_th=bound_th,
        )
        scores.pop("J_per_frame")
        scores.pop("F_per_frame")
        per_sequence[name] = scores

    report: dict[str, Any] = {
        key: _nanmean([s[key] for s in per_sequence.values()]) for key in SUMMARY_KEYS
    }
    report["T_mean"] = _nanmean([s["T"] for s in per_sequence.values()])
    report["sequences"] = per_sequence
    return report


def _format_value(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.3f}"


def format_table(report: dict[str, Any]) -> str:
    """Render a report of :func:`evaluate_folders` as a fixed-width text table.

    Parameters
    ----------
    report : dict
        As returned by :func:`evaluate_folders`.

    Returns
    -------
    table : str
        A header line, one line per sequence, a rule and a ``mean`` line,
        with columns J&F, J-mean, J-recall, J-decay, F-mean, F-recall,
        F-decay and T (3 decimals, ``nan`` where undefined). No trailing
        newline.

    Raises
    ------
    KeyError
        If `report` lacks a field of :func:`evaluate_folders`.

    Examples
    --------
    >>> seq = {"JF_mean": 0.9, "J_mean": 0.85, "J_recall": 1.0, "J_decay": 0.01,
    ...        "F_mean": 0.95, "F_recall": 1.0, "F_decay": -0.02, "T": 0.05, "frames": 8}
    >>> report = {k: seq[k] for k in ("JF_mean", "J_mean", "J_recall", "J_decay",
    ...           "F_mean", "F_recall", "F_decay")}
    >>> report.update(T_mean=0.05, sequences={"dog": seq})
    >>> print(format_table(report))
    Sequence     J&F  J-mean  J-recall  J-decay  F-mean  F-recall  F-decay       T
    dog        0.900   0.850     1.000    0.010   0.950     1.000   -0.020   0.050
    ------------------------------------------------------------------------------
    mean       0.900   0.850     1.000    0.010   0.950     1.000   -0.020   0.050
    """
    sequences: dict[str, dict[str, Any]] = report["sequences"]
    mean_row = {key: report[key] for key in SUMMARY_KEYS}
    mean_row["T"] = report["T_mean"]
    name_width = max([len("Sequence"), len("mean"), *(len(name) for name in sequences)])
    widths = [max(len(title), 6) for title, _ in _TABLE_COLUMNS]

    def line(label: str, cells: list[str]) -> str:
        parts = [label.ljust(name_width)]
        parts += [cell.rjust(width) for cell, width in zip(cells, widths)]
        return "  ".join(parts)

    out = [line("Sequence", [title for title, _ in _TABLE_COLUMNS])]
    for name, values in sequences.items():
        out.append(line(name, [_format_value(values[key]) for _, key in _TABLE_COLUMNS]))
    out.append("-" * len(out[0]))
    out.append(line("mean", [_format_value(mean_row[key]) for _, key in _TABLE_COLUMNS]))
    return "\n".join(out)
