"""Presence when an instance dies: a survivor reaps it and its users go offline, and users
the database shows online with no connection anywhere are reconciled."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from banter.accounts.models import User
from banter.core.state import get_state_store
from banter.realtime import cluster
from banter.realtime.broadcast import capture_broadcasts
from banter.realtime.cluster import LostInstance
from chat.models import Room
from chat.services import room_create
from presence.live import PresenceService

pytestmark = pytest.mark.django_db(transaction=True)


def _room_with(*users: User) -> Room:
    return room_create(creator=users[0], name="r", member_ids=[u.pk for u in users[1:]])


async def test_reaper_claims_a_dead_instance_once_and_runs_hooks(settings: Any) -> None:
    settings.BANTER = {**settings.BANTER, "INSTANCE_TTL": 0.01}
    store = get_state_store()
    await store.instance_heartbeat("dead", 0.01)
    await store.connection_add(7, "dead:sid1", 30)
    await store.connection_add(8, "dead:sid2", 30)
    await store.connection_add(8, "alive:sid3", 30)
    seen: list[LostInstance] = []

    async def hook(lost: LostInstance) -> None:
        seen.append(lost)

    await asyncio.sleep(0.02)
    lost = await cluster.reap_dead_instances([hook])
    assert [d.instance_id for d in lost] == ["dead"]
    assert seen[0].users == {7: (0, ["dead:sid1"]), 8: (1, ["dead:sid2"])}
    assert seen[0].users_gone() == [7]
    assert await cluster.reap_dead_instances([hook]) == []


async def test_lost_instance_users_go_offline_and_are_announced(
    user_factory: Any, presence: PresenceService
) -> None:
    alice, bob = await sync_to_async(user_factory)(), await sync_to_async(user_factory)()
    room = await sync_to_async(_room_with)(alice, bob)
    await sync_to_async(User.objects.filter(pk=alice.pk).update)(is_online=True)
    store = get_state_store()
    await store.presence_set(alice.pk, "online", 30)
    lost = LostInstance("dead", timezone.now(), {alice.pk: (0, ["dead:s"])})
    with capture_broadcasts(execute_on_commit=False) as sent:
        await presence.on_instance_lost(lost)
    alice_row = await User.objects.aget(pk=alice.pk)
    assert alice_row.is_online is False
    assert alice_row.last_seen == lost.last_beat
    offline = [b for b in sent if b.event == "user-offline"]
    assert [b.group for b in offline] == [f"room.{room.pk}"]
    assert offline[0].args[0]["userId"] == alice.pk
    assert await store.presence_get_many([alice.pk]) == {}


async def test_reconcile_clears_online_flags_nobody_backs(
    user_factory: Any, presence: PresenceService
) -> None:
    _ghost, connected, in_grace = [await sync_to_async(user_factory)() for _ in range(3)]
    await sync_to_async(User.objects.update)(is_online=True)
    store = get_state_store()
    await store.connection_add(connected.pk, "i:s", 30)
    await store.presence_set(in_grace.pk, "online", 30)  # left moments ago: grace running
    assert await presence.reconcile_online_flags() == 1
    online = await sync_to_async(
        lambda: set(User.objects.filter(is_online=True).values_list("pk", flat=True))
    )()
    assert online == {connected.pk, in_grace.pk}
