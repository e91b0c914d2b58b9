"""The ``flowseg`` command line: thin click commands over the public API.

Every :class:`~flowseg.errors.FlowsegError` (bad input, missing weights,
unwritable output) ends as one line on stderr and exit status 2, like click's
own usage errors; ``--debug`` or ``FLOWSEG_DEBUG=1`` shows the traceback.
Ctrl-C (SIGINT) and SIGTERM stop a run the same way: what it wrote so far is
removed, one line says so, and the exit status is 130 or 143 (128 + the
signal's number, as shells report it).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable

import click
import numpy as np

from . import __version__
from .errors import FlowsegError, OutputError, PromptError
from .models import WEIGHTS, find_weights_file
from .io import ALPHA_FORMATS
from .pipeline import PRESETS
from .prompts import Prompt, parse_box, parse_point
from .stages.flow import FLOW_METHODS
from .stages.prediction import MOTION_MODELS
from .stages.refine import REFINE_METHODS
from .stages.semantics import MODEL_CHOICES, VOC_CLASSES

__all__ = ["main"]

DEBUG_ENV = "FLOWSEG_DEBUG"
"""Environment variable: set to 1 to get full tracebacks instead of one-line errors."""

_DEVICES = ("auto", "cpu", "cuda")

EXPORTS: dict[str, dict[str, Any]] = {"editor": {"alpha": ("prores",), "videos": True, "edl": True}}
"""``--export`` sets: the outputs each one adds."""


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread like KeyboardInterrupt, so that every ``with`` block cleans up."""


def _terminate(signum: int, _frame: Any) -> None:
    raise _Terminated()


class _Group(click.Group):
    """Maps flowseg's errors to one line on stderr and exit status 2, and an interruption to 130 or 143."""

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug")) or os.environ.get(DEBUG_ENV, "") not in ("", "0")
        previous = signal.signal(signal.SIGTERM, _terminate)
        try:
            return super().invoke(ctx)
        except FlowsegError as error:
            if debug:
                raise
            click.echo(f"Error: {error}", err=True)
            ctx.exit(2)
        except (KeyboardInterrupt, _Terminated) as stop:
            if debug:
                raise
            name, status = ("SIGTERM", 128 + signal.SIGTERM) if isinstance(stop, _Terminated) else ("Ctrl-C", 130)
            click.echo(f"Interrupted ({name}); the partial output was removed, nothing was finished.", err=True)
            ctx.exit(status)
        finally:
            signal.signal(signal.SIGTERM, previous)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="flowseg")
@click.option("--debug", is_flag=True, help=f"Show full tracebacks (also {DEBUG_ENV}=1).")
def main(debug: bool) -> None:
    """Segment objects in video with per-frame semantics and optical flow.

    \b
    Quick start:
      flowseg run examples/juggle.mp4 --target person -o out/juggle
      flowseg eval out/ path/to/DAVIS --sequences parkour
    """


def _split_targets_or_none(_ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name.strip() for item in value for name in item.split(",") if name.strip())


def _split_targets(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    names = _split_targets_or_none(ctx, param, value)
    if not names:
        raise click.BadParameter("give at least one class name")
    return names


class _Progress:
    """Progress line on stderr: frames done, fps and ETA (only on a terminal; logs get the summary alone).

    Use as a context manager: leaving the block after a finished run fills the bar.
    """

    def __init__(self, label: str, *, shown: bool = True) -> None:
        self.label = label
        self.start = time.perf_counter()
        self._bar: Any = None
        self._shown = shown and sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self._shown:
            return
        if self._bar is None:
            self._bar = click.progressbar(length=total, label=self.label, file=sys.stderr, show_eta=True,
                                          show_pos=True, item_show_func=lambda fps: fps)
            self._bar.__enter__()
        rate = done / max(time.perf_counter() - self.start, 1e-9)
        self._bar.length = total  # callers never give less than done (see flowseg.runner.ProgressCallback)
        self._bar.update(1, f"{rate:.1f} fps")

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, exc_type: Any, *exc_info: Any) -> None:
        if self._bar is None:
            return
        if exc_type is None:  # finished: frames listed but not decodable are not waited for
            self._bar.length = self._bar.pos
            self._bar.render_progress()
        self._bar.__exit__(None, None, None)


def _echo_warnings(summary: dict[str, Any]) -> None:
    for line in summary["warnings"]:
        click.echo(f"warning: {line}", err=True)


_preset_option = click.option(
    "--preset", type=click.Choice(tuple(PRESETS)), default="balanced", show_default=True,
    help="Speed/quality trade-off: fast, balanced or quality (the flow refined to full resolution: more accurate, "
         "about 2.4x slower); the options below override it.")
_model_option = click.option(
    "--model", type=click.Choice(MODEL_CHOICES), default="auto", show_default=True,
    help="Semantic model: auto = DeepLabV3-MobileNetV3 when its weights are here, "
         "else the embedded person model (person only).")
_weights_option = click.option(
    "--weights", type=click.Path(path_type=Path),
    help="DeepLabV3 weights file (default: the official file, looked up in "
         "$FLOWSEG_WEIGHTS_DIR and the torch hub cache).")
_init_mask_option = click.option(
    "--init-mask", type=click.Path(path_type=Path), metavar="PNG|FOLDER",
    help="Follow the object marked in this mask (non-zero = object; the frame's size) instead of a target "
         "class. Several objects, each followed with its number as its ID: a palette PNG or a grey (8- or "
         "16-bit) PNG labelled 1..N, or a folder of one mask per object (numbered in name order). A grey PNG "
         "of 0 and 255 only is one object. The mask is taken as exact (what surrounds it is trusted to be "
         "background): for one made from a box or clicks ('flowseg mask'), give those instead.")
_init_frame_option = click.option(
    "--init-frame", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
    help="The frame --init-mask (or a --box or --point without @F) marks. Of the frames before it, 'run' "
         "follows the object backwards from it (unless --causal) and 'predict' leaves them empty.")


def _parsed(parse: Callable[[str], Any]) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A click callback applying `parse` to the option's value (or each of its values), errors as usage errors."""
    def callback(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        try:
            if isinstance(value, tuple):
                return tuple(parse(item) for item in value)
            return None if value is None else parse(value)
        except PromptError as error:
            raise click.BadParameter(str(error)) from None
    return callback


def _prompt_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--box, --point and --negative-point: the object marked on a frame instead of by a mask file."""
    options = [
        click.option("--box", callback=_parsed(parse_box), metavar="X0,Y0,X1,Y1[@F]",
                     help="Follow the object inside this box (pixels, corners included) on frame F "
                          "(default: --init-frame) instead of a mask file."),
        click.option("--point", "points", multiple=True, callback=_parsed(parse_point), metavar="X,Y[@F]",
                     help="A click on the object (repeat for more), with or without --box."),
        click.option("--negative-point", "negative_points", multiple=True, callback=_parsed(parse_point),
                     metavar="X,Y[@F]", help="A click off the object, where the mask should not go (repeatable)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


Marked = tuple[tuple[int, ...], "int | None"]  # a mark's coordinates and its frame, as parse_box/parse_point give


def _prompt_from(box: Marked | None, points: tuple[Marked, ...], negative_points: tuple[Marked, ...],
                 default_frame: int) -> Prompt | None:
    """The :class:`Prompt` the options give (None when none was given); all its marks must be on one frame."""
    marks = ([box] if box is not None else []) + list(points) + list(negative_points)
    if not marks:
        return None
    frames = sorted({default_frame if frame is None else frame for _, frame in marks})
    if len(frames) > 1:
        raise PromptError(f"the prompt's marks are on frames {', '.join(map(str, frames))}: give them all on one frame")
    return Prompt(frame=frames[0], box=None if box is None else box[0], points=tuple(p for p, _ in points),
                  negative_points=tuple(p for p, _ in negative_points))


_device_option = click.option(
    "--device", type=click.Choice(_DEVICES), default="auto", show_default=True, help="Where torch models run.")
_overwrite_option = click.option("--overwrite", is_flag=True, help="Replace an existing non-empty output folder.")
_quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")


def _default_output(input_path: Path, what: str) -> Path:
    """``<INPUT name>_<what>`` in the current folder: the output folder where ``-o`` is not given."""
    return Path(f"{input_path.name.split('.')[0] or 'video'}_{what}")


@main.command(short_help="Segment objects in a video or image folder.")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("-t", "--target", multiple=True, default=("person",), show_default=True,
              callback=_split_targets,
              help="VOC class(es) to segment; repeat or comma-separate for several (see 'flowseg models').")
@click.option("-o", "--output", "output_dir", type=click.Path(path_type=Path),
              help="Output folder. Default: <INPUT name>_flowseg in the current folder.")
@_preset_option
@_model_option
@_weights_option
@click.option("--flow-method", type=click.Choice(FLOW_METHODS), default=None,
              help="Optical flow method (default: the preset's); RAFT needs its weights.")
@click.option("--flow-weights", type=click.Path(path_type=Path), help="RAFT weights file.")
@_init_mask_option
@_prompt_options
@_init_frame_option
@click.option("--keyframe-interval", type=click.IntRange(min=1), default=None, metavar="N",
              help="Run the semantic model at least every N frames and let the flow carry it in between "
                   "(earlier where that goes stale); 1 = every frame (default: 8 for DeepLabV3, 1 for the "
                   "cheap person model).")
@click.option("--target-fps", type=click.FloatRange(min=0, min_open=True), default=None, metavar="FPS",
              help="Keep up with FPS frames per second: while the run is behind, keyframes wait, then the "
                   "flow and refinement switch to cheaper settings.")
@click.option("--instances", is_flag=True,
              help="Tell the target's objects apart, each with an ID that stays put: writes instances/<name>.png "
                   "and tracks.json, and the overlay shows the IDs.")
@click.option("--moving", "only_moving", is_flag=True,
              help="Only the --target objects that move independently of the camera (a still person is dropped).")
@click.option("--temporal-weight", type=click.FloatRange(0, 1), default=None,
              help="Weight of the flow-warped previous mask where the flow is trusted, 0-1.")
@click.option("--refine", type=click.Choice(REFINE_METHODS), default=None,
              help="Edge-aware refinement (default: the preset's).")
@_device_option
@click.option("--alpha", "alpha", multiple=True, type=click.Choice(ALPHA_FORMATS),
              help="Also write the cut-out with alpha: prores = cutout.mov (ProRes 4444), webm = cutout.webm "
                   "(VP9), png = cutouts/<name>.png (RGBA); repeat for several.")
@click.option("--feather", type=click.FloatRange(min=0), default=0.0, show_default=True, metavar="PX",
              help="Soften the cut-out's alpha and the matte over PX pixels across the mask's edge.")
@click.option("--export", "export", type=click.Choice(tuple(EXPORTS)), default=None,
              help="A set of outputs: editor = ProRes 4444 cut-out with alpha, matte, overlay preview and "
                   "shots.edl (CMX 3600).")
@click.option("--coco", "coco_path", type=click.Path(path_type=Path), metavar="JSON",
              help="Also write every frame's mask to this COCO JSON file (run-length encoded).")
@click.option("--no-video", is_flag=True, help="Skip mask.mp4 and overlay.mp4.")
@click.option("--video-stream", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
              help="Read the input's video stream N (0 = the first) where it has several.")
@click.option("--causal", is_flag=True,
              help="Segment each frame from itself and the frames before it only, as on a live feed. By default "
                   "--target moving first finds the movers, then follows them both ways from the frame of each "
                   "shot where they were surest, frames before --init-frame get the object followed backwards, and "
                   "--instances drops IDs seen on fewer than 8 frames.")
@_overwrite_option
@_quiet_option
def run(input_path: Path, target: tuple[str, ...], output_dir: Path | None, preset: str, model: str,
        weights: Path | None, flow_method: str, flow_weights: Path | None, init_mask: Path | None,
        box: Marked | None, points: tuple[Marked, ...], negative_points: tuple[Marked, ...], init_frame: int,
        keyframe_interval: int | None, target_fps: float | None, instances: bool, only_moving: bool,
        temporal_weight: float | None,
        refine: str,
        device: str, alpha: tuple[str, ...], feather: float, export: str | None, coco_path: Path | None,
        no_video: bool, video_stream: int, causal: bool, overwrite: bool, quiet: bool) -> None:
    """Segment the TARGET objects in INPUT (a video file or a folder of images).

    With --init-mask, follow the object that mask marks instead (or each
    object of an indexed PNG); the target's model then only helps where it
    recognises the object. With --box and/or --point, follow the object they
    mark (see 'flowseg mask' to check its mask first).

    \b
    Writes to the output folder, which appears only when complete:
      masks/<name>.png      0/255 masks (<name>: image file name, or 00000... for a video)
      mask.mp4              the matte: white object on black (H.264)
      overlay.mp4           preview: the mask tinted on the frames (H.264)
      cutout.mov            the frames with alpha, ProRes 4444 (--alpha prores)
      cutout.webm           the frames with alpha, VP9 (--alpha webm)
      cutouts/<name>.png    RGBA cut-outs (--alpha png)
      shots.edl             the shots as a CMX 3600 EDL (--export editor)
      instances/<name>.png  object IDs, indexed PNG (--instances, or several objects)
      tracks.json           each object's frames, boxes and RLE masks (YouTube-VIS results layout)
      quality.csv           each frame's confidence (QA); summary.json lists the suspect frames
      prompt_mask.png       the mask --box/--point gave, and prompt_overlay.png, it over its frame
      summary.json          frames, keyframes, settings, model used, seconds per stage, fps,
                            and how the input was read (timestamps, frames that did not decode)
    Videos keep the source's frame times and audio. A frame that does not decode
    is skipped and named in a warning; the others keep their names.
    """
    from .pipeline import Pipeline
    from .runner import segment_video

    output_dir = output_dir or _default_output(input_path, "flowseg")
    chosen = {"flow_method": flow_method, "refine": refine, "temporal_weight": temporal_weight,
              "keyframe_interval": keyframe_interval, "target_fps": target_fps}
    overrides = {key: value for key, value in chosen.items() if value is not None}
    pipeline = Pipeline.from_preset(preset, target=target, model=model, weights=weights, flow_weights=flow_weights,
                                    device=device, only_moving=only_moving, instances=instances, **overrides)
    exported = EXPORTS.get(export, {})
    with _Progress(input_path.name, shown=not quiet) as progress:
        summary = segment_video(input_path, output_dir, pipeline=pipeline,
                                alpha=tuple(dict.fromkeys(alpha + exported.get("alpha", ()))), feather=feather,
                                videos=not no_video or exported.get("videos", False), edl=exported.get("edl", False),
                                coco=coco_path, overwrite=overwrite, progress=progress, init_mask=init_mask,
                                init_frame=init_frame, video_stream=video_stream, causal=causal,
                                prompt=_prompt_from(box, points, negative_points, init_frame))
    _echo_warnings(summary)
    if not quiet:
        stages = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in summary["seconds"]["stages"].items())
        click.echo(f"model: {summary['model']}", err=True)
        keyframes = f" ({summary['keyframes']} keyframes)" if summary["keyframes"] < summary["frames"] else ""
        click.echo(f"{summary['frames']} frames{keyframes} in "
                   f"{summary['seconds']['total']:.1f}s ({summary['fps']:.1f} fps; {stages})", err=True)
        if summary["mode"] == "objects":
            click.echo(f"followed {len(summary['objects'])} objects given in {init_mask} (IDs "
                       f"{', '.join(str(found['label']) for found in summary['objects'])})", err=True)
        elif summary["mode"] == "object" and init_mask is not None:
            click.echo(f"followed 1 object given in {init_mask}", err=True)
        if "quality" in summary:
            suspects = ", ".join(f"{frame['name']} ({frame['confidence']:.2f})"
                                 for frame in summary["quality"]["suspect_frames"])  # fmt: skip
            click.echo(f"least confident frames: {suspects}", err=True)
        click.echo(f"wrote {output_dir}", err=True)


@main.command(short_help="Make an object's mask from a box or clicks on one frame.")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@_prompt_options
@click.option("--frame", "default_frame", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
              help="The frame the marks are on, where they do not say (@F).")
@click.option("-o", "--output", "output_path", type=click.Path(path_type=Path), required=True, metavar="PNG",
              help="Write the 0/255 mask here.")
@click.option("--preview", "preview_path", type=click.Path(path_type=Path), metavar="PNG",
              help="Also write the mask tinted over its frame here.")
@click.option("--video-stream", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
              help="Read the input's video stream N (0 = the first) where it has several.")
def mask(input_path: Path, box: Marked | None, points: tuple[Marked, ...], negative_points: tuple[Marked, ...],
         default_frame: int, output_path: Path, preview_path: Path | None, video_stream: int) -> None:
    """Write the mask a box and/or clicks give the object on one frame of INPUT.

    Look at it (--preview), add --point or --negative-point where it is
    wrong, then follow the object with the same marks ('flowseg run INPUT
    --box ...') or with the mask ('--init-mask PNG --init-frame N').

    \b
    Example:
      flowseg mask dog.mp4 --box 120,40,380,300@12 --negative-point 300,60@12 -o dog12.png --preview check.png
    """
    import cv2

    from .io import FrameSource
    from .io.preview import overlay
    from .runner import prompted_object

    prompt = _prompt_from(box, points, negative_points, default_frame)
    if prompt is None:
        raise click.UsageError("mark the object: give --box or --point")
    image, found = prompted_object(FrameSource(input_path, video_stream=video_stream), prompt)
    for path, picture in ((output_path, found.astype(np.uint8) * 255),
                          (preview_path, cv2.cvtColor(overlay(image, found), cv2.COLOR_RGB2BGR))):  # fmt: skip
        if path is not None:
            ok, encoded = cv2.imencode(".png", picture)
            if not ok:
                raise OutputError(f"cannot encode {str(path)!r} as PNG")
            _write_atomically(path, encoded.tobytes())
    click.echo(f"frame {prompt.frame}: mask of {int(found.sum())} pixels "
               f"({100 * found.mean():.1f}% of the frame), wrote {output_path}", err=True)


@main.command("app", short_help="Mark, follow, correct and export an object in a local web page.")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("-o", "--output", "output_dir", type=click.Path(path_type=Path),
              help="Where Export writes. Default: <INPUT name>_flowseg in the current folder.")
@_preset_option
@_device_option
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0: any free one).")
@click.option("--no-browser", is_flag=True, help="Only print the page's address; do not open a browser.")
@click.option("--video-stream", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
              help="Read the input's video stream N (0 = the first) where it has several.")
@_overwrite_option
def app(input_path: Path, output_dir: Path | None, preset: str, device: str, port: int, no_browser: bool,
        video_stream: int, overwrite: bool) -> None:
    """Open INPUT (a video file or a folder of images) in a page served on this machine only.

    Draw a box or click on the object on any frame, check its mask,
    Propagate; step to the frames the timeline marks least confident, mark
    the object again there, Propagate again (only the frames the correction
    changes are recomputed); Export writes what 'flowseg run' writes (masks,
    matte, overlay, cut-out with alpha) to the output folder. The page's
    address carries a random token: only whoever has it can use the app.
    Ctrl-C stops it.

    The clip is held in memory (about 2.5 MB a frame at 854x480; one larger
    than the free memory is refused): for long videos, mark the object here,
    then 'flowseg run INPUT --box ...'.
    """
    from .app import EditingSession
    from .app.server import serve
    from .io.outputs import check_output_folder
    from .pipeline import Pipeline

    output_dir = output_dir or _default_output(input_path, "flowseg")
    check_output_folder(output_dir, overwrite=overwrite)  # now, not at the first export
    click.echo(f"reading {input_path.name}...", err=True)
    session = EditingSession(input_path, output_dir, pipeline=Pipeline.from_preset(preset, device=device),
                             video_stream=video_stream)
    height, width = session.shape
    click.echo(f"{len(session.frames)} frames, {width}x{height}; exports go to {output_dir}", err=True)
    try:
        serve(session, port=port, open_browser=not no_browser,
              announce=lambda url: click.echo(f"flowseg app: open {url}  (Ctrl-C stops it)", err=True))
    except (KeyboardInterrupt, _Terminated):
        click.echo("flowseg app stopped.", err=True)


@main.command(short_help="Predict the next frames (and masks) from the motion so far.")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("-o", "--output", "output_dir", type=click.Path(path_type=Path),
              help="Output folder. Default: <INPUT name>_predicted in the current folder.")
@click.option("-k", "--horizon", type=click.IntRange(min=1), default=1, show_default=True, metavar="K",
              help="Predict each frame from the frames up to K before it.")
@click.option("--motion", type=click.Choice(MOTION_MODELS), default="pixel", show_default=True,
              help="pixel: every pixel keeps its velocity; layered: the camera's motion for the background and, "
                   "with --target or --init-mask, one affine motion for the object.")
@click.option("--sharp", is_flag=True,
              help="Forward-warp each frame only: crisp, but further off on average than the default, which "
                   "blurs where the motion is uncertain.")
@click.option("-t", "--target", multiple=True, callback=_split_targets_or_none,
              help="Also segment these VOC class(es) and predict their masks (see 'flowseg models').")
@_init_mask_option
@_prompt_options
@_init_frame_option
@_preset_option
@_model_option
@_weights_option
@_device_option
@click.option("--no-video", is_flag=True, help="Skip side_by_side.mp4.")
@_overwrite_option
@_quiet_option
def predict(input_path: Path, output_dir: Path | None, horizon: int, motion: str, sharp: bool,
            target: tuple[str, ...], init_mask: Path | None, box: Marked | None, points: tuple[Marked, ...],
            negative_points: tuple[Marked, ...], init_frame: int, preset: str, model: str, weights: Path | None,
            device: str, no_video: bool, overwrite: bool, quiet: bool) -> None:
    """Predict every frame of INPUT (a video file or a folder of images) from the frames K before it.

    Each pixel keeps the motion the optical flow measured last (and a
    quarter of how it last changed), and the frame is forward-warped K
    frames ahead; what moving objects uncover is inpainted. Unless --sharp,
    the frame then hedges as the one nearest the real frame on average must:
    it is averaged with the backward warp and blurred where the motion is
    uncertain. --preset sets the flow: DIS ultrafast at half size (fast),
    DIS medium at full size (balanced, quality). With --target, --init-mask
    or --box/--point the masks are segmented and predicted the same way.

    \b
    Writes to the output folder, which appears only when complete:
      predicted/<name>.png        frame <name> as predicted K frames earlier (from frame K on)
      predicted_masks/<name>.png  its predicted 0/255 mask (with --target or --init-mask)
      side_by_side.mp4            real | predicted
      summary.json                frames, PSNR of the predictions and of copying the frame K before
    """
    from .io import FrameSource
    from .pipeline import Pipeline
    from .predictor import predict_video
    from .runner import prompted_object

    output_dir = output_dir or _default_output(input_path, "predicted")
    prompt = _prompt_from(box, points, negative_points, init_frame)
    if prompt is not None:
        _, init_mask = prompted_object(FrameSource(input_path), prompt, init_mask)
        init_frame = prompt.frame
    pipeline = None
    if target or init_mask is not None:
        pipeline = Pipeline.from_preset(preset, target=target or ("person",), model=model, weights=weights,
                                        device=device)
    with _Progress(input_path.name, shown=not quiet) as progress:
        summary = predict_video(input_path, output_dir, horizon=horizon, pipeline=pipeline, init_mask=init_mask,
                                init_frame=init_frame, init_mask_exact=prompt is None, motion=motion, preset=preset,
                                sharp=sharp, videos=not no_video, overwrite=overwrite, progress=progress)  # fmt: skip
    _echo_warnings(summary)
    if not quiet:
        click.echo(f"{summary['predicted']} of {summary['frames']} frames predicted {horizon} ahead in "
                   f"{summary['seconds']:.1f}s ({summary['fps']:.1f} fps); PSNR {summary['psnr']} dB "
                   f"(copying the frame {horizon} before: {summary['copy_psnr']} dB)", err=True)
        click.echo(f"wrote {output_dir}", err=True)


@main.command("eval", short_help="Score masks against DAVIS ground truth (J, F, J&F).")
@click.argument("results", type=click.Path(path_type=Path))
@click.argument("ground_truth", type=click.Path(path_type=Path))
@click.option("--sequences", help="Comma-separated sequence names (default: all found in both folders).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Also write the report as JSON here.")
def eval_command(results: Path, ground_truth: Path, sequences: str | None, json_path: Path | None) -> None:
    """Score RESULTS against GROUND_TRUTH with the DAVIS measures (J, F, J&F).

    \b
    RESULTS:      <seq>/<frame>.png, or flowseg run outputs <seq>/masks/<frame>.png
    GROUND_TRUTH: <seq>/<frame>.png, or a DAVIS root with Annotations/480p/<seq>/
    The first and last frame of each sequence are not scored (as in DAVIS).
    """
    from .evaluation import evaluate_folders, format_table

    names = [s.strip() for s in sequences.split(",") if s.strip()] if sequences else None
    report = evaluate_folders(results, ground_truth, sequences=names)
    click.echo(format_table(report))
    if json_path is not None:
        _write_atomically(json_path, json.dumps(report, indent=2) + "\n")


def _write_atomically(path: Path, content: str | bytes) -> None:
    """Write `content` (text as UTF-8) to a temporary name beside `path`, then rename it: no half-written file."""
    tmp = path.with_name(f".{path.name}.partial")
    try:
        tmp.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {str(path)!r}: {error.strerror}") from None


@main.command(short_help="Find the shots of a video: cuts, fades and dissolves.")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write the shot list as JSON here.")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), help="Write the shots as CSV here.")
@click.option("--edl", "edl_path", type=click.Path(path_type=Path),
              help="Write the shots as a CMX 3600 edit decision list here.")
@click.option("--otio", "otio_path", type=click.Path(path_type=Path),
              help="Write the shots as an OpenTimelineIO timeline (.otio) here.")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Frame rate for timecodes (default: the video's; 25 for an image folder).")
def shots(input_path: Path, json_path: Path | None, csv_path: Path | None, edl_path: Path | None,
          otio_path: Path | None, fps: float | None) -> None:
    """List the shots of INPUT (a video file or a folder of images) and the boundaries between them.

    \b
    Frame numbers are zero-based and inclusive: a cut between frames 41 and 42
    is the boundary start 41, end 42; a gradual transition spans from the
    last frame of the old shot to the first frame of the new one. EDL and
    OTIO clips refer to INPUT at its frame rate; EDL timecodes are
    non-drop-frame.
    """
    from .io import FrameSource
    from .shots import detect, shot_list
    from .io.timeline import edl_text, otio_json

    source = FrameSource(input_path)
    frames = 0

    def images():
        nonlocal frames
        for frames, (_, image) in enumerate(source, start=1):
            yield image

    boundaries = detect(images())
    listing = shot_list(boundaries, frames=frames, fps=fps or source.fps or 25.0)
    for number, shot in enumerate(listing["shots"], start=1):
        click.echo(f"shot {number:3d}: frames {shot['start']:6d}-{shot['end']:6d}  "
                   f"{shot['start_timecode']} - {shot['end_timecode']}")
    for boundary in listing["boundaries"]:
        click.echo(f"{boundary['kind']:>8s}: {boundary['start']}-{boundary['end']}")
    if json_path is not None:
        _write_atomically(json_path, json.dumps(listing, indent=2) + "\n")
    if csv_path is not None:
        rows = ["shot,start,end,start_timecode,end_timecode"]
        rows += [f"{n},{s['start']},{s['end']},{s['start_timecode']},{s['end_timecode']}"
                 for n, s in enumerate(listing["shots"], start=1)]
        _write_atomically(csv_path, "\n".join(rows) + "\n")
    if edl_path is not None:
        _write_atomically(edl_path, edl_text(listing, title=input_path.stem, source_name=input_path.name))
    if otio_path is not None:
        _write_atomically(otio_path, otio_json(listing, name=input_path.stem, media_path=str(input_path.absolute())))


@main.command(short_help="Segment many videos, on this machine or a Ray cluster; resumable.")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUTS...")
@click.option("-o", "--output", "output_dir", type=click.Path(path_type=Path), required=True,
              help="Output folder: OUT/<input name>/ per input, and OUT/batch_report.json.")
@click.option("-t", "--target", multiple=True, default=("person",), show_default=True, callback=_split_targets,
              help="VOC class(es) to segment (see 'flowseg models').")
@_preset_option
@_model_option
@_weights_option
@_device_option
@click.option("--instances", is_flag=True, help="Tell the target's objects apart (see 'flowseg run --help').")
@click.option("--moving", "only_moving", is_flag=True, help="Only the --target objects that move, as for 'run'.")
@click.option("--alpha", "alpha", multiple=True, type=click.Choice(ALPHA_FORMATS), help="As for 'flowseg run'.")
@click.option("--feather", type=click.FloatRange(min=0), default=0.0, metavar="PX", help="As for 'flowseg run'.")
@click.option("--export", "export", type=click.Choice(tuple(EXPORTS)), default=None, help="As for 'flowseg run'.")
@click.option("--no-video", is_flag=True, help="Skip mask.mp4 and overlay.mp4.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Workers, each with its own copy of the models (default: the CPU count).")
@click.option("--ray", "address", metavar="ADDRESS", default=None,
              help="Run on this Ray cluster ('auto' or host:port) instead of starting Ray here.")
@click.option("--retries", type=click.IntRange(min=0), default=2, show_default=True,
              help="Times an input is retried after its worker process died.")
@click.option("--split-frames", type=click.IntRange(min=2), default=None, metavar="N",
              help="Cut a video longer than N frames into parts processed side by side and stitched, "
                   "at shot changes where there are any (not with an init mask).")
@_quiet_option
def batch(inputs: tuple[str, ...], output_dir: Path, target: tuple[str, ...], preset: str, model: str,
          weights: Path | None, device: str, instances: bool, only_moving: bool, alpha: tuple[str, ...],
          feather: float, export: str | None, no_video: bool,
          workers: int | None, address: str | None, retries: int, split_frames: int | None, quiet: bool) -> None:
    """Segment every input like 'flowseg run', in parallel; run it again to finish what is not done.

    \b
    INPUTS: video files, image folders, glob patterns ('clips/*.mp4'), text
    files listing them (one a line), or a CSV manifest with the columns
    input, init_mask, init_frame (to follow given objects).
    Finished inputs (OUT/<name>/summary.json) are skipped; an input that
    fails is recorded in OUT/batch_report.json and the rest go on. Exit
    status 1 when any input failed. Needs Ray: pip install 'flowseg[batch]'.
    """
    from .batch import collect_inputs, run_batch

    exported = EXPORTS.get(export, {})
    pipeline_options = {"preset": preset, "target": target, "model": model, "weights": weights, "device": device,
                        "instances": instances, "only_moving": only_moving}
    run_options = {"alpha": tuple(dict.fromkeys(alpha + exported.get("alpha", ()))), "feather": feather,
                   "edl": exported.get("edl", False), "videos": not no_video or exported.get("videos", False)}
    entries = collect_inputs(inputs)

    def show(report: dict[str, Any]) -> None:
        finished = report["done"] + report["failed"]
        left = len(report["inputs"]) - finished - report["skipped"]
        eta = report["seconds"] / finished * left if finished else 0.0
        click.echo(f"{finished + report['skipped']}/{len(report['inputs'])} inputs ({report['failed']} failed), "
                   f"{report['fps'] or 0:.1f} fps overall, ETA {eta:.0f}s", err=True)

    report = run_batch(entries, output_dir, pipeline_options=pipeline_options, run_options=run_options,
                       workers=workers, address=address, retries=retries, split_frames=split_frames,
                       progress=None if quiet else show)
    for row in report["inputs"]:
        if row["status"] == "failed":
            click.echo(f"failed: {row['input']}: {row['error']}", err=True)
    if not quiet:
        click.echo(f"{report['done']} done, {report['skipped']} skipped (finished before), {report['failed']} failed; "
                   f"{report['frames']} frames in {report['seconds']:.1f}s ({report['fps'] or 0:.1f} fps) on "
                   f"{report['workers']} workers; report: {output_dir / 'batch_report.json'}", err=True)
    if report["failed"]:
        sys.exit(1)


@main.command(short_help="List models, their weights, and the target classes.")
def models() -> None:
    """List the semantic and flow models, and whether their weights are on this machine."""
    click.echo("Semantic models (--model):")
    click.echo(f"  {'selfie':32s} embedded person model (MediaPipe selfie segmentation), always available")
    for spec in WEIGHTS.values():
        if spec.kind == "flow":
            continue
        path = find_weights_file(spec.name)
        click.echo(f"  {spec.name:32s} {'weights: ' + str(path) if path else 'weights missing: ' + spec.filename}")
    click.echo("Optical flow (--flow-method):")
    for method in FLOW_METHODS:
        note = "OpenCV, always available"
        if method in WEIGHTS:
            path = find_weights_file(method)
            note = f"weights: {path}" if path else f"weights missing: {WEIGHTS[method].filename}"
        click.echo(f"  {method:32s} {note}")
    click.echo("Targets (--target), the 20 VOC object classes:")
    click.echo("  " + ", ".join(VOC_CLASSES[1:]))
    click.echo("Weights are looked for in $FLOWSEG_WEIGHTS_DIR, then the torch hub cache's checkpoints folder.")
