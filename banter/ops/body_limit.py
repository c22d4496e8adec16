"""A cap on HTTP request bodies, applied before Django reads them.

Django's ASGI handler reads the whole body (spooled to a temporary file) before any view
or setting can look at it: DATA_UPLOAD_MAX_MEMORY_SIZE and the upload limit only speak after
a 10 GB body has filled the disk. Here a declared Content-Length over the limit is answered
413 unread, and a body that grows past it (chunked, or a lying length) is cut off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from banter.realtime.asgi_routing import ASGIApp


def _declared_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


@dataclass(frozen=True, slots=True)
class BodyLimit:
    """`cutoff`: the bytes a body may have; `max_bytes` and `what`: the limit the client is
    told about (an upload's file limit, not the file plus its multipart framing)."""

    cutoff: int
    max_bytes: int
    what: str = "request body"


async def _too_large(send: Any, limit: BodyLimit) -> None:
    body = orjson.dumps(
        {
            "code": "payload_too_large",
            "message": f"The {limit.what} is larger than {limit.max_bytes} bytes",
            "details": {"maxBytes": limit.max_bytes},
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def limit_request_bodies(app: ASGIApp, limit_for: Callable[[str], BodyLimit]) -> ASGIApp:
    """`app` with every HTTP request body capped at `limit_for(path).cutoff` bytes."""

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        limit = limit_for(scope.get("path", ""))
        declared = _declared_length(scope)
        if declared is not None and declared > limit.cutoff:
            await _too_large(send, limit)
            return
        received = 0
        exceeded = False
        started = False

        async def counted() -> dict[str, Any]:
            nonlocal received, exceeded
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.cutoff:
                    # Django takes a disconnect while reading the body as an aborted request
                    # and answers nothing: the 413 goes out below.
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def tracked(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await app(scope, counted, tracked)
        if exceeded and not started:
            await _too_large(send, limit)

    return guarded
