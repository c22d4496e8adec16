"""Reads of users."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from banter.accounts.models import User
from banter.core.errors import not_found

MAX_SEARCH_LENGTH = 100


def user_get(*, user_id: int) -> User:
    """A user by id, active or not (old messages still show deactivated authors)."""
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise not_found("User")
    return user


def users_by_id(user_ids: list[int]) -> dict[int, User | None]:
    """Each of the ids' user row, active or not, or None: one query for a batch of
    connects (banter/core/coalesce.py)."""
    found = User.objects.in_bulk(user_ids)
    return {user_id: found.get(user_id) for user_id in user_ids}


def user_search(*, query: str = "", exclude_user_id: int | None = None) -> QuerySet[User]:
    """Active users whose username or display name contains `query`, by username."""
    users = User.objects.filter(is_active=True)
    query = query.strip()[:MAX_SEARCH_LENGTH]
    if query:
        users = users.filter(Q(username__icontains=query) | Q(display_name__icontains=query))
    if exclude_user_id is not None:
        users = users.exclude(pk=exclude_user_id)
    return users.order_by("username")


def presence_visible_ids(*, viewer_id: int, user_ids: list[int]) -> set[int]:
    """Those of `user_ids` whose presence (online, last seen) the viewer may see: the viewer
    and whoever shares a room with them. Through the chat app's relation names, without
    importing it (accounts sits below chat)."""
    shared = (
        User.objects.filter(pk__in=user_ids, chat_memberships__room__memberships__user_id=viewer_id)
        .values_list("pk", flat=True)
        .distinct()
    )
    visible = set(shared)
    if viewer_id in user_ids:
        visible.add(viewer_id)
    return visible
