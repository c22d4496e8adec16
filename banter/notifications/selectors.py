"""Reads of notifications."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from banter.accounts.models import User
from banter.notifications.models import Notification


def notification_list(user: User | int, unread_only: bool = False) -> QuerySet[Notification]:
    """The user's notifications, newest first."""
    notifications = Notification.objects.filter(user=user)
    if unread_only:
        notifications = notifications.filter(read_at__isnull=True)
    return notifications.order_by("-created_at", "-id")


def notifications_unread(user: User | int, limit: int = 50) -> list[Notification]:
    """The newest unread notifications (what a socket gets on connect)."""
    return list(notification_list(user, unread_only=True)[:limit])


def notification_unread_count(user_id: int) -> int:
    return Notification.objects.filter(user_id=user_id, read_at__isnull=True).count()


def notification_unread_counts(user_ids: list[int]) -> dict[int, int]:
    """Each user's unread count, in one query for a batch of connects."""
    counts = dict.fromkeys(user_ids, 0)
    unread = Notification.objects.filter(user_id__in=user_ids, read_at__isnull=True)
    for user_id, count in unread.values_list("user_id").annotate(count=Count("id")).order_by():
        counts[user_id] = count
    return counts
