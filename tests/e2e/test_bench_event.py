"""`bench:send` (chat/bench.py): a room broadcast without the database, only with BENCH_EVENTS=1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.client import Clients, RestClient
from tests.e2e.conftest import start_banter
from tests.e2e.test_chat_events import error_code, ok, settle
from tests.live_server import LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def bench_server(
    e2e_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    server = start_banter(
        e2e_database, tmp_path_factory.mktemp("bench-logs"), "bench", BENCH_EVENTS="1"
    )
    yield server
    server.stop()


async def test_bench_send_reaches_the_room_and_stores_nothing(bench_server: LiveServer) -> None:
    api = RestClient(bench_server.url)
    alice, bob, eve = api.register("alice"), api.register("bob"), api.register("eve")
    room = api.create_room(alice, "bench", [bob])
    clients = Clients(bench_server.url)
    try:
        a, b, e = [await clients.connect(user) for user in (alice, bob, eve)]
        payload = {"roomId": room["id"], "text": "hi", "sentAt": 1234.5}
        ok(await a.call("bench:send", payload))
        expected = {"roomId": room["id"], "userId": alice.id, "text": "hi", "sentAt": 1234.5}
        assert await b.wait_for("bench:message") == expected
        assert await a.wait_for("bench:message") == expected  # the whole room, sender too
        await settle()
        assert e.received("bench:message") == []
        assert error_code(await e.call("bench:send", payload)) == "forbidden"
        assert (
            error_code(await a.call("bench:send", {**payload, "sentAt": "x"})) == "validation_error"
        )
        assert error_code(await a.call("bench:send", {"roomId": room["id"]})) == "validation_error"
        history = api.call("GET", f"/api/rooms/{room['id']}/messages", token=bob.access)
        assert history["results"] == []
    finally:
        await clients.close()


async def test_without_the_setting_there_is_no_bench_event(banter_server: LiveServer) -> None:
    api = RestClient(banter_server.url)
    alice = api.register("alice")
    room = api.create_room(alice, "no-bench", [])
    clients = Clients(banter_server.url)
    try:
        a = await clients.connect(alice)
        ack = await a.call("bench:send", {"roomId": room["id"], "text": "hi"})
        assert error_code(ack) == "not_found" and ack["error"]["details"] == {"event": "bench:send"}
    finally:
        await clients.close()
