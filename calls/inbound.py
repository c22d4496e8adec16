"""Inbound call payloads, typed at the edge (banter/realtime/schema.py).

Each `explain_*` repeats the checks the legacy handler and its service apply, in their
order, so a payload the schema refuses gets the very error it always got.
"""

from __future__ import annotations

from typing import Any

from banter.core.errors import validation_error
from banter.core.validation import check_choice, check_id, check_reference_id
from banter.realtime.schema import EdgeSchema, Payload, require_object
from calls.models import CallLog


class CallInitiate(Payload, frozen=True):
    receiver_id: int
    call_type: str


class CallRef(Payload, frozen=True):
    call_id: int


class CallSignal(Payload, frozen=True):
    call_id: int
    # An opaque WebRTC offer, answer or ICE candidate: relayed as it came.
    signal: dict[str, Any] | str


def explain_call_initiate(payload: Any) -> None:
    fields = require_object(payload)
    choices = tuple(CallLog.CallType.values)
    check_choice(fields.get("callType"), field="callType", choices=choices)
    check_reference_id(fields.get("receiverId"), field="receiverId")


def explain_call_ref(payload: Any) -> None:
    check_id(require_object(payload).get("callId"), what="Call")


def explain_call_signal(payload: Any) -> None:
    fields = require_object(payload)
    if not isinstance(fields.get("signal"), dict | str):
        raise validation_error("signal must be an object or a string", signal="invalid")
    check_id(fields.get("callId"), what="Call")


CALL_INITIATE = EdgeSchema(CallInitiate, explain=explain_call_initiate)
CALL_REF = EdgeSchema(CallRef, explain=explain_call_ref)
CALL_SIGNAL = EdgeSchema(CallSignal, explain=explain_call_signal)
