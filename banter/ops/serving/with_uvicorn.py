"""`manage.py serve` (the default): uvicorn on uvloop, with the drain.

Chosen by measurement (docs/benchmarks.md): on the same application, uvicorn with its sans-I/O
`websockets` protocol on uvloop delivered about three times the messages a second of daphne
at p99 < 100 ms. daphne's Twisted transport registers and unregisters the socket with the
event loop's selector around every write; uvloop writes at once when the socket can take it.

Its WebSocket `send` waits while the transport is above its high-water mark (the peer is not
reading), so a stalled reader's frames stay in the engine's outbox, where the slow-reader cap
counts them.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn

from banter.ops import logs
from banter.ops.serving.shutdown import GracefulShutdown

logger = logging.getLogger("banter.realtime.serve")

# Frames over MAX_PAYLOAD are the engine's to refuse (close "payload too large"); the server's
# own limit only has to stay above it, in UTF-8 bytes.
WS_SIZE_MARGIN = 4


class DrainingServer(uvicorn.Server):
    """uvicorn's Server whose SIGTERM/SIGINT runs the drain instead of uvicorn's shutdown."""

    def __init__(self, config: uvicorn.Config, timeout: float) -> None:
        super().__init__(config)
        self.shutdown_control = GracefulShutdown(self, timeout)

    async def serve(self, sockets: Any = None) -> None:
        self.shutdown_control.loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not uvicorn's: it would stop at once and re-raise the signal after returning.
        self.shutdown_control.on_signal(sig, frame)

    def stop_listening(self) -> list[str]:
        addresses = []
        for server in getattr(self, "servers", []):
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                addresses.append(f"{host}:{port}")
            server.close()
        return addresses

    def pending_requests(self) -> list[asyncio.Future[Any]]:
        return [task for task in self.server_state.tasks if not task.done()]

    def stop(self) -> None:
        self.should_exit = True


def config_for(application: Callable[..., Any], options: dict[str, Any]) -> uvicorn.Config:
    from django.conf import settings

    proxy = bool(options["proxy_headers"])
    return uvicorn.Config(
        application,
        host=options["host"],
        port=options["port"],
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
        ws="websockets-sansio",
        lifespan="on",
        # Engine.IO's own heartbeat (PING_INTERVAL) keeps connections alive and detects dead
        # peers; WebSocket-level pings would double that work at 10,000 connections.
        ws_ping_interval=None,
        ws_max_size=settings.BANTER["MAX_PAYLOAD"] * WS_SIZE_MARGIN + 1024,
        ws_per_message_deflate=False,
        # X-Forwarded-For/-Proto only from the proxies of FORWARDED_ALLOW_IPS: a client that
        # reaches the port directly cannot choose its address.
        proxy_headers=proxy,
        forwarded_allow_ips=list(settings.FORWARDED_ALLOW_IPS),
        # Django's LOGGING stays in charge; uvicorn's loggers propagate to it (through its
        # RedactFilter: the access log's paths come with their query strings).
        log_config=None,
        access_log=int(options["verbosity"]) >= 1,
        # The drain already closed sockets and waited for requests.
        timeout_graceful_shutdown=1,
        timeout_keep_alive=5,
        # Room for a reconnect storm (the kernel caps it at net.core.somaxconn).
        backlog=4096,
    )


def serve(application: Callable[..., Any], options: dict[str, Any], timeout: float) -> bool:
    """Serve until drained or stopped; False when it could not listen."""
    server = DrainingServer(config_for(application, options), timeout)
    logs.install_redaction()  # after uvicorn configured its loggers
    server.run()
    return server.started
