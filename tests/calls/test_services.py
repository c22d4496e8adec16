"""calls.services: the state machine, busy, deadlines swept exactly once, drops."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from banter.accounts.models import User
from banter.core.errors import BanterError, ErrorCode
from banter.notifications.models import Notification
from banter.realtime.broadcast import Broadcast, capture_broadcasts, user_group
from calls import payloads, services
from calls.models import CallLog
from chat import services as chat_services

Status = CallLog.Status
pytestmark = pytest.mark.django_db


def raises(code: ErrorCode) -> Any:
    return pytest.raises(BanterError, check=lambda error: error.code is code)


@pytest.fixture
def caller(user_factory: Any) -> User:
    return user_factory(username="caller")


@pytest.fixture
def receiver(user_factory: Any, caller: User) -> User:
    user = user_factory(username="receiver")
    chat_services.direct_room_get_or_create(user=caller, other_user_id=user.pk)
    return user


@pytest.fixture
def stranger(user_factory: Any) -> User:
    return user_factory(username="stranger")


def ring(caller: User, receiver: User, **options: Any) -> CallLog:
    return services.call_initiate(
        caller=caller, receiver_id=receiver.pk, call_type="video", device="c-dev", **options
    )


def sent_to(sent: list[Broadcast], user: User) -> list[str]:
    return [b.event for b in sent if b.group == user_group(user.pk)]


def test_happy_path_ring_answer_end_with_duration(caller: User, receiver: User) -> None:
    with capture_broadcasts() as sent:
        call = ring(caller, receiver)
    assert call.status == Status.RINGING and call.ring_expires_at is not None
    assert sent_to(sent, receiver) == [payloads.CALL_INCOMING]

    with capture_broadcasts() as sent:
        services.call_accept(user=receiver, call_id=call.pk, device="r-dev")
    assert sent_to(sent, caller) == [payloads.CALL_ACCEPTED]
    assert sent_to(sent, receiver) == [payloads.CALL_ANSWERED_ELSEWHERE]

    CallLog.objects.filter(pk=call.pk).update(answered_at=timezone.now() - timedelta(seconds=42))
    with capture_broadcasts() as sent:
        ended = services.call_end(user=caller, call_id=call.pk)
    assert ended.status == Status.COMPLETED and ended.duration == 42
    assert sent_to(sent, caller) == sent_to(sent, receiver) == [payloads.CALL_ENDED]
    assert sent[0].args[0]["duration"] == 42 and sent[0].args[0]["callId"] == call.pk


@pytest.mark.parametrize(
    ("actor", "action", "code"),
    [
        ("caller", "call_accept", ErrorCode.FORBIDDEN),  # your own call
        ("caller", "call_reject", ErrorCode.FORBIDDEN),
        ("receiver", "call_cancel", ErrorCode.FORBIDDEN),
        ("receiver", "call_end", ErrorCode.CONFLICT),  # not answered yet
        ("stranger", "call_end", ErrorCode.FORBIDDEN),
        ("stranger", "call_accept", ErrorCode.FORBIDDEN),
    ],
)
def test_invalid_transitions_while_ringing(
    caller: User, receiver: User, stranger: User, actor: str, action: str, code: ErrorCode
) -> None:
    call = ring(caller, receiver)
    user = {"caller": caller, "receiver": receiver, "stranger": stranger}[actor]
    with raises(code):
        getattr(services, action)(user=user, call_id=call.pk)
    assert CallLog.objects.get(pk=call.pk).status == Status.RINGING


def test_accepting_twice_or_after_the_end_conflicts(caller: User, receiver: User) -> None:
    call = ring(caller, receiver)
    services.call_accept(user=receiver, call_id=call.pk)
    with raises(ErrorCode.CONFLICT):
        services.call_accept(user=receiver, call_id=call.pk)
    services.call_end(user=receiver, call_id=call.pk)
    for action in (services.call_end, services.call_reject):
        with raises(ErrorCode.CONFLICT):
            action(user=receiver, call_id=call.pk)


def test_reject_and_cancel_reach_both_sides(caller: User, receiver: User) -> None:
    with capture_broadcasts() as sent:
        rejected = services.call_reject(user=receiver, call_id=ring(caller, receiver).pk)
    assert rejected.status == Status.REJECTED and rejected.ended_at is not None
    assert payloads.CALL_REJECTED in sent_to(sent, caller)
    assert payloads.CALL_REJECTED in sent_to(sent, receiver)  # the receiver's other devices
    with capture_broadcasts() as sent:
        cancelled = services.call_cancel(user=caller, call_id=ring(caller, receiver).pk)
    assert cancelled.status == Status.CANCELLED
    assert payloads.CALL_CANCELLED in sent_to(sent, receiver)


def test_busy_receiver_gets_a_busy_log_and_no_ring(
    caller: User, receiver: User, user_factory: Any
) -> None:
    other = user_factory(username="other")
    chat_services.direct_room_get_or_create(user=other, other_user_id=receiver.pk)
    ring(caller, receiver)
    with capture_broadcasts() as sent:
        busy = ring(other, receiver)
    assert busy.status == Status.BUSY and busy.ended_at is not None
    assert sent_to(sent, other) == [payloads.CALL_BUSY]
    assert sent_to(sent, receiver) == []
    with raises(ErrorCode.CONFLICT):  # the caller is in a call already
        ring(caller, receiver)


def test_checks_on_initiate(caller: User, receiver: User, stranger: User) -> None:
    with raises(ErrorCode.FORBIDDEN):  # no shared room
        ring(caller, stranger)
    with raises(ErrorCode.VALIDATION_ERROR):
        services.call_initiate(caller=caller, receiver_id=receiver.pk, call_type="hologram")
    with raises(ErrorCode.VALIDATION_ERROR):
        ring(caller, caller)
    with raises(ErrorCode.NOT_FOUND):
        services.call_initiate(caller=caller, receiver_id=10**9, call_type="audio")
    receiver.is_active = False
    receiver.save()
    with raises(ErrorCode.NOT_FOUND):
        ring(caller, receiver)


def test_sweep_marks_due_rings_missed_once_and_notifies(caller: User, receiver: User) -> None:
    call = ring(caller, receiver)
    assert services.calls_sweep() == []
    later = timezone.now() + timedelta(seconds=61)
    with capture_broadcasts() as sent:
        expired = services.calls_sweep(now=later)
    assert [c.pk for c in expired] == [call.pk]
    assert CallLog.objects.get(pk=call.pk).status == Status.MISSED
    assert payloads.CALL_MISSED in sent_to(sent, caller)
    assert payloads.CALL_MISSED in sent_to(sent, receiver)
    note = Notification.objects.get(user=receiver)
    assert note.kind == "missed_call" and note.payload["callId"] == call.pk
    assert services.calls_sweep(now=later) == []  # exactly once
    with raises(ErrorCode.CONFLICT):
        services.call_accept(user=receiver, call_id=call.pk)


def test_a_ring_past_its_deadline_cannot_be_accepted_even_before_the_sweep(
    caller: User, receiver: User
) -> None:
    call = ring(caller, receiver)
    CallLog.objects.filter(pk=call.pk).update(ring_expires_at=timezone.now())
    with raises(ErrorCode.CONFLICT):
        services.call_accept(user=receiver, call_id=call.pk)
    ring(caller, receiver)  # and it no longer makes anyone busy


def test_drop_ends_call_after_grace_counted_to_the_drop(caller: User, receiver: User) -> None:
    call = ring(caller, receiver)
    services.call_accept(user=receiver, call_id=call.pk, device="r-dev")
    answered_at = timezone.now() - timedelta(seconds=100)
    CallLog.objects.filter(pk=call.pk).update(answered_at=answered_at)

    assert services.calls_mark_dropped(user_id=receiver.pk, device="other-device") == 0
    assert services.calls_mark_dropped(user_id=receiver.pk, device="r-dev") == 1
    assert services.calls_mark_reconnected(user_id=receiver.pk, device="r-dev-2") == 1
    assert CallLog.objects.get(pk=call.pk).receiver_device == "r-dev-2"
    assert services.calls_sweep(now=timezone.now() + timedelta(hours=1)) == []

    services.calls_mark_dropped(user_id=receiver.pk, device="r-dev-2")
    dropped_at = CallLog.objects.get(pk=call.pk).dropped_at
    assert dropped_at is not None
    with capture_broadcasts() as sent:
        expired = services.calls_sweep(now=timezone.now() + timedelta(seconds=31))
    assert [c.pk for c in expired] == [call.pk]
    stored = CallLog.objects.get(pk=call.pk)
    assert stored.status == Status.COMPLETED and stored.ended_at == dropped_at
    assert stored.duration == round((dropped_at - answered_at).total_seconds())
    assert payloads.CALL_ENDED in sent_to(sent, caller)


def test_signals_only_between_participants_of_a_live_call(
    caller: User, receiver: User, stranger: User
) -> None:
    call = ring(caller, receiver)
    assert services.call_for_signal(user=caller, call_id=call.pk)[1:] == (receiver.pk, "")
    assert services.call_for_signal(user=receiver, call_id=call.pk)[1:] == (caller.pk, "c-dev")
    with raises(ErrorCode.FORBIDDEN):
        services.call_for_signal(user=stranger, call_id=call.pk)
    services.call_accept(user=receiver, call_id=call.pk, device="r-dev")
    assert services.call_for_signal(user=caller, call_id=call.pk)[1:] == (receiver.pk, "r-dev")
    services.call_end(user=caller, call_id=call.pk)
    with raises(ErrorCode.CONFLICT):
        services.call_for_signal(user=caller, call_id=call.pk)


def test_a_forgiven_drop_keeps_the_call_and_signals_reach_every_device(
    caller: User, receiver: User
) -> None:
    call = ring(caller, receiver)
    services.call_accept(user=receiver, call_id=call.pk, device="r-dev")
    services.calls_mark_dropped(user_id=receiver.pk, device="r-dev")
    assert services.call_for_signal(user=caller, call_id=call.pk)[2] == ""  # dropped: all
    later = timezone.now() + timedelta(seconds=31)
    assert services.calls_due_drops(now=later) == [(call.pk, caller.pk, receiver.pk)]
    assert services.call_drop_forgive(call_id=call.pk) is True
    assert services.call_drop_forgive(call_id=call.pk) is False
    assert services.calls_sweep(now=later) == []
    assert CallLog.objects.get(pk=call.pk).status == Status.ANSWERED


def test_the_dropped_device_cannot_reclaim_its_call(caller: User, receiver: User) -> None:
    call = ring(caller, receiver)
    services.call_accept(user=receiver, call_id=call.pk, device="r-dev")
    services.calls_mark_dropped(user_id=receiver.pk, device="r-dev")
    assert services.calls_mark_reconnected(user_id=receiver.pk, device="r-dev") == 0
    assert CallLog.objects.get(pk=call.pk).drop_deadline is not None
