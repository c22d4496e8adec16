"""Paid calls (calls/billing.py through calls.services): the first-minute check, the one
charge at the end, the cut-off and its warning swept from rows, top-ups moving them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from banter.accounts.models import User
from banter.core.errors import BanterError, ErrorCode
from banter.realtime.broadcast import Broadcast, capture_broadcasts, user_group
from calls import billing, payloads, services
from calls.models import CallLog
from chat import services as chat_services
from wallet.models import LedgerEntry, Wallet
from wallet.services import wallet_credit, wallet_inconsistencies, wallet_set_price

Status = CallLog.Status
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _billing(settings: Any) -> None:
    settings.BANTER = {
        **settings.BANTER,
        "CALL_BILLING": "minute",
        "CALL_PLATFORM_FEE_PERCENT": 20,
        "CALL_BALANCE_WARNING": 60.0,
        "CALL_PRICE_PER_MINUTE": 0,
    }


@pytest.fixture
def caller(user_factory: Any) -> User:
    return user_factory(username="caller")


@pytest.fixture
def receiver(user_factory: Any, caller: User) -> User:
    user = user_factory(username="receiver")
    chat_services.direct_room_get_or_create(user=caller, other_user_id=user.pk)
    wallet_set_price(user=user, price_per_minute=10)
    return user


def balance(user: User) -> int:
    return Wallet.objects.get(user=user).balance


def answered(caller: User, receiver: User, seconds_ago: float = 0) -> CallLog:
    """A call answered `seconds_ago` (its cut-off scheduled from that moment)."""
    call = services.call_initiate(caller=caller, receiver_id=receiver.pk, call_type="audio")
    services.call_accept(user=receiver, call_id=call.pk, device="r-dev")
    return backdate(call, seconds_ago)


def backdate(call: CallLog, seconds: float) -> CallLog:
    """Move the call's answer and its billing times `seconds` into the past."""
    call.refresh_from_db()
    shift = timedelta(seconds=seconds)
    fields = ("answered_at", "billing_deadline", "balance_warning_at")
    moved = {name: getattr(call, name) - shift for name in fields if getattr(call, name)}
    CallLog.objects.filter(pk=call.pk).update(**moved)
    call.refresh_from_db()
    return call


def sent_to(sent: list[Broadcast], user: User, event: str) -> list[dict[str, Any]]:
    return [b.args[0] for b in sent if b.group == user_group(user.pk) and b.event == event]


def test_a_paid_call_needs_the_first_minute(caller: User, receiver: User) -> None:
    wallet_credit(user_id=caller.pk, amount=9)
    with pytest.raises(BanterError) as refused:
        services.call_initiate(caller=caller, receiver_id=receiver.pk, call_type="audio")
    assert refused.value.code is ErrorCode.INSUFFICIENT_FUNDS
    assert refused.value.http_status == 402
    assert refused.value.details == {"balance": 9, "pricePerMinute": 10}
    assert not CallLog.objects.exists()  # refused: nothing logged, nothing rang

    wallet_credit(user_id=caller.pk, amount=1)
    call = services.call_initiate(caller=caller, receiver_id=receiver.pk, call_type="audio")
    assert call.status == Status.RINGING and call.price_per_minute == 10


def test_free_calls_need_no_wallet_and_charge_nothing(caller: User, receiver: User) -> None:
    wallet_set_price(user=receiver, price_per_minute=0)
    call = answered(caller, receiver, seconds_ago=90)
    assert call.billing_deadline is None
    ended = services.call_end(user=caller, call_id=call.pk)
    assert (ended.cost, ended.billed_seconds) == (0, 0)
    assert not LedgerEntry.objects.exists()


def test_hang_up_charges_each_started_minute_once_with_the_fee(
    caller: User, receiver: User
) -> None:
    wallet_credit(user_id=caller.pk, amount=100)
    call = answered(caller, receiver, seconds_ago=61)
    # 100 coins at 10 a minute: ten whole minutes from the answer.
    assert call.answered_at is not None and call.billing_deadline is not None
    assert call.billing_deadline - call.answered_at == timedelta(minutes=10)

    with capture_broadcasts() as sent:
        ended = services.call_end(user=receiver, call_id=call.pk)
    assert ended.duration == 61 and ended.end_reason == "hangup"
    assert (ended.billed_seconds, ended.cost) == (120, 20)
    assert balance(caller) == 80 and balance(receiver) == 16  # 20% (4 coins) to the platform
    entries = LedgerEntry.objects.filter(key=f"call:{call.pk}")
    assert sorted((e.kind, e.amount) for e in entries) == [
        ("call_charge", -20),
        ("call_earning", 16),
        ("call_fee", 4),
    ]
    assert wallet_inconsistencies() == []
    [event] = sent_to(sent, caller, payloads.CALL_ENDED)
    assert (event["cost"], event["billedSeconds"], event["reason"]) == (20, 120, "hangup")
    assert sent_to(sent, receiver, payloads.CALL_ENDED) == [event]
    stored = CallLog.objects.get(pk=call.pk)
    assert (stored.cost, stored.billed_seconds, stored.billing_deadline) == (20, 120, None)


def test_per_second_billing_rounds_the_coins_up(
    settings: Any, caller: User, receiver: User
) -> None:
    settings.BANTER = {**settings.BANTER, "CALL_BILLING": "second"}
    wallet_credit(user_id=caller.pk, amount=100)
    call = answered(caller, receiver, seconds_ago=61)
    ended = services.call_end(user=caller, call_id=call.pk)
    assert (ended.billed_seconds, ended.cost) == (61, 11)  # 61 s * 10/60 = 10.17 -> 11
    assert balance(caller) == 89


def test_a_call_is_never_charged_twice(caller: User, receiver: User) -> None:
    wallet_credit(user_id=caller.pk, amount=100)
    call = answered(caller, receiver, seconds_ago=30)
    services.call_end(user=caller, call_id=call.pk)
    call.refresh_from_db()
    with transaction.atomic():
        billing.charge(call)  # a second completion path reaching the charge
    assert LedgerEntry.objects.filter(kind="call_charge").count() == 1
    assert balance(caller) == 90
    with pytest.raises(BanterError):
        services.call_end(user=caller, call_id=call.pk)  # completed: conflict, no charge
    assert balance(caller) == 90


def test_the_sweeper_cuts_the_call_off_when_the_coins_run_out(caller: User, receiver: User) -> None:
    wallet_credit(user_id=caller.pk, amount=25)  # two minutes at 10
    call = answered(caller, receiver, seconds_ago=125)
    with capture_broadcasts() as sent:
        services.calls_sweep()
    call.refresh_from_db()
    assert call.status == Status.COMPLETED and call.end_reason == "insufficient_funds"
    # Ended at the deadline, not when the sweeper came: exactly what the coins paid for.
    assert call.duration == 120 and call.cost == 20 and balance(caller) == 5
    [event] = sent_to(sent, caller, payloads.CALL_ENDED)
    assert event["reason"] == "insufficient_funds"
    assert sent_to(sent, receiver, payloads.CALL_ENDED) == [event]
    assert wallet_inconsistencies() == []


def test_balance_low_comes_once_a_minute_before_the_cut_off(caller: User, receiver: User) -> None:
    wallet_credit(user_id=caller.pk, amount=30)  # three minutes: warned after two
    call = answered(caller, receiver, seconds_ago=119)
    with capture_broadcasts() as sent:
        services.calls_sweep()
    assert sent_to(sent, caller, payloads.CALL_BALANCE_LOW) == []  # not yet

    backdate(call, 2)
    with capture_broadcasts() as sent:
        services.calls_sweep()
    [warning] = sent_to(sent, caller, payloads.CALL_BALANCE_LOW)
    assert warning["callId"] == call.pk and warning["balance"] == 30
    assert 55 <= warning["secondsLeft"] <= 60
    assert sent_to(sent, receiver, payloads.CALL_BALANCE_LOW) == []  # the caller's business
    with capture_broadcasts() as sent:
        services.calls_sweep()
    assert sent_to(sent, caller, payloads.CALL_BALANCE_LOW) == []  # once
    assert CallLog.objects.get(pk=call.pk).status == Status.ANSWERED


def test_a_top_up_during_the_call_moves_the_cut_off(caller: User, receiver: User) -> None:
    wallet_credit(user_id=caller.pk, amount=10)
    call = answered(caller, receiver, seconds_ago=65)  # its one minute is over
    wallet_credit(user_id=caller.pk, amount=50)
    with capture_broadcasts() as sent:
        services.calls_sweep()
    call.refresh_from_db()
    assert call.status == Status.ANSWERED
    assert call.billing_deadline is not None and call.answered_at is not None
    assert call.billing_deadline - call.answered_at == timedelta(minutes=6)
    assert sent_to(sent, caller, payloads.CALL_ENDED) == []
    ended = services.call_end(user=caller, call_id=call.pk)
    assert ended.cost == 20 and balance(caller) == 40


def test_a_dropped_paid_call_is_charged_to_the_drop(caller: User, receiver: User) -> None:
    wallet_credit(user_id=caller.pk, amount=100)
    call = answered(caller, receiver, seconds_ago=200)
    dropped_at = timezone.now() - timedelta(seconds=100)
    CallLog.objects.filter(pk=call.pk).update(dropped_at=dropped_at, drop_deadline=dropped_at)
    services.calls_sweep()
    call.refresh_from_db()
    assert call.status == Status.COMPLETED and call.end_reason == "dropped"
    assert call.duration == 100 and (call.billed_seconds, call.cost) == (120, 20)
    assert balance(caller) == 80 and wallet_inconsistencies() == []


def test_the_price_is_the_one_when_the_call_started(caller: User, receiver: User) -> None:
    wallet_credit(user_id=caller.pk, amount=100)
    call = services.call_initiate(caller=caller, receiver_id=receiver.pk, call_type="video")
    wallet_set_price(user=receiver, price_per_minute=50)
    services.call_accept(user=receiver, call_id=call.pk)
    backdate(call, 5)
    ended = services.call_end(user=caller, call_id=call.pk)
    assert ended.price_per_minute == 10 and ended.cost == 10


def test_accept_is_refused_when_the_first_minute_is_gone(caller: User, receiver: User) -> None:
    wallet_credit(user_id=caller.pk, amount=10)
    call = services.call_initiate(caller=caller, receiver_id=receiver.pk, call_type="audio")
    Wallet.objects.filter(user=caller).update(balance=5)  # as if spent meanwhile
    with pytest.raises(BanterError) as refused:
        services.call_accept(user=receiver, call_id=call.pk)
    assert refused.value.code is ErrorCode.INSUFFICIENT_FUNDS
    assert CallLog.objects.get(pk=call.pk).status == Status.RINGING


def test_the_charge_never_takes_more_than_the_balance(caller: User, receiver: User) -> None:
    wallet_credit(user_id=caller.pk, amount=10)
    call = answered(caller, receiver)
    # A cut-off that came very late (the whole cluster was down): 5 minutes on 1 paid.
    CallLog.objects.filter(pk=call.pk).update(
        answered_at=timezone.now() - timedelta(minutes=5), billing_deadline=None
    )
    ended = services.call_end(user=caller, call_id=call.pk)
    assert ended.duration == 300 and ended.cost == 10 and balance(caller) == 0


@pytest.mark.parametrize(
    ("mode", "balance_", "price", "seconds"),
    [("minute", 25, 10, 120), ("minute", 9, 10, 0), ("second", 25, 10, 150), ("second", 1, 7, 8)],
)
def test_affordable_seconds(
    settings: Any, mode: str, balance_: int, price: int, seconds: int
) -> None:
    settings.BANTER = {**settings.BANTER, "CALL_BILLING": mode}
    assert billing.affordable_seconds(balance_, price) == seconds
    # What is affordable costs at most the balance.
    assert billing.billed(seconds, price)[1] <= balance_
