"""The Socket.IO Admin UI's `/admin` namespace, in process: login, what the UI is shown,
live updates, actions, read-only mode, and two instances on one channel layer.

The admin client (tests/admin_ui_harness.py) says and hears what @socket.io/admin-ui does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.hashers import make_password
from rest_framework_simplejwt.tokens import AccessToken

from banter.accounts import services as accounts
from banter.accounts.models import User
from banter.core.ratelimit import Rate
from banter.realtime import admin_auth
from banter.realtime.admin_taps import ObservedNamespace
from banter.realtime.admin_ui import AdminUI
from banter.realtime.asgi_routing import realtime_asgi
from banter.realtime.namespace import BanterNamespace
from banter.realtime.socketio import Namespace
from banter.wiring import build_hubs, build_realtime
from chat.recovery import RoomEventRecovery
from tests.admin_ui_harness import AdminClient, AdminRefused
from tests.socket_harness import (
    MakeRoom,
    MakeUser,
    OverrideBanter,
    SocketClient,
    SocketHarness,
    ok,
    settle,
)

PASSWORD = "Admin-UI-pass-7f3a"
LOGIN = {"username": "ops", "password": PASSWORD}
READONLY = ["AGGREGATED_EVENTS", "ALL_EVENTS"]

Args = list[Any]


@pytest.fixture
def admin_settings(banter_settings: OverrideBanter) -> Callable[..., None]:
    """`admin_settings(**extra)`: ADMIN_UI on with the login ops / PASSWORD."""

    def enable(**extra: Any) -> None:
        banter_settings(
            ADMIN_UI=True,
            ADMIN_UI_USERNAME="ops",
            ADMIN_UI_PASSWORD_HASH=make_password(PASSWORD),
            **extra,
        )

    return enable


@dataclass
class Served:
    """One server built as the composition root builds it with ADMIN_UI on, and its Admin UI."""

    harness: SocketHarness
    service: AdminUI

    @property
    def app(self) -> Any:
        return self.harness.app

    async def connect(self, user: User) -> SocketClient:
        return await self.harness.connect(user)


def serve(instance_id: str = "instance-one", recovery: RoomEventRecovery | None = None) -> Served:
    recovery = recovery or RoomEventRecovery()
    hubs = build_hubs(recovery)
    service = AdminUI.from_settings(hubs, instance_id)
    app = realtime_asgi(build_realtime(recovery, hubs, service), http_fallback=None)
    return Served(SocketHarness(app), service)


@pytest.fixture
async def served(admin_settings: Callable[..., None]) -> AsyncIterator[Served]:
    admin_settings()
    built = serve()
    try:
        yield built
    finally:
        await built.harness.close()


@pytest.fixture
async def admins() -> AsyncIterator[list[AdminClient]]:
    opened: list[AdminClient] = []
    yield opened
    for client in opened:
        await client.close()


async def login(app: Any, admins: list[AdminClient], **auth: Any) -> AdminClient:
    client = await AdminClient.connect(app, auth or LOGIN)
    admins.append(client)
    return client


def ended_for(sid: str) -> Callable[[Args], bool]:
    return lambda args: bool(args[1] == sid)


def stats_of(server_id: str) -> Callable[[Args], bool]:
    return lambda args: bool(args[0]["serverId"] == server_id)


async def token_for(user: User) -> str:
    return await sync_to_async(lambda: str(AccessToken.for_user(user)))()


# -- on and off ------------------------------------------------------------------------------


async def test_off_by_default_no_admin_namespace_and_no_taps(
    sockets: SocketHarness, admins: list[AdminClient]
) -> None:
    realtime = build_realtime()
    assert set(realtime.socketio.namespaces) == {"/"}
    # The namespace itself, not a wrapper: its sockets are plain Sockets, nothing is tapped.
    assert type(realtime.socketio.namespaces["/"]) is BanterNamespace
    assert BanterNamespace.make_socket is Namespace.make_socket
    with pytest.raises(AdminRefused) as refused:
        await login(sockets.app, admins)
    assert refused.value.body == {"message": "Invalid namespace"}


async def test_on_the_main_namespace_is_observed_and_admin_is_served(
    admin_settings: Callable[..., None],
) -> None:
    admin_settings()
    namespaces = build_realtime().socketio.namespaces
    assert set(namespaces) == {"/", "/admin"}
    observed = namespaces["/"]
    assert isinstance(observed, ObservedNamespace)
    assert isinstance(observed.inner, BanterNamespace)


# -- login ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "code"),
    [
        ({}, "auth_required"),
        ({"username": "ops", "password": "wrong"}, "invalid_credentials"),
        ({"username": "root", "password": PASSWORD}, "invalid_credentials"),
        ({"sessionId": "forged"}, "invalid_credentials"),
        ({"token": "not-a-jwt"}, "token_invalid"),
    ],
)
async def test_bad_credentials_are_refused_with_the_message_the_ui_shows(
    served: Served, auth: dict[str, Any], code: str
) -> None:
    with pytest.raises(AdminRefused) as refused:
        await AdminClient.connect(served.app, auth)
    assert refused.value.body == {"message": "invalid credentials", "data": {"code": code}}


async def test_password_login_issues_a_session_that_logs_in_again(
    served: Served, admins: list[AdminClient]
) -> None:
    first = await login(served.app, admins)
    session_id = await first.wait_for("session")
    config = await first.wait_for("config")
    assert config == {"supportedFeatures": ["DISCONNECT", "MDISCONNECT", *READONLY]}
    again = await login(served.app, admins, sessionId=session_id)
    assert await again.wait_for("all_sockets") == []
    assert again.received("session") == []  # only a password login issues one


async def test_session_ends_when_the_password_hash_changes(
    served: Served, admins: list[AdminClient], banter_settings: OverrideBanter
) -> None:
    session_id = await (await login(served.app, admins)).wait_for("session")
    banter_settings(ADMIN_UI_PASSWORD_HASH=make_password("Another-pass-91x"))
    rebuilt = serve()
    try:
        with pytest.raises(AdminRefused) as refused:
            await AdminClient.connect(rebuilt.app, {"sessionId": session_id})
        assert refused.value.body["data"] == {"code": "invalid_credentials"}
    finally:
        await rebuilt.harness.close()


async def test_staff_token_logs_in_and_a_non_staff_or_inactive_one_does_not(
    served: Served, make_user: MakeUser, admins: list[AdminClient]
) -> None:
    staff = await make_user(is_staff=True)
    admin = await login(served.app, admins, token=await token_for(staff))
    assert (await admin.wait_for("config"))["supportedFeatures"][0] == "DISCONNECT"
    await admin.wait_for("all_sockets")
    assert admin.received("session") == []  # a token login gets no session id

    for user, code in [
        (await make_user(), "forbidden"),
        (await make_user(is_staff=True, is_active=False), "user_inactive"),
    ]:
        with pytest.raises(AdminRefused) as refused:
            await AdminClient.connect(served.app, {"token": await token_for(user)})
        assert refused.value.body == {"message": "invalid credentials", "data": {"code": code}}


async def test_staff_admin_socket_ends_when_the_user_is_deactivated(
    served: Served, make_user: MakeUser, admins: list[AdminClient]
) -> None:
    staff = await make_user(is_staff=True)
    admin = await login(served.app, admins, token=await token_for(staff))
    await admin.wait_for("all_sockets")
    await sync_to_async(accounts.user_deactivate)(user=staff)
    await asyncio.wait_for(admin.closed.wait(), 10)


async def test_origin_not_allowed_is_refused(served: Served) -> None:
    with pytest.raises(AdminRefused) as refused:
        await AdminClient.connect(
            served.app, LOGIN, headers=[(b"origin", b"https://admin.socket.io")]
        )
    assert refused.value.body["data"] == {"code": "origin_not_allowed"}


async def test_login_attempts_are_rate_limited_per_address(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin_auth, "LOGIN_RATE", Rate(2, 60.0, 2))
    for _ in range(2):
        with pytest.raises(AdminRefused):
            await AdminClient.connect(served.app, {"username": "ops", "password": "guess"})
    with pytest.raises(AdminRefused) as refused:
        await AdminClient.connect(served.app, LOGIN)  # the right one, too late
    assert refused.value.body["data"]["code"] == "rate_limited"


# -- what the UI is shown ---------------------------------------------------------------------


async def test_all_sockets_and_server_stats_show_this_instance_and_its_sockets(
    served: Served, make_user: MakeUser, make_room: MakeRoom, admins: list[AdminClient]
) -> None:
    alice = await make_user()
    room = await make_room(alice, [])
    user_socket = await served.connect(alice)

    admin = await login(served.app, admins)
    (listed,) = await admin.wait_for("all_sockets")
    assert listed["id"] == user_socket.sid
    assert listed["nsp"] == "/"
    assert listed["transport"] == "websocket"
    assert listed["data"] == {
        "userId": alice.pk,
        "username": alice.username,
        "serverId": "instance-one",
    }
    assert set(listed["rooms"]) == {user_socket.sid, f"room.{room.pk}", f"user.{alice.pk}"}
    assert listed["handshake"]["query"] == {"EIO": "4", "transport": "websocket"}
    assert "authorization" not in listed["handshake"]["headers"]
    assert isinstance(listed["handshake"]["issued"], int)
    assert len(listed["clientId"]) == 12

    stats = await admin.wait_for("server_stats")
    assert stats["serverId"] == "instance-one"
    assert stats["clientsCount"] == 2  # the user's session and the admin's
    assert stats["pollingClientsCount"] == 0
    assert {"name": "/", "socketsCount": 1} in stats["namespaces"]
    assert {"name": "/admin", "socketsCount": 1} in stats["namespaces"]
    assert set(stats) >= {"hostname", "pid", "uptime", "aggregatedEvents"}


async def test_live_connects_rooms_events_and_disconnects(
    served: Served, make_user: MakeUser, make_room: MakeRoom, admins: list[AdminClient]
) -> None:
    alice, bob = await make_user(), await make_user()
    public = await make_room(bob, [], name="Lobby", is_public=True)
    lobby = f"room.{public.pk}"
    admin = await login(served.app, admins)
    await admin.wait_for("all_sockets")

    user_socket = await served.connect(alice)
    sid = user_socket.sid
    connected, at = await admin.wait_until("socket_connected", lambda a: a[0]["id"] == sid)
    assert connected["data"]["username"] == alice.username
    assert at.endswith("Z")

    ok(await user_socket.emit("join-room", public.pk))
    await admin.wait_until("room_joined", lambda a: a[1:3] == [lobby, sid])
    received = await admin.wait_until("event_received", lambda a: a[1] == sid)
    assert received[0] == "/"
    assert received[2] == ["join-room", public.pk]

    sent = ok(await user_socket.emit("send-message", {"roomId": public.pk, "content": "hello"}))

    def is_the_message(args: Args) -> bool:
        return bool(args[1] == sid and args[2][:1] == ["message-received"])

    message = await admin.wait_until("event_sent", is_the_message)
    assert message[2][1]["id"] == sent["id"]

    ok(await user_socket.emit("leave-room", public.pk))
    await admin.wait_until("room_left", lambda a: a[1:3] == [lobby, sid])

    await user_socket.disconnect()
    gone = await admin.wait_until("socket_disconnected", lambda a: a[1] == sid)
    assert gone[0] == "/"
    assert "close" in gone[2]  # the namespace's reason, as its own log has it
    await admin.wait_until("room_left", lambda a: a[1:3] == [sid, sid])  # its private room
    await admin.wait_until("room_left", lambda a: a[1:3] == [f"user.{alice.pk}", sid])

    def counted_events(args: Args) -> bool:
        return any(record["type"] == "packetsIn" for record in args[0]["aggregatedEvents"])

    (stats,) = await admin.wait_until("server_stats", counted_events)
    kinds = {record["type"] for record in stats["aggregatedEvents"]}
    assert {"packetsIn", "bytesIn"} <= kinds


async def test_secrets_in_event_arguments_are_redacted(
    served: Served, make_user: MakeUser, admins: list[AdminClient]
) -> None:
    alice = await make_user()
    admin = await login(served.app, admins)
    await admin.wait_for("all_sockets")
    user_socket = await served.connect(alice)
    token = await token_for(alice)
    ok(await user_socket.emit("auth:refresh", {"token": token}))
    received = await admin.wait_until("event_received", lambda a: a[2][0] == "auth:refresh")
    assert received[2] == ["auth:refresh", {"token": "[redacted]"}]
    assert token not in str(admin.events)


async def test_nobody_watching_makes_no_records(served: Served, make_user: MakeUser) -> None:
    user_socket = await served.connect(await make_user())
    ok(await user_socket.emit("presence:update", {"status": "away"}))
    assert served.service.watching is False
    assert served.service._records == []
    assert served.service.counts.packets_in >= 1  # counted, nothing else


# -- actions --------------------------------------------------------------------------------


async def test_disconnect_a_socket_and_every_socket_of_a_room(
    served: Served, make_user: MakeUser, make_room: MakeRoom, admins: list[AdminClient]
) -> None:
    alice, bob, carol = await make_user(), await make_user(), await make_user()
    room = await make_room(alice, [bob])
    a, b, c = [await served.connect(user) for user in (alice, bob, carol)]
    admin = await login(served.app, admins)
    await admin.wait_for("all_sockets")

    # As the UI sends it: no ack callback.
    await admin.emit("_disconnect", "/", False, c.sid)
    ended = await admin.wait_until("socket_disconnected", lambda args: args[1] == c.sid)
    assert ended[2] == "server namespace disconnect"

    reply = await admin.emit_with_ack("_disconnect", "/", True, f"room.{room.pk}")
    assert reply == {"ok": True, "data": {}}
    for user_socket in (a, b):
        sid = user_socket.sid
        await admin.wait_until("socket_disconnected", ended_for(sid))
        await asyncio.wait_for(user_socket.closed.wait(), 5)  # close=true: the transport too


@pytest.mark.parametrize("event", ["join", "leave", "_join", "_leave", "emit"])
async def test_join_leave_and_emit_are_refused(
    served: Served, make_user: MakeUser, admins: list[AdminClient], event: str
) -> None:
    user_socket = await served.connect(await make_user())
    admin = await login(served.app, admins)
    await admin.wait_for("all_sockets")
    args: Args = ["/", None, "x", {}] if event == "emit" else ["/", "room.1", user_socket.sid]
    reply = await admin.emit_with_ack(event, *args)
    assert reply["ok"] is False
    assert reply["error"]["code"] == "forbidden"
    await admin.emit(event, *args)  # without an ack: an `error` event
    assert (await admin.wait_for("error"))["event"] == event
    assert not user_socket.closed.is_set()


async def test_disconnect_needs_a_known_namespace_and_a_target(
    served: Served, make_user: MakeUser, admins: list[AdminClient]
) -> None:
    user_socket = await served.connect(await make_user())
    admin = await login(served.app, admins)
    reply = await admin.emit_with_ack("_disconnect", "/", False)
    assert reply["error"]["code"] == "validation_error"
    reply = await admin.emit_with_ack("_disconnect", "/nope", False, user_socket.sid)
    assert reply["error"]["code"] == "validation_error"
    await settle()
    assert not user_socket.closed.is_set()


async def test_read_only_offers_and_accepts_no_action(
    admin_settings: Callable[..., None], make_user: MakeUser, admins: list[AdminClient]
) -> None:
    admin_settings(ADMIN_UI_READONLY=True)
    readonly = serve()
    try:
        assert readonly.service.namespace.actions == {}  # not even registered
        user_socket = await readonly.connect(await make_user())
        admin = await login(readonly.app, admins)
        assert await admin.wait_for("config") == {"supportedFeatures": READONLY}
        reply = await admin.emit_with_ack("_disconnect", "/", False, user_socket.sid)
        assert reply["ok"] is False
        assert reply["error"]["code"] == "forbidden"
        await settle(0.3)
        assert ok(await user_socket.emit("presence:update", {"status": "away"}))
    finally:
        await readonly.harness.close()


# -- two instances -----------------------------------------------------------------------------


async def test_two_instances_on_one_channel_layer(
    admin_settings: Callable[..., None], make_user: MakeUser, admins: list[AdminClient]
) -> None:
    """Two servers with hubs of their own on the test's channel layer, as two processes on
    Redis: the UI on the first sees both, the second's sockets, and closes one of them."""
    admin_settings()
    recovery = RoomEventRecovery()
    one, two = serve("instance-one", recovery), serve("instance-two", recovery)
    try:
        early = await two.connect(await make_user())  # before the UI: in all_sockets
        await two.service.ready()  # as its startup (banter/wiring.py) would have it
        admin = await login(one.app, admins)
        (listed,) = await admin.wait_for("all_sockets")
        assert listed["id"] == early.sid
        assert listed["data"]["serverId"] == "instance-two"
        for name in ("instance-one", "instance-two"):
            await admin.wait_until("server_stats", stats_of(name))

        late = await two.connect(await make_user())
        await admin.wait_until("socket_connected", lambda a: a[0]["id"] == late.sid)
        ok(await late.emit("presence:update", {"status": "busy"}))

        def presence_of_late(args: Args) -> bool:
            return bool(args[1] == late.sid and args[2][0] == "presence:update")

        await admin.wait_until("event_received", presence_of_late)
        await admin.emit("_disconnect", "/", False, late.sid)
        await admin.wait_until("socket_disconnected", lambda a: a[1] == late.sid)
        assert not early.closed.is_set()
    finally:
        await two.harness.close()
        await one.harness.close()
