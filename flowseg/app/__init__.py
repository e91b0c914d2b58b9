"""``flowseg app``: a local web page to mark an object, follow it, correct it and export it.

A wing of its own over the same API as the command line: the library never
imports it. :class:`EditingSession` (:mod:`.session`) is what the page edits,
with no HTTP in it; :func:`.server.serve` serves it on 127.0.0.1 behind a
random token and needs the ``app`` extra (Starlette and uvicorn):
``pip install 'flowseg[app]'``.
"""

from .session import BusyError, ClipTooLargeError, EditingSession

__all__ = ["EditingSession", "BusyError", "ClipTooLargeError"]
