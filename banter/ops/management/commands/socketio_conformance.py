from __future__ import annotations

import errno
import socket
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


def listen_addresses(host: str, port: int) -> list[str]:
    """The addresses to bind for `host`: every loopback address a name such as "localhost"
    resolves to (Node 17+ takes the resolver's order, which may put ::1 first), keeping only
    the families this machine can bind; a literal address is itself."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise CommandError(f"cannot resolve {host!r}: {exc}") from exc
    addresses: list[str] = []
    for family, _, _, _, sockaddr in infos:
        address = str(sockaddr[0])
        if address in addresses:
            continue
        try:
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.bind((address, 0))
        except OSError:
            continue  # e.g. ::1 listed in /etc/hosts on a host without IPv6
        addresses.append(address)
    if not addresses:
        raise CommandError(f"{host!r} resolves to no address this machine can bind")
    return addresses


def check_port_free(address: str, port: int) -> None:
    """Fail with a plain message rather than daphne's Twisted traceback."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As daphne (Twisted) binds: SO_REUSEADDR, so a socket in TIME_WAIT is no conflict.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CommandError(
                    f"port {port} on {address} is already in use (another conformance server?)"
                ) from exc
            raise CommandError(f"cannot bind {address}:{port}: {exc}") from exc


class Command(BaseCommand):
    help = (
        "Serve the echo apps of the official test suites: Socket.IO v5 at /socket.io/ and "
        "Engine.IO v4 at /engine.io/ (no auth, no database)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host",
            default="127.0.0.1",
            help="address or name to listen on; a name binds every address it resolves to "
            "(use localhost for the upstream suites, which connect to http://localhost:3000)",
        )
        parser.add_argument("--port", type=int, default=3000)

    def handle(self, *args: Any, **options: Any) -> None:
        # Imported here: daphne.server installs Twisted's asyncio reactor on import.
        from daphne.cli import CommandLineInterface
        from daphne.server import Server

        from banter.ops import logs
        from banter.ops.serving.with_daphne import LoggingAccessLog

        class RedactedAccessLogServer(Server):
            """daphne's Server with its CLI's access log going through logging (and so
            through RedactFilter) instead of stdout: the suites' polling URLs carry sids."""

            def __init__(self, **kwargs: Any) -> None:
                if kwargs.get("action_logger") is not None:
                    kwargs["action_logger"] = LoggingAccessLog()
                super().__init__(**kwargs)

        port: int = options["port"]
        addresses = listen_addresses(options["host"], port)
        for address in addresses:
            check_port_free(address, port)
        endpoints: list[str] = []
        for address in addresses:
            interface = address.replace(":", r"\:")  # Twisted endpoint syntax
            endpoints += ["-e", f"tcp:port={port}:interface={interface}"]
        listening = ", ".join(f"[{a}]:{port}" if ":" in a else f"{a}:{port}" for a in addresses)
        self.stdout.write(
            f"Conformance servers on {listening}: Socket.IO at /socket.io/, "
            "Engine.IO echo at /engine.io/"
        )
        cli = CommandLineInterface()
        cli.server_class = RedactedAccessLogServer
        logs.install_redaction()
        cli.run([*endpoints, "banter.realtime.conformance:application"])
