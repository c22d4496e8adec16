"""Payload builder for calls: one shape for REST, acks and call:* events."""

from __future__ import annotations

from typing import Any, TypedDict

from banter.accounts.payloads import UserSummaryPayload, user_summary_payload
from banter.core.timestamps import iso_utc
from calls.media import MediaCredentials, credentials
from calls.models import CallLog

# Event names (PROTOCOL.md "Server -> client events").
CALL_INCOMING = "call:incoming"
CALL_ACCEPTED = "call:accepted"
CALL_ANSWERED_ELSEWHERE = "call:answered-elsewhere"
CALL_REJECTED = "call:rejected"
CALL_CANCELLED = "call:cancelled"
CALL_ENDED = "call:ended"
CALL_MISSED = "call:missed"
CALL_BUSY = "call:busy"
CALL_SIGNAL = "call:signal"
CALL_INITIATED = "call:initiated"
CALL_BALANCE_LOW = "call:balance-low"


class CallPayload(TypedDict):
    id: int
    callId: int  # the seed's clients read callId; id stays for everyone else
    callerId: int
    receiverId: int
    caller: UserSummaryPayload
    receiver: UserSummaryPayload
    callType: str
    status: str
    startedAt: str
    answeredAt: str | None
    endedAt: str | None
    duration: int
    ringExpiresAt: str | None
    media: str
    pricePerMinute: int
    cost: int
    billedSeconds: int
    endReason: str | None


class CallEndedPayload(CallPayload):
    reason: str | None


class CallWithMediaPayload(CallPayload, MediaCredentials):
    """The call (flat, as every call event) plus `call` nested and the participant's media
    credentials: the seed's `{call, token}` shape and ours in one object."""

    call: CallPayload


class BalanceLowPayload(TypedDict):
    callId: int
    balance: int
    pricePerMinute: int
    secondsLeft: int
    billingDeadline: str | None


class CallSignalPayload(TypedDict):
    callId: int
    fromUserId: int
    signal: dict[str, Any] | str  # opaque WebRTC data, relayed as the peer sent it


def call_payload(call: CallLog) -> CallPayload:
    """The call shape; select_related("caller", "receiver") keeps this query-free."""
    return {
        "id": call.pk,
        "callId": call.pk,
        "callerId": call.caller_id,
        "receiverId": call.receiver_id,
        "caller": user_summary_payload(call.caller),
        "receiver": user_summary_payload(call.receiver),
        "callType": call.call_type,
        "status": call.status,
        "startedAt": iso_utc(call.started_at),
        "answeredAt": iso_utc(call.answered_at),
        "endedAt": iso_utc(call.ended_at),
        "duration": call.duration,
        "ringExpiresAt": iso_utc(call.ring_expires_at),
        "media": call.media,
        "pricePerMinute": call.price_per_minute,
        "cost": call.cost,
        "billedSeconds": call.billed_seconds,
        "endReason": call.end_reason or None,
    }


def call_ended_payload(call: CallLog) -> CallEndedPayload:
    """`call:ended {callId, duration, reason, cost, billedSeconds}` and the whole call."""
    return {**call_payload(call), "reason": call.end_reason or None}


def call_with_media_payload(call: CallLog, user_id: int) -> CallWithMediaPayload:
    """For one participant: the call:initiate and call:accept acks, `call:initiated` (the
    caller's devices) and `call:incoming` (the receiver's)."""
    payload = call_payload(call)
    return {**payload, "call": payload, **credentials(call, user_id)}


def balance_low_payload(call: CallLog, balance: int, seconds_left: int) -> BalanceLowPayload:
    return {
        "callId": call.pk,
        "balance": balance,
        "pricePerMinute": call.price_per_minute,
        "secondsLeft": seconds_left,
        "billingDeadline": iso_utc(call.billing_deadline),
    }


def call_signal_payload(
    call: CallLog, from_user_id: int, signal: dict[str, Any] | str
) -> CallSignalPayload:
    return {"callId": call.pk, "fromUserId": from_user_id, "signal": signal}
