"""Durable presence facts: is_online, last_seen and the chosen status, on the User row.

The live truth (which connections exist) is the state store; these writes record what
others see over REST ("online", "last seen at") and the status that survives sessions.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from banter.accounts.models import User
from banter.core.errors import validation_error

STATUSES: tuple[str, ...] = tuple(User.PresenceStatus.values)


def check_status(value: object) -> str:
    if not isinstance(value, str) or value not in STATUSES:
        raise validation_error(
            f"status must be one of: {', '.join(STATUSES)}", status="invalid choice"
        )
    return value


def presence_mark_online(user_ids: list[int]) -> dict[int, None]:
    """Record the users online, in two statements for a batch of connects.

    An invisible user is recorded offline: REST readers must not learn otherwise. Which
    user is invisible is read in the same statement, not from the row CONNECT loaded: a
    status set to invisible between the two stays hidden."""
    users = User.objects.filter(pk__in=user_ids)
    users.exclude(presence_status=User.PresenceStatus.INVISIBLE).update(is_online=True)
    users.filter(presence_status=User.PresenceStatus.INVISIBLE).update(is_online=False)
    return dict.fromkeys(user_ids)


def presence_mark_offline(*, user_id: int, at: datetime | None = None) -> datetime:
    """Record that the user's last connection closed (at `at`); returns the new last_seen."""
    last_seen = at or timezone.now()
    User.objects.filter(pk=user_id).update(is_online=False, last_seen=last_seen)
    return last_seen


def presence_mark_invisible_offline(*, user_id: int) -> None:
    """An invisible user's last connection closed: last_seen stays what others were shown
    when the user went invisible (moving it would tell them how long the user stayed)."""
    User.objects.filter(pk=user_id).update(is_online=False)


def presence_status_save(*, user_id: int, status: str) -> datetime | None:
    """Store the user's chosen status (already checked) while they are connected.

    Going invisible also stamps last_seen, which others see from now on.
    """
    visible = status != User.PresenceStatus.INVISIBLE
    if visible:
        User.objects.filter(pk=user_id).update(presence_status=status, is_online=True)
        return None
    now = timezone.now()
    User.objects.filter(pk=user_id).update(presence_status=status, is_online=False, last_seen=now)
    return now


def presence_reset_all_offline() -> int:
    """Mark every user offline (a fresh single process knows nobody is connected yet)."""
    return User.objects.filter(is_online=True).update(is_online=False)


def online_user_ids() -> list[int]:
    """Users the database shows online (reconciled against the live state store)."""
    return list(User.objects.filter(is_online=True).values_list("pk", flat=True))
