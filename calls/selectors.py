"""Reads of call logs. A user sees only calls they took part in."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from banter.accounts.models import User
from banter.core.errors import not_found, validation_error
from calls.models import CallLog


def call_list_for_user(
    user: User, status: str | None = None, call_type: str | None = None
) -> QuerySet[CallLog]:
    """The user's calls as caller or receiver, newest first, optionally filtered."""
    if status is not None and status not in CallLog.Status.values:
        raise validation_error(f"Unknown call status {status!r}", status=["Unknown status."])
    if call_type is not None and call_type not in CallLog.CallType.values:
        raise validation_error(f"Unknown call type {call_type!r}", type=["Unknown call type."])
    calls = CallLog.objects.filter(Q(caller=user) | Q(receiver=user))
    if status is not None:
        calls = calls.filter(status=status)
    if call_type is not None:
        calls = calls.filter(call_type=call_type)
    return calls.select_related("caller", "receiver").order_by("-started_at", "-id")


def call_get_for_participant(user: User, call_id: int) -> CallLog:
    """A call the user took part in; anyone else gets not_found (existence is not revealed)."""
    call = (
        CallLog.objects.filter(Q(caller=user) | Q(receiver=user), pk=call_id)
        .select_related("caller", "receiver")
        .first()
    )
    if call is None:
        raise not_found("Call")
    return call
