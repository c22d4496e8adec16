"""Payload builder for notifications: one shape for REST and the socket events."""

from __future__ import annotations

from typing import Any, TypedDict

from banter.core.timestamps import iso_utc
from banter.notifications.models import Notification


class NotificationPayload(TypedDict):
    id: int
    kind: str
    payload: dict[str, Any]  # the kind's own object (chat.services, calls.services)
    createdAt: str
    readAt: str | None


class UnreadCountPayload(TypedDict):
    """`notification:count` and the `notifications:read` ack."""

    unread: int


def notification_payload(notification: Notification) -> NotificationPayload:
    return {
        "id": notification.pk,
        "kind": notification.kind,
        "payload": notification.payload,
        "createdAt": iso_utc(notification.created_at),
        "readAt": iso_utc(notification.read_at),
    }
