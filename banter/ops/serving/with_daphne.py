"""`manage.py serve --server daphne`: daphne, as its command line serves, plus the drain.

Two differences, both for safety: the access log goes through logging ("daphne.access", where
RedactFilter strips query strings), and `--proxy-headers` believes X-Forwarded-For/-Proto
only from the peers of FORWARDED_ALLOW_IPS (daphne's own option believes anyone).

Imported only when daphne is chosen: daphne.server installs Twisted's asyncio reactor on import,
which must happen before anything imports twisted.internet.reactor, and has no business in a
uvicorn process.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

# isort keeps daphne first: daphne < twisted.
from daphne.access import AccessLogGenerator
from daphne.endpoints import build_endpoint_description_strings
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet import defer
from twisted.internet import reactor as _reactor

from banter.ops import logs
from banter.ops.serving.shutdown import GracefulShutdown

if TYPE_CHECKING:
    from twisted.internet.asyncioreactor import AsyncioSelectorReactor

logger = logging.getLogger("banter.realtime.serve")

reactor = cast("AsyncioSelectorReactor", _reactor)

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
        addresses = []
        for port in self.ports:
            host = port.getHost()
            addresses.append(f"{getattr(host, 'host', host)}:{getattr(host, 'port', '')}")
            port.stopListening()
        self.ports.clear()
        return addresses

    def pending_requests(self) -> list[asyncio.Future[Any]]:
        return [
            details["application_instance"]
            for details in self.connections.values()
            if "application_instance" in details and not details["application_instance"].done()
        ]

    def stop(self) -> None:
        reactor.stop()

    def kill_all_applications(self) -> defer.Deferred[Any]:
        # daphne's version raises KeyError on a keep-alive connection whose application
        # already finished (its "application_instance" key is gone), which skips the rest.
        pending = self.pending_requests()
        for application in pending:
            application.cancel()
        if pending:
            logger.info("cancelled %d application instances still running", len(pending))
        return defer.Deferred.fromFuture(asyncio.gather(*pending, return_exceptions=True))


class LoggingAccessLog(AccessLogGenerator):
    """daphne's access log (its CLI's NCSA-like lines) written to the "daphne.access" logger
    instead of stdout: through the handlers' RedactFilter (query strings hold Engine.IO sids
    and maybe tokens) and in LOG_FORMAT, like every other line."""

    logger = logging.getLogger("daphne.access")

    def __init__(self) -> None:
        super().__init__(stream=None)

    def write_entry(
        self,
        host: Any,
        date: Any,
        request: str,
        status: Any = None,
        length: Any = None,
        ident: Any = None,
        user: Any = None,
    ) -> None:
        # The formatter stamps the time.
        self.logger.info('%s - "%s" %s %s', host, request, status or "-", length or "-")


def daphne_options(options: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of daphne's Server the daphne CLI would use for these options,
    less its proxy headers (see trusting_proxies)."""
    verbosity = int(options["verbosity"])
    return {
        **DAPHNE_CLI_DEFAULTS,
        "endpoints": build_endpoint_description_strings(host=options["host"], port=options["port"]),
        # The CLI's access log from verbosity 1 on.
        "action_logger": LoggingAccessLog() if verbosity >= 1 else None,
        "verbosity": verbosity,
    }


def trusting_proxies(
    application: Callable[..., Any], options: dict[str, Any]
) -> Callable[..., Any]:
    """With --proxy-headers, the application behind uvicorn's proxy-headers middleware:
    scope["client"] and scheme from X-Forwarded-For/-Proto, believed only from the peers
    of FORWARDED_ALLOW_IPS. daphne's proxy_forwarded_*_header options would believe them
    from anyone who reaches the port. (X-Forwarded-Port is not used.)"""
    if not options["proxy_headers"]:
        return application
    from django.conf import settings
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    return ProxyHeadersMiddleware(application, list(settings.FORWARDED_ALLOW_IPS))


def serve(application: Callable[..., Any], options: dict[str, Any], timeout: float) -> bool:
    """Serve until drained or stopped; False when it could not listen."""
    server = DrainableServer(
        application=trusting_proxies(application, options), **daphne_options(options)
    )
    logs.install_redaction()
    shutdown = GracefulShutdown(server, timeout)
    shutdown.loop = reactor._asyncioEventloop
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, shutdown.on_signal)
    server.run()
    return not server.abort_start
