"""Paid calls: the receiver's price, the caller's cut-off, and the one charge at the end.

A call's price is the receiver's price per minute when it started (stored on the call). While
the call is answered, `billing_deadline` is when the caller's coins would no longer pay for
it; the call sweeper ends the call there (`insufficient_funds`), a minute earlier it warns
(`balance_warning_at`). Both are rows, so they survive a restart and any instance acts.

The charge is one ledger transaction keyed `call:<id>`, written by `charge` inside the
transaction that completes the call: a crash before the commit leaves an answered call (the
sweeper ends and charges it later), a crash after it leaves a charged, completed call, and
the ledger's unique (key, kind) refuses a second charge whatever happens in between.

Nothing else debits a caller while their call runs (a user is in one call at a time and
top-ups only add), so the deadline computed from the balance still holds at the end; the
charge is capped at the balance anyway, and the wallet's CHECK (balance >= 0) is the last
word.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

from banter.core.errors import BanterError, ErrorCode
from calls.models import CallLog
from wallet.models import LedgerEntry
from wallet.services import Posting, post, price_per_minute, wallet_of, wallets_locked

Kind = LedgerEntry.Kind


def per_minute() -> bool:
    return bool(settings.BANTER["CALL_BILLING"] == "minute")


def price_for(receiver_id: int) -> int:
    return price_per_minute(wallet_of(receiver_id))


def insufficient_funds(balance: int, price: int) -> BanterError:
    return BanterError(
        ErrorCode.INSUFFICIENT_FUNDS,
        f"This call costs {price} coins a minute; your balance is {balance}",
        {"balance": balance, "pricePerMinute": price},
    )


def require_first_minute(caller_id: int, price: int) -> None:
    """A paid call starts only if the caller can pay its first minute."""
    if price and (balance := wallet_of(caller_id).balance) < price:
        raise insufficient_funds(balance, price)


def affordable_seconds(balance: int, price: int) -> int:
    """The longest call `balance` pays for at `price` per minute."""
    if per_minute():
        return balance // price * 60
    # Per second the cost of d seconds is ceil(d * price / 60): affordable while
    # d * price <= balance * 60.
    return balance * 60 // price


def billed(duration: int, price: int) -> tuple[int, int]:
    """(billed seconds, cost) of a call of `duration` seconds."""
    if per_minute():
        minutes = -(-duration // 60)
        return minutes * 60, minutes * price
    return duration, -(-duration * price // 60)


def schedule(call: CallLog, balance: int) -> tuple[datetime, datetime]:
    """Set the answered call's cut-off and warning from the caller's balance (not saved);
    returns both."""
    if call.answered_at is None:
        raise ValueError(f"call {call.pk} is not answered: nothing to schedule")
    seconds = affordable_seconds(balance, call.price_per_minute)
    deadline = call.answered_at + timedelta(seconds=seconds)
    warn_at = deadline - timedelta(seconds=float(settings.BANTER["CALL_BALANCE_WARNING"]))
    call.billing_deadline, call.balance_warning_at = deadline, max(warn_at, call.answered_at)
    return deadline, call.balance_warning_at


def start(call: CallLog) -> None:
    """At the answer: lock the caller's wallet and schedule the cut-off. Refused (the call
    keeps ringing) if the first minute is no longer covered."""
    if not call.price_per_minute:
        return
    balance = wallets_locked([call.caller_id])[call.caller_id].balance
    if affordable_seconds(balance, call.price_per_minute) <= 0:
        raise insufficient_funds(balance, call.price_per_minute)
    schedule(call, balance)


def caller_balance_locked(call: CallLog) -> int:
    return wallets_locked([call.caller_id])[call.caller_id].balance


def rescheduled(call: CallLog, now: datetime) -> bool:
    """At a due cut-off or warning: if the caller was topped up since, move both later and
    say so (the caller locked, so the balance cannot change under us)."""
    before = call.billing_deadline
    deadline, _ = schedule(call, caller_balance_locked(call))
    return before is not None and deadline > before and deadline > now


def charge(call: CallLog) -> None:
    """Charge a call that just completed, in its completing transaction (call.duration set).

    Sets call.cost and call.billed_seconds (the caller saves the call)."""
    call.billing_deadline = call.balance_warning_at = None
    if not call.price_per_minute or call.answered_at is None:
        return
    key = f"call:{call.pk}"
    wallets = wallets_locked([call.caller_id, call.receiver_id])
    if LedgerEntry.objects.filter(key=key, kind=Kind.CALL_CHARGE).exists():
        return  # charged already: never twice
    seconds, cost = billed(call.duration, call.price_per_minute)
    # Never below zero, even if the cut-off came late: the caller pays what they have.
    cost = min(cost, wallets[call.caller_id].balance)
    call.billed_seconds, call.cost = seconds, cost
    if not cost:
        return
    fee = cost * int(settings.BANTER["CALL_PLATFORM_FEE_PERCENT"]) // 100
    postings = [
        Posting(call.caller_id, Kind.CALL_CHARGE, -cost),
        Posting(call.receiver_id, Kind.CALL_EARNING, cost - fee),
    ]
    if fee:
        postings.append(Posting(None, Kind.CALL_FEE, fee))
    post(postings, key=key, call_id=call.pk, wallets=wallets)
