"""Presence event names and payloads (PROTOCOL.md)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, TypedDict

from banter.core.timestamps import iso_utc

if TYPE_CHECKING:
    from banter.accounts.models import User

USER_ONLINE = "user-online"
USER_OFFLINE = "user-offline"
PRESENCE_UPDATE = "presence-update"


class UserOnlinePayload(TypedDict):
    userId: int
    username: str
    status: str


class UserOfflinePayload(TypedDict):
    userId: int
    lastSeen: str | None


class StatusPayload(TypedDict):
    """The `presence:update` ack: the status now in force."""

    status: str


class PresenceUpdatePayload(TypedDict):
    userId: int
    status: str


def user_online_payload(user: User, status: str) -> UserOnlinePayload:
    return {"userId": user.pk, "username": user.username, "status": status}


def user_offline_payload(user_id: int, last_seen: datetime | None) -> UserOfflinePayload:
    return {"userId": user_id, "lastSeen": iso_utc(last_seen)}


def presence_update_payload(user_id: int, status: str) -> PresenceUpdatePayload:
    return {"userId": user_id, "status": status}
