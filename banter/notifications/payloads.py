"""Payload builder for notifications: one shape for REST and the socket events."""

from __future__ import annotations

from typing import Any

from banter.core.timestamps import iso_utc
from banter.notifications.models import Notification


def notification_payload(notification: Notification) -> dict[str, Any]:
    return {
        "id": notification.pk,
        "kind": notification.kind,
        "payload": notification.payload,
        "createdAt": iso_utc(notification.created_at),
        "readAt": iso_utc(notification.read_at),
    }
