"""What every request passes through: the token, the size limits, and errors as JSON.

- **Token**: a service listening beyond loopback requires ``--token`` (or one it
  generates and prints) from every peer that is not on loopback, as the header
  ``Authorization: Bearer TOKEN``, ``X-Fpstream-Token: TOKEN`` or the query
  parameter ``token=TOKEN`` (for ``<audio src>`` and M3U links). Loopback peers are
  trusted as they are when the service listens on 127.0.0.1 (Lyrion's mixer plugin
  always calls ``localhost`` and cannot send a token).
- **Limits**: request bodies up to :data:`MAX_BODY` bytes (aiohttp's
  ``client_max_size``), lists in a request up to :data:`MAX_LIST` items, counts up
  to the endpoint's maximum.
- **Errors**: any refusal is ``{"error": "..."}`` with a 4xx status; an unexpected
  exception is logged and answered 500 with a one-line error, never a traceback.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from store.library import LibraryError

log = logging.getLogger("fpstream.serve")

MAX_BODY = 256 * 1024  # bytes: a mix request of 50 seeds and a long queue is a few kB
MAX_LIST = 1000  # items in one list of a request (seeds, previous, genre groups)
TOKEN_KEY = web.AppKey("token", str)


class BadRequest(Exception):
    """Input the client must fix: answered 400 with the message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def new_token() -> str:
    """A random token for a service listening beyond loopback (URL-safe, 128 bits)."""
    return secrets.token_urlsafe(16)


def is_loopback_host(host: str) -> bool:
    """Whether binding ``host`` listens on loopback only (``127.0.0.1``, ``::1``, ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _peer_is_loopback(request: web.Request) -> bool:
    peer = request.remote
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _given_token(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[len("Bearer ") :].strip()
    return request.headers.get("X-Fpstream-Token") or request.query.get("token")


@web.middleware
async def guard(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    """The token check, then the handler with every failure turned into a JSON error."""
    token = request.app.get(TOKEN_KEY)
    if token and not _peer_is_loopback(request):
        given = _given_token(request)
        if given is None or not hmac.compare_digest(given.encode(), token.encode()):
            return json_error(401, "this service needs its token (Authorization: Bearer TOKEN or ?token=)")
    try:
        return await handler(request)
    except BadRequest as exc:
        return json_error(exc.status, str(exc))
    except LibraryError as exc:
        return json_error(404, str(exc))
    except web.HTTPRequestEntityTooLarge:
        return json_error(413, f"request body larger than {MAX_BODY} bytes")
    except web.HTTPException as exc:
        if exc.status >= 400:
            return json_error(exc.status, exc.reason)
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return json_error(500, "internal error (logged by the service)")


# ---------------------------------------------------------------- input


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; :class:`BadRequest` for anything else."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BadRequest(f"request body larger than {MAX_BODY} bytes", 413) from None
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("the request body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not JSON: {exc.msg} at character {exc.pos}") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def int_field(value: Any, name: str, default: int, low: int, high: int, clamp: bool = False) -> int:
    """``value`` as an int within ``[low, high]`` (booleans and numeric strings accepted, as Perl
    sends either); ``default`` when None. ``clamp``: bring an out-of-range value into range
    (bliss-mixer does so for ``count``) instead of refusing it."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise BadRequest(f"{name} must be a number, not {value!r}") from None
    if not isinstance(value, int | float) or value != value:
        raise BadRequest(f"{name} must be a number")
    number = int(value)
    if clamp:
        return min(max(number, low), high)
    if not low <= number <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, not {number}")
    return number


def str_list(value: Any, name: str) -> list[str]:
    """A list of strings of at most :data:`MAX_LIST` items (None: empty)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{name} must be a list of strings")
    if len(value) > MAX_LIST:
        raise BadRequest(f"{name} has {len(value)} items; at most {MAX_LIST}")
    return value


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    return int_field(request.query.get(name), name, default, low, high)


def query_str(request: web.Request, name: str, required: bool = True) -> str:
    value = request.query.get(name)
    if value is None or value == "":
        if required:
            raise BadRequest(f"the query parameter {name} is required")
        return ""
    if len(value) > 4096:
        raise BadRequest(f"{name} is longer than 4096 characters")
    return value
