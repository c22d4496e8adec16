"""Control messages (unsubscribe, revoke) that reach a socket while it is still connecting
are applied once it is connected, not dropped (security review, finding 4)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from banter.accounts.models import User
from banter.realtime import hub as hub_module
from banter.realtime.asgi_routing import realtime_asgi
from banter.realtime.broadcast import user_group
from banter.realtime.dispatch import EventContext
from banter.realtime.engine import EngineConfig
from banter.realtime.namespace import BanterNamespace
from banter.realtime.socketio import Namespace, Socket
from banter.realtime.transports import OriginPolicy, RealtimeServer

WEBSOCKET = "/socket.io/?EIO=4&transport=websocket"
CONFIG = EngineConfig(ping_interval=60, ping_timeout=60, connect_timeout=5)


class Recording(Namespace):
    def __init__(self) -> None:
        self.controls: list[tuple[str, bool]] = []

    async def on_connect(self, socket: Socket, auth: dict[str, Any] | None) -> None:
        socket.deliver({"type": "banter.frame", "group": "g", "frame": '42["before"]'})
        socket.deliver({"type": "banter.control", "group": "g", "action": "unsubscribe"})

    def on_control(self, socket: Socket, message: dict[str, Any]) -> None:
        self.controls.append((message["action"], socket.connected))


async def test_control_during_connect_reaches_the_namespace_after_the_reply() -> None:
    namespace = Recording()
    app = realtime_asgi(RealtimeServer({"/": namespace}, CONFIG, OriginPolicy(None)), None)
    client = WebsocketCommunicator(app, WEBSOCKET)
    assert (await client.connect())[0]
    await client.receive_from()
    await client.send_to("40")
    assert (await client.receive_from()).startswith("40")
    assert await client.receive_from() == '42["before"]'
    assert namespace.controls == [("unsubscribe", True)]
    await client.disconnect()


class SlowSubscriptions:
    """An ON_CONNECT hook that subscribes to a room, then stalls (a slow database)."""

    def __init__(self, room_group: str) -> None:
        self.room_group = room_group
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, ctx: EventContext) -> None:
        await ctx.join_group(self.room_group)
        self.entered.set()
        await self.release.wait()


async def connect_with_stall(
    user: User, control: dict[str, Any]
) -> tuple[WebsocketCommunicator, BanterNamespace, str]:
    hook = SlowSubscriptions("room.4242")
    namespace = BanterNamespace({}, on_connect_hooks=[hook])
    app = realtime_asgi(RealtimeServer({"/": namespace}, CONFIG, OriginPolicy(None)), None)
    client = WebsocketCommunicator(app, WEBSOCKET)
    assert (await client.connect())[0]
    await client.receive_from()
    token = await sync_to_async(lambda: str(AccessToken.for_user(user)))()
    await client.send_to("40" + json.dumps({"token": token}))
    await asyncio.wait_for(hook.entered.wait(), 10)
    # The membership ends / the session is revoked while the socket is connecting.
    hub_module.publish(user_group(user.pk), {"group": user_group(user.pk), **control})
    await asyncio.sleep(0.05)
    hook.release.set()
    reply = await client.receive_from(5)
    assert reply.startswith("40"), reply
    return client, namespace, hook.room_group


@pytest.mark.django_db(transaction=True)
async def test_unsubscribe_while_connecting_leaves_the_room() -> None:
    user = await sync_to_async(User.objects.create_user)(username="connecting", password="x")
    client, _, room = await connect_with_stall(
        user, {"type": "banter.control", "action": "unsubscribe", "target": "room.4242"}
    )
    await asyncio.sleep(0.05)
    hub_module.publish(room, {"type": "banter.frame", "group": room, "frame": '42["secret"]'})
    hub_module.publish(
        user_group(user.pk),
        {"type": "banter.frame", "group": user_group(user.pk), "frame": '42["mine"]'},
    )
    # The user's own frame arrives; the room's, published before it, never does.
    assert await client.receive_from(5) == '42["mine"]'
    await client.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_revoke_while_connecting_ends_the_session() -> None:
    user = await sync_to_async(User.objects.create_user)(username="revoked", password="x")
    client, _, _ = await connect_with_stall(
        user, {"type": "banter.control", "action": "revoke", "reason": "logout"}
    )
    frames = []
    while True:
        message = await client.receive_output(5)
        if message["type"] == "websocket.close":
            break
        frames.append(message.get("text"))
    assert any('"Session revoked"' in (frame or "") for frame in frames), frames
