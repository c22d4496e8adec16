from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Serve the echo app of the official Socket.IO v5 test suite (no auth, no database)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=3000)

    def handle(self, *args: Any, **options: Any) -> None:
        from daphne.cli import CommandLineInterface

        self.stdout.write(f"Socket.IO conformance server on {options['host']}:{options['port']}")
        CommandLineInterface().run(
            [
                "-b",
                options["host"],
                "-p",
                str(options["port"]),
                "banter.realtime.conformance:application",
            ]
        )
