"""Tests of the benchmark scripts' pure helpers (run: ``python -m pytest benchmarks``).

They need no DAVIS data, no weights and no network, and start no benchmark run.
"""

from __future__ import annotations

import argparse
import doctest
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

import _common
import davis
import speed


@pytest.mark.parametrize("module", [_common, davis, speed], ids=lambda m: m.__name__)
def test_doctests(module: object) -> None:
    failures, tried = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried > 0 and failures == 0, f"{failures} of {tried} doctest examples failed in {module}"


# --------------------------------------------------------------------------
# _common
# --------------------------------------------------------------------------
def test_comma_list_drops_blanks() -> None:
    assert _common.comma_list(" a, b ,,c,") == ["a", "b", "c"]
    assert _common.comma_list("") == []


def test_comma_choices_keeps_order_and_drops_repeats() -> None:
    assert _common.comma_choices(["x", "y", "z"])("z,x,z") == ["z", "x"]


@pytest.mark.parametrize(
    ("value", "match"),
    [
        pytest.param("x,nope", r"unknown name\(s\) 'nope'; valid names: x, y", id="unknown"),
        pytest.param(" , ", r"no name in ' , '; valid names: x, y", id="empty"),
    ],
)
def test_comma_choices_rejects(value: str, match: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=match):
        _common.comma_choices(["x", "y"])(value)


def test_config_unavailable_only_for_missing_raft_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_common, "find_weights_file", lambda name: None)
    assert _common.config_unavailable("raft_small+crf") == "weights missing"
    assert _common.config_unavailable("warp+crf") is None
    assert _common.config_unavailable("semantics") is None
    assert _common.config_unavailable(davis.BASELINE) is None
    monkeypatch.setattr(_common, "find_weights_file", lambda name: Path(f"/weights/{name}.pth"))
    assert _common.config_unavailable("raft_large+crf") is None


def test_configs_name_their_methods() -> None:
    """A configuration's name promises its preset, or its flow and refine methods; the keywords must say the same."""
    for name, keywords in _common.PIPELINE_CONFIGS.items():
        if keywords is None:
            continue
        if keywords.get("target") == "moving":
            assert name.startswith("moving") and _common.needs_no_class(name), name
            assert keywords.get("per_frame", False) == name.endswith("-naive"), name
            continue
        if "preset" in keywords:
            base = name.partition("+")[0]
            mode, _, preset = base.partition("-")
            expected = preset if mode == "object" else base
            assert keywords["preset"] == (expected or "balanced"), name
            assert _common.follows_object(name) == (mode == "object"), name
            continue
        flow, _, refine = name.rpartition("+")
        assert keywords.get("refine", "none") == ("none" if refine == "warp" else refine), name
        assert keywords.get("flow_method") == (flow if flow not in ("", "warp") else None), name


def test_attempt_reports_unavailable_config_without_running(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_common, "find_weights_file", lambda name: None)

    def never(*args: object) -> None:
        raise AssertionError("a configuration without weights must not run")

    monkeypatch.setattr(_common, "run_isolated", never)
    outcome = _common.attempt("raft_small+crf", never)
    assert (outcome.result, outcome.reason, outcome.failed) == (None, "weights missing", False)


@pytest.mark.parametrize(
    ("error", "reason", "failed"),
    [
        pytest.param(_common.WeightsError("no deeplab"), "no deeplab", False, id="WeightsError"),
        pytest.param(RuntimeError("boom"), "failed: RuntimeError: boom", True, id="bug"),
    ],
)
def test_attempt_turns_errors_into_reasons(
    monkeypatch: pytest.MonkeyPatch, error: Exception, reason: str, failed: bool
) -> None:
    def raise_it(*args: object) -> None:
        raise error

    monkeypatch.setattr(_common, "run_isolated", raise_it)
    outcome = _common.attempt("warp", print)
    assert (outcome.result, outcome.reason, outcome.failed) == (None, reason, failed)


def test_format_number() -> None:
    assert _common.format_number(None) == "—"
    assert _common.format_number(math.nan) == "—"
    assert _common.format_number(0.6666) == "0.667"
    assert _common.format_number(-0.0004) == "0.000"
    assert _common.format_number(-0.02) == "-0.020"
    assert _common.format_number(701.4, 0) == "701"


def test_format_stage_seconds_without_frames() -> None:
    assert _common.format_stage_seconds({"MaskRefiner": 1.0}, 0) == "—"
    assert _common.format_stage_seconds({}, 10) == "—"


def test_markdown_table_escapes_pipes_and_checks_row_length() -> None:
    table = _common.markdown_table(["a", "b"], [["x|y", "1"]])
    assert table.splitlines() == ["| a    | b |", "| ---- | - |", "| x\\|y | 1 |"]
    with pytest.raises(ValueError, match="a table row has 1 cells but the table has 2 columns"):
        _common.markdown_table(["a", "b"], [["only one"]])


def _environment() -> dict[str, object]:
    return {
        "date": "2025-01-01 00:00 UTC",
        "command": "python benchmarks/davis.py --max-frames 6",
        "git_revision": "abc1234 + uncommitted changes",
        "machine": {
            "cpu": "Test CPU", "cores": 2, "ram_gb": 8.0, "load_average": [0.5, 0.4, 0.3],
            "torch_threads": 2, "opencv_threads": 2, "gpu": None, "versions": {"flowseg": "0.1.0"},
        },
    }  # fmt: skip


def test_record_section_writes_date_command_and_revision_in_the_body(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "RESULTS.md"
    _common.record_section(path, "First", _environment(), ["", "body 1"])
    assert path.read_text(encoding="utf-8").splitlines()[:5] == [
        "## First",
        "",
        "- Date: 2025-01-01 00:00 UTC",
        "- Command: `python benchmarks/davis.py --max-frames 6`",
        "- Git revision: abc1234 + uncommitted changes",
    ]


def test_record_section_replaces_the_section_of_its_title_in_place(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text("# Results\n\nWhat this is.\n\n## First\n\nold 1\n\n## Second\n\nbody 2\n", encoding="utf-8")
    _common.record_section(path, "First", _environment(), ["", "new 1"])
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Results\n\nWhat this is.\n\n## First\n\n- Date: ")
    assert "old 1" not in text and text.count("## First") == 1
    assert text.endswith("\nnew 1\n\n## Second\n\nbody 2\n"), "the other section must stay, after the first"
    _common.record_section(path, "Second", _environment(), ["", "new 2"])
    text = path.read_text(encoding="utf-8")
    assert "body 2" not in text and text.index("new 1") < text.index("## Second") and text.endswith("\nnew 2\n")
    _common.record_section(path, "Third", _environment(), ["", "body 3"])
    text = path.read_text(encoding="utf-8")
    assert text.split("## Third")[0].endswith("\nnew 2\n\n") and text.endswith("\nbody 3\n")
    assert [line for line in text.splitlines() if line.startswith("## ")] == ["## First", "## Second", "## Third"]


def test_replace_section_matches_the_whole_title_only() -> None:
    text = "## DAVIS-2016: moving\n\nm\n\n## DAVIS-2016: moving-naive, moving\n\nn\n"
    replaced = _common.replace_section(text, "DAVIS-2016: moving", ["## DAVIS-2016: moving", "", "new"])
    assert replaced == "## DAVIS-2016: moving\n\nnew\n\n## DAVIS-2016: moving-naive, moving\n\nn\n"
    assert _common.replace_section("", "A", ["## A", "", "a"]) == "## A\n\na\n"
    assert _common.replace_section("# R\n\n\n", "A", ["## A"]) == "# R\n\n## A\n"


def test_write_json_is_strict(tmp_path: Path) -> None:
    path = tmp_path / "a" / "report.json"
    _common.write_json(path, {"x": math.nan, "y": (1.5, math.inf), "z": {1: "s"}})
    assert json.loads(path.read_text(), parse_constant=pytest.fail) == {"x": None, "y": [1.5, None], "z": {"1": "s"}}


def test_peak_rss_is_this_process(tmp_path: Path) -> None:
    before = _common.peak_rss_mb()
    status = Path("/proc/self/status")
    current = float(_common._first_value(str(status), "VmRSS").split()[0]) / 1024 if status.exists() else before
    # Enough to pass the peak whatever earlier tests in this process allocated and freed.
    # A wide margin: the kernel's RSS counters lag a little, and freed pages still resident may be reused.
    megabytes = int(before - current) + 256
    block = np.ones(megabytes * 2**20 // 8)  # touched
    assert _common.peak_rss_mb() >= before + 128, f"peak memory did not follow a {megabytes} MiB allocation"
    del block


def test_git_revision_format() -> None:
    revision = _common.git_revision()
    assert revision == "unknown" or revision.removesuffix(" + uncommitted changes").isalnum()


def test_shared_dir_follows_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(_common.SHARED_ENV, str(tmp_path))
    assert davis.default_root() == tmp_path / "data" / "davis2016"
    assert speed.default_video() == tmp_path / "data" / "videos" / "juggle.mp4"
    monkeypatch.delenv(_common.SHARED_ENV)
    assert _common.shared_dir() == _common.REPO_ROOT.parent / "shared"


# --------------------------------------------------------------------------
# davis
# --------------------------------------------------------------------------
def _write_targets(root: Path, targets: dict[str, object]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "targets.json").write_text(json.dumps(targets), encoding="utf-8")


def test_load_targets_skips_comments_and_keeps_order(tmp_path: Path) -> None:
    _write_targets(tmp_path, {"_about": "note", "parkour": ["person"], "camel": [], "bmx": ["person", "bicycle"]})
    assert davis.load_targets(tmp_path) == {"parkour": ["person"], "camel": [], "bmx": ["person", "bicycle"]}


def test_load_targets_rejects_a_bad_entry(tmp_path: Path) -> None:
    _write_targets(tmp_path, {"parkour": "person"})
    with pytest.raises(ValueError, match="'parkour' is 'person'; expected a list of VOC class names"):
        davis.load_targets(tmp_path)


def test_load_folds_reads_the_halves_or_gives_none(tmp_path: Path) -> None:
    assert davis.load_folds(tmp_path) is None
    (tmp_path / "folds.json").write_text(json.dumps({"_about": "x", "A": ["a", "c"], "B": ["b"]}), encoding="utf-8")
    assert davis.load_folds(tmp_path) == {"A": ["a", "c"], "B": ["b"]}
    (tmp_path / "folds.json").write_text(json.dumps({"A": "a"}), encoding="utf-8")
    with pytest.raises(ValueError, match="folds.json: 'A' is 'a'; expected a list of sequence names"):
        davis.load_folds(tmp_path)


def test_fold_means_worst_and_count_below() -> None:
    jf = {"blackswan": 0.8, "bmx-trees": 0.39, "camel": 0.6, "cows": 0.44, "dog": 0.9, "kite-surf": math.nan}
    folds = {"A": ["blackswan", "dog", "bus"], "B": ["bmx-trees", "camel", "cows", "kite-surf"]}
    assert davis.fold_means(jf, folds) == {"A": pytest.approx(0.85), "B": pytest.approx(1.43 / 3)}
    assert davis.fold_means(jf, {"A": ["bus"]}) == {"A": None}
    assert davis.worst_sequence(jf) == ("bmx-trees", 0.39)
    assert davis.worst_sequence({"a": math.nan}) is None
    summary = davis.sequence_summary(jf, folds)
    assert summary["worst"] == ("bmx-trees", 0.39) and summary["below_low"] == 2
    assert davis.sequence_summary(jf, None)["JF_folds"] == {}


def test_section_title_is_stable_per_set_of_configs() -> None:
    assert davis.section_title(["object"], None) == "DAVIS-2016: object"
    assert davis.section_title(["moving-naive", "moving"], None) == "DAVIS-2016: moving-naive, moving"
    assert davis.section_title(["moving", "moving-naive"], None) == "DAVIS-2016: moving-naive, moving"
    assert davis.section_title(["balanced"], "person") == "DAVIS-2016: balanced (target person)"


def test_common_sequences_intersects_in_requested_order() -> None:
    produced = {"warp": {"a": 1, "b": 1, "c": 1}, "semantics": {"c": 1, "a": 1}, davis.BASELINE: {"a", "b", "c", "d"}}
    assert davis.common_sequences(produced, ["d", "c", "b", "a"]) == ["c", "a"]
    assert davis.common_sequences({}, ["a"]) == []
    assert davis.common_sequences({"warp": set()}, ["a"]) == []


def test_timing_totals_sums_only_the_scored_sequences() -> None:
    runs = {
        "a": {"frames": 10, "seconds": 2.0, "stage_seconds": {"S": 1.0, "R": 0.5}},
        "b": {"frames": 30, "seconds": 6.0, "stage_seconds": {"S": 3.0, "R": 1.5}},
        "c": {"frames": 99, "seconds": 99.0, "stage_seconds": {"S": 99.0}},
    }
    assert davis.timing_totals(runs, ["a", "b"]) == {
        "frames": 40, "seconds": 8.0, "fps": 5.0, "stage_seconds": {"S": 4.0, "R": 2.0},
    }  # fmt: skip
    assert davis.timing_totals(runs, [])["fps"] is None


def test_skip_reasons_group_configs_by_reason() -> None:
    skipped = {"semantics": {"dog": "no weights", "camel": "no class"}, "warp": {"dog": "other"}, "copy": {}}
    assert davis.skip_reasons(skipped, ["camel", "dog"]) == [
        "- `camel`: no class (semantics)",
        "- `dog`: no weights (semantics); other (warp)",
    ]


def _write_png(path: Path, value: int, shape: tuple[int, int] = (4, 6)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full(shape, value, np.uint8))


def test_ground_truth_folder_links_the_first_frames(tmp_path: Path) -> None:
    root = tmp_path / "davis"
    for i in range(5):
        _write_png(root / "Annotations" / "480p" / "seq" / f"{i:05d}.png", 255)
    out = tmp_path / "out"
    assert davis.ground_truth_folder(root, ["seq"], None, out) == root
    folder = davis.ground_truth_folder(root, ["seq"], 3, out)
    assert sorted(p.name for p in (folder / "seq").iterdir()) == ["00000.png", "00001.png", "00002.png"]
    again = davis.ground_truth_folder(root, ["seq"], 2, out)  # rebuilt, not added to
    assert len(list((again / "seq").iterdir())) == 2


def test_copy_first_gt_writes_the_first_mask_everywhere(tmp_path: Path) -> None:
    gt = tmp_path / "gt"
    for i, value in enumerate([255, 0, 0]):
        _write_png(gt / f"{i:05d}.png", value)
    dest = tmp_path / "out"
    dest.mkdir()
    run = davis._copy_first_gt(gt, dest, 2)
    assert run["frames"] == 2 and run["stage_seconds"] == {} and run["model"] is None
    assert sorted(p.name for p in dest.iterdir()) == ["00000.png", "00001.png"]
    assert all((cv2.imread(str(p), cv2.IMREAD_UNCHANGED) == 255).all() for p in dest.iterdir())


def test_run_config_skips_what_it_cannot_serve(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def no_weights(config: str, targets: tuple[str, ...]) -> None:
        raise davis.WeightsError(f"no weights for {','.join(targets)}")

    monkeypatch.setattr(davis, "build_pipeline", no_weights)
    root, out = tmp_path / "davis", tmp_path / "out"
    for name in ("camel", "dog"):
        _write_png(root / "Annotations" / "480p" / name / "00000.png", 255)
    (out / "camel").mkdir(parents=True)  # left over from an earlier run
    jobs = [("camel", []), ("dog", ["dog"])]
    run = davis.run_config("warp", str(root), jobs, str(out), None)
    assert run["sequences"] == {}
    assert run["skipped"] == {"camel": davis.NO_CLASS_REASON, "dog": "no weights for dog"}
    assert not (out / "camel").exists(), "a skipped sequence must not keep old results"
    baseline = davis.run_config(davis.BASELINE, str(root), jobs, str(out), None)
    assert sorted(baseline["sequences"]) == ["camel", "dog"] and baseline["skipped"] == {}
    assert (out / "dog" / "00000.png").is_file() and baseline["peak_rss_mb"] > 0


def _config_result(jf: float, peak: float = 500.0) -> dict[str, object]:
    scores = {"JF_mean": jf, "J_mean": jf, "F_mean": jf, "T_mean": 0.1, "J_recall": 1.0, "J_decay": -0.0001}
    return {
        "run": {"sequences": {"seq": {"model": "selfie"}}, "skipped": {"dog": "no weights"}, "peak_rss_mb": peak},
        "totals": {"frames": 10, "seconds": 2.0, "fps": 5.0, "stage_seconds": {"SemanticSegmenter": 0.2}},
        "scores": {**scores, "sequences": {"seq": {"JF_mean": jf}}},
        "summary": davis.sequence_summary({"seq": jf}, {"A": ["seq"], "B": ["dog"]}),
    }


def test_report_lines_tables_and_skips() -> None:
    report = {
        "root": "/data/davis2016",
        "max_frames": 6,
        "sequences_requested": ["seq", "dog"],
        "sequences_scored": ["seq"],
        "folds": {"A": ["seq"], "B": ["dog"]},
        "configs": {"warp": _config_result(0.75), davis.BASELINE: _config_result(0.5, 60.0)},
        "unscored": {"raft_small+crf": {"reason": "weights missing", "failed": False}},
    }
    text = "\n".join(davis.report_lines(report))
    assert "first 6 frames per sequence (iteration only)" in text
    assert "- Sequences scored (1): seq" in text
    assert "  - `dog`: no weights (warp, copy-first-gt)" in text
    assert "- Configuration `raft_small+crf` not scored: weights missing" in text
    assert "- Semantic model: selfie" in text
    assert "| config        | J&F   | J&F A | J&F B | worst sequence | J&F < 0.45 | J     | F     | T     |" in text
    assert "| warp          | 0.750 | 0.750 | —     | seq 0.750      | 0          | 0.750 | 0.750 | 0.100 |" in text
    assert "| 0.100 | 1.000    | 0.000   | 5.00 | SemanticSegmenter 0.020 | 500 " in text
    assert "J&F A (1), B (0): over the scored sequences of each fold of folds.json." in text
    assert "| seq      | 0.750 | 0.500         |" in text
    without_folds = "\n".join(davis.report_lines({**report, "folds": None}))
    assert "| config        | J&F   | worst sequence |" in without_folds and "folds.json" not in without_folds


def test_parse_args_rejects_unknown_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_targets(tmp_path, {"parkour": ["person"]})
    with pytest.raises(SystemExit) as exit_info:
        davis._parse_args(["--root", str(tmp_path), "--sequences", "parkour,nope"])
    assert exit_info.value.code == 2
    assert "--sequences: nope not in" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        davis._parse_args(["--root", str(tmp_path), "--configs", "warp,crf"])
    assert "unknown name(s) 'crf'" in capsys.readouterr().err
    args = davis._parse_args(["--root", str(tmp_path)])
    assert args.sequences == ["parkour"] and args.configs == list(_common.PIPELINE_CONFIGS) and args.folds is None


# --------------------------------------------------------------------------
# speed
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("size", "height", "expected"),
    [
        pytest.param((1280, 720), 480, (854, 480), id="720p-to-480p"),
        pytest.param((1280, 720), 720, (1280, 720), id="same"),
        pytest.param((854, 480), 1080, (1922, 1080), id="up-odd-to-even"),
        pytest.param((641, 480), 480, (642, 480), id="odd-width-made-even"),
        pytest.param((3, 1000), 10, (2, 10), id="at-least-2"),
    ],
)
def test_resized_size(size: tuple[int, int], height: int, expected: tuple[int, int]) -> None:
    assert speed.resized_size(*size, height) == expected


def test_time_statistics() -> None:
    stats = speed.time_statistics([0.4, 0.1, 0.2, 0.3])
    assert stats["median"] == pytest.approx(0.25)
    assert stats["iqr"] == pytest.approx(0.325 - 0.175)
    assert stats["fps"] == pytest.approx(4.0)
    assert speed.time_statistics([]) == {"median": None, "iqr": None, "fps": None}


def test_memory_verdict_boundaries() -> None:
    assert speed.memory_verdict(100.0, 105.0) == "flat"  # exactly the tolerance
    assert speed.memory_verdict(100.0, 105.1) == "GROWS"
    assert speed.memory_verdict(100.0, 90.0) == "flat"
    assert speed.memory_verdict(100.0, 120.0, tolerance=0.25) == "flat"


def test_clip_frames_loops_lazily_and_resizes(tmp_path: Path) -> None:
    for i in range(4):
        assert cv2.imwrite(str(tmp_path / f"{i:03d}.png"), np.full((20, 30, 3), i * 10, np.uint8))
    frames = speed.clip_frames(tmp_path, 10, 3, loop=2)
    assert iter(frames) is frames  # a generator, not a list
    got = [(image.shape, int(image[0, 0, 0])) for image in frames]
    assert got == [((10, 16, 3), value) for value in (0, 10, 20)] * 2


def test_results_table_without_looped_run() -> None:
    once = {"frames": 4, "width": 854, "height": 480, "median": 0.25, "iqr": 0.05, "fps": 4.0,
            "stage_seconds": {"SemanticSegmenter": 0.8}, "other_seconds": 0.2, "peak_rss_mb": 600.0}  # fmt: skip
    rows = [{"height": 480, "config": "semantics", "once": once, "looped": None},
            {"height": 480, "config": "warp", "once": once, "looped": {**once, "peak_rss_mb": 700.0}}]  # fmt: skip
    lines = speed.results_table(rows, 10).splitlines()
    assert "peak RSS MB x10" in lines[0]
    assert lines[2].endswith(
        "| 0.0500 | 4.00 | SemanticSegmenter 0.200 | 0.0500        | 600         | —               | —      |"
    )
    assert lines[3].endswith("| 700             | GROWS  |")
