"""Payload builders for users: one shape for REST responses and socket events."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from banter.core.timestamps import iso_utc

if TYPE_CHECKING:
    from banter.accounts.models import User


class UserSummaryPayload(TypedDict):
    id: int
    username: str
    displayName: str
    avatarUrl: str | None


class UserPublicPayload(UserSummaryPayload):
    isOnline: bool
    lastSeen: str | None


class UserPrivatePayload(UserPublicPayload):
    email: str
    dateJoined: str
    doNotDisturb: bool
    pushPreviews: bool


def user_summary_payload(user: User) -> UserSummaryPayload:
    """The user as embedded in messages, calls and member lists (same as chat.payloads)."""
    # Clients render displayName as is, so it falls back to the username; an unset avatar
    # is null rather than "" so `avatarUrl ?? placeholder` works.
    return {
        "id": user.pk,
        "username": user.username,
        "displayName": user.public_name,
        "avatarUrl": user.avatar_url or None,
    }


def user_public_payload(user: User, *, presence_visible: bool = True) -> UserPublicPayload:
    """A profile anyone signed in may see; presence (online, last seen) only when the
    viewer may see it (they share a room), else shown as offline and never seen."""
    return {
        **user_summary_payload(user),
        "isOnline": user.is_online if presence_visible else False,
        "lastSeen": iso_utc(user.last_seen) if presence_visible else None,
    }


def user_private_payload(user: User) -> UserPrivatePayload:
    """The signed-in user's own profile (adds what only they may see)."""
    return {
        **user_public_payload(user),
        "email": user.email,
        "dateJoined": iso_utc(user.date_joined),
        "doNotDisturb": user.do_not_disturb,
        "pushPreviews": user.push_previews,
    }
