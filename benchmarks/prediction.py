"""Frame and mask prediction on DAVIS-2016: flowseg's extrapolation against copying and plain warping.

Usage::

    python benchmarks/prediction.py [--data ../shared/data/davis2016] [--sequences a,b] [--horizons 1,3,5]
                                    [--step 2] [--out /tmp/flowseg-prediction] [--record benchmarks/RESULTS.md]

For every sequence, the backward flow of each frame t is computed from
frames t - 1 and t only, with each preset's flow
(:data:`flowseg.predictor.PREDICTION_FLOW`: DIS medium at full size for
``balanced``, DIS medium at half size as ``flowseg predict`` had it before,
DIS ultrafast at half size for ``fast``). From frame t, each method
predicts frame t + h for every horizon h; the
prediction is scored against the real frame t + h with PSNR and SSIM
(``skimage.metrics``, SSIM over the three colour channels). Frames
t = 1, 1 + step, ... with t + h in the sequence are scored; the means are
over all scored frames of all sequences.

Frame methods:

- ``copy``: frame t itself.
- ``naive``: the baseline anyone would write: OpenCV DIS (medium preset)
  at full size from frame t to frame t - 1, and frame t backward-warped at
  constant velocity (sampled at ``x + h flow_bwd(x)``, bilinear, the
  frame's edge pixels repeated outside it).
- ``pixel``: :func:`flowseg.stages.predict_frame` with the ``balanced``
  flows of frames t and t - 1, every pixel at constant velocity plus a
  share of its last change of velocity, forward-splatted with independent
  movers in front, holes inpainted, then hedged (averaged with the backward
  warp where pixels landed, blurred by each pixel's position uncertainty,
  :data:`flowseg.stages.prediction.UNCERTAINTY`, by the flow's own error
  and by the change of velocity): what ``flowseg predict`` does.
- ``pixel-sharp``: ``pixel`` without the hedge (``flowseg predict --sharp``).
- ``pixel-half``, ``pixel-fast``: ``pixel`` from DIS medium at half size and
  from the ``fast`` preset's flow.
- ``layered``: ``pixel`` with ``motion="layered"`` and the ground-truth
  mask of frame t as the object layer (camera homography for the
  background, an affine motion for the object).

Mask methods, scored with J (region IoU) against the ground truth of frame
t + h: ``copy`` (the ground truth of frame t), ``pixel`` and ``layered``
(:func:`flowseg.stages.predict_mask` of the ground truth of frame t, the
``balanced`` flows of frames t and t - 1).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from _common import (
    add_output_options,
    comma_list,
    davis_sequences,
    display_path,
    environment,
    markdown_table,
    publish,
    shared_dir,
)
from flowseg.evaluation import read_mask_png
from flowseg.metrics import region_similarity
from flowseg.predictor import PREDICTION_FLOW
from flowseg.stages import FlowEstimator, predict_frame, predict_mask
from flowseg.stages._sampling import flow_targets
from flowseg.types import Frame

FRAME_METHODS: tuple[str, ...] = ("copy", "naive", "pixel", "pixel-sharp", "pixel-half", "pixel-fast", "layered")
FLOWS: dict[str, tuple[str, float]] = {"balanced": PREDICTION_FLOW["balanced"], "half": ("dis", 0.5),
                                       "fast": PREDICTION_FLOW["fast"]}  # fmt: skip
"""The flows the methods predict from: each preset's, and DIS medium at half size (the former default)."""
MASK_METHODS: tuple[str, ...] = ("copy", "pixel", "layered")


def default_root() -> Path:
    """``$FLOWSEG_SHARED/data/davis2016``, else ``../shared/data/davis2016`` beside the repository."""
    return shared_dir() / "data" / "davis2016"


def naive_warp(image: np.ndarray, flow_bwd: np.ndarray, horizon: int) -> np.ndarray:
    """Frame t sampled at ``x + horizon * flow_bwd(x)``: constant velocity, backward-warped, edges repeated."""
    return cv2.remap(image, flow_targets(horizon * flow_bwd), None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def predictions(method: str, image: np.ndarray, flows: Mapping[str, Any], before: Mapping[str, Any] | None,
                mask: np.ndarray, horizon: int) -> np.ndarray:
    """The prediction of frame t + `horizon` from frame t by one frame method, given the flows (by FLOWS) of frame t
    and of frame t - 1 (None for frame 1: frame 0 has no flow)."""
    if method == "copy":
        return image
    if method == "naive":
        return naive_warp(image, flows["naive"], horizon)
    name = {"pixel-half": "half", "pixel-fast": "fast"}.get(method, "balanced")
    prob = mask.astype(np.float32) if method == "layered" else None
    return predict_frame(image, flows[name]["flow_bwd"], horizon, prob=prob,
                         motion="layered" if method == "layered" else "pixel", sharp=method == "pixel-sharp",
                         flow_error=flows[name]["flow_error"],
                         flow_before=None if before is None else before[name]["flow_bwd"])  # fmt: skip


def score_sequence(folder: Path, truths: Path, horizons: Sequence[int], step: int) -> dict[str, Any]:
    """Scores of every method on one sequence: lists of PSNR, SSIM and J per method and horizon."""
    files = sorted(folder.glob("*.jpg"))
    frames = [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files]
    masks = [read_mask_png(truths / f"{f.stem}.png") for f in files]
    estimators = {name: FlowEstimator(method=method, scale=scale) for name, (method, scale) in FLOWS.items()}
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    grey = [cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) for image in frames]
    measured = ({name: flow.process(Frame(i, image, {})) for name, flow in estimators.items()}
                for i, image in enumerate(frames))  # fmt: skip
    flows = [{**{name: {key: out[key] for key in ("flow_bwd", "flow_error")} for name, out in outputs.items()},
              "naive": dis.calc(grey[i], grey[max(i - 1, 0)], None)} for i, outputs in enumerate(measured)]
    scores: dict[str, Any] = {f"h{h}": {"frames": {m: {"psnr": [], "ssim": []} for m in FRAME_METHODS},
                                        "masks": {m: [] for m in MASK_METHODS}} for h in horizons}  # fmt: skip
    seconds = {m: 0.0 for m in FRAME_METHODS}
    for t in range(1, len(frames), step):
        previous = flows[t - 1] if t > 1 else None  # frame 0 has no flow
        before = None if previous is None else previous["balanced"]["flow_bwd"]
        for h in horizons:
            if t + h >= len(frames):
                continue
            real, entry = frames[t + h], scores[f"h{h}"]
            for method in FRAME_METHODS:
                start = time.perf_counter()
                predicted = predictions(method, frames[t], flows[t], previous, masks[t], h)
                seconds[method] += time.perf_counter() - start
                entry["frames"][method]["psnr"].append(peak_signal_noise_ratio(real, predicted, data_range=255))
                entry["frames"][method]["ssim"].append(structural_similarity(real, predicted, channel_axis=2,
                                                                             data_range=255))  # fmt: skip
            entry["masks"]["copy"].append(region_similarity(masks[t], masks[t + h]))
            for motion in ("pixel", "layered"):
                predicted_mask = predict_mask(masks[t].astype(np.float32), flows[t]["balanced"]["flow_bwd"], h,
                                              motion=motion, flow_before=before) > 0.5
                entry["masks"][motion].append(region_similarity(predicted_mask, masks[t + h]))
    return {"scores": scores, "seconds": seconds}


def summarise(sequences: Mapping[str, Mapping[str, Any]], horizons: Sequence[int]) -> dict[str, Any]:
    """Means over all scored frames of all sequences, per horizon and method."""
    summary: dict[str, Any] = {}
    for h in horizons:
        key = f"h{h}"
        pooled = {m: {"psnr": [], "ssim": []} for m in FRAME_METHODS}
        pooled_masks: dict[str, list[float]] = {m: [] for m in MASK_METHODS}
        for result in sequences.values():
            for m in FRAME_METHODS:
                for measure in ("psnr", "ssim"):
                    pooled[m][measure] += result["scores"][key]["frames"][m][measure]
            for m in MASK_METHODS:
                pooled_masks[m] += result["scores"][key]["masks"][m]
        summary[key] = {
            "frames": {m: {measure: float(np.mean(v)) for measure, v in pooled[m].items()} for m in FRAME_METHODS},
            "masks": {m: float(np.mean(v)) for m, v in pooled_masks.items()},
            "scored": len(pooled["copy"]["psnr"]),
        }
    return summary


def report_lines(report: Mapping[str, Any]) -> list[str]:
    """The markdown description of a run."""
    horizons = report["horizons"]
    summary = report["summary"]
    frame_rows = [[m] + [f"{summary[f'h{h}']['frames'][m][measure]:.{d}f}" for h in horizons
                         for measure, d in (("psnr", 2), ("ssim", 3))] for m in FRAME_METHODS]  # fmt: skip
    frame_headers = ["method"] + [f"{name} t+{h}" for h in horizons for name in ("PSNR dB", "SSIM")]
    mask_rows = [[m] + [f"{summary[f'h{h}']['masks'][m]:.3f}" for h in horizons] for m in MASK_METHODS]
    ms = {m: 1000 * s / max(report["predictions"], 1) for m, s in report["seconds"].items()}
    return [
        f"- Data: `{report['data']}`, sequences ({len(report['sequences'])}): {', '.join(report['sequences'])}",
        f"- Scored frames t = 1, 1 + {report['step']}, ...; pairs scored per horizon: "
        + ", ".join(f"t+{h} {summary[f'h{h}']['scored']}" for h in horizons),
        "",
        "Frames (mean over scored frames; higher is better):",
        "",
        markdown_table(frame_headers, frame_rows),
        "",
        "Masks from the ground truth of frame t, J against the ground truth of frame t + h:",
        "",
        markdown_table(["method"] + [f"J t+{h}" for h in horizons], mask_rows),
        "",
        "Milliseconds per predicted frame (854x480, flow excluded): "
        + ", ".join(f"{m} {v:.1f}" for m, v in ms.items()) + ". See the module docstring of benchmarks/prediction.py.",
    ]


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_root(),
                        help="DAVIS-2016 root with JPEGImages/480p and Annotations/480p "
                             "(default: $FLOWSEG_SHARED/data/davis2016 or ../shared/data/davis2016)")
    parser.add_argument("--sequences", type=comma_list, default=None, help="comma-separated (default: all)")
    parser.add_argument("--horizons", type=comma_list, default=["1", "3", "5"], help="frames ahead (default: 1,3,5)")
    parser.add_argument("--step", type=int, default=2, help="score every STEP-th frame (default: 2)")
    add_output_options(parser, out=Path("/tmp/flowseg-prediction"))
    args = parser.parse_args(argv)
    args.sequences = davis_sequences(parser, args.data, "--data", args.sequences)
    try:
        args.horizons = sorted({int(h) for h in args.horizons})
    except ValueError:
        parser.error(f"--horizons: expected whole numbers, got {','.join(args.horizons)}")
    if args.horizons[0] < 1 or args.step < 1:
        parser.error("--horizons and --step must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    args = _parse_args(argv)
    env = environment()
    sequences = {}
    for name in args.sequences:
        sequences[name] = score_sequence(args.data / "JPEGImages" / "480p" / name,
                                         args.data / "Annotations" / "480p" / name, args.horizons, args.step)
        print(f"[prediction] {name}", flush=True)
    summary = summarise(sequences, args.horizons)
    report = {
        "environment": env,
        "data": display_path(args.data),
        "sequences": list(args.sequences),
        "horizons": args.horizons,
        "step": args.step,
        "summary": summary,
        "seconds": {m: sum(s["seconds"][m] for s in sequences.values()) for m in FRAME_METHODS},
        "predictions": sum(summary[f"h{h}"]["scored"] for h in args.horizons),
        "per_sequence": {name: result["scores"] for name, result in sequences.items()},
    }
    publish(report, report_lines(report), title="Frame and mask prediction", out=args.out, record=args.record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
