"""ASGI routing shared by the Banter app and the conformance server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from banter.realtime.tasks import spawn
from banter.realtime.transports import RealtimeServer

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]

SOCKETIO_PATH = "/socket.io/"


def _is_socketio(scope: dict[str, Any]) -> bool:
    path: str = scope.get("path", "")
    return path == SOCKETIO_PATH or path == SOCKETIO_PATH[:-1]


def realtime_asgi(
    realtime: RealtimeServer,
    http_fallback: ASGIApp | None,
    background: Sequence[Callable[[], Awaitable[None]]] = (),
    http_routes: Mapping[str, ASGIApp] | None = None,
) -> ASGIApp:
    """HTTP /socket.io/ -> polling, WebSocket /socket.io/ -> consumer, `http_routes` (exact
    paths: health and metrics, served on the event loop), other HTTP -> fallback.

    `background` loops start once per event loop, on the first ASGI event (daphne sends no
    lifespan startup, so that cannot be relied on).
    """
    routes = dict(http_routes or {})
    websocket_app = realtime.websocket_consumer()
    started: set[asyncio.AbstractEventLoop] = set()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if background:
            loop = asyncio.get_running_loop()
            if loop not in started:
                started.add(loop)
                for run in background:
                    spawn(run(), name=getattr(run, "__name__", "background"))
        kind = scope["type"]
        if kind == "websocket":
            if _is_socketio(scope):
                await websocket_app(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1008})
        elif kind == "http":
            if _is_socketio(scope):
                await realtime.http(scope, receive, send)
            elif scope.get("path", "") in routes:
                await routes[scope["path"]](scope, receive, send)
            elif http_fallback is not None:
                await http_fallback(scope, receive, send)
            else:
                await send({"type": "http.response.start", "status": 404, "headers": []})
                await send({"type": "http.response.body", "body": b"Not found"})
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    return app
