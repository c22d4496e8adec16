"""Payload builder for calls: one shape for REST, acks and call:* events."""

from __future__ import annotations

from typing import Any

from banter.accounts.events import iso_utc, user_summary_payload
from calls.models import CallLog


def call_payload(call: CallLog) -> dict[str, Any]:
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
