"""`manage.py wallet_check`: the ledger's invariants, checked; exits 1 on any breach (CI
runs it after the paid-call end-to-end tests)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from wallet.models import LedgerEntry, Wallet
from wallet.services import wallet_inconsistencies


class Command(BaseCommand):
    help = "Check that every balance is the sum of its ledger and every transaction sums to 0."

    def handle(self, *args: Any, **options: Any) -> None:
        problems = wallet_inconsistencies()
        for problem in problems:
            self.stderr.write(problem)
        if problems:
            raise CommandError(f"{len(problems)} ledger inconsistencies")
        self.stdout.write(
            f"ledger consistent: {Wallet.objects.count()} wallets, "
            f"{LedgerEntry.objects.count()} entries"
        )
