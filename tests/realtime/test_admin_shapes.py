"""What the Admin UI is shown (banter/realtime/admin_shapes.py): pure, table-driven."""

from __future__ import annotations

import json
from typing import Any

import pytest

from banter.realtime.admin_shapes import (
    MAX_ITEMS,
    MAX_STRING,
    REDACTED,
    EventCounts,
    SocketFacts,
    admin_frame,
    client_id,
    event_record,
    iso,
    redact,
    safe_headers,
    safe_query,
    sent_frame_payload,
    serialize_socket,
)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ({"token": "eyJ.abc"}, {"token": REDACTED}),
        (
            {"accessToken": "x", "refresh_token": "y"},
            {"accessToken": REDACTED, "refresh_token": REDACTED},
        ),
        ({"Password": "p", "clientSecret": "s"}, {"Password": REDACTED, "clientSecret": REDACTED}),
        ({"callId": 4, "signal": {"sdp": "v=0 a=ice-pwd:x"}}, {"callId": 4, "signal": REDACTED}),
        (
            {"media": {"token": "agora", "channel": "c"}},
            {"media": {"token": REDACTED, "channel": "c"}},
        ),
        ([{"token": "a"}, 1, None, True], [{"token": REDACTED}, 1, None, True]),
        ({"roomId": 1, "content": "hi"}, {"roomId": 1, "content": "hi"}),
        ("short", "short"),
        (7, 7),
        (b"\x00\x01", "[2 bytes]"),
    ],
)
def test_redact(value: Any, shown: Any) -> None:
    assert redact(value) == shown


def test_redact_bounds_strings_lists_and_depth() -> None:
    long = "x" * (MAX_STRING + 50)
    assert redact(long) == "x" * MAX_STRING + f"… ({MAX_STRING + 50} chars)"
    items = redact(list(range(MAX_ITEMS + 5)))
    assert items[:MAX_ITEMS] == list(range(MAX_ITEMS))
    assert items[-1] == "… 5 more items"
    nested: Any = "bottom"
    for _ in range(10):
        nested = {"a": nested}
    depth = 0
    shown = redact(nested)
    while isinstance(shown, dict):
        shown = shown["a"]
        depth += 1
    assert shown == "[…]"
    assert depth < 10


def test_headers_and_query_lose_what_authenticates() -> None:
    headers = {
        "authorization": "Bearer t",
        "cookie": "sessionid=1",
        "x-auth-token": "t",
        "user-agent": "node",
        "x-forwarded-for": "10.0.0.1",
    }
    assert safe_headers(headers) == {"user-agent": "node", "x-forwarded-for": "10.0.0.1"}
    query = {"EIO": "4", "transport": "polling", "token": "t", "access_token": "t"}
    assert safe_query(query) == {"EIO": "4", "transport": "polling"}


def test_client_id_is_stable_short_and_not_the_session_id() -> None:
    engine_sid = "abcdefghijklmnopqrst"
    assert client_id(engine_sid) == client_id(engine_sid)
    assert len(client_id(engine_sid)) == 12
    assert client_id(engine_sid) not in engine_sid
    assert client_id("other") != client_id(engine_sid)


@pytest.mark.parametrize(
    ("timestamp", "text"),
    [
        (0.0, "1970-01-01T00:00:00.000Z"),
        (1_700_000_000.123456, "2023-11-14T22:13:20.123Z"),
    ],
)
def test_iso_is_javascripts_to_iso_string(timestamp: float, text: str) -> None:
    assert iso(timestamp) == text


def test_serialized_socket_has_the_fields_the_ui_reads() -> None:
    facts = SocketFacts(
        sid="sock1",
        engine_sid="engine-session-id-000",
        namespace="/",
        transport="polling",
        client_ip="10.1.2.3",
        headers={"user-agent": "ua", "authorization": "Bearer x"},
        query={"EIO": "4", "transport": "polling", "token": "t"},
        origin="https://app.example.com",
        issued=1_700_000_000.5,
        groups=("user.1", "room.9"),
        data={"userId": 1, "username": "alice", "serverId": "host-1"},
    )
    assert serialize_socket(facts) == {
        "id": "sock1",
        "clientId": client_id("engine-session-id-000"),
        "transport": "polling",
        "nsp": "/",
        "data": {"userId": 1, "username": "alice", "serverId": "host-1"},
        "handshake": {
            "address": "10.1.2.3",
            "headers": {"user-agent": "ua"},
            "query": {"EIO": "4", "transport": "polling"},
            "issued": 1_700_000_000_500,
            "time": "2023-11-14T22:13:20.500Z",
            "url": "/socket.io/?EIO=4&transport=polling",
            "xdomain": True,
        },
        "rooms": ["sock1", "room.9", "user.1"],
    }


def test_admin_frames_are_events_of_the_admin_namespace() -> None:
    frame = admin_frame("room_joined", "/", "room.1", "sock1", "2023-11-14T22:13:20.500Z")
    assert frame.startswith('42/admin,["room_joined",')
    assert json.loads(frame[len("42/admin,") :])[1:3] == ["/", "room.1"]


def test_event_records_are_redacted_and_bounded() -> None:
    frame = event_record("event_received", "/", "s1", ["auth:refresh", {"token": "t"}], 0.0)
    assert json.loads(frame[len("42/admin,") :]) == [
        "event_received",
        "/",
        "s1",
        ["auth:refresh", {"token": REDACTED}],
        "1970-01-01T00:00:00.000Z",
    ]
    wide = {f"k{i}": "v" * MAX_STRING for i in range(MAX_ITEMS)}
    big = json.loads(event_record("event_sent", "/", "s1", ["bulk", wide], 0.0)[9:])
    assert big[3][0] == "bulk"
    assert big[3][1].endswith(" bytes]")


@pytest.mark.parametrize(
    ("frame", "payload"),
    [
        ('42["message-received",{"id":1},"17"]', ["message-received", {"id": 1}, "17"]),
        ('42/other,["x"]', None),
        ("42[", None),
        ("42[]", None),
        ("2", None),
    ],
)
def test_sent_frame_payload(frame: str, payload: list[Any] | None) -> None:
    assert sent_frame_payload(frame) == payload


def test_event_counts_become_aggregated_events_and_reset() -> None:
    counts = EventCounts()
    counts.connections += 2
    counts.disconnections["transport close"] = 1
    counts.packets_in += 3
    counts.bytes_in += 300
    counts.packets_out += 1
    records = counts.take(now=1_700_000_000.9)
    assert records == [
        {"timestamp": 1_700_000_000_000, "type": "rawConnection", "count": 2},
        {
            "timestamp": 1_700_000_000_000,
            "type": "rawDisconnection",
            "count": 1,
            "subType": "transport close",
        },
        {"timestamp": 1_700_000_000_000, "type": "packetsIn", "count": 3},
        {"timestamp": 1_700_000_000_000, "type": "bytesIn", "count": 300},
        {"timestamp": 1_700_000_000_000, "type": "packetsOut", "count": 1},
    ]
    assert counts.take() == []
