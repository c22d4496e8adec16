"""Web Push end to end in one process: a message commits its pushes with it, and the delivery
loop sends them with the real protocol to a local push service (tests/push/webpush_service.py)
that checks the VAPID signature and decrypts the payload, as a browser's would."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from django.utils import timezone

from banter.accounts.models import User
from banter.core import metrics
from banter.core.state import get_state_store
from banter.realtime.dispatch import run_sync
from calls import services as call_services
from chat import services
from chat.message_batch import SendRequest, message_send_batch
from chat.models import Membership, Room
from push import delivery
from push.models import Device, PushOutbox
from push.webpush import WebPushSender
from tests.push.webpush_service import PushService, Subscriber

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("vapid")]


@pytest.fixture
def push_service() -> Iterator[PushService]:
    with PushService() as service:
        yield service


@pytest.fixture(autouse=True)
def no_grace(settings: Any) -> None:
    settings.BANTER = {**settings.BANTER, "PRESENCE_OFFLINE_GRACE": 0.0}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


class World:
    def __init__(self, user_factory: Any, push_service: PushService) -> None:
        self.alice: User = user_factory(username="alice", display_name="Alice")
        self.bob: User = user_factory(username="bob")
        self.room: Room = services.room_create(
            creator=self.alice, name="Team", member_ids=[self.bob.pk]
        )
        self.subscriber = Subscriber.create(push_service.endpoint("bob"))
        sub = self.subscriber.subscription()
        self.device = Device.objects.create(
            user=self.bob, kind="webpush", endpoint=sub["endpoint"], **sub["keys"]
        )

    def send(self, content: str, **options: Any) -> int:
        message, _ = services.message_send(
            sender=self.alice, room_id=self.room.pk, content=content, **options
        )
        return message.pk


@pytest.fixture
async def world(user_factory: Any, push_service: PushService) -> World:
    return await run_sync(World, user_factory, push_service)


async def deliver(session: aiohttp.ClientSession) -> int:
    return await delivery.deliver_due(session)


async def test_an_offline_members_push_arrives_signed_and_encrypted(
    world: World, push_service: PushService, session: aiohttp.ClientSession, vapid: str
) -> None:
    message_id = await run_sync(world.send, "hello bob")

    assert await deliver(session) == 1
    (push,) = push_service.received("bob")
    assert push.error is None and push.status == 201
    assert push.vapid_public_key == vapid
    assert push.vapid_claims is not None and push.vapid_claims["sub"] == "mailto:ops@banter.test"
    assert push.headers["content-encoding"] == "aes128gcm"
    assert push.headers["urgency"] == "normal"
    assert push.headers["topic"] == f"room-{world.room.pk}"
    assert 0 < (push.ttl or 0) <= 86400
    assert push.decrypt(world.subscriber) == {
        "type": "message",
        "roomId": world.room.pk,
        "messageId": message_id,
        "title": "Alice in Team",
        "body": "hello bob",
        "badge": 1,
    }
    row = await run_sync(PushOutbox.objects.get)
    assert row.status == "sent" and row.sent_at is not None
    assert await deliver(session) == 0  # nothing twice


async def test_a_room_collapses_to_its_newest_message(
    world: World, push_service: PushService, session: aiohttp.ClientSession
) -> None:
    await run_sync(world.send, "one")
    newest = await run_sync(world.send, "two")

    assert await deliver(session) == 1
    payload = push_service.received("bob")[0].decrypt(world.subscriber)
    assert (payload["messageId"], payload["body"], payload["badge"]) == (newest, "two", 2)


async def test_the_group_commit_queues_pushes_in_its_transaction(
    world: World, push_service: PushService, session: aiohttp.ClientSession
) -> None:
    def batch() -> None:
        message_send_batch(
            [
                SendRequest(sender=world.alice, room_id=world.room.pk, content=f"m{i}")
                for i in range(5)
            ]
        )

    await run_sync(batch)
    assert await run_sync(PushOutbox.objects.count) == 1
    await deliver(session)
    assert push_service.received("bob")[0].decrypt(world.subscriber)["body"] == "m4"


async def test_no_push_to_an_online_user(
    world: World, push_service: PushService, session: aiohttp.ClientSession
) -> None:
    await get_state_store().connection_add(world.bob.pk, "sid-1", 60)
    try:
        await run_sync(world.send, "you are here")
        await deliver(session)
    finally:
        await get_state_store().connection_remove(world.bob.pk, "sid-1")
    assert push_service.received() == []
    row = await run_sync(PushOutbox.objects.get)
    assert (row.status, row.last_error) == ("skipped", "online")


async def test_muted_rooms_push_mentions_only(
    world: World, push_service: PushService, session: aiohttp.ClientSession
) -> None:
    await run_sync(Membership.objects.filter(room=world.room, user=world.bob).update, muted=True)
    await run_sync(world.send, "nothing for bob")
    assert await run_sync(PushOutbox.objects.count) == 0

    await run_sync(world.send, "hey @bob look")
    await deliver(session)
    (push,) = push_service.received("bob")
    assert push.headers["urgency"] == "high"
    assert push.decrypt(world.subscriber)["type"] == "mention"


async def test_the_sender_gets_no_push(
    world: World, push_service: PushService, session: aiohttp.ClientSession
) -> None:
    alices = Subscriber.create(push_service.endpoint("alice"))
    sub = alices.subscription()
    await run_sync(
        Device.objects.create,
        user=world.alice,
        kind="webpush",
        endpoint=sub["endpoint"],
        **sub["keys"],
    )
    await run_sync(world.send, "mine")
    await deliver(session)
    assert push_service.received("alice") == [] and len(push_service.received("bob")) == 1


async def test_without_previews_a_push_says_only_new_message(
    world: World, push_service: PushService, session: aiohttp.ClientSession
) -> None:
    await run_sync(User.objects.filter(pk=world.bob.pk).update, push_previews=False)
    await run_sync(world.send, "a secret")
    await deliver(session)
    payload = push_service.received("bob")[0].decrypt(world.subscriber)
    assert (payload["title"], payload["body"]) == ("New message", "")


@pytest.mark.parametrize("reason", ["do not disturb", "read", "deleted"])
async def test_skipped_when_nothing_is_owed_any_more(
    world: World, push_service: PushService, session: aiohttp.ClientSession, reason: str
) -> None:
    message_id = await run_sync(world.send, "maybe")
    if reason == "do not disturb":
        await run_sync(User.objects.filter(pk=world.bob.pk).update, do_not_disturb=True)
    elif reason == "read":
        await run_sync(
            services.read_position_mark,
            user=world.bob,
            room_id=world.room.pk,
            message_id=message_id,
        )
    else:
        await run_sync(services.message_delete, user=world.alice, message_id=message_id)
    await deliver(session)
    assert push_service.received() == []
    row = await run_sync(PushOutbox.objects.get)
    assert (row.status, row.last_error) == ("skipped", reason)


async def test_a_gone_subscription_removes_the_device(
    world: World, push_service: PushService, session: aiohttp.ClientSession
) -> None:
    push_service.respond("bob", 410)
    await run_sync(world.send, "anyone?")
    await deliver(session)
    assert len(push_service.received("bob")) == 1
    assert not await run_sync(Device.objects.exists)
    assert not await run_sync(PushOutbox.objects.exists)


async def test_a_failing_service_is_retried_with_backoff(
    world: World, push_service: PushService, session: aiohttp.ClientSession
) -> None:
    push_service.respond("bob", 503, times=1)
    await run_sync(world.send, "retry me")
    await deliver(session)
    row = await run_sync(PushOutbox.objects.get)
    assert row.status == "pending" and row.attempts == 1 and row.due_at > timezone.now()
    assert row.last_error.startswith("503")
    assert await deliver(session) == 0  # not due yet

    await run_sync(PushOutbox.objects.update, due_at=timezone.now())
    await deliver(session)
    row = await run_sync(PushOutbox.objects.get)
    assert row.status == "sent" and row.attempts == 2
    assert [push.status for push in push_service.received("bob")] == [503, 201]
    assert metrics.PUSH_FAILURES.labels("webpush", "503")._value.get() >= 1


async def test_expired_pushes_are_dropped(
    world: World, push_service: PushService, session: aiohttp.ClientSession
) -> None:
    await run_sync(world.send, "too late")
    await run_sync(PushOutbox.objects.update, expires_at=timezone.now() - timedelta(seconds=1))
    await deliver(session)
    assert push_service.received() == []
    assert (await run_sync(PushOutbox.objects.get)).status == "expired"


async def test_a_crash_after_sending_repeats_the_push_once(
    world: World, push_service: PushService, session: aiohttp.ClientSession
) -> None:
    """The process sent the push and died before settling it: the lease lapses, and the
    next round sends it again, once, and settles it."""
    await run_sync(world.send, "at least once")
    (claim,) = await run_sync(delivery.claim_due, 10)
    assert claim.payload is not None
    result = await WebPushSender().send(session, claim.target, claim.push())
    assert result.outcome == "sent"
    # ... and the process dies here. Its lease lapses:
    assert await deliver(session) == 0  # still leased
    await run_sync(PushOutbox.objects.update, leased_until=timezone.now() - timedelta(seconds=1))

    assert await deliver(session) == 1
    assert await deliver(session) == 0
    assert len(push_service.received("bob")) == 2
    assert (await run_sync(PushOutbox.objects.get)).status == "sent"


async def test_an_incoming_call_rings_the_device_and_a_missed_one_replaces_it(
    world: World, push_service: PushService, session: aiohttp.ClientSession
) -> None:
    call = await run_sync(
        call_services.call_initiate, caller=world.alice, receiver_id=world.bob.pk, call_type="video"
    )
    await deliver(session)
    (ring,) = push_service.received("bob")
    assert ring.headers["urgency"] == "high"
    assert ring.headers["topic"] == f"call-{call.pk}"
    assert 0 < (ring.ttl or 0) <= 60  # lives while the call rings (CALL_RING_TIMEOUT)
    payload = ring.decrypt(world.subscriber)
    assert payload == {
        "type": "call_incoming",
        "callId": call.pk,
        "title": "Alice is calling",
        "body": "Video call",
        "badge": 0,
    }

    later = timezone.now() + timedelta(seconds=61)
    assert [c.pk for c in await run_sync(call_services.calls_sweep, now=later)] == [call.pk]
    await deliver(session)
    missed = push_service.received("bob")[1].decrypt(world.subscriber)
    assert (missed["type"], missed["title"]) == ("missed_call", "Missed call from Alice")


async def test_a_ring_no_longer_ringing_is_skipped(
    world: World, push_service: PushService, session: aiohttp.ClientSession
) -> None:
    call = await run_sync(
        call_services.call_initiate, caller=world.alice, receiver_id=world.bob.pk, call_type="audio"
    )
    await run_sync(call_services.call_cancel, user=world.alice, call_id=call.pk)
    await deliver(session)
    assert push_service.received() == []
    row = await run_sync(PushOutbox.objects.get)
    assert (row.status, row.last_error) == ("skipped", "no longer ringing")


async def test_settled_rows_are_pruned_after_a_week(
    world: World, push_service: PushService, session: aiohttp.ClientSession
) -> None:
    await run_sync(world.send, "old news")
    await deliver(session)
    await run_sync(world.send, "still owed")  # pending again (a new row for the room)
    week_later = timezone.now() + timedelta(days=7, seconds=1)

    assert await run_sync(delivery.prune_settled, week_later) == 1
    (left,) = await run_sync(list, PushOutbox.objects.all())
    assert left.status == "pending"
