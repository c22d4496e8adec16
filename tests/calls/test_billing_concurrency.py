"""Paid calls under real concurrency, on PostgreSQL (row locks are the point; SQLite has one
writer and proves nothing): parallel calls from one wallet, a hang-up racing the other
side's hang-up and the cut-off, top-ups racing charges. Every thread has its own
connection; the ledger must be consistent and no wallet below zero afterwards."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections
from django.utils import timezone

from banter.accounts.models import User
from banter.core.errors import BanterError
from calls import services
from calls.models import CallLog
from chat import services as chat_services
from tests.services import missing
from wallet.models import LedgerEntry, Wallet
from wallet.services import wallet_credit, wallet_inconsistencies, wallet_set_price

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgres(settings: Any) -> None:
    if connection.vendor != "postgresql":
        missing("needs PostgreSQL (DATABASE_URL=postgres://...): row locks under concurrency")
    settings.BANTER = {
        **settings.BANTER,
        "CALL_BILLING": "minute",
        "CALL_PLATFORM_FEE_PERCENT": 20,
        "CALL_PRICE_PER_MINUTE": 0,
    }


def race(*actions: Callable[[], Any]) -> list[Any]:
    """Run the actions at once in threads (each with its own connection): their results,
    or the BanterError each raised."""
    start = threading.Barrier(len(actions))
    results: list[Any] = [None] * len(actions)

    def run(index: int, action: Callable[[], Any]) -> None:
        try:
            start.wait()
            results[index] = action()
        except BanterError as error:
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def priced_friends(user_factory: Any, caller: User, count: int, price: int) -> list[User]:
    receivers = []
    for _ in range(count):
        receiver = user_factory()
        chat_services.direct_room_get_or_create(user=caller, other_user_id=receiver.pk)
        wallet_set_price(user=receiver, price_per_minute=price)
        receivers.append(receiver)
    return receivers


def test_parallel_calls_from_one_wallet_ring_once(user_factory: Any) -> None:
    alice = user_factory()
    receivers = priced_friends(user_factory, alice, 4, price=10)
    wallet_credit(user_id=alice.pk, amount=10)  # one paid minute in all

    results = race(
        *(
            lambda r=r: services.call_initiate(caller=alice, receiver_id=r.pk, call_type="audio")
            for r in receivers
        )
    )
    rang = [r for r in results if isinstance(r, CallLog)]
    assert len(rang) == 1, results
    assert all(
        isinstance(r, BanterError) and r.code == "conflict" for r in results if r not in rang
    )


def test_hang_ups_and_the_cut_off_racing_charge_once(user_factory: Any) -> None:
    alice = user_factory()
    [bob] = priced_friends(user_factory, alice, 1, price=10)
    wallet_credit(user_id=alice.pk, amount=15)
    call = services.call_initiate(caller=alice, receiver_id=bob.pk, call_type="audio")
    services.call_accept(user=bob, call_id=call.pk)
    # 90 s in, its one paid minute long over: both sides hang up as the sweeper cuts it off.
    past = timezone.now() - timedelta(seconds=90)
    CallLog.objects.filter(pk=call.pk).update(
        answered_at=past, billing_deadline=past + timedelta(seconds=60)
    )

    results = race(
        lambda: services.call_end(user=alice, call_id=call.pk),
        lambda: services.call_end(user=bob, call_id=call.pk),
        services.calls_sweep,
        services.calls_sweep,
    )
    call.refresh_from_db()
    assert call.status == "completed" and call.duration == 60 and call.cost == 10
    ended_by_hand = [r for r in results[:2] if isinstance(r, CallLog)]
    swept = [c for r in results[2:] for c in (r or [])]
    assert len(ended_by_hand) + len(swept) == 1, results
    assert LedgerEntry.objects.filter(kind="call_charge").count() == 1
    assert Wallet.objects.get(user=alice).balance == 5
    assert wallet_inconsistencies() == []


def test_many_calls_ending_while_staff_top_up_never_overdraw(user_factory: Any) -> None:
    callers = [user_factory() for _ in range(6)]
    receivers = [priced_friends(user_factory, caller, 1, price=7)[0] for caller in callers]
    calls = []
    for caller, receiver in zip(callers, receivers, strict=True):
        wallet_credit(user_id=caller.pk, amount=20)  # two minutes and change
        call = services.call_initiate(caller=caller, receiver_id=receiver.pk, call_type="video")
        services.call_accept(user=receiver, call_id=call.pk)
        calls.append(call)
    # Every call ran 5 minutes: far past what its caller can pay (the cut-off came late).
    CallLog.objects.filter(pk__in=[c.pk for c in calls]).update(
        answered_at=timezone.now() - timedelta(minutes=5), billing_deadline=None
    )
    ends = [
        (lambda c=c, u=u: services.call_end(user=u, call_id=c.pk))
        for c, u in zip(calls, callers, strict=True)
    ]
    top_ups = [(lambda u=u: wallet_credit(user_id=u.pk, amount=1)) for u in [*callers, *receivers]]
    results = race(*ends, *top_ups)
    assert not [r for r in results if isinstance(r, BanterError)], results
    for call in CallLog.objects.filter(pk__in=[c.pk for c in calls]):
        # 5 minutes at 7 is 35, more than the caller has: the charge takes what is there when
        # it runs (20, or 21 after the racing top-up) and never more.
        balance = Wallet.objects.get(user_id=call.caller_id).balance
        assert call.cost in (20, 21) and balance + call.cost == 21, (call.cost, balance)
    assert wallet_inconsistencies() == []
    assert not Wallet.objects.filter(balance__lt=0).exists()
