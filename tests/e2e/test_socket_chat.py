"""The chat vertical slice with the real python-socketio client against a live server."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt
import pytest
import socketio

from tests.e2e.client import RecordingClient, RestClient, connect
from tests.live_server import LiveServer

pytestmark = pytest.mark.e2e

TRANSPORTS = [
    pytest.param(["websocket"], id="websocket"),
    pytest.param(["polling", "websocket"], id="polling-upgrade"),
    pytest.param(["polling"], id="polling-only"),
]


async def connect_error(url: str, token: str | None, **kwargs) -> dict:
    """Connect expecting refusal; return the CONNECT_ERROR data."""
    client = socketio.AsyncClient(reconnection=False)
    errors: asyncio.Queue = asyncio.Queue()
    client.on("connect_error", lambda data: errors.put_nowait(data))
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(
            url,
            auth={"token": token} if token else None,
            transports=["websocket"],
            wait_timeout=5,
            **kwargs,
        )
    error = await asyncio.wait_for(errors.get(), 5)
    assert error["message"]  # python-socketio hands over the whole {message, data} body
    return dict(error["data"])


@pytest.mark.parametrize("transports", TRANSPORTS)
async def test_message_reaches_room_member_and_sender_gets_stored_message(
    banter_server: LiveServer, rest: RestClient, transports: list[str]
) -> None:
    alice, bob = rest.register("alice"), rest.register("bob")
    room = rest.create_room(alice, "pair", [bob])
    a = await connect(banter_server.url, alice.access, transports)
    b = await connect(banter_server.url, bob.access, transports)
    try:
        ack = await a.call(
            "send-message", {"roomId": room["id"], "content": "hello bob", "clientId": "c-1"}
        )
        assert ack["ok"] is True
        stored = ack["data"]
        assert stored["content"] == "hello bob"
        assert stored["seq"] == 1
        assert stored["user"]["id"] == alice.id
        received = await b.wait_for("message-received")
        assert received == stored
        # The sender's own socket hears the broadcast too (its other devices would).
        assert await a.wait_for("message-received") == stored
        history = rest.call("GET", f"/api/rooms/{room['id']}/messages", token=bob.access)
        assert [m["id"] for m in history["results"]] == [stored["id"]]
    finally:
        await a.disconnect()
        await b.disconnect()


async def test_repeated_client_id_returns_original_without_second_broadcast(
    banter_server: LiveServer, rest: RestClient
) -> None:
    alice, bob = rest.register("alice"), rest.register("bob")
    room = rest.create_room(alice, "idem", [bob])
    a, b = (
        await connect(banter_server.url, alice.access),
        await connect(banter_server.url, bob.access),
    )
    try:
        payload = {"roomId": room["id"], "content": "once", "clientId": "retry-1"}
        first, second = await a.call("send-message", payload), await a.call("send-message", payload)
        assert first["data"]["id"] == second["data"]["id"]
        await b.wait_for("message-received")
        await a.call("send-message", {"roomId": room["id"], "content": "after"})
        assert (await b.wait_for("message-received", skip=1))["content"] == "after"
        assert [m["content"] for m in b.received("message-received")] == ["once", "after"]
    finally:
        await a.disconnect()
        await b.disconnect()


async def test_bad_tokens_get_connect_error_codes(
    banter_server: LiveServer, rest: RestClient
) -> None:
    url = banter_server.url
    assert (await connect_error(url, None))["code"] == "auth_required"
    assert (await connect_error(url, "not-a-jwt"))["code"] == "token_invalid"
    user = rest.register("expired")
    now = int(time.time())
    claims = {
        "token_type": "access",
        "user_id": str(user.id),
        "jti": "x",
        "aud": "banter",
        "iss": "banter",
        "iat": now - 120,
        "exp": now - 60,
    }
    expired = jwt.encode(claims, "e2e-jwt-signing-key-not-for-production-987", algorithm="HS256")
    assert (await connect_error(url, expired))["code"] == "token_expired"
    wrong_key = jwt.encode({**claims, "exp": now + 600}, "another-key", algorithm="HS256")
    assert (await connect_error(url, wrong_key))["code"] == "token_invalid"
    assert (await connect_error(url, user.refresh))["code"] == "token_invalid"


async def test_token_in_authorization_header_not_query(
    banter_server: LiveServer, rest: RestClient
) -> None:
    user = rest.register("hdr")
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(
        banter_server.url,
        headers={"Authorization": f"Bearer {user.access}"},
        transports=["websocket"],
        wait_timeout=5,
    )
    assert client.connected
    await client.disconnect()
    # ?token= only with the deprecated ALLOW_QUERY_TOKEN (tests/realtime/test_query_token.py).
    data = await connect_error(f"{banter_server.url}?token={user.access}", None)
    assert data["code"] == "auth_required"


async def test_disallowed_origin_is_refused(banter_server: LiveServer, rest: RestClient) -> None:
    user = rest.register("origin")
    data = await connect_error(
        banter_server.url, user.access, headers={"Origin": "http://evil.example"}
    )
    assert data["code"] == "origin_not_allowed"


async def test_unknown_event_and_bad_payloads_get_error_acks(
    banter_server: LiveServer, rest: RestClient
) -> None:
    alice, carol = rest.register("alice"), rest.register("carol")
    room = rest.create_room(alice, "private", [])
    a = await connect(banter_server.url, alice.access)
    c = await connect(banter_server.url, carol.access)
    try:
        unknown = await a.call("no-such-event", {})
        assert unknown["ok"] is False and unknown["error"]["code"] == "not_found"
        empty = await a.call("send-message", {"roomId": room["id"], "content": "   "})
        assert empty["error"]["code"] == "validation_error"
        wrong_type = await a.call("send-message", "not an object")
        assert wrong_type["error"]["code"] == "validation_error"
        huge = await a.call("send-message", {"roomId": room["id"], "content": "x" * 70_000})
        assert huge["error"]["code"] == "payload_too_large"
        forbidden = await c.call("send-message", {"roomId": room["id"], "content": "let me in"})
        assert forbidden["error"]["code"] == "forbidden"
        assert (await c.call("join-room", room["id"]))["error"]["code"] == "forbidden"
        missing = await a.call("send-message", {"roomId": 999_999, "content": "x"})
        assert missing["error"]["code"] == "not_found"
        # Without an ack callback the failure arrives as an `error` event.
        await c.client.emit("send-message", {"roomId": room["id"], "content": "no ack"})
        error = await c.wait_for("error")
        assert error["code"] == "forbidden" and error["event"] == "send-message"
        history = rest.call("GET", f"/api/rooms/{room['id']}/messages", token=alice.access)
        assert history["results"] == []
    finally:
        await a.disconnect()
        await c.disconnect()


async def test_join_public_room_subscribes_and_announces(
    banter_server: LiveServer, rest: RestClient
) -> None:
    alice, dave = rest.register("alice"), rest.register("dave")
    room = rest.create_room(alice, "lobby", [], is_public=True)
    a, d = (
        await connect(banter_server.url, alice.access),
        await connect(banter_server.url, dave.access),
    )
    try:
        joined = await d.call("join-room", room["id"])
        assert joined["ok"] is True and joined["data"]["room"]["id"] == room["id"]
        announced = await a.wait_for("user-joined-room")
        assert announced["roomId"] == room["id"] and announced["user"]["id"] == dave.id
        await a.call("send-message", {"roomId": room["id"], "content": "welcome"})
        assert (await d.wait_for("message-received"))["content"] == "welcome"
        left = await d.call("leave-room", room["id"])
        assert left == {"ok": True, "data": {"roomId": room["id"]}}
        assert (await a.wait_for("user-left-room"))["userId"] == dave.id
        await a.call("send-message", {"roomId": room["id"], "content": "gone?"})
        await a.wait_for("message-received", skip=1)
        await asyncio.sleep(0.3)
        assert [m["content"] for m in d.received("message-received")] == ["welcome"]
    finally:
        await a.disconnect()
        await d.disconnect()


async def test_rest_membership_change_moves_live_sockets(
    banter_server: LiveServer, rest: RestClient
) -> None:
    alice, erin = rest.register("alice"), rest.register("erin")
    room = rest.create_room(alice, "later", [])
    e = await connect(banter_server.url, erin.access)
    try:
        rest.call(
            "POST", f"/api/rooms/{room['id']}/members", {"userId": erin.id}, token=alice.access
        )
        await asyncio.sleep(0.3)  # the subscribe control message crosses the channel layer
        rest.call(
            "POST",
            f"/api/rooms/{room['id']}/messages",
            {"content": "over rest"},
            token=alice.access,
        )
        assert (await e.wait_for("message-received"))["content"] == "over rest"
    finally:
        await e.disconnect()


async def test_logout_closes_the_users_sockets(banter_server: LiveServer, rest: RestClient) -> None:
    user = rest.register("leaving")
    s = await connect(banter_server.url, user.access)
    disconnected = asyncio.Event()
    s.client.on("disconnect", lambda *args: disconnected.set())
    rest.call("POST", "/api/auth/logout", {"refresh": user.refresh}, token=user.access)
    error = await s.wait_for("error")
    assert error["code"] == "unauthorized" and error["details"]["reason"] == "logout"
    await asyncio.wait_for(disconnected.wait(), 5)
    assert not s.client.connected


async def test_handler_failure_keeps_connection(
    banter_server: LiveServer, rest: RestClient
) -> None:
    alice = rest.register("alice")
    room = rest.create_room(alice, "solo", [])
    a: RecordingClient = await connect(banter_server.url, alice.access)
    try:
        bad_ids: list[dict[str, Any]] = [
            {"roomId": "1; drop table"},
            {"roomId": [1]},
            {"roomId": 2**70},
            {"roomId": None},
        ]
        for payload in bad_ids:
            result = await a.call("send-message", {**payload, "content": "x"})
            assert result["ok"] is False
            assert result["error"]["code"] in {"validation_error", "not_found"}
        ok = await a.call("send-message", {"roomId": room["id"], "content": "still here"})
        assert ok["ok"] is True
    finally:
        await a.disconnect()


def _token(user_id: int, lifetime: float) -> str:
    now = time.time()
    claims = {
        "token_type": "access",
        "user_id": str(user_id),
        "jti": f"j{now}",
        "aud": "banter",
        "iss": "banter",
        "iat": int(now),
        "exp": int(now + lifetime),
    }
    return jwt.encode(claims, "e2e-jwt-signing-key-not-for-production-987", algorithm="HS256")


async def test_expiring_token_is_warned_and_refresh_extends(
    banter_server: LiveServer, rest: RestClient
) -> None:
    # The e2e server warns 2 s before exp and allows a 1 s grace (server_env).
    user = rest.register("refresher")
    s = await connect(banter_server.url, _token(user.id, 3))
    try:
        warning = await s.wait_for("auth:expiring", timeout=5)
        assert warning["exp"] > time.time() - 1
        fresh = _token(user.id, 600)
        result = await s.call("auth:refresh", {"token": fresh})
        assert result["ok"] is True and result["data"]["exp"] > time.time() + 500
        other = rest.register("other")
        stolen = await s.call("auth:refresh", {"token": _token(other.id, 600)})
        assert stolen["error"]["code"] == "forbidden"
        await asyncio.sleep(3)
        assert s.client.connected and s.received("error") == []
    finally:
        await s.disconnect()


async def test_expired_socket_is_disconnected_after_grace(
    banter_server: LiveServer, rest: RestClient
) -> None:
    user = rest.register("expiring")
    s = await connect(banter_server.url, _token(user.id, 2))
    disconnected = asyncio.Event()
    s.client.on("disconnect", lambda *args: disconnected.set())
    error = await s.wait_for("error", timeout=6)
    assert error["code"] == "token_expired"
    await asyncio.wait_for(disconnected.wait(), 5)
