"""The call state machine: ringing -> answered -> completed; ringing -> rejected | cancelled |
missed | busy.

Every transition is one transaction that locks the call row (and a new call locks both
users' rows, so two calls to one receiver cannot both ring), then broadcasts after commit.
Deadlines live in the database (ring_expires_at, drop_deadline) and `calls_sweep` on any
instance expires them, so no in-memory timer is the source of truth: a call still becomes
`missed` when the instance that started it dies.

`device` arguments are the acting socket's id, an opaque routing key: signals after the
answer reach only the two devices in the call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from banter.accounts.models import User
from banter.core.errors import conflict, forbidden, not_found, validation_error
from banter.core.validation import check_choice, check_id, check_reference_id
from banter.notifications.models import Notification
from banter.notifications.services import notification_create
from banter.realtime.broadcast import broadcast_on_commit, user_group
from calls import billing, payloads
from calls.media import media_for_new_call, new_channel
from calls.models import CallLog
from chat.models import Membership
from push.models import PushOutbox
from push.outbox import record_call_push

Status = CallLog.Status
EndReason = CallLog.EndReason
ACTIVE = (Status.RINGING, Status.ANSWERED)
SWEEP_BATCH = 100


@transaction.atomic
def call_initiate(*, caller: User, receiver_id: int, call_type: str, device: str = "") -> CallLog:
    """Ring the receiver on every device, or log a `busy` call if they are in another call.

    Only people who share a room can call each other (no calls from strangers). A call to a
    receiver with a price needs the caller to afford its first minute (insufficient_funds).
    """
    call_type = check_choice(call_type, field="callType", choices=tuple(CallLog.CallType.values))
    receiver_id = check_reference_id(receiver_id, field="receiverId")
    if receiver_id == caller.pk:
        raise validation_error("You cannot call yourself", receiverId="self")
    # Lock both users in id order (no deadlock between two crossing calls): whoever locks
    # second sees the first call and gets busy/conflict, never a double ring.
    locked = list(
        User.objects.select_for_update()
        .filter(pk__in=sorted((caller.pk, receiver_id)), is_active=True)
        .order_by("pk")
    )
    receiver = next((user for user in locked if user.pk == receiver_id), None)
    if receiver is None:
        raise not_found("User")
    if not _share_a_room(caller.pk, receiver_id):
        raise forbidden("You can only call people you share a room with")
    if _active_calls(caller.pk).exists():
        raise conflict("You are already in a call")

    now = timezone.now()
    if _active_calls(receiver_id).exists():
        call = CallLog.objects.create(
            caller=caller,
            receiver=receiver,
            call_type=call_type,
            status=Status.BUSY,
            ended_at=now,
            caller_device=device,
        )
        broadcast_on_commit(user_group(caller.pk), payloads.CALL_BUSY, payloads.call_payload(call))
        return call

    price = billing.price_for(receiver_id)
    billing.require_first_minute(caller.pk, price)
    media = media_for_new_call()
    call = CallLog.objects.create(
        caller=caller,
        receiver=receiver,
        call_type=call_type,
        ring_expires_at=now + timedelta(seconds=settings.BANTER["CALL_RING_TIMEOUT"]),
        caller_device=device,
        media=media,
        channel=new_channel() if media == CallLog.Media.AGORA else "",
        price_per_minute=price,
    )
    # Each side's payload carries its own token: encoded once per side, not per device.
    broadcast_on_commit(
        user_group(receiver_id),
        payloads.CALL_INCOMING,
        payloads.call_with_media_payload(call, receiver_id),
    )
    broadcast_on_commit(
        user_group(caller.pk),
        payloads.CALL_INITIATED,
        payloads.call_with_media_payload(call, caller.pk),
    )
    # In this transaction: the receiver's devices ring too when no socket of theirs is open.
    record_call_push(call, PushOutbox.Kind.CALL_INCOMING)
    return call


@transaction.atomic
def call_accept(*, user: User, call_id: int, device: str = "") -> CallLog:
    call = _call_locked(user, call_id)
    if call.caller_id == user.pk:
        raise forbidden("You cannot accept your own call")
    _require(call, Status.RINGING, "accept")
    now = timezone.now()
    if call.ring_expires_at is not None and call.ring_expires_at <= now:
        raise conflict("The call stopped ringing", callId=call.pk, status=Status.MISSED)
    call.status = Status.ANSWERED
    call.answered_at = now
    call.receiver_device = device
    billing.start(call)  # a paid call: the caller's cut-off (refused if it is already due)
    call.save(
        update_fields=[
            "status",
            "answered_at",
            "receiver_device",
            "billing_deadline",
            "balance_warning_at",
        ]
    )
    payload = payloads.call_payload(call)
    broadcast_on_commit(user_group(call.caller_id), payloads.CALL_ACCEPTED, payload)
    # The receiver's other devices stop ringing; the one that answered knows from its ack.
    broadcast_on_commit(
        user_group(call.receiver_id),
        payloads.CALL_ANSWERED_ELSEWHERE,
        payload,
        exclude_sid=device or None,
    )
    return call


@transaction.atomic
def call_reject(*, user: User, call_id: int) -> CallLog:
    call = _call_locked(user, call_id)
    if call.receiver_id != user.pk:
        raise forbidden("Only the receiver can reject a call")
    _require(call, Status.RINGING, "reject")
    _finish(call, Status.REJECTED, payloads.CALL_REJECTED)
    return call


@transaction.atomic
def call_cancel(*, user: User, call_id: int) -> CallLog:
    call = _call_locked(user, call_id)
    if call.caller_id != user.pk:
        raise forbidden("Only the caller can cancel a call")
    _require(call, Status.RINGING, "cancel")
    _finish(call, Status.CANCELLED, payloads.CALL_CANCELLED)
    return call


@transaction.atomic
def call_end(*, user: User, call_id: int) -> CallLog:
    call = _call_locked(user, call_id)
    _require(call, Status.ANSWERED, "end")
    _finish(call, Status.COMPLETED, payloads.CALL_ENDED)
    return call


def call_for_token(*, user: User, call_id: int) -> CallLog:
    """Check a `call:token-refresh`: the user is in the answered call, and it runs on Agora."""
    call = _call_of_participant(user, call_id, CallLog.objects.all())
    _require(call, Status.ANSWERED, "refresh the token of")
    if call.media != CallLog.Media.AGORA:
        raise conflict(
            "This call's media is WebRTC over call:signal: it has no Agora token",
            callId=call.pk,
            media=call.media,
        )
    return call


def call_for_signal(*, user: User, call_id: int) -> tuple[CallLog, int, str]:
    """Check a `call:signal`: the user is in the call and it is ringing or answered.

    Returns the call, the other participant's id and that side's device ("" = all its
    devices, while the receiver has not answered yet).
    """
    call = _call_of_participant(user, call_id, CallLog.objects.all())
    if call.status not in ACTIVE:
        raise conflict(
            f"Signals are only relayed while a call is ringing or answered (it is {call.status})",
            callId=call.pk,
            status=call.status,
        )
    # While a side is dropped its device is unknown (it may be reconnecting on another
    # socket): signals go to all of that user's devices until one claims the call.
    if call.caller_id == user.pk:
        return call, call.receiver_id, "" if call.drop_deadline else call.receiver_device
    return call, call.caller_id, "" if call.drop_deadline else call.caller_device


# -- disconnects and deadlines -----------------------------------------------------------


@transaction.atomic
def calls_mark_dropped(*, user_id: int, device: str) -> int:
    """The device a user was in a call with disconnected: the call ends after
    CALL_DROP_GRACE unless the user reconnects (calls_mark_reconnected) before that."""
    now = timezone.now()
    in_call_on_device = Q(caller_id=user_id, caller_device=device) | Q(
        receiver_id=user_id, receiver_device=device
    )
    return CallLog.objects.filter(
        in_call_on_device, status=Status.ANSWERED, drop_deadline__isnull=True
    ).update(
        dropped_at=now,
        drop_deadline=now + timedelta(seconds=settings.BANTER["CALL_DROP_GRACE"]),
    )


def calls_mark_devices_dropped(*, devices: list[str]) -> int:
    """Like calls_mark_dropped for many devices at once (socket ids are unique): the
    devices of an instance that died."""
    if not devices:
        return 0
    now = timezone.now()
    on_devices = Q(caller_device__in=devices) | Q(receiver_device__in=devices)
    return CallLog.objects.filter(
        on_devices, status=Status.ANSWERED, drop_deadline__isnull=True
    ).update(
        dropped_at=now,
        drop_deadline=now + timedelta(seconds=settings.BANTER["CALL_DROP_GRACE"]),
    )


@transaction.atomic
def calls_mark_reconnected(*, user_id: int, device: str) -> int:
    """The user is back: their dropped calls go on, now on the new device."""
    dropped = _dropped_calls()
    clear = {"dropped_at": None, "drop_deadline": None}
    # Never the dropped device itself: its connect hook can run late, after it is gone.
    as_caller = dropped.filter(caller_id=user_id).exclude(caller_device=device)
    as_receiver = dropped.filter(receiver_id=user_id).exclude(receiver_device=device)
    return as_caller.update(caller_device=device, **clear) + as_receiver.update(
        receiver_device=device, **clear
    )


def calls_mark_reconnected_many(devices: list[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """calls_mark_reconnected for each (user id, device) of a batch of connects: one read
    when, as nearly always, none of the users has a dropped call."""
    user_ids = {user_id for user_id, _ in devices}
    dropped = _dropped_calls()
    if not dropped.filter(Q(caller_id__in=user_ids) | Q(receiver_id__in=user_ids)).exists():
        return dict.fromkeys(devices, 0)
    return {
        (user_id, device): calls_mark_reconnected(user_id=user_id, device=device)
        for user_id, device in devices
    }


def calls_due_drops(*, now: datetime | None = None) -> list[tuple[int, int, int]]:
    """(call id, caller id, receiver id) of answered calls whose drop grace has run out."""
    due = _due_drops(now or timezone.now()).order_by("pk")[:SWEEP_BATCH]
    return list(due.values_list("pk", "caller_id", "receiver_id"))


@transaction.atomic
def call_drop_forgive(*, call_id: int) -> bool:
    """Both users are connected after all (a reconnect overtook the old socket's disconnect):
    the call goes on, its signals to all devices of both users until one side claims it."""
    return bool(
        CallLog.objects.filter(
            pk=call_id, status=Status.ANSWERED, drop_deadline__isnull=False
        ).update(dropped_at=None, drop_deadline=None, caller_device="", receiver_device="")
    )


def calls_sweep(*, now: datetime | None = None) -> list[CallLog]:
    """Act on due calls: ringing past ring_expires_at -> missed; a paid call a minute
    before the caller's coins run out -> `call:balance-low`, and when they have run out ->
    completed (insufficient_funds); answered past drop_deadline -> completed at the drop.
    Safe on every instance at once: rows are locked with SKIP LOCKED where the database has
    it, and each change is conditional on the status, so a call is expired exactly once."""
    now = now or timezone.now()
    # One look for all four (nearly every sweep finds nothing): an idle instance pays one
    # indexed query per CALL_SWEEP_INTERVAL, not four.
    deadlines = Q(billing_deadline__lte=now) | Q(balance_warning_at__lte=now)
    anything_due = Q(status=Status.RINGING, ring_expires_at__lte=now) | Q(
        deadlines | Q(drop_deadline__lte=now), status=Status.ANSWERED
    )
    if not CallLog.objects.filter(anything_due).exists():
        return []
    return [
        *_sweep_batch(_due_rings(now), _miss),
        *_sweep_batch(_due_cutoffs(now), _cut_off),
        *_sweep_batch(_due_warnings(now), _warn_balance_low),
        *_sweep_batch(_due_drops(now), _end_dropped),
    ]


def _due_rings(now: datetime) -> QuerySet[CallLog]:
    return CallLog.objects.filter(status=Status.RINGING, ring_expires_at__lte=now)


def _dropped_calls() -> QuerySet[CallLog]:
    """Answered calls a participant dropped out of, their grace still running or not."""
    return CallLog.objects.filter(status=Status.ANSWERED, drop_deadline__isnull=False)


def _due_drops(now: datetime) -> QuerySet[CallLog]:
    return CallLog.objects.filter(status=Status.ANSWERED, drop_deadline__lte=now)


def _due_cutoffs(now: datetime) -> QuerySet[CallLog]:
    return CallLog.objects.filter(status=Status.ANSWERED, billing_deadline__lte=now)


def _due_warnings(now: datetime) -> QuerySet[CallLog]:
    return CallLog.objects.filter(status=Status.ANSWERED, balance_warning_at__lte=now)


def _sweep_batch(due: QuerySet[CallLog], expire: Callable[[CallLog], bool]) -> list[CallLog]:
    # Look first without a transaction: nearly every sweep finds nothing, and on SQLite a
    # write transaction (IMMEDIATE) would take the database lock several times a second.
    due_ids = list(due.order_by("pk").values_list("pk", flat=True)[:SWEEP_BATCH])
    if not due_ids:
        return []
    done: list[CallLog] = []
    with transaction.atomic():
        locked = due.filter(pk__in=due_ids)
        if connection.features.has_select_for_update_skip_locked:
            locked = locked.select_for_update(skip_locked=True, of=("self",))
        for call in locked.select_related("caller", "receiver").order_by("pk"):
            if expire(call):
                done.append(call)
    return done


def _miss(call: CallLog) -> bool:
    if not _transition(call, Status.RINGING, Status.MISSED, ended_at=call.ring_expires_at):
        return False
    payload = payloads.call_payload(call)
    broadcast_on_commit(user_group(call.caller_id), payloads.CALL_MISSED, payload)
    broadcast_on_commit(user_group(call.receiver_id), payloads.CALL_MISSED, payload)
    notification_create(
        user_id=call.receiver_id,
        kind=Notification.Kind.MISSED_CALL,
        payload={"callId": call.pk, "callType": call.call_type, "from": payload["caller"]},
    )
    record_call_push(call, PushOutbox.Kind.MISSED_CALL)  # replaces the ring, if still pending
    return True


def _end_dropped(call: CallLog) -> bool:
    ended_at = call.dropped_at or timezone.now()
    if call.billing_deadline is not None:
        ended_at = min(ended_at, call.billing_deadline)  # not one second past what is paid
    return _complete(call, ended_at, EndReason.DROPPED)


def _cut_off(call: CallLog) -> bool:
    """The caller's coins ran out: end the call there, unless a top-up moved the deadline."""
    now = timezone.now()
    if billing.rescheduled(call, now):
        _save_schedule(call)
        return False
    ended_at = min(call.billing_deadline or now, now)
    if call.dropped_at is not None and call.dropped_at < ended_at:
        return _complete(call, call.dropped_at, EndReason.DROPPED)
    return _complete(call, ended_at, EndReason.INSUFFICIENT_FUNDS)


def _warn_balance_low(call: CallLog) -> bool:
    """`call:balance-low` to the caller, once, CALL_BALANCE_WARNING before the cut-off."""
    now = timezone.now()
    balance = billing.caller_balance_locked(call)
    deadline, warn_at = billing.schedule(call, balance)
    if warn_at > now:  # topped up since: warn later, if at all
        _save_schedule(call)
        return False
    warned = CallLog.objects.filter(
        pk=call.pk, status=Status.ANSWERED, balance_warning_at__isnull=False
    ).update(balance_warning_at=None, billing_deadline=deadline)
    if warned:
        seconds_left = max(0, round((deadline - now).total_seconds()))
        broadcast_on_commit(
            user_group(call.caller_id),
            payloads.CALL_BALANCE_LOW,
            payloads.balance_low_payload(call, balance, seconds_left),
        )
    return False  # still answered: nothing expired


def _save_schedule(call: CallLog) -> None:
    CallLog.objects.filter(pk=call.pk, status=Status.ANSWERED).update(
        billing_deadline=call.billing_deadline, balance_warning_at=call.balance_warning_at
    )


def _complete(call: CallLog, ended_at: datetime, reason: str) -> bool:
    """Answered -> completed at `ended_at`, charged in the same transaction."""
    if not _transition(
        call,
        Status.ANSWERED,
        Status.COMPLETED,
        ended_at=ended_at,
        duration=_duration(call, ended_at),
        end_reason=reason,
    ):
        return False
    billing.charge(call)
    CallLog.objects.filter(pk=call.pk).update(**_billing_fields(call))
    _broadcast_both(call, payloads.CALL_ENDED, payloads.call_ended_payload(call))
    return True


def _billing_fields(call: CallLog) -> dict[str, Any]:
    return {
        "cost": call.cost,
        "billed_seconds": call.billed_seconds,
        "billing_deadline": call.billing_deadline,
        "balance_warning_at": call.balance_warning_at,
    }


# -- helpers -----------------------------------------------------------------------------


def _transition(call: CallLog, source: str, target: str, **changes: Any) -> bool:
    """UPDATE ... WHERE status = source: only one of several racing sweepers wins."""
    won = CallLog.objects.filter(pk=call.pk, status=source).update(status=target, **changes)
    if won:
        call.status = target
        for field, value in changes.items():
            setattr(call, field, value)
    return bool(won)


def _finish(call: CallLog, status: str, event: str) -> None:
    now = timezone.now()
    call.status = status
    call.ended_at = now
    if status == Status.COMPLETED:
        if call.billing_deadline is not None:
            now = min(now, call.billing_deadline)  # a hang-up the sweeper had not cut off yet
        call.ended_at = now
        call.duration = _duration(call, now)
        call.end_reason = EndReason.HANGUP
        billing.charge(call)
    call.save(
        update_fields=["status", "ended_at", "duration", "end_reason", *_billing_fields(call)]
    )
    payload = payloads.call_ended_payload(call) if event == payloads.CALL_ENDED else None
    _broadcast_both(call, event, payload or payloads.call_payload(call))


def _broadcast_both(call: CallLog, event: str, payload: Mapping[str, Any]) -> None:
    # Both users' groups: the other side, and the acting user's other devices.
    broadcast_on_commit(user_group(call.caller_id), event, payload)
    broadcast_on_commit(user_group(call.receiver_id), event, payload)


def _duration(call: CallLog, ended_at: datetime) -> int:
    if call.answered_at is None:
        return 0
    return max(0, round((ended_at - call.answered_at).total_seconds()))


def _require(call: CallLog, status: str, action: str) -> None:
    if call.status != status:
        raise conflict(
            f"Cannot {action} a call that is {call.status}", callId=call.pk, status=call.status
        )


def _call_locked(user: User, call_id: int) -> CallLog:
    return _call_of_participant(user, call_id, CallLog.objects.select_for_update(of=("self",)))


def _call_of_participant(user: User, call_id: int, calls: QuerySet[CallLog]) -> CallLog:
    call_id = check_id(call_id, what="Call")
    call = calls.select_related("caller", "receiver").filter(pk=call_id).first()
    if call is None:
        raise not_found("Call")
    if user.pk not in (call.caller_id, call.receiver_id):
        raise forbidden("You are not in this call")
    return call


def _active_calls(user_id: int) -> QuerySet[CallLog]:
    # A ring past its deadline no longer counts, even before the sweeper marks it missed.
    live = Q(status=Status.ANSWERED) | Q(status=Status.RINGING, ring_expires_at__gt=timezone.now())
    return CallLog.objects.filter(Q(caller_id=user_id) | Q(receiver_id=user_id)).filter(live)


def _share_a_room(user_a: int, user_b: int) -> bool:
    rooms_of_a = Membership.objects.filter(user_id=user_a).values("room_id")
    return Membership.objects.filter(user_id=user_b, room_id__in=rooms_of_a).exists()
