"""Payload builder for calls: one shape for REST, acks and call:* events."""

from __future__ import annotations

from typing import Any, TypedDict

from banter.accounts.payloads import UserSummaryPayload, user_summary_payload
from banter.core.timestamps import iso_utc
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


class CallPayload(TypedDict):
    id: int
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


class CallEndedPayload(CallPayload):
    callId: int


class CallSignalPayload(TypedDict):
    callId: int
    fromUserId: int
    signal: dict[str, Any] | str  # opaque WebRTC data, relayed as the peer sent it


def call_payload(call: CallLog) -> CallPayload:
    """The call shape; select_related("caller", "receiver") keeps this query-free."""
    return {
        "id": call.pk,
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
    }


def call_ended_payload(call: CallLog) -> CallEndedPayload:
    """`call:ended {callId, duration}` plus the whole call, like the other call events."""
    return {"callId": call.pk, "duration": call.duration, **call_payload(call)}


def call_signal_payload(
    call: CallLog, from_user_id: int, signal: dict[str, Any] | str
) -> CallSignalPayload:
    return {"callId": call.pk, "fromUserId": from_user_id, "signal": signal}
