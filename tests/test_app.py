"""``flowseg app``: the editing session, the server's guard (token, host, paths), and the page in a real browser.

The browser tests drive headless Chromium (the OS package: ``apt-get install
chromium``; ``$FLOWSEG_CHROMIUM`` names another binary) through Playwright.
``$FLOWSEG_SCREENSHOTS`` names a folder to keep each step's screenshot in.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from flowseg import MaskError, PromptError
from flowseg.app import BusyError, ClipTooLargeError, EditingSession
from flowseg.app.session import prompt_from_marks
from flowseg.corrections import Annotations
from flowseg.metrics import region_similarity

from synthetic import box_of, moving_object_clip

uvicorn = pytest.importorskip("uvicorn", reason="the app extra (pip install 'flowseg[app]') is not installed")
from flowseg.app.server import TOKEN_HEADER, BackgroundServer  # noqa: E402 -- needs Starlette, like uvicorn

FRAMES, SHAPE = 12, (120, 160)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray], list[np.ndarray]]:
    """A folder of 12 PNG frames, 160x120, of a textured square moving (+3, +1) px a frame; frames and true masks."""
    frames, masks = moving_object_clip(FRAMES, shape=SHAPE, shift=(3, 1), size=30)
    folder = tmp_path_factory.mktemp("clip")
    for t, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{t:05d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return folder, frames, masks


def _box_of(mask: np.ndarray) -> list[int]:
    """The marks' box around a mask, loose by 3 pixels as a hand draws it."""
    return list(box_of(mask, margin=3))


# ---- The session, without HTTP -------------------------------------------------------------------------------------


def test_marks_preview_then_propagate_then_a_correction_and_export(clip, tmp_path: Path) -> None:
    folder, _, masks = clip
    session = EditingSession(folder, tmp_path / "out")
    preview = session.preview(0, {"box": _box_of(masks[0])})
    assert region_similarity(preview, masks[0]) > 0.9
    assert session.state()["previewed"] == [0] and session.state()["given"] == []
    assert not session.mask(5).any()  # nothing propagated yet

    session.propagate()
    job = session.wait(120)
    assert job.error is None and job.done == job.total == FRAMES + 1  # frames 0..11 forwards, frame 0 backwards
    assert min(region_similarity(session.mask(t), masks[t]) for t in range(FRAMES)) > 0.8
    state = session.state()
    assert state["given"] == [0] and state["previewed"] == [] and len(state["suspects"]) == 5
    assert state["confidence"][0] == 1.0

    session.preview(8, {"points": [[int(c) for c in np.argwhere(masks[8]).mean(axis=0)[::-1]]]})
    session.propagate()
    assert session.wait(120).done == 4 + 9  # 8..11 forwards, 8..0 backwards (checked on the given frame 0)
    assert session.state()["given"] == [0, 8]

    followed = session.mask(5)  # a click off the object alone corrects the mask followed there, near the click only
    assert np.array_equal(session.preview(5, {"negative_points": [[150, 10]]}), followed)
    session.forget(5)

    session.preview(11, {"absent": True})  # the object is out of view there
    assert not session.mask(11).any() and session.state()["previewed"] == [11]
    with pytest.raises(MaskError, match="frame\\(s\\) 11 are marked but not propagated"):
        session.export()  # what the page shows is what is exported
    session.forget(11)
    assert session.state()["previewed"] == [] and session.mask(11).any()

    session.export(alpha=("png",))
    job = session.wait(120)
    assert job.error is None and job.done == FRAMES
    assert {"masks/", "cutouts/", "mask.mp4", "overlay.mp4", "summary.json"} <= set(job.result["files"])
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [given["frame"] for given in summary["given"]] == [0, 8]
    assert len(summary["quality"]["confidence"]) == FRAMES
    written = cv2.imread(str(tmp_path / "out" / "masks" / "00005.png"), cv2.IMREAD_GRAYSCALE) > 0
    assert np.array_equal(written, session.mask(5))


def test_forgetting_a_given_frame_reruns_its_neighbours(clip, tmp_path: Path) -> None:
    folder, _, masks = clip
    session = EditingSession(folder, tmp_path / "out")
    for frame in (0, 6):
        session.preview(frame, {"box": _box_of(masks[frame])})
    session.propagate()
    session.wait(120)
    session.forget(6)
    assert session.wait(120).error is None
    assert session.state()["given"] == [0]
    assert region_similarity(session.mask(9), masks[9]) > 0.8


def test_bad_marks_and_requests_are_refused_with_a_reason(clip, tmp_path: Path) -> None:
    folder, _, masks = clip
    session = EditingSession(folder, tmp_path / "out")
    with pytest.raises(PromptError, match="mark the object"):
        session.preview(0, {"negative_points": [[5, 5]]})
    with pytest.raises(PromptError, match="not a box"):
        session.preview(0, {"box": [1, 2, "x"]})
    with pytest.raises(MaskError, match="frame 12 is not in the clip"):
        session.preview(12, {"box": [1, 2, 30, 30]})
    with pytest.raises(MaskError, match="nothing to propagate"):
        session.propagate()
    with pytest.raises(MaskError, match="nothing to export"):
        session.export()
    session.preview(0, {"box": _box_of(masks[0])})
    session.propagate()
    with pytest.raises(BusyError, match="propagate is running"):
        session.preview(3, {"box": _box_of(masks[3])})
    session.wait(120)


def test_strokes_mark_the_object(clip) -> None:
    _, _, masks = clip
    centre = np.argwhere(masks[0]).mean(axis=0)[::-1]
    prompt = prompt_from_marks(0, {"strokes": [{"points": [centre - 8, centre + 8], "width": 4}],
                                   "box": [50, 60, 20, 30]}, SHAPE)
    assert prompt.box == (20, 30, 50, 60)  # corners in any order
    assert prompt.strokes[int(centre[1]), int(centre[0])] and prompt.strokes.sum() < 100


# ---- The server: token, host, paths --------------------------------------------------------------------------------


class _Served(BackgroundServer):
    """The app served from a thread, and a plain HTTP client of it."""

    def request(self, path: str, *, method: str = "GET", headers: dict[str, str] | None = None,
                body: bytes | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


@pytest.fixture(scope="module")
def served(clip, tmp_path_factory: pytest.TempPathFactory):
    folder, _, masks = clip
    output = tmp_path_factory.mktemp("served") / "out"
    session = EditingSession(folder, output)
    with _Served(session, token="test-token") as app:
        yield app


def test_every_request_needs_the_token(served) -> None:
    assert served.request("/")[0] == 403
    assert served.request("/?token=wrong")[0] == 403
    assert served.request("/api/frames/0.jpg")[0] == 403
    assert served.request("/static/app.js")[0] == 403
    status, body = served.request("/?token=test-token")
    assert status == 200 and b'id="view"' in body
    status, jpeg = served.request("/api/frames/3.jpg", headers={TOKEN_HEADER: "test-token"})
    assert status == 200 and cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (*SHAPE, 3)


def test_a_change_needs_the_token_in_its_header_not_only_in_the_url(served) -> None:
    marks = json.dumps({"box": [60, 40, 100, 80]}).encode()
    assert served.request("/api/marks/0?token=test-token", method="POST", body=marks)[0] == 403
    assert served.request("/api/marks/0", method="POST", body=marks,
                          headers={"Cookie": f"flowseg-token-{served.base.rsplit(':', 1)[1]}=test-token"})[0] == 403
    assert served.request("/api/propagate?token=test-token", method="POST")[0] == 403


def test_only_this_machine_s_host_names_are_served(served) -> None:
    status, _ = served.request("/?token=test-token", headers={"Host": "attacker.example"})
    assert status == 400  # a page of another site resolved to 127.0.0.1 (DNS rebinding) gets nothing


@pytest.mark.parametrize("path", [
    "/files/../../../../etc/passwd", "/files/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/files/..%2f..%2fsummary.json",
    "/files//etc/passwd", "/static/../server.py", "/static/%2e%2e/server.py", "/api/frames/-1.jpg",
    "/api/frames/12.jpg", "/api/frames/..%2f..%2fetc.jpg",
])
def test_no_path_reaches_outside_the_video_and_the_output_folder(served, path: str) -> None:
    status, body = served.request(path, headers={TOKEN_HEADER: "test-token"})
    assert status == 404, (path, body[:200])
    assert b"root:" not in body and b"def " not in body


def test_a_file_outside_the_output_folder_through_a_link_is_refused(served, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    served.session.output_dir.mkdir(parents=True, exist_ok=True)
    link = served.session.output_dir / "link.txt"
    link.symlink_to(secret)
    try:
        assert served.request("/files/link.txt", headers={TOKEN_HEADER: "test-token"})[0] == 404
    finally:
        link.unlink()


def test_errors_come_back_as_one_line(served) -> None:
    headers = {TOKEN_HEADER: "test-token", "Content-Type": "application/json"}
    status, body = served.request("/api/marks/0", method="POST", body=b"{not json", headers=headers)
    assert status == 400 and "not JSON" in json.loads(body)["error"]
    status, body = served.request("/api/export", method="POST", body=b'{"alpha": ["gif"]}', headers=headers)
    assert status == 400 and "unknown alpha format 'gif'" in json.loads(body)["error"]
    status, body = served.request("/api/export", method="POST", body=b'{"feather": "soft"}', headers=headers)
    assert status == 400 and "feather must be a number" in json.loads(body)["error"]


# ---- The page, in a real browser ----------------------------------------------------------------------------------


def _chromium() -> str:
    binary = os.environ.get("FLOWSEG_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.skip("no Chromium: install the OS package (apt-get install chromium) or set FLOWSEG_CHROMIUM")
    return binary


@pytest.fixture
def browser_page():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (the test extra)")
    binary = _chromium()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])  # fmt: skip
        page = browser.new_page(viewport={"width": 1000, "height": 820})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        yield page
        browser.close()
        assert not errors, errors


def _screenshot(page, name: str, tmp_path: Path) -> None:
    folder = Path(os.environ.get("FLOWSEG_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"))


def _on_canvas(page, at: tuple[float, float]) -> tuple[float, float]:
    """Where a point given in the frame's pixels lies on the page, on the frame's canvas."""
    box = page.locator("#view").bounding_box()
    scale = box["width"] / SHAPE[1]
    return box["x"] + at[0] * scale, box["y"] + at[1] * scale


def _drag(page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Drag on the frame's canvas between two points given in the frame's pixels."""
    page.mouse.move(*_on_canvas(page, start))
    page.mouse.down()
    page.mouse.move(*_on_canvas(page, end), steps=6)
    page.mouse.up()


def _click(page, at: tuple[float, float]) -> None:
    """Click on the frame's canvas at a point given in the frame's pixels."""
    page.mouse.click(*_on_canvas(page, at))


def _box_around(page, mask: np.ndarray) -> None:
    """Draw a box around `mask` on the frame shown, and wait for the mask it gives."""
    box = _box_of(mask)
    _drag(page, box[:2], box[2:])
    page.wait_for_function("document.getElementById('status').textContent.includes('mask of')")


def _status(page) -> str:
    return page.locator("#status").text_content()


def _wait_for_status(page, start: str) -> None:
    page.wait_for_function(f"document.getElementById('status').textContent.startsWith({start!r})", timeout=120_000)


@contextlib.contextmanager
def _opened(page, folder: Path, output: Path) -> Iterator[tuple[EditingSession, _Served]]:
    """A session on `folder` served from a thread, its page opened in `page` and ready."""
    session = EditingSession(folder, output)
    with _Served(session, token="browser-token") as served:
        page.goto(f"{served.base}/?token=browser-token")
        page.wait_for_selector("body[data-ready=true]")
        yield session, served


def test_box_propagate_step_correct_export_in_a_browser(clip, tmp_path: Path, browser_page) -> None:
    folder, frames, masks = clip
    page = browser_page
    with _opened(page, folder, tmp_path / "out") as (_, served):
        assert page.locator("#frame-label").text_content() == "Frame 0 / 11"
        _screenshot(page, "1-opened", tmp_path)

        # A box on frame 0: the mask is shown before anything is propagated.
        _box_around(page, masks[0])
        assert page.locator("#timeline .mark.previewed").get_attribute("data-frame") == "0"
        _screenshot(page, "2-box", tmp_path)

        page.click("#propagate")
        _wait_for_status(page, "Propagated")
        assert page.locator("#timeline .mark.given").get_attribute("data-frame") == "0"
        assert page.locator("#timeline .mark.suspect").count() == 5
        assert page.locator("#progress").evaluate("bar => bar.value === bar.max")

        # Step to frame 6 with the arrow keys; space plays and pauses.
        page.locator("#view").focus()
        for _ in range(6):
            page.keyboard.press("ArrowRight")
        page.wait_for_function("document.getElementById('view').dataset.frame === '6'")
        assert page.locator("#frame-label").text_content() == "Frame 6 / 11"
        _screenshot(page, "3-frame-6", tmp_path)
        page.keyboard.press(" ")
        page.wait_for_function("Number(document.getElementById('view').dataset.frame) > 6")
        page.keyboard.press(" ")
        page.wait_for_function("document.getElementById('play').textContent === 'Play'")

        # A correction on frame 9: a box there, propagate again.
        page.locator("#timeline-box #scrubber").fill("9")
        page.wait_for_function("document.getElementById('view').dataset.frame === '9'")
        _box_around(page, masks[9])
        page.click("#propagate")
        _wait_for_status(page, "Propagated")
        given = page.locator("#timeline .mark.given").evaluate_all("marks => marks.map(m => m.dataset.frame)")
        assert given == ["0", "9"]
        _screenshot(page, "4-corrected", tmp_path)

        # "Not in this frame" on frame 11, then Delete takes it back.
        page.locator("#timeline-box #scrubber").fill("11")
        page.wait_for_function("document.getElementById('view').dataset.frame === '11'")
        page.click("#absent")
        _wait_for_status(page, "Frame 11: the object is not here")
        assert page.locator("#timeline .mark.previewed").get_attribute("data-frame") == "11"
        page.locator("#view").focus()
        page.keyboard.press("Delete")
        page.wait_for_function("document.querySelectorAll('#timeline .mark.previewed').length === 0")

        page.click("#export")
        _wait_for_status(page, "Exported")
        links = page.locator("#files a").evaluate_all("links => links.map(a => a.textContent)")
        assert {"cutout.webm", "mask.mp4", "overlay.mp4", "summary.json"} <= set(links)
        _screenshot(page, "5-exported", tmp_path)
        status, _ = served.request("/files/cutout.webm", headers={"Cookie": page.context.cookies()[0]["name"] + "="
                                                                  + page.context.cookies()[0]["value"]})
        assert status == 200

    # What the page exported is what the API gives for the same marks.
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    api = Annotations(frames)
    for given in summary["given"]:
        api.prompt(prompt_from_marks(given["frame"], given["marks"], SHAPE))
    for t in range(FRAMES):
        exported = cv2.imread(str(tmp_path / "out" / "masks" / f"{t:05d}.png"), cv2.IMREAD_GRAYSCALE) > 0
        assert np.array_equal(exported, api.mask(t)), t
        assert region_similarity(exported, masks[t]) > 0.8, t


def test_undo_takes_back_the_last_mark_and_its_mask_in_a_browser(clip, tmp_path: Path, browser_page) -> None:
    folder, _, masks = clip
    page = browser_page
    with _opened(page, folder, tmp_path / "out") as (session, _):
        _box_around(page, masks[0])
        boxed = session.mask(0).copy()
        assert region_similarity(boxed, masks[0]) > 0.9

        # A click off the object, on it: the mask loses that part.
        ys, xs = np.nonzero(masks[0])
        centre = (int(xs.mean()), int(ys.mean()))
        page.keyboard.press("n")
        _click(page, centre)
        page.wait_for_function(f"document.getElementById('status').textContent.includes('mask of') && "
                               f"!document.getElementById('status').textContent.includes('mask of {boxed.sum()} ')")
        assert not session.mask(0)[centre[::-1]] and session.marks[0]["negative_points"] == [list(centre)]

        # Ctrl+Z: the click is taken back, and the box's mask is the frame's again.
        page.locator("#view").focus()
        page.keyboard.press("Control+z")
        page.wait_for_function(f"document.getElementById('status').textContent.includes('mask of {boxed.sum()} ')")
        assert np.array_equal(session.mask(0), boxed) and session.marks[0]["negative_points"] == []
        _screenshot(page, "undo", tmp_path)

        # The Undo button takes back the box: the frame has no marks; then there is nothing to undo.
        page.click("#undo")
        page.wait_for_function("document.querySelectorAll('#timeline .mark.previewed').length === 0")
        assert 0 not in session.marks and not session.mask(0).any()
        page.locator("#view").focus()
        page.keyboard.press("Control+z")
        _wait_for_status(page, "Frame 0: nothing to undo")


def test_clicks_made_before_the_last_mask_came_back_are_all_kept_in_a_browser(clip, tmp_path: Path,
                                                                             browser_page) -> None:
    """Two clicks on the object, the second made before the first's mask is back, and the first's mask made more
    slowly (1 s): the server works on requests at once, so the first's answer could land last and the frame keep one
    click. The page sends a change only once the one before is answered: both clicks are kept, and their mask shown."""
    folder, _, masks = clip
    page = browser_page
    with _opened(page, folder, tmp_path / "out") as (session, _):
        _box_around(page, masks[0])
        preview, answered = session.preview, []

        def slow_first_click(frame: int, marks: dict) -> np.ndarray:
            if len(marks.get("points", [])) == 1:
                time.sleep(1.0)
            try:
                return preview(frame, marks)
            finally:
                answered.append(len(marks.get("points", [])))

        session.preview = slow_first_click
        ys, xs = np.nonzero(masks[0])
        clicks = [(int(xs.min()) + 4, int(ys.min()) + 4), (int(xs.max()) - 4, int(ys.max()) - 4)]
        page.keyboard.press("p")
        for at in clicks:
            _click(page, at)
        deadline = time.monotonic() + 30
        while len(answered) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert answered == [1, 2]
        assert session.marks[0]["points"] == [list(at) for at in clicks]
        shown = f"mask of {session.mask(0).sum()} "
        page.wait_for_function(f"document.getElementById('status').textContent.includes({shown!r})")


def test_a_click_after_the_server_stopped_is_answered_on_the_page(clip, tmp_path: Path, browser_page) -> None:
    """Ctrl-C stopped the app, the page is still open, and the user clicks on the object, then clears the frame: the
    page says each request failed, and raises nothing (``browser_page`` fails on any error the page raises; it
    raised "Failed to fetch" where it asked for the session's state after a mark's answer or a change)."""
    folder, _, masks = clip
    with _opened(browser_page, folder, tmp_path / "out"):
        _box_around(browser_page, masks[0])
    browser_page.keyboard.press("p")
    ys, xs = np.nonzero(masks[0])
    _click(browser_page, (int(xs.mean()), int(ys.mean())))
    browser_page.wait_for_function("document.getElementById('status').classList.contains('error')")
    status_text = "document.getElementById('status').textContent"
    browser_page.evaluate(f"{status_text} = ''")
    browser_page.keyboard.press("Delete")
    browser_page.wait_for_function(f"{status_text} !== ''")
    assert "fetch" in browser_page.locator("#status").text_content().lower()


# ---- The command ---------------------------------------------------------------------------------------------------


def test_the_command_refuses_bad_input_in_one_line(clip, runner, tmp_path: Path) -> None:
    from flowseg.cli import main

    folder, _, _ = clip
    result = runner.invoke(main, ["app", str(tmp_path / "missing.mp4"), "--no-browser"])
    assert result.exit_code == 2 and "missing.mp4" in result.output and "Traceback" not in result.output
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    result = runner.invoke(main, ["app", str(folder), "-o", str(busy), "--no-browser"])
    assert result.exit_code == 2 and "is not empty" in result.output
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = runner.invoke(main, ["app", str(folder), "-o", str(tmp_path / "out"), "--no-browser",
                                      "--port", str(taken.getsockname()[1])])  # fmt: skip
    assert result.exit_code == 2 and "cannot listen on 127.0.0.1" in result.output


def test_a_clip_larger_than_the_free_memory_is_refused_before_it_is_read(clip, runner, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from flowseg.app import session
    from flowseg.cli import main

    folder, _, _ = clip
    free = session.available_memory()
    assert free is not None and free > 0  # read on this machine (Linux: MemAvailable)
    held = FRAMES * SHAPE[0] * SHAPE[1] * session.HELD_BYTES_PER_PIXEL  # 1.4 MB
    monkeypatch.setattr(session, "available_memory", lambda: held - 1)
    with pytest.raises(ClipTooLargeError, match=f"has {FRAMES} frames at 160x120: the app holds them all"):
        EditingSession(folder, tmp_path / "out")
    result = runner.invoke(main, ["app", str(folder), "-o", str(tmp_path / "out"), "--no-browser"])
    assert result.exit_code == 2 and "open a shorter clip" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 2  # "reading ...", then the one-line error
    monkeypatch.setattr(session, "available_memory", lambda: held)
    assert len(EditingSession(folder, tmp_path / "out").frames) == FRAMES


def test_the_command_serves_the_page_until_ctrl_c(clip, tmp_path: Path, interruptible: None) -> None:
    import signal
    import subprocess
    import sys

    folder, _, _ = clip
    app = subprocess.Popen([sys.executable, "-m", "flowseg", "app", str(folder), "-o", str(tmp_path / "out"),
                            "--no-browser"], stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        lines = []
        while not lines or "open http" not in lines[-1]:
            lines.append(app.stderr.readline())
            assert lines[-1], "".join(lines)
        url = lines[-1].split("open ")[1].split()[0]
        assert url.startswith("http://127.0.0.1:") and "?token=" in url
        with urllib.request.urlopen(url, timeout=30) as page:
            assert page.status == 200 and b'id="view"' in page.read()
        app.send_signal(signal.SIGINT)
        assert app.wait(30) == 0
        assert "flowseg app stopped." in app.stderr.read()
    finally:
        app.kill()
