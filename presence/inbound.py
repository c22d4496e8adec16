"""Inbound presence payloads, typed at the edge (banter/realtime/schema.py)."""

from __future__ import annotations

from typing import Any

from banter.realtime.schema import EdgeSchema, Payload
from presence.services import check_status


class StatusUpdate(Payload, frozen=True):
    status: str


def _bare_status(payload: Any) -> Any:
    # `presence:update` takes {"status": ...} or the bare status.
    return payload if isinstance(payload, dict) else {"status": payload}


def explain_status_update(payload: Any) -> None:
    check_status(_bare_status(payload).get("status"))


STATUS_UPDATE = EdgeSchema(StatusUpdate, prepare=_bare_status, explain=explain_status_update)
