"""Presence privacy (security review, low findings): an invisible user's last_seen does not
move when they disconnect, and REST shows online/last seen only to users sharing a room."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from banter.accounts.models import User
from banter.core.state import get_state_store
from chat.services import room_create
from presence.live import PresenceService


@pytest.mark.django_db(transaction=True)
async def test_invisible_user_disconnecting_keeps_the_last_seen_others_saw(
    presence: PresenceService,
) -> None:
    shown = timezone.now() - timedelta(hours=2)
    user = await sync_to_async(User.objects.create_user)(
        username="ghost", password="x", presence_status="invisible", last_seen=shown
    )
    await get_state_store().presence_set(user.pk, "invisible", 30)
    await presence.go_offline_if_idle(user.pk, timezone.now())
    await sync_to_async(user.refresh_from_db)()
    assert user.last_seen == shown
    assert user.is_online is False


@pytest.mark.django_db(transaction=True)
async def test_visible_user_disconnecting_records_when_they_left(
    presence: PresenceService,
) -> None:
    user = await sync_to_async(User.objects.create_user)(username="seen", password="x")
    left_at = timezone.now()
    await get_state_store().presence_set(user.pk, "online", 30)
    await presence.go_offline_if_idle(user.pk, left_at)
    await sync_to_async(user.refresh_from_db)()
    assert user.last_seen == left_at


@pytest.mark.django_db
def test_rest_presence_only_for_users_sharing_a_room(user_factory: Any, auth_client: Any) -> None:
    seen_at = timezone.now() - timedelta(minutes=5)
    target = user_factory(username="target", is_online=True, last_seen=seen_at)
    friend = user_factory(username="friend")
    stranger = user_factory(username="stranger")
    room_create(creator=friend, name="r", member_ids=[target.pk])

    as_friend = auth_client(friend).get(f"/api/users/{target.pk}").json()
    assert as_friend["isOnline"] is True and as_friend["lastSeen"] is not None
    as_stranger = auth_client(stranger).get(f"/api/users/{target.pk}").json()
    assert as_stranger["isOnline"] is False and as_stranger["lastSeen"] is None
    assert as_stranger["username"] == "target"  # the profile itself stays public

    listed = auth_client(stranger).get("/api/users", {"search": "target"}).json()["results"]
    assert [(u["username"], u["isOnline"], u["lastSeen"]) for u in listed] == [
        ("target", False, None)
    ]
    listed = auth_client(friend).get("/api/users", {"search": "target"}).json()["results"]
    assert listed[0]["isOnline"] is True
