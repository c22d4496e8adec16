"""The SIGTERM/SIGINT drain shared by every ASGI server `manage.py serve` can run.

On the first signal the instance stops listening, drains the realtime server (every client is
told to reconnect elsewhere, disconnect handlers and shutdown hooks run), lets in-flight
requests finish, and stops the server, all within the timeout. A watchdog forces exit 1 when
that overruns by WATCHDOG_GRACE seconds; a second signal forces exit 1 at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from types import FrameType
from typing import Any, Protocol

from banter.realtime.tasks import spawn
from banter.realtime.transports import drain_servers, live_servers

logger = logging.getLogger("banter.realtime.serve")

WATCHDOG_GRACE = 5.0  # seconds past the shutdown timeout before the watchdog forces exit
FORCED_EXIT_CODE = 1
# Lets the server write out the last responses before it drops every connection.
FLUSH_PAUSE = 0.05


class Serving(Protocol):
    """What the drain needs from an ASGI server."""

    def stop_listening(self) -> list[str]:
        """Close the listening sockets (accepted connections stay); their addresses."""

    def pending_requests(self) -> list[asyncio.Future[Any]]:
        """Application instances still running (in-flight requests, open WebSockets)."""

    def stop(self) -> None:
        """Stop serving: the server's own shutdown takes over."""


class GracefulShutdown:
    """The SIGTERM/SIGINT handling of one server process."""

    def __init__(self, server: Serving, timeout: float) -> None:
        self.server = server
        self.timeout = timeout
        self.loop: asyncio.AbstractEventLoop | None = None  # the serving loop, once it runs
        self.signal_name: str | None = None
        self.started = 0.0

    def on_signal(self, signum: int, frame: FrameType | None = None) -> None:
        name = signal.Signals(signum).name
        if self.signal_name is not None:
            logger.critical("%s during shutdown: forcing exit now", name)
            os._exit(FORCED_EXIT_CODE)
        self.signal_name = name
        self.started = time.monotonic()
        self._start_watchdog()
        if self.loop is None:  # not serving yet: nothing to drain
            logger.warning("%s before the server started: exiting", name)
            os._exit(0)
        # Python runs this handler between two bytecodes of the main thread, possibly in the
        # middle of the event loop's own code: the work is handed to the loop instead.
        self.loop.call_soon_threadsafe(self._begin)

    def _start_watchdog(self) -> None:
        # A thread, not a loop timer: it must fire even when the loop itself is stuck.
        watchdog = threading.Timer(self.timeout + WATCHDOG_GRACE, self._force_exit)
        watchdog.daemon = True
        watchdog.start()

    def _force_exit(self) -> None:
        logger.critical(
            "shutdown still not done after %.1fs (--shutdown-timeout %.1fs + %.1fs): "
            "forcing exit %d",
            time.monotonic() - self.started,
            self.timeout,
            WATCHDOG_GRACE,
            FORCED_EXIT_CODE,
        )
        os._exit(FORCED_EXIT_CODE)

    def _begin(self) -> None:
        addresses = self.server.stop_listening()
        logger.warning(
            "shutting down on %s: stopped listening on %s, draining (timeout %.1fs)",
            self.signal_name,
            ", ".join(addresses) or "nothing",
            self.timeout,
        )
        spawn(self._drain_and_stop(), name="graceful-shutdown")

    async def _drain_and_stop(self) -> None:
        deadline = self.started + self.timeout
        try:
            await drain_servers(live_servers(), max(deadline - time.monotonic(), 0))
            await self._finish_requests(deadline)
        except Exception:
            logger.exception("graceful shutdown failed; stopping anyway")
        finally:
            logger.warning(
                "shutdown complete in %.2fs: stopping the server",
                time.monotonic() - self.started,
            )
            self.server.stop()

    async def _finish_requests(self, deadline: float) -> None:
        """Let in-flight HTTP requests (REST calls) answer before the connections drop."""
        pending = self.server.pending_requests()
        if pending:
            remaining = max(deadline - time.monotonic(), 0)
            _, unfinished = await asyncio.wait(pending, timeout=remaining)
            if unfinished:
                logger.warning("%d requests still running at the deadline", len(unfinished))
        await asyncio.sleep(FLUSH_PAUSE)
