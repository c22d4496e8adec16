"""Writes of notifications; each one tells the user's sockets after commit."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from banter.accounts.models import User
from banter.core.errors import not_found, validation_error
from banter.notifications.models import Notification
from banter.notifications.payloads import notification_payload
from banter.notifications.selectors import notification_unread_count
from banter.realtime.broadcast import broadcast_on_commit, user_group

NOTIFICATION_NEW = "notification:new"
NOTIFICATION_COUNT = "notification:count"
MAX_MARK_READ_IDS = 500


@transaction.atomic
def notification_create(*, user_id: int, kind: str, payload: dict[str, Any]) -> Notification:
    """Store a notification and push it, with the new unread count, to the user's sockets."""
    if kind not in Notification.Kind.values:
        raise validation_error(f"Unknown notification kind {kind!r}", kind=["Unknown kind."])
    if not isinstance(payload, dict):
        raise validation_error("Notification payload must be an object", payload=["Not a dict."])
    if not User.objects.filter(pk=user_id).exists():
        raise not_found("User")
    notification = Notification.objects.create(user_id=user_id, kind=kind, payload=payload)
    notification_announce(notification)
    return notification


def notification_announce(notification: Notification) -> None:
    """After commit: push a stored notification and the new unread count to the user's
    sockets. notification_create does; so does the admin for the ones it adds."""
    user_id = notification.user_id
    group = user_group(user_id)
    broadcast_on_commit(group, NOTIFICATION_NEW, notification_payload(notification))
    # Counted inside the transaction: two creations racing for one user may both report the
    # same number. The count is a badge hint; the next event or reconnect corrects it.
    broadcast_on_commit(group, NOTIFICATION_COUNT, {"unread": notification_unread_count(user_id)})


def notification_count_announce(user_id: int) -> None:
    """After commit: the user's sockets get their unread count (a read mark changed)."""
    count = notification_unread_count(user_id)
    broadcast_on_commit(user_group(user_id), NOTIFICATION_COUNT, {"unread": count})


@transaction.atomic
def notifications_mark_read(
    *, user: User, ids: Iterable[int] | None = None, all: bool = False
) -> int:
    """Mark the given (or all) of the user's notifications read; return the unread count.

    Ids that are not the user's, or already read, are ignored, so retries are harmless and
    nothing reveals which ids exist.
    """
    id_list = check_mark_read(ids, all=all)
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if id_list is not None:
        unread = unread.filter(pk__in=id_list)
    changed = unread.update(read_at=timezone.now())
    count = notification_unread_count(user.pk)
    if changed:
        # The user's other devices update their badge; nothing to say if nothing changed.
        broadcast_on_commit(user_group(user.pk), NOTIFICATION_COUNT, {"unread": count})
    return count


def check_mark_read(ids: Iterable[object] | None, *, all: bool) -> list[int] | None:
    """The ids to mark (None: all of them), or validation_error: ids or all=true, never both;
    at most MAX_MARK_READ_IDS ids, every one an integer."""
    if all == (ids is not None):
        raise validation_error("Give either ids or all=true", ids=["Give ids or all, not both."])
    if ids is None:
        return None
    id_list = list(ids)
    if len(id_list) > MAX_MARK_READ_IDS:
        raise validation_error("Too many ids", ids=[f"At most {MAX_MARK_READ_IDS} ids at a time."])
    checked: list[int] = []
    for value in id_list:
        if not isinstance(value, int) or isinstance(value, bool):
            raise validation_error("ids must be integers", ids=["Expected a list of integers."])
        checked.append(value)
    return checked
