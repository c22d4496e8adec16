"""Paid calls and Agora tokens end to end with the real python-socketio client: billed,
refused, cut off when the coins run out, billed once after a kill -9; the ledger checked by
`manage.py wallet_check` on the servers' own database at the end.

Per-second billing at 60 coins a minute (a coin a second) keeps the cut-off to seconds.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

from calls.agora_token import AccessToken2
from tests.e2e.client import Clients, RestClient, User, connect
from tests.e2e.conftest import ROOT, fresh_database, instance_pair, server_env, start_banter
from tests.e2e.test_calls import friends
from tests.e2e.test_chat_events import error_code, ok, settle
from tests.live_server import LiveServer
from tests.services import require_redis

pytestmark = pytest.mark.e2e

APP_ID = "970CA35de60c44645bbae8a215061b33"
CERTIFICATE = "5CFd2fd1755d40ecb72977518be15d3b"
PRICE = 60  # coins a minute: one a second
PAID_SETTINGS = {
    "CALL_RING_TIMEOUT": "10",
    "CALL_DROP_GRACE": "1",
    "CALL_SWEEP_INTERVAL": "0.2",
    "CALL_BILLING": "second",
    "CALL_BALANCE_WARNING": "2",
    "CALL_PLATFORM_FEE_PERCENT": "20",
}


def manage(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A management command against the servers' database, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=server_env(database, 0),
        capture_output=True,
        text=True,
        timeout=120,
    )


def credit(database: str, user: User, amount: int) -> None:
    done = manage(database, "wallet_credit", user.username, str(amount))
    assert done.returncode == 0, done.stderr


def assert_ledger_consistent(database: str) -> None:
    done = manage(database, "wallet_check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ledger consistent" in done.stdout


def wallet(api: RestClient, user: User) -> dict[str, int]:
    return api.call("GET", "/api/wallet", token=user.access)


def set_price(api: RestClient, user: User, price: int) -> None:
    api.call("PATCH", "/api/wallet", {"pricePerMinute": price}, token=user.access)


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of this module's own, so wallet_check sees only these calls."""
    with fresh_database(tmp_path_factory.mktemp("paid-calls-db")) as url:
        yield url


@pytest.fixture(scope="module")
def server(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    logs = tmp_path_factory.mktemp("paid-call-logs")
    server = start_banter(database, logs, "paid-calls", **PAID_SETTINGS)
    yield server
    server.stop()
    assert_ledger_consistent(database)


@pytest.fixture(scope="module")
def agora_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """On a database of its own: two embedded-default servers on one database would each
    sweep the other's calls, and announce the result only to their own sockets."""
    with fresh_database(tmp_path_factory.mktemp("agora-calls-db")) as database:
        logs = tmp_path_factory.mktemp("agora-call-logs")
        server = start_banter(
            database,
            logs,
            "agora-calls",
            **PAID_SETTINGS,
            AGORA_APP_ID=APP_ID,
            AGORA_APP_CERTIFICATE=CERTIFICATE,
            CALL_MAX_DURATION="3600",
        )
        yield server
        server.stop()


@pytest.fixture
def api(server: LiveServer) -> RestClient:
    return RestClient(server.url)


@pytest.fixture
async def clients(server: LiveServer) -> Any:
    group = Clients(server.url)
    yield group
    await group.close()


class Background:
    """A scenario on its own thread and event loop, running while the module's other tests
    do: the cut-off needs a minute of call, and nothing else in this module has to wait."""

    def __init__(self, scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(scenario,), daemon=True)
        self.thread.start()

    def _run(self, scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
        try:
            asyncio.run(scenario())
        except BaseException as error:
            self.error = error

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the scenario still runs after {timeout} s"
        if self.error is not None:
            raise self.error


async def coins_run_out(url: str, database: str) -> None:
    """A paid call needs its first minute up front, so the shortest cut-off is a minute
    away: 62 coins at a coin a second, warned 2 s before the end."""
    api = RestClient(url)
    dave, bob = friends(api, "dave", "bob")
    set_price(api, bob, PRICE)
    credit(database, dave, 62)
    group = Clients(url)
    try:
        d, b = await group.connect(dave), await group.connect(bob)
        call = ok(await d.call("call:initiate", {"receiverId": bob.id, "callType": "audio"}))
        await b.wait_for("call:incoming")
        ok(await b.call("call:accept", {"callId": call["id"]}))
        answered = asyncio.get_running_loop().time()

        warning = await d.wait_for("call:balance-low", timeout=80)
        warned_after = asyncio.get_running_loop().time() - answered
        assert warning["callId"] == call["id"] and warning["balance"] == 62
        # Due at 60 s; the other tests share the machine, so allow the sweeper a late round.
        assert 0 <= warning["secondsLeft"] <= 2 and 58 <= warned_after <= 64, warned_after

        ended = await d.wait_for("call:ended", timeout=20)
        assert ended["reason"] == "insufficient_funds" and ended["callId"] == call["id"]
        # Ended at the deadline, however late the sweeper came: exactly what was paid for.
        assert (ended["duration"], ended["cost"]) == (62, 62)
        assert (await b.wait_for("call:ended"))["reason"] == "insufficient_funds"
        assert b.received("call:balance-low") == []  # the caller's business only
        assert wallet(api, dave)["balance"] == 0
        again = await d.call("call:initiate", {"receiverId": bob.id, "callType": "audio"})
        assert error_code(again) == "insufficient_funds"
    finally:
        await group.close()


@pytest.fixture(scope="module", autouse=True)
def running_out(server: LiveServer, database: str) -> Background:
    """Started with the module's first test, checked by its last."""
    return Background(lambda: coins_run_out(server.url, database))


async def test_a_paid_call_is_billed_once_to_both_wallets(
    api: RestClient, clients: Clients, database: str
) -> None:
    alice, bob = friends(api, "alice", "bob")
    credit(database, alice, 100)
    set_price(api, bob, PRICE)
    a, b = await clients.connect(alice), await clients.connect(bob)

    call = ok(await a.call("call:initiate", {"receiverId": bob.id, "callType": "audio"}))
    assert call["pricePerMinute"] == PRICE and call["media"] == "webrtc"
    assert call["call"]["id"] == call["callId"] == call["id"] and call["token"] is None
    assert (await a.wait_for("call:initiated"))["callId"] == call["id"]
    incoming = await b.wait_for("call:incoming")
    assert incoming["call"]["callId"] == call["id"] and incoming["pricePerMinute"] == PRICE
    ok(await b.call("call:accept", {"callId": call["id"]}))
    await a.wait_for("call:accepted")
    await asyncio.sleep(2.2)

    ended = ok(await a.call("call:end", {"callId": call["id"]}))
    assert ended["reason"] == "hangup" and 2 <= ended["duration"] <= 4
    assert ended["billedSeconds"] == ended["duration"] and ended["cost"] == ended["duration"]
    seen_by_bob = await b.wait_for("call:ended")
    assert (seen_by_bob["cost"], seen_by_bob["reason"]) == (ended["cost"], "hangup")

    cost = ended["cost"]
    fee = cost * 20 // 100
    assert wallet(api, alice) == {"balance": 100 - cost, "pricePerMinute": 0}
    assert wallet(api, bob) == {"balance": cost - fee, "pricePerMinute": PRICE}
    ledger = api.call("GET", "/api/wallet/ledger", token=alice.access)["results"]
    charges = [e for e in ledger if e["callId"] == call["id"]]
    assert [(e["kind"], e["amount"]) for e in charges] == [("call_charge", -cost)]
    stored = api.call("GET", f"/api/calls/{call['id']}", token=bob.access)
    assert (stored["cost"], stored["billedSeconds"], stored["endReason"]) == (
        cost,
        ended["duration"],
        "hangup",
    )


async def test_a_call_the_caller_cannot_pay_is_refused(
    api: RestClient, clients: Clients, database: str
) -> None:
    carol, bob = friends(api, "carol", "bob")
    set_price(api, bob, PRICE)
    credit(database, carol, PRICE - 1)  # one coin short of the first minute
    c, b = await clients.connect(carol), await clients.connect(bob)
    ack = await c.call("call:initiate", {"receiverId": bob.id, "callType": "video"})
    assert error_code(ack) == "insufficient_funds"
    assert ack["error"]["details"] == {"balance": PRICE - 1, "pricePerMinute": PRICE}
    # Without an ack callback (the seed's clients): `error`, and the seed's `call:error`.
    await c.client.emit("call:initiate", {"receiverId": bob.id, "callType": "video"})
    seed_error = await c.wait_for("call:error")
    assert seed_error["code"] == "insufficient_funds" and seed_error["event"] == "call:initiate"
    assert seed_error["error"] == seed_error["message"]
    assert (await c.wait_for("error"))["code"] == "insufficient_funds"
    await settle()
    assert b.received("call:incoming") == [] and c.received("call:initiated") == []
    assert api.call("GET", "/api/calls", token=carol.access)["results"] == []
    assert wallet(api, carol)["balance"] == PRICE - 1

    set_price(api, bob, 0)  # free again: the same caller gets through
    call = ok(await c.call("call:initiate", {"receiverId": bob.id, "callType": "video"}))
    await b.wait_for("call:incoming")
    ok(await c.call("call:cancel", {"callId": call["id"]}))


async def test_agora_calls_carry_each_sides_token_and_refresh_it(
    agora_server: LiveServer, server: LiveServer
) -> None:
    api = RestClient(agora_server.url)
    alice, erin = friends(api, "alice", "erin")
    group = Clients(agora_server.url)
    try:
        a, e = await group.connect(alice), await group.connect(erin)
        call = ok(await a.call("call:initiate", {"receiverId": erin.id, "callType": "video"}))
        assert call["media"] == "agora" and call["appId"] == APP_ID
        assert call["uid"] == alice.id and call["channel"].startswith("banter-")
        initiated = await a.wait_for("call:initiated")
        incoming = await e.wait_for("call:incoming")
        for payload, user in ((call, alice), (initiated, alice), (incoming, erin)):
            [rtc] = AccessToken2.parse(payload["token"]).services
            assert (rtc.channel_name, rtc.uid) == (call["channel"], user.id)
        assert incoming["call"]["callId"] == call["id"] and incoming["uid"] == erin.id

        accepted = ok(await e.call("call:accept", {"callId": call["id"]}))
        [rtc] = AccessToken2.parse(accepted["token"]).services
        assert (rtc.channel_name, rtc.uid) == (call["channel"], erin.id)
        await asyncio.sleep(1.1)  # a token's issue time is in seconds
        fresh = ok(await a.call("call:token-refresh", {"callId": call["id"]}))
        assert fresh["token"] != call["token"] and fresh["channel"] == call["channel"]
        parsed = AccessToken2.parse(fresh["token"])
        assert parsed.issue_ts > AccessToken2.parse(call["token"]).issue_ts
        ok(await a.call("call:end", {"callId": call["id"]}))
        assert error_code(await a.call("call:token-refresh", {"callId": call["id"]})) == "conflict"
    finally:
        await group.close()

    # A server without Agora: calls are WebRTC, with no token to refresh.
    alice, erin = friends(RestClient(server.url), "alice", "erin")
    group = Clients(server.url)
    try:
        a, e = await group.connect(alice), await group.connect(erin)
        plain = ok(await a.call("call:initiate", {"receiverId": erin.id, "callType": "audio"}))
        assert plain["media"] == "webrtc" and plain["token"] is None
        ok(await e.call("call:accept", {"callId": plain["id"]}))
        refused = await a.call("call:token-refresh", {"callId": plain["id"]})
        assert error_code(refused) == "conflict"
        ok(await a.call("call:end", {"callId": plain["id"]}))
    finally:
        await group.close()


@pytest.fixture
def redis_pair(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LiveServer, LiveServer, str]]:
    """Two instances on Redis and a database of their own, quick to notice a dead peer."""
    extra = {
        **PAID_SETTINGS,
        "REDIS_URL": require_redis(),
        "REDIS_PREFIX": f"banter-paid-{uuid.uuid4().hex[:8]}",
        "INSTANCE_TTL": "3",
        "REAP_INTERVAL": "0.5",
    }
    logs = tmp_path_factory.mktemp("paid-failover-logs")
    with (
        fresh_database(tmp_path_factory.mktemp("paid-failover-db")) as database,
        instance_pair(database, logs, "paid", **extra) as (one, two),
    ):
        yield one, two, database
        assert_ledger_consistent(database)


async def test_kill_9_during_an_answered_call_bills_it_once_on_the_survivor(
    redis_pair: tuple[LiveServer, LiveServer, str],
) -> None:
    one, two, database = redis_pair
    api = RestClient(two.url)
    alice, bob = friends(api, "alice", "bob")
    set_price(api, bob, PRICE)
    credit(database, alice, 600)
    on_one = await connect(one.url, alice.access)
    b = await connect(two.url, bob.access)
    try:
        call = ok(await on_one.call("call:initiate", {"receiverId": bob.id, "callType": "audio"}))
        await b.wait_for("call:incoming")
        ok(await b.call("call:accept", {"callId": call["id"]}))
        await on_one.wait_for("call:accepted")
        await asyncio.sleep(2.0)
        one.kill()  # SIGKILL: the caller's instance dies mid-call, no shutdown code runs

        # The survivor reaps instance 1 (INSTANCE_TTL), the drop grace runs out, its
        # sweeper completes the call at the drop and charges it.
        ended = await b.wait_for("call:ended", timeout=20)
        assert ended["callId"] == call["id"] and ended["reason"] == "dropped"
        assert ended["cost"] == ended["billedSeconds"] == ended["duration"]
        assert 2 <= ended["duration"] <= 8, ended["duration"]
        await asyncio.sleep(1.0)  # time for a second charge, were there one
        ledger = api.call("GET", "/api/wallet/ledger", token=alice.access)["results"]
        charges = [e for e in ledger if e["kind"] == "call_charge"]
        assert [(e["callId"], e["amount"]) for e in charges] == [(call["id"], -ended["cost"])]
        assert wallet(api, alice)["balance"] == 600 - ended["cost"]
    finally:
        await b.disconnect()
        await on_one.client.disconnect()


def test_the_call_is_cut_off_when_the_coins_run_out(running_out: Background) -> None:
    """Last in the module: the scenario started with the first test (coins_run_out)."""
    running_out.join(timeout=120)
