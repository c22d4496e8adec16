"""`manage.py serve`: daphne on banter.asgi:application, with a graceful shutdown.

Serves exactly like `daphne -b HOST -p PORT [--proxy-headers] banter.asgi:application` (the
same timeouts and limits as daphne's command line), plus what daphne lacks: on SIGTERM or
SIGINT the instance stops listening, drains the realtime server (every client is told to
reconnect elsewhere, disconnect handlers and shutdown hooks run), lets in-flight requests
finish, and exits 0, all within --shutdown-timeout seconds. A watchdog forces exit 1 when that
overruns by WATCHDOG_GRACE seconds; a second signal forces exit 1 at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any, cast

# daphne.server installs Twisted's asyncio reactor: it must be imported before anything
# imports twisted.internet.reactor (isort keeps it first: daphne < django < twisted).
from daphne.access import AccessLogGenerator
from daphne.endpoints import build_endpoint_description_strings
from daphne.server import Server
from daphne.utils import import_by_path
from daphne.ws_protocol import WebSocketProtocol
from django.core.management.base import BaseCommand, CommandError, CommandParser
from twisted.internet import defer
from twisted.internet import reactor as _reactor

from banter.realtime.tasks import spawn
from banter.realtime.transports import drain_servers, live_servers

if TYPE_CHECKING:
    from twisted.internet.asyncioreactor import AsyncioSelectorReactor

logger = logging.getLogger("banter.realtime.serve")

reactor = cast("AsyncioSelectorReactor", _reactor)

APPLICATION = "banter.asgi:application"
WATCHDOG_GRACE = 5.0  # seconds past --shutdown-timeout before the watchdog forces exit
FORCED_EXIT_CODE = 1
# Lets the reactor write out the last responses before it drops every connection.
FLUSH_PAUSE = 0.05
# Close codes an application may send that autobahn refuses (it allows 1000, 3000-4999):
# 1001 "going away" and 1012 "service restart" are the honest ones when draining.
SERVICE_CLOSE_CODES = frozenset({1001, 1012})

# daphne's command-line defaults (daphne/cli.py): `serve` must behave like `daphne`.
DAPHNE_CLI_DEFAULTS: dict[str, Any] = {
    "http_timeout": None,
    "websocket_timeout": 86400,
    "websocket_connect_timeout": 5,
    "websocket_handshake_timeout": 5,  # the CLI passes its --websocket_connect_timeout
    "ping_interval": 20,
    "ping_timeout": 30,
    "websocket_max_message_size": 1024 * 1024,
    "websocket_max_frame_size": 1024 * 1024,
    "application_close_timeout": 10,
    "root_path": "",
    "server_name": "daphne",
}


class ServiceCloseWebSocketProtocol(WebSocketProtocol):
    """daphne's WebSocket protocol, also sending the close codes of SERVICE_CLOSE_CODES."""

    def serverClose(self, code: int | None = None) -> None:
        if code in SERVICE_CLOSE_CODES:
            # What sendClose does after its check (sendCloseFrame ignores closing sockets).
            self.sendCloseFrame(code=code, isReply=False)
        else:
            super().serverClose(code)


class DrainableServer(Server):
    """daphne's Server that can stop listening and lets the application close WebSockets
    with 1012."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(signal_handlers=False, ready_callable=self._before_run, **kwargs)
        self.ports: list[Any] = []

    def _before_run(self) -> None:
        # run() builds the WebSocket factory; it builds a protocol per upgraded connection.
        self.ws_factory.protocol = ServiceCloseWebSocketProtocol

    def listen_success(self, port: Any) -> None:
        self.ports.append(port)
        super().listen_success(port)

    def stop_listening(self) -> list[str]:
        """Close the listening sockets (connections already accepted stay); their addresses."""
        addresses = []
        for port in self.ports:
            host = port.getHost()
            addresses.append(f"{getattr(host, 'host', host)}:{getattr(host, 'port', '')}")
            port.stopListening()
        self.ports.clear()
        return addresses

    def pending_applications(self) -> list[asyncio.Future[Any]]:
        """Application instances still running (in-flight requests, open WebSockets)."""
        return [
            details["application_instance"]
            for details in self.connections.values()
            if "application_instance" in details and not details["application_instance"].done()
        ]

    def kill_all_applications(self) -> defer.Deferred[Any]:
        # daphne's version raises KeyError on a keep-alive connection whose application
        # already finished (its "application_instance" key is gone), which skips the rest.
        pending = self.pending_applications()
        for application in pending:
            application.cancel()
        if pending:
            logger.info("cancelled %d application instances still running", len(pending))
        return defer.Deferred.fromFuture(asyncio.gather(*pending, return_exceptions=True))


class GracefulShutdown:
    """The SIGTERM/SIGINT handling of one server process."""

    def __init__(
        self, server: DrainableServer, loop: asyncio.AbstractEventLoop, timeout: float
    ) -> None:
        self.server = server
        self.loop = loop
        self.timeout = timeout
        self.signal_name: str | None = None
        self.started = 0.0

    def install(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.signal_name is not None:
            logger.critical("%s during shutdown: forcing exit now", name)
            os._exit(FORCED_EXIT_CODE)
        self.signal_name = name
        self.started = time.monotonic()
        self._start_watchdog()
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
            reactor.stop()

    async def _finish_requests(self, deadline: float) -> None:
        """Let in-flight HTTP requests (REST calls) answer before the connections drop."""
        pending = self.server.pending_applications()
        if pending:
            remaining = max(deadline - time.monotonic(), 0)
            _, unfinished = await asyncio.wait(pending, timeout=remaining)
            if unfinished:
                logger.warning("%d requests still running at the deadline", len(unfinished))
        await asyncio.sleep(FLUSH_PAUSE)


def daphne_options(options: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of daphne's Server the daphne CLI would use for these options."""
    proxy = bool(options["proxy_headers"])
    verbosity = int(options["verbosity"])
    return {
        **DAPHNE_CLI_DEFAULTS,
        "endpoints": build_endpoint_description_strings(host=options["host"], port=options["port"]),
        # The CLI's access log: stdout from verbosity 1 on.
        "action_logger": AccessLogGenerator(sys.stdout) if verbosity >= 1 else None,
        "verbosity": verbosity,
        "proxy_forwarded_address_header": "X-Forwarded-For" if proxy else None,
        "proxy_forwarded_port_header": "X-Forwarded-Port" if proxy else None,
        "proxy_forwarded_proto_header": "X-Forwarded-Proto" if proxy else None,
    }


class Command(BaseCommand):
    help = (
        "Serve banter.asgi:application with daphne; on SIGTERM/SIGINT stop accepting, make "
        "clients reconnect elsewhere and exit within --shutdown-timeout."
    )
    # Like the daphne command line: no system checks (a deploy must not be blocked by one).
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--proxy-headers",
            action="store_true",
            help="Trust X-Forwarded-For/-Port/-Proto (behind a reverse proxy only).",
        )
        parser.add_argument(
            "--shutdown-timeout",
            type=float,
            # A string default goes through `type`: a bad SHUTDOWN_TIMEOUT is a usage error.
            default=os.environ.get("SHUTDOWN_TIMEOUT", "10"),
            help="Seconds a SIGTERM may take to drain (env SHUTDOWN_TIMEOUT, default 10).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        timeout: float = options["shutdown_timeout"]
        if timeout < 0:
            raise CommandError("--shutdown-timeout must be >= 0")
        application = load_application()
        server = DrainableServer(application=application, **daphne_options(options))
        GracefulShutdown(server, reactor._asyncioEventloop, timeout).install()
        logger.info(
            "serving %s on http://%s:%s (shutdown timeout %.1fs)",
            APPLICATION,
            options["host"],
            options["port"],
            timeout,
        )
        server.run()
        if server.abort_start:
            raise CommandError(f"could not listen on {options['host']}:{options['port']}")
        logger.info("server stopped")


def load_application() -> Callable[..., Any]:
    from asgiref.compatibility import guarantee_single_callable

    return cast(Callable[..., Any], guarantee_single_callable(import_by_path(APPLICATION)))
