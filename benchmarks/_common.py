"""Helpers shared by the benchmark scripts: configurations, isolation, environment, reports.

Nothing here is part of flowseg; the package never imports it. The scripts
use flowseg's public API only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

import flowseg
from flowseg import MaskRefiner, Pipeline, Prompt, SemanticSegmenter, WeightsError, mask_from_prompt
from flowseg.evaluation import read_mask_png
from flowseg.io import FrameSource
from flowseg.stages import MovingObjects
from flowseg.models import find_weights_file

REPO_ROOT = Path(__file__).resolve().parents[1]
"""The repository root (the folder holding ``benchmarks/``)."""

SHARED_ENV = "FLOWSEG_SHARED"
"""Environment variable naming the ``shared`` folder (the one that holds ``data/``)."""

PIPELINE_CONFIGS: dict[str, dict[str, Any] | None] = {
    "semantics": None,
    "fast": {"preset": "fast"},
    "balanced": {"preset": "balanced"},
    "quality": {"preset": "quality"},
    "fast+keyframes": {"preset": "fast", "keyframe_interval": 8},
    "balanced+keyframes": {"preset": "balanced", "keyframe_interval": 8},
    "quality+keyframes": {"preset": "quality", "keyframe_interval": 8},
    "balanced+30fps": {"preset": "balanced", "target_fps": 30.0},
    "balanced+prediction": {"preset": "balanced", "prediction_weight": 0.5},
    "object+prediction": {"preset": "balanced", "init": "first-mask", "prediction_weight": 0.5},
    "moving-naive": {"target": "moving", "per_frame": True},
    "moving-causal": {"preset": "balanced", "target": "moving", "causal": True},
    "moving": {"preset": "balanced", "target": "moving"},
    "object-fast": {"preset": "fast", "init": "first-mask"},
    "object": {"preset": "balanced", "init": "first-mask"},
    "object-quality": {"preset": "quality", "init": "first-mask"},
    "object+box": {"preset": "balanced", "init": "first-box"},
    "warp": {"refine": "none"},
    "warp+crf": {"refine": "crf"},
    "warp+graphcut": {"refine": "graphcut"},
    "farneback+crf": {"flow_method": "farneback", "refine": "crf"},
    "raft_small+crf": {"flow_method": "raft_small", "refine": "crf"},
    "raft_large+crf": {"flow_method": "raft_large", "refine": "crf"},
}
"""Named pipelines, as the :class:`flowseg.Pipeline` keywords that define them.

``None`` is the per-frame semantics alone (no flow, no fusion, a 0.5
threshold); ``preset`` builds :meth:`flowseg.Pipeline.from_preset`;
``"init": "first-mask"`` runs it in semi-supervised mode (the object marked
in the first frame: the ground truth on DAVIS, the person model's first mask
on other clips; see :func:`follows_object`), ``"init": "first-box"`` from
the mask :func:`flowseg.mask_from_prompt` makes of the ground truth's
bounding box (DAVIS only); ``"target": "moving"``
segments whatever moves, whatever the data's classes; ``"per_frame": True``
thresholds each frame's camera-compensated motion hint with no colour
memory and no temporal fusion (the naive baseline). Each runs as
``flowseg run`` does (:meth:`flowseg.Pipeline.stream_two_pass`: a backward
pass joins where it helps) unless ``"causal": True`` (:meth:`flowseg.Pipeline.stream`). Every
keyword not named keeps the library default (the ``balanced`` preset), so
the numbers follow the defaults as they change.
"""

_T = TypeVar("_T")


def shared_dir() -> Path:
    """The ``shared`` folder: ``$FLOWSEG_SHARED`` when set, else ``../shared`` beside the repository.

    Returns
    -------
    Path
        The folder (it may not exist).
    """
    env = os.environ.get(SHARED_ENV)
    return Path(env).expanduser() if env else REPO_ROOT.parent / "shared"


def display_path(path: str | Path) -> str:
    """`path` relative to the repository root (e.g. ``../shared/data``), so no machine's absolute path is recorded."""
    return os.path.relpath(path, REPO_ROOT)


def comma_list(value: str) -> list[str]:
    """Parse a comma-separated command-line value into its non-empty, stripped items.

    Parameters
    ----------
    value : str
        E.g. ``"a, b,,c"``.

    Returns
    -------
    list of str
        E.g. ``["a", "b", "c"]``.

    Examples
    --------
    >>> comma_list(" warp, warp+crf ,")
    ['warp', 'warp+crf']
    """
    return [item.strip() for item in value.split(",") if item.strip()]


def comma_choices(valid: Sequence[str]) -> Callable[[str], list[str]]:
    """An argparse ``type`` for a comma-separated list of names taken from `valid`.

    Parameters
    ----------
    valid : sequence of str
        The accepted names.

    Returns
    -------
    callable
        Parses the option's value with :func:`comma_list`, drops repeats,
        and raises :class:`argparse.ArgumentTypeError` (a usage error, exit
        status 2) naming the unknown values and listing the valid ones.

    Examples
    --------
    >>> comma_choices(["a", "b"])("b,a,b")
    ['b', 'a']
    """

    def parse(value: str) -> list[str]:
        names = list(dict.fromkeys(comma_list(value)))
        unknown = [name for name in names if name not in valid]
        if unknown or not names:
            problem = f"unknown name(s) {', '.join(map(repr, unknown))}" if unknown else f"no name in {value!r}"
            raise argparse.ArgumentTypeError(f"{problem}; valid names: {', '.join(valid)}")
        return names

    return parse


def add_shared_options(parser: argparse.ArgumentParser, *, out: Path, configs_note: str = "") -> None:
    """Add the options of the pipeline benchmarks (davis.py, speed.py): ``--configs``, ``--out`` and ``--record``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The script's parser.
    out : Path
        Default results folder.
    configs_note : str
        Appended to the help of ``--configs``.
    """
    names = list(PIPELINE_CONFIGS)
    parser.add_argument("--configs", type=comma_choices(names), default=names,
                        help=f"comma-separated configurations (default: all): {', '.join(names)}{configs_note}")
    add_output_options(parser, out=out)


def davis_sequences(parser: argparse.ArgumentParser, root: Path, flag: str, sequences: list[str] | None) -> list[str]:
    """The sequences of the DAVIS folder `root` (given as `flag`) that `sequences` names, all when None.

    A missing ``JPEGImages/480p`` folder or an unknown name is a usage error (``parser.error``: exit 2).
    """
    images = root / "JPEGImages" / "480p"
    if not images.is_dir():
        parser.error(f"{flag} {root}: no JPEGImages/480p folder")
    found = sorted(p.name for p in images.iterdir() if p.is_dir())
    unknown = sorted(set(sequences or ()) - set(found))
    if unknown:
        parser.error(f"--sequences: not in {images}: {', '.join(unknown)}")
    return sequences or found


def read_davis_sequence(root: Path, name: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Every frame of sequence `name` under the DAVIS folder `root` (``(H, W, 3) uint8`` RGB) and its true mask
    (``(H, W) bool``, ``Annotations/480p/<name>/<frame>.png``)."""
    frames = [image for _, image in FrameSource(root / "JPEGImages" / "480p" / name)]
    truths = [read_mask_png(root / "Annotations" / "480p" / name / f"{t:05d}.png") for t in range(len(frames))]
    return frames, truths


def add_output_options(parser: argparse.ArgumentParser, *, out: Path) -> None:
    """Add the options every benchmark takes: ``--out`` (default `out`) and ``--record``."""
    parser.add_argument("--out", type=Path, default=out,
                        help=f"results folder, holding report.json (default: {out})")
    parser.add_argument("--record", type=Path, default=None, metavar="MARKDOWN",
                        help="write the results as a section of this file (e.g. benchmarks/RESULTS.md), "
                             "replacing the section of the same title")


def config_unavailable(config: str) -> str | None:
    """Why a pipeline configuration cannot run on this machine, or None when it can.

    Parameters
    ----------
    config : str
        A key of :data:`PIPELINE_CONFIGS` (any other name runs anywhere).

    Returns
    -------
    str or None
        ``"weights missing"`` when its RAFT weights are not on this machine.
    """
    flow_method = (PIPELINE_CONFIGS.get(config) or {}).get("flow_method", "")
    if flow_method.startswith("raft") and find_weights_file(flow_method) is None:
        return "weights missing"
    return None


def follows_object(config: str) -> bool:
    """Whether a configuration runs in semi-supervised mode (from a first-frame mask, or box)."""
    return (PIPELINE_CONFIGS.get(config) or {}).get("init") in ("first-mask", "first-box")


def starts_from_box(config: str) -> bool:
    """Whether a semi-supervised configuration starts from the first mask's bounding box instead of the mask."""
    return (PIPELINE_CONFIGS.get(config) or {}).get("init") == "first-box"


def is_causal(config: str) -> bool:
    """Whether a configuration runs forward only (:meth:`flowseg.Pipeline.stream`), as on a live feed."""
    return bool((PIPELINE_CONFIGS.get(config) or {}).get("causal"))


def needs_no_class(config: str) -> bool:
    """Whether a configuration runs on any sequence, whatever its classes (semi-supervised or moving)."""
    return follows_object(config) or (PIPELINE_CONFIGS.get(config) or {}).get("target") == "moving"


def mask_from_box(image: np.ndarray, neighbour: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """flowseg's mask of the object in `box` on `image`, with the motion against `neighbour` (the next frame).

    As ``flowseg run --box`` makes it: :func:`flowseg.mask_from_prompt` with
    :func:`flowseg.prompts.motion_evidence` against `neighbour` as evidence.
    """
    return mask_from_prompt(image, Prompt(box=box), neighbour=neighbour)


def build_pipeline(config: str, target: str | Sequence[str]) -> Pipeline:
    """Build the named pipeline configuration for a target.

    Parameters
    ----------
    config : str
        A key of :data:`PIPELINE_CONFIGS`.
    target : str or sequence of str
        VOC class name(s), passed on to :class:`flowseg.SemanticSegmenter`.

    Returns
    -------
    Pipeline

    Raises
    ------
    flowseg.WeightsError
        When the target needs model weights that are not on this machine.
    """
    keywords = PIPELINE_CONFIGS[config]
    if keywords is not None:
        target = keywords.get("target", target)
        keywords = {k: v for k, v in keywords.items() if k not in ("init", "target", "causal")}
    if keywords is None:
        return Pipeline([SemanticSegmenter(target=target), MaskRefiner(method="none", source="evidence")])
    if keywords.pop("per_frame", False):  # the naive motion baseline
        naive = MovingObjects(colours=False, border_prior=False)
        return Pipeline(["flow", naive, MaskRefiner(method="none", source="evidence")])
    if "preset" in keywords:
        preset, overrides = keywords["preset"], {k: v for k, v in keywords.items() if k != "preset"}
        return Pipeline.from_preset(preset, target=target, **overrides)
    return Pipeline(target=target, **keywords)


def run_isolated(function: Callable[..., _T], *args: Any) -> _T:
    """Call ``function(*args)`` in a fresh Python process and return its result.

    A new process per call keeps model caches, allocator pools and the peak
    resident memory of one configuration from leaking into the next.

    Parameters
    ----------
    function : callable
        A module-level function (it is pickled by name).
    *args
        Picklable arguments.

    Returns
    -------
    object
        What `function` returned; an exception it raised is raised here.
    """
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


@dataclass(frozen=True)
class Attempt:
    """The outcome of running one configuration: a result, or why there is none."""

    result: Any = None
    """What the configuration's function returned (None when it did not run or failed)."""
    reason: str | None = None
    """Why there is no result; None when there is one."""
    failed: bool = False
    """Whether `reason` is an unexpected error (a bug to look at) rather than a known limitation."""


def attempt(config: str, function: Callable[..., Any], *args: Any) -> Attempt:
    """Run one configuration in a fresh process, unless it cannot run here.

    Parameters
    ----------
    config : str
        Configuration name, checked with :func:`config_unavailable`.
    function : callable
        Module-level function to run with :func:`run_isolated`.
    *args
        Its picklable arguments.

    Returns
    -------
    Attempt
        The result; or the reason it did not run (missing weights,
        :class:`flowseg.WeightsError`); or, with ``failed`` set, the error
        it raised, so that one broken configuration does not lose the
        others' numbers.
    """
    reason = config_unavailable(config)
    if reason is not None:
        return Attempt(reason=reason)
    try:
        return Attempt(result=run_isolated(function, *args))
    except WeightsError as error:
        return Attempt(reason=str(error))
    except Exception as error:  # reported with the results; the script then exits 1
        return Attempt(reason=f"failed: {type(error).__name__}: {error}", failed=True)


def _first_value(path: str, key: str) -> str | None:
    """The value of the first ``key : value`` line of a /proc file, or None."""
    try:
        with open(path, encoding="utf-8") as file:
            for line in file:
                name, sep, value = line.partition(":")
                if sep and name.strip() == key:
                    return value.strip()
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB.

    Returns
    -------
    float
        ``VmHWM`` of ``/proc/self/status`` on Linux; elsewhere ``ru_maxrss``.

    Notes
    -----
    On Linux ``getrusage(RUSAGE_SELF).ru_maxrss`` survives ``execve``: a
    process started by a large parent (``fork`` then ``exec``, as
    multiprocessing's ``spawn`` does) reports at least the parent's peak.
    ``VmHWM`` belongs to the process's own address space, so it starts from
    zero at ``exec``.
    """
    hwm = _first_value("/proc/self/status", "VmHWM")
    if hwm is not None:
        return int(hwm.split()[0]) / 2**10  # "123456 kB"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB elsewhere


def fix_seeds(seed: int = 0) -> None:
    """Seed the random generators a pipeline may use: Python, NumPy, OpenCV, and torch once imported.

    torch is seeded only when something has imported it already, so that a
    configuration that does not need torch does not pay its memory.
    """
    import cv2

    random.seed(seed)
    np.random.seed(seed)
    cv2.setRNGSeed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def git_revision() -> str:
    """Short commit hash of the repository, saying when tracked files have uncommitted changes.

    Returns
    -------
    str
        E.g. ``"f5e171f"``, or ``"f5e171f + uncommitted changes"`` when
        ``git status --porcelain`` lists a tracked file; ``"unknown"``
        outside a git checkout.
    """

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, check=False)

    head = git("rev-parse", "--short", "HEAD")
    if head.returncode != 0:
        return "unknown"
    changed = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    return head.stdout.strip() + (" + uncommitted changes" if changed else "")


def machine_description() -> dict[str, Any]:
    """What ran the benchmark: CPU, cores, memory, load, threads, GPU and versions.

    Returns
    -------
    dict
        ``"cpu"``, ``"cores"`` (usable by this process), ``"ram_gb"``,
        ``"load_average"`` (1, 5, 15 min, at the start), ``"torch_threads"``,
        ``"opencv_threads"``, ``"gpu"`` (None without CUDA) and ``"versions"``.
    """
    import cv2
    import torch
    import torchvision

    mem_kb = _first_value("/proc/meminfo", "MemTotal")
    return {
        "cpu": _first_value("/proc/cpuinfo", "model name") or platform.processor() or platform.machine(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gb": round(int(mem_kb.split()[0]) / 2**20, 1) if mem_kb else None,
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "torch_threads": torch.get_num_threads(),
        "opencv_threads": cv2.getNumThreads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "versions": {
            "flowseg": flowseg.__version__,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "opencv": cv2.__version__,
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
        },
    }


def command_line() -> str:
    """The command that started this script, as a shell would take it back."""
    return shlex.join(["python", *sys.argv])


def environment() -> dict[str, Any]:
    """Everything a result needs to be reproduced: date, command, git revision and machine."""
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command_line(),
        "git_revision": git_revision(),
        "machine": machine_description(),
    }


def format_number(value: float | None, digits: int = 3) -> str:
    """A table cell for a number: fixed decimals, ``"—"`` for None or NaN.

    Examples
    --------
    >>> format_number(0.12345), format_number(float("nan")), format_number(12.0, 1), format_number(-1e-4)
    ('0.123', '—', '12.0', '0.000')
    """
    if value is None or value != value:
        return "—"
    text = f"{value:.{digits}f}"
    return text.lstrip("-") if float(text) == 0 else text  # no "-0.000"


def format_stage_seconds(stage_seconds: Mapping[str, float], frames: int) -> str:
    """Seconds per frame of each stage, as one table cell.

    Parameters
    ----------
    stage_seconds : mapping of str to float
        Seconds per stage class name, summed over `frames` frames.
    frames : int
        The number of frames they were spent on.

    Returns
    -------
    str
        E.g. ``"SemanticSegmenter 0.016, MaskRefiner 0.002"``; ``"—"`` without frames or stages.

    Examples
    --------
    >>> format_stage_seconds({"FlowEstimator": 0.5, "MaskWarper": 0.05}, 10)
    'FlowEstimator 0.050, MaskWarper 0.005'
    """
    if frames <= 0 or not stage_seconds:
        return "—"
    return ", ".join(f"{name} {seconds / frames:.3f}" for name, seconds in stage_seconds.items())


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A GitHub-flavoured markdown table, columns padded to line up in plain text.

    Parameters
    ----------
    headers : sequence of str
        Column titles.
    rows : iterable of sequence of str
        Cells, as many per row as `headers`; ``|`` in a cell is escaped.

    Returns
    -------
    str
        The table, without a trailing newline.

    Raises
    ------
    ValueError
        If a row has another number of cells than `headers`.

    Examples
    --------
    >>> print(markdown_table(["config", "J&F"], [["warp", "0.712"]]))
    | config | J&F   |
    | ------ | ----- |
    | warp   | 0.712 |
    """
    table = [[str(cell).replace("|", "\\|") for cell in headers]]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"a table row has {len(row)} cells but the table has {len(headers)} columns: {row}")
        table.append([str(cell).replace("|", "\\|") for cell in row])
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths)) + " |"

    return "\n".join([line(table[0]), line(["-" * width for width in widths]), *map(line, table[1:])])


def environment_lines(env: Mapping[str, Any]) -> list[str]:
    """Markdown bullet lines describing :func:`environment`'s result: date, command, revision, machine, software."""
    machine = env["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in machine["versions"].items())
    load = machine["load_average"]
    return [
        f"- Date: {env['date']}",
        f"- Command: `{env['command']}`",
        f"- Git revision: {env['git_revision']}",
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram_gb']} GB RAM, "
        f"GPU: {machine['gpu'] or 'none'}; load average at start {load[0] if load else '—'}",
        f"- Threads: torch {machine['torch_threads']}, OpenCV {machine['opencv_threads']}",
        f"- Software: {versions}",
    ]


def replace_section(text: str, title: str, section: Sequence[str]) -> str:
    """Markdown `text` with its ``## title`` section replaced by `section`, or with `section` appended.

    Parameters
    ----------
    text : str
        A markdown document; a section runs from its ``## `` heading to the
        next ``## `` heading or the end; what precedes the first heading is
        kept as it is.
    title : str
        The heading to look for, without ``## ``; the first section with
        exactly this heading is replaced, where it stands.
    section : sequence of str
        The new section's lines, heading included.

    Returns
    -------
    str
        The document, sections separated by one blank line, ending with a newline.

    Examples
    --------
    >>> text = "# Results\\n\\n## a\\n\\nold\\n\\n## b\\n\\nkept\\n"
    >>> print(replace_section(text, "a", ["## a", "", "new"]), end="")
    # Results
    <BLANKLINE>
    ## a
    <BLANKLINE>
    new
    <BLANKLINE>
    ## b
    <BLANKLINE>
    kept
    >>> replace_section(text, "c", ["## c", "", "added"]).endswith("kept\\n\\n## c\\n\\nadded\\n")
    True
    """
    lines = text.splitlines()
    headings = [i for i, line in enumerate(lines) if line.startswith("## ")]
    start = next((i for i in headings if lines[i].rstrip() == f"## {title}"), None)
    if start is None:
        while lines and not lines[-1].strip():
            lines.pop()
        return "\n".join([*lines, *([""] if lines else []), *section]) + "\n"
    end = next((i for i in headings if i > start), len(lines))
    return "\n".join([*lines[:start], *section, *([""] if end < len(lines) else []), *lines[end:]]) + "\n"


def record_section(path: Path, title: str, env: Mapping[str, Any], body: Sequence[str]) -> None:
    """Write a section to a markdown results file, in place of the section of the same title.

    Parameters
    ----------
    path : Path
        The markdown file; created with its parent folder when missing.
    title : str
        Section title (a ``##`` heading), the same for every run of one
        benchmark and mode; a section with this title is replaced where it
        stands (see :func:`replace_section`), else the new one goes last.
    env : mapping
        As returned by :func:`environment`: date, command and revision go in
        the body, not the title.
    body : sequence of str
        Markdown lines after the environment bullets.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    section = [f"## {title}", "", *environment_lines(env), *body]
    path.write_text(replace_section(text, title, section), encoding="utf-8")


def publish(report: Mapping[str, Any], lines: Sequence[str], *, title: str, out: Path, record: Path | None) -> None:
    """Write ``<out>/report.json``, print the markdown lines, and record them in `record` if given.

    Parameters
    ----------
    report : mapping
        Every number of the run, with ``"environment"`` from :func:`environment`.
    lines : sequence of str
        The markdown description of the results.
    title : str
        Section title, stable across runs of the same benchmark and mode
        (no date): :func:`record_section` replaces the section of this title.
    out : Path
        Results folder.
    record : Path or None
        Markdown results file.
    """
    write_json(out / "report.json", report)
    print("\n".join(lines))
    print(f"\nreport.json in {out}")
    if record is not None:
        record_section(record, title, report["environment"], lines)
        print(f"Recorded in {record} (section {title!r})")


def write_json(path: Path, data: Any) -> None:
    """Write `data` as indented JSON (NaN written as null), creating the parent folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        json.dump(_json_safe(data), file, indent=2)
        file.write("\n")


def _json_safe(value: Any) -> Any:
    """`value` with NaN and infinities replaced by None, so the file is strict JSON."""
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
