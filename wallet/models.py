"""Coins: one wallet per user and an append-only, double-entry ledger.

Every movement of coins is a *transaction*: entries sharing one `key` whose amounts sum to
zero. User entries move a wallet's balance; entries without a user are the platform's own
account (fees it earns, coins it issues on a top-up). So at every commit:

- each wallet's balance is the sum of its user's entries (`manage.py wallet_check`), and
- each key's entries sum to zero.

Amounts are whole coins (integers, never floats). Entries are never updated or deleted: a
mistake is corrected with a new transaction.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Wallet(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="wallet"
    )
    balance = models.BigIntegerField(default=0, help_text="Coins.")
    # None: the server's default (CALL_PRICE_PER_MINUTE), so changing it reaches everyone
    # who never chose a price.
    price_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Coins a caller pays per minute; empty: the default."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # The last line of defence against an overdraft: a charge that would take the
            # balance below zero fails its transaction instead of committing.
            models.CheckConstraint(condition=models.Q(balance__gte=0), name="wallet_not_negative"),
        ]

    def __str__(self) -> str:
        return f"wallet of {self.user_id}: {self.balance}"


class LedgerEntry(models.Model):
    class Kind(models.TextChoices):
        TOP_UP = "top_up", "top-up"  # a user's side of coins issued by staff
        ISSUE = "issue", "issue"  # the platform's side of a top-up
        CALL_CHARGE = "call_charge", "call charge"  # the caller pays
        CALL_EARNING = "call_earning", "call earning"  # the receiver earns the rest
        CALL_FEE = "call_fee", "call fee"  # the platform's share

    # PROTECT: financial records outlive their subject; a user with coin history is
    # deactivated, not deleted.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
        help_text="Empty: the platform's account.",
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.BigIntegerField(help_text="Coins; negative is a debit.")
    # The wallet's balance after this entry (none for the platform's entries).
    balance_after = models.BigIntegerField(null=True, blank=True)
    # Idempotency: a transaction's entries share it ("call:<id>", "top-up:<uuid>"); the
    # unique (key, kind) pair makes a second charge of one call impossible to commit.
    key = models.CharField(max_length=80)
    call = models.ForeignKey(
        "calls.CallLog",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
    )
    memo = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The staff member who made a top-up.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-id",)
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["user", "-id"], name="ledger_user_newest")]
        constraints = [
            models.UniqueConstraint(fields=["key", "kind"], name="ledger_key_kind_once"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+d} ({self.key})"
