"""`manage.py wallet_credit USERNAME AMOUNT`: a staff top-up from the command line."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from banter.accounts.models import User
from banter.core.errors import BanterError
from wallet.services import wallet_credit, wallet_of


class Command(BaseCommand):
    help = "Add coins to a user's wallet (a ledger top-up). Payments are out of scope."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("amount", type=int)
        parser.add_argument("--memo", default="", help="why, kept on the ledger entry")
        parser.add_argument(
            "--key",
            default="",
            help="idempotency key: running the command again with it credits nothing more",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user {options['username']!r}")
        try:
            entry, credited = wallet_credit(
                user_id=user.pk,
                amount=options["amount"],
                memo=options["memo"] or "manage.py wallet_credit",
                key=options["key"],
            )
        except BanterError as error:
            raise CommandError(error.message) from None
        balance = wallet_of(user.pk).balance
        if credited:
            self.stdout.write(f"credited {entry.amount} to {user.username}: balance {balance}")
        else:
            self.stdout.write(f"already credited ({entry.key}): balance {balance}")
