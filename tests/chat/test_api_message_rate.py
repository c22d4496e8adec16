"""A message sent over REST spends the same budget as `send-message` on a socket: the
socket's message limit cannot be sidestepped over REST (security review, low finding)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from banter.accounts.models import User
from banter.core.ratelimit import get_rate_limiter
from banter.realtime.dispatch import EventContext, EventSpec, dispatch
from chat.models import Message, Room

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _tight_message_limit(settings: Any) -> None:
    settings.BANTER = {
        **settings.BANTER,
        "RATE_LIMITS": {**settings.BANTER["RATE_LIMITS"], "message": "3/60/3"},
    }
    get_rate_limiter().reset()


def send(client: Any, room: Room, content: str) -> Any:
    return client.post(f"/api/rooms/{room.pk}/messages", {"content": content}, format="json")


def test_rest_sends_are_limited_by_the_message_rate(
    auth_client: Any, room: Room, member: User
) -> None:
    client = auth_client(member)
    statuses = [send(client, room, f"m{index}").status_code for index in range(4)]
    assert statuses == [201, 201, 201, 429]
    refused = send(client, room, "again")
    assert refused.json()["code"] == "rate_limited"
    assert int(refused["Retry-After"]) >= 1
    assert Message.objects.filter(room=room).count() == 3  # nothing stored when refused


class _Socket:
    def __init__(self) -> None:
        self.acks: list[list[Any]] = []

    def ack(self, ack_id: int, args: list[Any]) -> None:
        self.acks.append(args)


def test_rest_and_socket_share_one_budget(auth_client: Any, room: Room, member: User) -> None:
    client = auth_client(member)
    for index in range(3):
        assert send(client, room, f"m{index}").status_code == 201
    socket = _Socket()

    async def join(group: str) -> None:
        return None

    ctx = EventContext(
        socket=socket,  # type: ignore[arg-type]
        user=member,
        client_ip="127.0.0.1",
        origin=None,
        join_group=join,
        leave_group=lambda group: None,
    )

    async def handler(ctx: EventContext, payload: Any) -> Any:
        return {}

    table = {"send-message": EventSpec(handler, "message")}
    asyncio.run(dispatch(ctx, table, "send-message", [{}], 1, 10))
    assert socket.acks[0][0]["error"]["code"] == "rate_limited"
