"""Call log factory for calls tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from banter.accounts.models import User
from calls.models import CallLog

CallFactory = Callable[..., CallLog]


@pytest.fixture
def call_factory(db: None) -> CallFactory:
    """`call_factory(caller, receiver, minutes_ago=0, **fields)` -> a stored CallLog."""

    def create(caller: User, receiver: User, minutes_ago: int = 0, **fields: Any) -> CallLog:
        fields.setdefault("call_type", CallLog.CallType.AUDIO)
        fields.setdefault("status", CallLog.Status.COMPLETED)
        call = CallLog.objects.create(caller=caller, receiver=receiver, **fields)
        if minutes_ago:
            # started_at is auto_now_add, so backdate it with an update.
            started_at = timezone.now() - timedelta(minutes=minutes_ago)
            CallLog.objects.filter(pk=call.pk).update(started_at=started_at)
            call.refresh_from_db()
        return call

    return create
