"""Presence event names and payloads (PROTOCOL.md)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from banter.core.timestamps import iso_utc

if TYPE_CHECKING:
    from banter.accounts.models import User

USER_ONLINE = "user-online"
USER_OFFLINE = "user-offline"
PRESENCE_UPDATE = "presence-update"


def user_online_payload(user: User, status: str) -> dict[str, Any]:
    return {"userId": user.pk, "username": user.username, "status": status}


def user_offline_payload(user_id: int, last_seen: datetime | None) -> dict[str, Any]:
    return {"userId": user_id, "lastSeen": iso_utc(last_seen)}


def presence_update_payload(user_id: int, status: str) -> dict[str, Any]:
    return {"userId": user_id, "status": status}
