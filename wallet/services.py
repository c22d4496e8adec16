"""Wallets and the ledger: balances move only through `post`, which writes a zero-sum
transaction of ledger entries and the new balances together, under the wallets' row locks.

Callers hold a transaction (`post` requires one): a call's charge commits with the call's
completion, a top-up with nothing else.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet, Sum
from django.dispatch import Signal

from banter.accounts.models import User
from banter.core.errors import not_found, validation_error
from wallet.models import LedgerEntry, Wallet

Kind = LedgerEntry.Kind

# Sent inside the top-up's transaction with `user_id`: a call in progress can move its
# cut-off later (calls/billing.py).
wallet_credited = Signal()


@dataclass(frozen=True, slots=True)
class Posting:
    """One line of a transaction: `user_id` None is the platform's account."""

    user_id: int | None
    kind: str
    amount: int


def price_per_minute(wallet: Wallet) -> int:
    if wallet.price_per_minute is None:
        return int(settings.BANTER["CALL_PRICE_PER_MINUTE"])
    return wallet.price_per_minute


def wallet_of(user_id: int) -> Wallet:
    """The user's wallet as stored, or an empty one (not saved: reads never write)."""
    return Wallet.objects.filter(user_id=user_id).first() or Wallet(user_id=user_id, balance=0)


def wallets_locked(user_ids: Iterable[int]) -> dict[int, Wallet]:
    """The users' wallets, created if missing, locked FOR UPDATE in id order (two
    transactions locking the same wallets never deadlock)."""
    ids = sorted(set(user_ids))
    Wallet.objects.bulk_create([Wallet(user_id=pk) for pk in ids], ignore_conflicts=True)
    locked = Wallet.objects.select_for_update().filter(user_id__in=ids).order_by("user_id")
    return {wallet.user_id: wallet for wallet in locked}


def post(
    postings: Sequence[Posting],
    *,
    key: str,
    call_id: int | None = None,
    memo: str = "",
    created_by: User | None = None,
    wallets: dict[int, Wallet] | None = None,
) -> list[LedgerEntry]:
    """Write one transaction. The wallets must be locked by the caller's transaction (pass
    them) or are locked here. A balance going below zero fails the database's check."""
    if sum(posting.amount for posting in postings) != 0:
        raise ValueError(f"transaction {key} does not balance: {postings}")
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("wallet.services.post must run inside a transaction")
    user_ids = {p.user_id for p in postings if p.user_id is not None}
    if wallets is None or not user_ids <= wallets.keys():
        wallets = wallets_locked(user_ids)
    entries: list[LedgerEntry] = []
    for posting in postings:
        balance_after = None
        if posting.user_id is not None:
            wallet = wallets[posting.user_id]
            wallet.balance += posting.amount
            balance_after = wallet.balance
        entries.append(
            LedgerEntry(
                user_id=posting.user_id,
                kind=posting.kind,
                amount=posting.amount,
                balance_after=balance_after,
                key=key,
                call_id=call_id,
                memo=memo,
                created_by=created_by,
            )
        )
    for user_id in user_ids:
        wallets[user_id].save(update_fields=["balance", "updated_at"])
    return LedgerEntry.objects.bulk_create(entries)


@transaction.atomic
def wallet_credit(
    *, user_id: int, amount: int, created_by: User | None = None, memo: str = "", key: str = ""
) -> tuple[LedgerEntry, bool]:
    """A staff top-up: `amount` coins issued by the platform to the user.

    `key` makes a retry safe: a second top-up with the same key returns the first one's
    entry and credits nothing (the bool is False then)."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise validation_error("A top-up is a positive whole number of coins", amount="invalid")
    if not User.objects.filter(pk=user_id).exists():
        raise not_found("User")
    key = f"top-up:{key or uuid.uuid4().hex}"
    wallets = wallets_locked([user_id])
    done = LedgerEntry.objects.filter(key=key, kind=Kind.TOP_UP).first()
    if done is not None:
        return done, False
    entries = post(
        [Posting(user_id, Kind.TOP_UP, amount), Posting(None, Kind.ISSUE, -amount)],
        key=key,
        memo=memo,
        created_by=created_by,
        wallets=wallets,
    )
    wallet_credited.send(sender=Wallet, user_id=user_id)
    return entries[0], True


def wallet_set_price(*, user: User, price_per_minute: object) -> Wallet:
    ceiling = int(settings.BANTER["CALL_MAX_PRICE_PER_MINUTE"])
    if (
        isinstance(price_per_minute, bool)
        or not isinstance(price_per_minute, int)
        or not 0 <= price_per_minute <= ceiling
    ):
        raise validation_error(
            f"pricePerMinute must be a whole number of coins from 0 to {ceiling}",
            pricePerMinute="invalid",
        )
    with transaction.atomic():
        wallet = wallets_locked([user.pk])[user.pk]
        wallet.price_per_minute = price_per_minute
        wallet.save(update_fields=["price_per_minute", "updated_at"])
    return wallet


def ledger_of(user: User) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(user=user).order_by("-id")


def wallet_inconsistencies() -> list[str]:
    """What breaks the ledger's two rules, in words (empty: consistent). Read in one
    REPEATABLE READ snapshot on PostgreSQL so a charge committing meanwhile is not a false
    alarm."""
    # Only a transaction of its own can choose its isolation (not one nested in a caller's).
    own = not connection.in_atomic_block
    with transaction.atomic():
        if own and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        return _inconsistencies()


def _inconsistencies() -> list[str]:
    problems: list[str] = []
    sums = dict(
        LedgerEntry.objects.filter(user__isnull=False)
        .values_list("user_id")
        .annotate(total=Sum("amount"))
        .values_list("user_id", "total")
    )
    balances = dict(Wallet.objects.values_list("user_id", "balance"))
    for user_id in sorted(sums.keys() | balances.keys()):
        total, balance = sums.get(user_id, 0), balances.get(user_id)
        if balance is None:
            problems.append(f"user {user_id} has ledger entries ({total}) but no wallet")
        elif total != balance:
            problems.append(f"wallet of user {user_id}: balance {balance}, ledger sum {total}")
    unbalanced = (
        LedgerEntry.objects.values("key").annotate(total=Sum("amount")).exclude(total=0)
    ).values_list("key", "total")
    problems += [f"transaction {key} sums to {total}, not 0" for key, total in unbalanced]
    return problems
