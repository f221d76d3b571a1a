"""Audio files over HTTP with byte ranges (RFC 9110 §14), for ``<audio>`` seeking.

Only a file that is a row of the library is served, and only when the file
reached through its stored path resolves (symlinks followed) inside the row's own
folder, resolved, or inside a ``--music-dir``: a symlink swapped for one to
``/etc/passwd`` after analysis is refused (403). One range per request: a request
for several is answered with the first one (RFC 9110 lets a server send fewer).
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import re
import stat
from collections.abc import Sequence

from aiohttp import web

from fpstream.serve.security import BadRequest

CHUNK = 256 * 1024  # bytes read per write
_RANGE = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")
#: Types a browser's media stack recognises (mimetypes lacks some on a bare system).
TYPES = {
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".wav": "audio/wav",
    ".aif": "audio/aiff",
    ".aiff": "audio/aiff",
    ".wv": "audio/wavpack",
    ".webm": "audio/webm",
}


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def safe_file(stored: str, music_dirs: Sequence[str]) -> tuple[str, os.stat_result]:
    """The resolved file behind the row ``stored`` and its stat; :class:`BadRequest` (403/404) when
    it is gone, not a regular file, or resolves outside its folder and every music dir."""
    real = os.path.realpath(stored)
    roots = [os.path.realpath(os.path.dirname(stored)), *(os.path.realpath(d) for d in music_dirs)]
    if not any(_inside(real, r) for r in roots):
        raise BadRequest("this track's file resolves outside its folder (a symlink): not served", 403)
    try:
        st = os.stat(real)
    except OSError as exc:
        raise BadRequest(f"the track's file cannot be read: {exc.strerror}", 404) from None
    if not stat.S_ISREG(st.st_mode):
        raise BadRequest("the track's path is not a regular file", 403)
    return real, st


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The first byte range of a ``Range`` header as (start, end inclusive); None for a header
    to ignore (not ``bytes=``, RFC 9110: serve the whole file); :class:`BadRequest` 416 when
    unsatisfiable."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not spec:
        return None
    first = spec.split(",")[0]
    m = _RANGE.match(first)
    if m is None or (not m.group(1) and not m.group(2)):
        raise BadRequest(f"malformed Range: {header[:100]!r}", 416)
    if m.group(1):
        start = int(m.group(1))
        end = int(m.group(2)) if m.group(2) else size - 1
        if m.group(2) and end < start:
            raise BadRequest(f"malformed Range: {header[:100]!r}", 416)
        end = min(end, size - 1)
    else:  # a suffix: the last N bytes
        n = int(m.group(2))
        if n == 0:
            raise BadRequest("a zero-length suffix range is unsatisfiable", 416)
        start, end = max(size - n, 0), size - 1
    if start >= size:
        raise BadRequest(f"range starts at {start}, the file has {size} bytes", 416)
    return start, end


async def send_file(request: web.Request, real: str, st: os.stat_result) -> web.StreamResponse:
    """``real`` as a 200, or a 206 for a satisfiable ``Range``, or 416 (with ``Content-Range``)."""
    size = st.st_size
    ext = os.path.splitext(real)[1].lower()
    ctype = TYPES.get(ext) or mimetypes.guess_type(real)[0] or "application/octet-stream"
    headers = {"Accept-Ranges": "bytes", "Content-Type": ctype, "Cache-Control": "no-cache"}
    header = request.headers.get("Range")
    span = None
    if header:
        try:
            span = parse_range(header, size)
        except BadRequest as exc:
            return web.json_response(
                {"error": str(exc)}, status=416, headers={"Content-Range": f"bytes */{size}"}
            )
    if span is None:
        start, end, status = 0, size - 1, 200
    else:
        (start, end), status = span, 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    length = max(end - start + 1, 0)
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = length
    await response.prepare(request)
    if request.method == "HEAD" or length == 0:
        await response.write_eof()
        return response
    loop = asyncio.get_running_loop()
    try:
        with open(real, "rb") as f:
            f.seek(start)
            left = length
            while left > 0:
                block = await loop.run_in_executor(None, f.read, min(CHUNK, left))
                if not block:
                    break  # the file shrank while being sent: the client sees a short body
                await response.write(block)
                left -= len(block)
        await response.write_eof()
    except ConnectionResetError:
        pass  # the browser let go (a seek, another track): nothing to answer any more
    return response
