"""The app's HTTP side: Starlette routes over an :class:`~flowseg.app.session.EditingSession`, and ``serve``.

Routes (every one needs the session's token: the page's URL carries it as
``?token=``, which also sets a cookie for the frames and masks the page
loads; a request that changes anything must carry it in the
``X-Flowseg-Token`` header, which another site's page cannot send)::

    GET    /                      the page
    GET    /static/<file>         its script and style (from the package)
    GET    /api/clip              name, frames, size, fps, output folder
    GET    /api/state             job progress, given, previewed and suspect frames, confidences
    GET    /api/frames/<t>.jpg    frame t
    GET    /api/masks/<t>.png     frame t's mask as a tinted, outlined RGBA layer
    POST   /api/marks/<t>         JSON marks (see prompt_from_marks) -> the preview mask's size
    DELETE /api/marks/<t>         forget frame t's marks and mask
    POST   /api/propagate         start propagating the previews
    POST   /api/export            JSON {"alpha": [...], "feather": px}: start an export
    GET    /files/<name>          a file of the output folder, once exported

Nothing else is served: frames are asked for by number, files only from
inside the output folder, and the server listens on 127.0.0.1 alone.
"""

from __future__ import annotations

import hmac
import json
import secrets
import socket
import threading
import webbrowser
from importlib import resources
from typing import Any, Callable

import cv2
import numpy as np

from ..errors import ConfigError, FlowsegError, MissingDependencyError, OutputError
from ..io import ALPHA_FORMATS
from ..io.preview import OVERLAY_COLOUR, draw_outline
from .session import BusyError, EditingSession

try:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.requests import Request
    from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles
    from starlette.types import ASGIApp, Receive, Scope, Send
except ImportError:  # pragma: no cover - the message says what to install
    raise MissingDependencyError("flowseg app needs Starlette and uvicorn: pip install 'flowseg[app]'") from None

__all__ = ["create_app", "serve", "BackgroundServer", "TOKEN_HEADER"]

TOKEN_HEADER = "X-Flowseg-Token"
"""The header that carries the token on requests that change something."""

HOST = "127.0.0.1"
_STATIC = resources.files("flowseg.app") / "static"


class _TokenGuard:
    """ASGI middleware: refuses (403) every request without the token; changes need it in :data:`TOKEN_HEADER`."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        header = request.headers.get(TOKEN_HEADER, "")
        offered = [header] if request.method not in ("GET", "HEAD") else [
            header, request.query_params.get("token", ""), request.cookies.get(_cookie_name(request), "")]
        if not any(hmac.compare_digest(value.encode(), self.token.encode()) for value in offered if value):
            await JSONResponse({"error": "this page needs the token in the URL flowseg app printed"},
                               status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _cookie_name(request: Request) -> str:
    return f"flowseg-token-{request.url.port}"  # one per port: two apps side by side keep their own


def create_app(session: EditingSession, token: str) -> Starlette:
    """The app serving `session` to whoever holds `token` (see the module's routes)."""

    def page(request: Request) -> Response:
        response = HTMLResponse((_STATIC / "index.html").read_text(encoding="utf-8"),
                                headers={"Cache-Control": "no-store"})
        token_given = request.query_params.get("token", "")
        if token_given:
            response.set_cookie(_cookie_name(request), token_given, httponly=True, samesite="strict")
        return response

    def clip(_: Request) -> Response:
        height, width = session.shape
        return JSONResponse({"name": session.video.name, "frames": len(session.frames), "width": width,
                             "height": height, "fps": session.fps, "output": str(session.output_dir),
                             "alpha_formats": list(ALPHA_FORMATS)})

    def state(_: Request) -> Response:
        return JSONResponse(session.state())

    def frame(request: Request) -> Response:
        index = _frame_index(request, session)
        _, jpeg = cv2.imencode(".jpg", cv2.cvtColor(session.frames[index], cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, 90])
        return Response(jpeg.tobytes(), media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    def mask(request: Request) -> Response:
        return Response(_mask_layer(session.mask(_frame_index(request, session))), media_type="image/png",
                        headers={"Cache-Control": "no-store"})

    async def mark(request: Request) -> Response:
        index = _frame_index(request, session)
        # GrabCut takes a fraction of a second: off the event loop, so frames and progress keep coming meanwhile
        found = await run_in_threadpool(session.preview, index, await _json(request))
        return JSONResponse({"frame": index, "pixels": int(found.sum()), "version": session.version})

    def forget(request: Request) -> Response:
        session.forget(_frame_index(request, session))
        return JSONResponse({"version": session.version})

    def propagate(_: Request) -> Response:
        session.propagate()
        return JSONResponse(session.state(), status_code=202)

    async def export(request: Request) -> Response:
        options = await _json(request)
        alpha = tuple(options.get("alpha", ("webm",)))
        unknown = sorted(set(alpha) - set(ALPHA_FORMATS))
        if unknown:
            raise ConfigError(f"unknown alpha format {unknown[0]!r}; choose from {', '.join(ALPHA_FORMATS)}")
        try:
            feather = float(options.get("feather", 0.0))
        except (TypeError, ValueError):
            raise ConfigError(f"feather must be a number of pixels, not {options.get('feather')!r}") from None
        session.export(alpha=alpha, feather=feather)
        return JSONResponse(session.state(), status_code=202)

    def exported(request: Request) -> Response:
        root = session.output_dir.resolve()
        path = (root / request.path_params["name"]).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return JSONResponse({"error": "no such file in the output folder"}, status_code=404)
        return FileResponse(path)

    routes = [
        Route("/", page),
        Route("/api/clip", clip),
        Route("/api/state", state),
        Route("/api/frames/{index:int}.jpg", frame),
        Route("/api/masks/{index:int}.png", mask),
        Route("/api/marks/{index:int}", mark, methods=["POST"]),
        Route("/api/marks/{index:int}", forget, methods=["DELETE"]),
        Route("/api/propagate", propagate, methods=["POST"]),
        Route("/api/export", export, methods=["POST"]),
        Route("/files/{name:path}", exported),
        Mount("/static", StaticFiles(directory=str(_STATIC)), name="static"),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=[HOST, "localhost"]),  # no DNS rebinding
                  Middleware(_TokenGuard, token=token)]
    return Starlette(routes=routes, middleware=middleware, exception_handlers={FlowsegError: _refused})


def _refused(_: Request, error: Exception) -> Response:
    """A flowseg error as the page shows it: one line; 409 while a job runs, else 400."""
    return JSONResponse({"error": str(error)}, status_code=409 if isinstance(error, BusyError) else 400)


def _frame_index(request: Request, session: EditingSession) -> int:
    index = request.path_params["index"]
    if not 0 <= index < len(session.frames):
        raise HTTPException(404, f"frame {index} is not in the clip (frames 0 to {len(session.frames) - 1})")
    return index


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except json.JSONDecodeError as error:
        raise ConfigError(f"the request is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise ConfigError("the request must be a JSON object")
    return body


def _mask_layer(mask: np.ndarray) -> bytes:
    """A mask as a PNG layer to draw over its frame: tinted half-transparent inside, opaque on its outline."""
    layer = np.zeros((*mask.shape, 4), np.uint8)
    layer[mask] = (*OVERLAY_COLOUR, 115)
    draw_outline(layer, mask, (*OVERLAY_COLOUR, 255))
    _, png = cv2.imencode(".png", cv2.cvtColor(layer, cv2.COLOR_RGBA2BGRA))
    return png.tobytes()


def _listener(port: int) -> socket.socket:
    """A socket listening on 127.0.0.1:`port` (0: any free port); OutputError where it cannot."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind((HOST, port))
        listener.listen(128)  # from now a request waits for the server rather than being refused
    except OSError as error:
        listener.close()
        raise OutputError(f"cannot listen on {HOST}:{port}: {error.strerror}") from None
    return listener


def _server(session: EditingSession, token: str) -> uvicorn.Server:
    return uvicorn.Server(uvicorn.Config(create_app(session, token), log_level="warning"))


def serve(session: EditingSession, *, port: int = 0, open_browser: bool = True,
          announce: Callable[[str], None] = print) -> None:
    """Serve `session` on 127.0.0.1 until interrupted; `announce` gets the page's URL (with a new random token).

    Raises
    ------
    OutputError
        If the port cannot be taken.
    """
    token = secrets.token_urlsafe(24)
    server = _server(session, token)
    with _listener(port) as listener:
        url = f"http://{HOST}:{listener.getsockname()[1]}/?token={token}"
        announce(url)
        if open_browser:
            webbrowser.open(url)
        server.run(sockets=[listener])


class BackgroundServer:
    """`session` served on 127.0.0.1 from a background thread while the ``with`` block runs (a notebook, a test).

    Attributes
    ----------
    base : str
        ``http://127.0.0.1:<port>``.
    token : str
        The token every request needs (:data:`TOKEN_HEADER`, or ``?token=``).
    url : str
        The page's address, token included.

    Examples
    --------
    >>> with BackgroundServer(EditingSession("clip.mp4", "out")) as app:  # doctest: +SKIP
    ...     print(app.url)
    """

    def __init__(self, session: EditingSession, *, port: int = 0, token: str | None = None) -> None:
        self.session, self.token = session, token or secrets.token_urlsafe(24)
        self._server = _server(session, self.token)
        self._listener = _listener(port)
        self.base = f"http://{HOST}:{self._listener.getsockname()[1]}"
        self.url = f"{self.base}/?token={self.token}"
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._listener]}, daemon=True)

    def __enter__(self) -> BackgroundServer:
        self._thread.start()
        while not self._server.started and self._thread.is_alive():
            self._thread.join(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._listener.close()
