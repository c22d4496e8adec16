"""`manage.py admin_ui_password`: the ADMIN_UI_PASSWORD_HASH line for a Socket.IO Admin UI
password (docs/operations.md, "Admin UI").

Prompts twice, or takes `--password` (it then stays in the shell's history) or one line on
standard input (`--stdin`, or whenever standard input is not a terminal). The password must
pass Django's password validators; the hash is Django's (PBKDF2 by default), checked at login
with django.contrib.auth.hashers.check_password.
"""

from __future__ import annotations

import getpass
import sys
from typing import Any

from django.contrib.auth import password_validation
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Print ADMIN_UI_PASSWORD_HASH=<hash> for a Socket.IO Admin UI password."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--password", help="The password (else prompted or read from stdin).")
        parser.add_argument(
            "--stdin", action="store_true", help="Read the password from standard input."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        password = self._password(options)
        if not password:
            raise CommandError("The password must not be empty")
        try:
            password_validation.validate_password(password)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        self.stdout.write(f"ADMIN_UI_PASSWORD_HASH={make_password(password)}")

    def _password(self, options: dict[str, Any]) -> str:
        if options.get("password") is not None:
            return str(options["password"])
        if options.get("stdin") or not sys.stdin.isatty():
            return sys.stdin.readline().rstrip("\r\n")
        first = getpass.getpass("Admin UI password: ")
        if getpass.getpass("Again: ") != first:
            raise CommandError("The passwords differ")
        return first
