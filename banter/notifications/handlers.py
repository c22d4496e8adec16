"""Notifications over sockets: the pending list on connect, and `notifications:read`.

`notification:new` needs no handler: notification_create broadcasts it to the user's group,
which every socket of the user joins on connect, on whichever instance it lives.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from banter.core.coalesce import Coalescer
from banter.core.errors import validation_error
from banter.notifications import selectors, services
from banter.notifications.payloads import (
    NotificationPayload,
    UnreadCountPayload,
    notification_payload,
)
from banter.realtime.dispatch import EventContext, run_sync
from banter.realtime.schema import EdgeSchema, Payload, require_object

NOTIFICATIONS_PENDING = "notifications:pending"


Pending = tuple[list[NotificationPayload], int]


def _pending_many(user_ids: list[int]) -> dict[int, Pending]:
    """The newest unread notifications and the unread count of each user: the counts in one
    query, and the lists only for those with anything unread (on connect, most have none)."""
    limit = settings.BANTER["NOTIFICATIONS_ON_CONNECT"]
    counts = selectors.notification_unread_counts(user_ids)
    return {
        user_id: (
            [notification_payload(n) for n in selectors.notifications_unread(user_id, limit)]
            if count
            else [],
            count,
        )
        for user_id, count in counts.items()
    }


_pending = Coalescer(_pending_many)


async def send_pending(ctx: EventContext) -> None:
    """Connect hook: the newest unread notifications and the unread count."""
    pending, unread = await _pending(ctx.user_id)
    ctx.emit(NOTIFICATIONS_PENDING, pending)
    ctx.emit(services.NOTIFICATION_COUNT, {"unread": unread})


class MarkRead(Payload, frozen=True):
    ids: list[int] | None = None
    # Any value: only `true` means all (the legacy reading), anything else is not all.
    all: object = None


def _explain_mark_read(payload: Any) -> None:
    fields = require_object(payload)
    ids = fields.get("ids")
    if ids is not None and not isinstance(ids, list):
        raise validation_error("ids must be a list of integers", ids=["Expected a list."])
    services.check_mark_read(ids, all=fields.get("all") is True)


MARK_READ = EdgeSchema(MarkRead, explain=_explain_mark_read)


async def notifications_read(ctx: EventContext, payload: MarkRead) -> UnreadCountPayload:
    """`{ids: [...]}` or `{all: true}` -> `{unread}`; other devices get notification:count."""
    unread = await run_sync(
        services.notifications_mark_read, user=ctx.user, ids=payload.ids, all=payload.all is True
    )
    return {"unread": unread}
