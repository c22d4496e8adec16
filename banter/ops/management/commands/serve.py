"""`manage.py serve`: banter.asgi:application on uvicorn (default) or daphne, with a graceful
shutdown.

`--server uvicorn` (or ASGI_SERVER=uvicorn, the default) runs uvicorn on uvloop with its
sans-I/O WebSocket protocol and permessage-deflate off, the fastest by measurement
(docs/benchmarks.md). `--server daphne` serves like `daphne -b HOST -p PORT
[--proxy-headers] banter.asgi:application`. Both add what the plain servers lack: on SIGTERM
or SIGINT the instance stops listening, drains the realtime server (every client is told to
reconnect elsewhere, disconnect handlers and shutdown hooks run), lets in-flight requests
finish, and exits 0, all within --shutdown-timeout seconds (serving/shutdown.py). And on
both, `--proxy-headers` believes X-Forwarded-For/-Proto only from the peers of
FORWARDED_ALLOW_IPS, and no query string (Engine.IO sid, token) reaches a log line
(banter.ops.logs.RedactFilter).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any, cast

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

logger = logging.getLogger("banter.realtime.serve")

APPLICATION = "banter.asgi:application"
SERVERS = ("uvicorn", "daphne")


class Command(BaseCommand):
    help = (
        "Serve banter.asgi:application with uvicorn (default) or daphne; on SIGTERM/SIGINT "
        "stop accepting, make clients reconnect elsewhere and exit within --shutdown-timeout."
    )
    # Like the daphne command line: no system checks (a deploy must not be blocked by one).
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--server",
            choices=SERVERS,
            default=settings.ASGI_SERVER,
            help="ASGI server (env ASGI_SERVER, default uvicorn).",
        )
        parser.add_argument(
            "--proxy-headers",
            action="store_true",
            help="Take the client address and scheme from X-Forwarded-For/-Proto, when "
            "sent by a peer in FORWARDED_ALLOW_IPS (default: loopback only).",
        )
        parser.add_argument(
            "--shutdown-timeout",
            type=float,
            # The SHUTDOWN_TIMEOUT knob (banter/core/config.py refuses a bad one at startup).
            default=settings.SHUTDOWN_TIMEOUT,
            help="Seconds a SIGTERM may take to drain (env SHUTDOWN_TIMEOUT, default 10).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        timeout: float = options["shutdown_timeout"]
        if timeout < 0:
            raise CommandError("--shutdown-timeout must be >= 0")
        server = options["server"]
        if server not in SERVERS:  # ASGI_SERVER is not checked by argparse's choices
            raise CommandError(f"--server/ASGI_SERVER must be one of {', '.join(SERVERS)}")
        if server == "daphne":
            from banter.ops.serving import with_daphne as backend
        else:
            from banter.ops.serving import with_uvicorn as backend  # type: ignore[no-redef]
        application = load_application()
        tune_gc()
        logger.info(
            "serving %s with %s on http://%s:%s (shutdown timeout %.1fs)",
            APPLICATION,
            server,
            options["host"],
            options["port"],
            timeout,
        )
        if not backend.serve(application, options, timeout):
            raise CommandError(f"could not listen on {options['host']}:{options['port']}")
        logger.info("server stopped")


def tune_gc() -> None:
    """Keep full garbage collections short (banter/ops/gcwatch.py): freeze what survives
    them, collect every GC_COLLECT_INTERVAL, walk everything every GC_FULL_INTERVAL, and
    GC_GEN0_THRESHOLD."""
    from banter.ops import gcwatch

    config = settings.BANTER
    gcwatch.install(
        gcwatch.GcPolicy(
            freeze_survivors=config["GC_FREEZE_SURVIVORS"],
            full_interval=config["GC_FULL_INTERVAL"],
            gen0_threshold=config["GC_GEN0_THRESHOLD"],
            collect_interval=config["GC_COLLECT_INTERVAL"],
        )
    )


def load_application() -> Callable[..., Any]:
    from asgiref.compatibility import guarantee_single_callable

    module, name = APPLICATION.split(":")
    application = getattr(importlib.import_module(module), name)
    return cast(Callable[..., Any], guarantee_single_callable(application))
