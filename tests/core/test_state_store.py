"""One contract for both state-store backends (banter.core.state), plus get_state_store().

Every contract test runs against MemoryStateStore and against RedisStateStore on a real
Redis with a unique key prefix. Time comes from a fake clock; the few expiries that are
plain Redis TTLs (presence) also wait out a short real TTL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import pytest
import redis.asyncio

from banter.core import state
from banter.core.ratelimit import Rate, get_rate_limiter
from banter.core.state import (
    TYPING_GRACE,
    MemoryStateStore,
    RedisStateStore,
    StateStore,
    get_state_store,
    reset_state_store,
)
from tests.services import require_redis


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Backend:
    store: StateStore
    clock: FakeClock
    raw: redis.asyncio.Redis | None = None  # Redis backend only: for key inspection
    prefix: str = ""


async def _delete_prefixed(raw: redis.asyncio.Redis, prefix: str) -> None:
    keys = [key async for key in raw.scan_iter(match=f"{prefix}:*", count=1000)]
    if keys:
        await raw.delete(*keys)


@asynccontextmanager
async def _redis_backend(clock: FakeClock) -> AsyncIterator[Backend]:
    url = require_redis()
    prefix = f"banter-test-{uuid4().hex}"
    store = RedisStateStore(url, prefix=prefix, clock=clock)
    raw = redis.asyncio.Redis.from_url(url, decode_responses=True)
    try:
        yield Backend(store, clock, raw, prefix)
    finally:
        await _delete_prefixed(raw, prefix)
        await raw.aclose()
        await store.close()


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    clock = FakeClock()
    if request.param == "memory":
        yield Backend(MemoryStateStore(clock=clock), clock)
        return
    async with _redis_backend(clock) as harness:
        yield harness


@pytest.fixture
async def redis_backend() -> AsyncIterator[Backend]:
    async with _redis_backend(FakeClock()) as harness:
        yield harness


# -- connection registry ----------------------------------------------------------------


async def test_connection_counts_across_connections_and_users(backend: Backend) -> None:
    s = backend.store
    assert await s.connection_count(1) == 0
    assert await s.connection_add(1, "a", 30) == 1
    assert await s.connection_add(1, "b", 30) == 2
    assert await s.connection_add(1, "b", 30) == 2  # re-adding is idempotent
    assert await s.connection_add(2, "c", 30) == 1
    assert await s.connection_count(1) == 2
    assert await s.connection_remove(1, "a") == 1
    assert await s.connection_remove(1, "missing") == 1
    assert await s.connection_remove(1, "b") == 0
    assert await s.connection_count(1) == 0
    assert await s.connection_count(2) == 1


async def test_connections_expire_with_the_clock(backend: Backend) -> None:
    s, clock = backend.store, backend.clock
    await s.connection_add(1, "old", 10)
    clock.advance(5)
    assert await s.connection_add(1, "new", 10) == 2
    clock.advance(6)  # "old" is past its deadline, "new" is not
    assert await s.connection_count(1) == 1
    assert await s.connection_add(1, "third", 10) == 2
    assert await s.connection_remove(1, "third") == 1
    clock.advance(10)
    assert await s.connection_count(1) == 0


async def test_refresh_extends_connections_and_presence(backend: Backend) -> None:
    s, clock = backend.store, backend.clock
    await s.connection_add(1, "a", 10)
    await s.connection_add(1, "b", 10)
    await s.connection_add(2, "c", 10)
    await s.presence_set(1, "online", 10)
    clock.advance(8)
    await s.connections_refresh([(1, "a"), (2, "c")], 10)
    await s.connections_refresh([], 10)  # nothing to do, must not fail
    clock.advance(8)  # 16 s after the add: only the refreshed entries are alive
    assert await s.connection_count(1) == 1
    assert await s.connection_count(2) == 1
    assert await s.presence_get_many([1]) == {1: "online"}
    clock.advance(3)
    assert await s.connection_count(1) == 0
    assert await s.connection_count(2) == 0


async def test_refresh_of_many_connections_extends_every_one(backend: Backend) -> None:
    """Several chunks (REFRESH_CHUNK each, on Redis): none is left out."""
    s, clock = backend.store, backend.clock
    entries = [(user_id, f"c{user_id}") for user_id in range(1, 251)]
    for user_id, conn_id in entries:
        await s.connection_add(user_id, conn_id, 10)
    clock.advance(8)
    await s.connections_refresh(entries, 10)
    clock.advance(8)
    for user_id, _ in entries:
        assert await s.connection_count(user_id) == 1, user_id


async def test_refresh_does_not_register_unknown_connections(backend: Backend) -> None:
    s = backend.store
    await s.connections_refresh([(1, "never-added")], 10)
    assert await s.connection_count(1) == 0


async def test_refresh_recreate_restores_lost_connections(backend: Backend) -> None:
    s, clock = backend.store, backend.clock
    await s.connections_refresh([(1, "i1:a"), (2, "i1:b")], 10, recreate=True)
    assert await s.connection_count(1) == 1
    clock.advance(11)
    assert await s.connection_count(1) == 0
    # Re-created entries belong to their instance: a reap finds them (user 2, noted 11 s
    # before this 5 s heartbeat and not since, has left the instance's list).
    await s.connections_refresh([(1, "i1:a")], 10, recreate=True)
    await s.instance_heartbeat("i1", 5)
    clock.advance(6)
    assert await s.instance_reap("i1") == {1: (0, ["i1:a"])}


# -- instances (crash safety) -------------------------------------------------------------


async def test_instance_heartbeat_is_new_only_when_unregistered(backend: Backend) -> None:
    s, clock = backend.store, backend.clock
    assert await s.instance_heartbeat("i1", 15) is True
    assert await s.instance_heartbeat("i1", 15) is False
    assert await s.instances_expired() == []
    clock.advance(16)
    assert await s.instances_expired() == [("i1", clock.now - 1)]
    assert await s.instance_reap("i1") == {}
    # Reaped while it was only stalled: its next beat says "register everything again".
    assert await s.instance_heartbeat("i1", 15) is True
    await s.instance_remove("i1")
    assert await s.instance_heartbeat("i1", 15) is True


async def test_reap_removes_only_the_dead_instance_connections(backend: Backend) -> None:
    s, clock = backend.store, backend.clock
    await s.instance_heartbeat("dead", 15)
    await s.instance_heartbeat("alive", 15)
    await s.connection_add(1, "dead:s1", 30)
    await s.connection_add(1, "dead:s2", 30)
    await s.connection_add(2, "dead:s3", 30)
    await s.connection_add(2, "alive:s4", 30)
    await s.connection_add(3, "alive:s5", 30)
    clock.advance(10)
    await s.instance_heartbeat("alive", 15)
    clock.advance(6)
    assert await s.instances_expired() == [("dead", clock.now - 1)]
    reaped = await s.instance_reap("dead")
    assert reaped is not None
    assert {u: (left, sorted(ids)) for u, (left, ids) in reaped.items()} == {
        1: (0, ["dead:s1", "dead:s2"]),
        2: (1, ["dead:s3"]),
    }
    assert await s.connection_count(1) == 0
    assert await s.connection_count(2) == 1
    assert await s.connection_count(3) == 1
    assert await s.instance_reap("dead") is None  # claimed once
    assert await s.instances_expired() == []


async def test_concurrent_reapers_claim_an_instance_once(backend: Backend) -> None:
    s, clock = backend.store, backend.clock
    await s.instance_heartbeat("dead", 5)
    await s.connection_add(1, "dead:s1", 30)
    clock.advance(6)
    results = await asyncio.gather(*(s.instance_reap("dead") for _ in range(5)))
    assert [r for r in results if r is not None] == [{1: (0, ["dead:s1"])}]


async def test_users_who_left_drop_off_the_instance_list(backend: Backend) -> None:
    s, clock = backend.store, backend.clock
    await s.instance_heartbeat("i1", 15, [1, 2])
    await s.connection_add(3, "i1:c", 60)
    clock.advance(10)
    await s.instance_heartbeat("i1", 15, [1])  # 2 left; 3 is still connected
    await s.instance_heartbeat("i1", 15, [1, 3])
    clock.advance(10)
    await s.instance_heartbeat("i1", 15, [1, 3])  # 2 was last noted 20 s ago: dropped
    clock.advance(16)
    reaped = await s.instance_reap("i1")
    assert reaped is not None
    assert sorted(reaped) == [1, 3]


# -- presence ---------------------------------------------------------------------------


async def test_presence_set_returns_previous_status(backend: Backend) -> None:
    s = backend.store
    assert await s.presence_set(1, "online", 60) is None
    assert await s.presence_set(1, "away", 60) == "online"
    assert await s.presence_get_many([1]) == {1: "away"}


async def test_presence_only_if_absent_keeps_the_existing_status(backend: Backend) -> None:
    s = backend.store
    assert await s.presence_set(1, "online", 60, only_if_absent=True) is None
    assert await s.presence_set(1, "away", 60, only_if_absent=True) == "online"
    assert await s.presence_get_many([1]) == {1: "online"}


async def test_presence_clear_and_get_many(backend: Backend) -> None:
    s = backend.store
    await s.presence_set(1, "online", 60)
    await s.presence_set(2, "busy", 60)
    assert await s.presence_get_many([1, 2, 3]) == {1: "online", 2: "busy"}
    assert await s.presence_get_many([]) == {}
    assert await s.presence_clear(1) == "online"
    assert await s.presence_clear(1) is None
    assert await s.presence_get_many([1, 2, 3]) == {2: "busy"}


async def test_presence_expires_after_its_ttl(backend: Backend) -> None:
    s, clock = backend.store, backend.clock
    await s.presence_set(1, "online", 0.05)
    await s.presence_set(2, "online", 60)
    # Presence is a plain Redis TTL (server time); the memory backend uses the clock.
    clock.advance(1)
    await asyncio.sleep(0.2)
    assert await s.presence_get_many([1, 2]) == {2: "online"}
    assert await s.presence_clear(1) is None
    assert await s.presence_set(1, "away", 60, only_if_absent=True) is None


# -- typing -----------------------------------------------------------------------------


async def test_typing_start_rebroadcasts_only_after_the_window(backend: Backend) -> None:
    s, clock = backend.store, backend.clock
    assert await s.typing_start(7, 1, ttl=5, rebroadcast_after=3) is True
    clock.advance(1)
    assert await s.typing_start(7, 1, ttl=5, rebroadcast_after=3) is False
    clock.advance(1)
    assert await s.typing_start(7, 1, ttl=5, rebroadcast_after=3) is False
    clock.advance(1.5)  # 3.5 s since the broadcast, still typing
    assert await s.typing_start(7, 1, ttl=5, rebroadcast_after=3) is True
    assert await s.typing_start(7, 1, ttl=5, rebroadcast_after=3) is False
    # Another user in the same room is independent.
    assert await s.typing_start(7, 2, ttl=5, rebroadcast_after=3) is True


async def test_typing_start_after_the_mark_expired_broadcasts_again(backend: Backend) -> None:
    s, clock = backend.store, backend.clock
    assert await s.typing_start(7, 1, ttl=2, rebroadcast_after=10) is True
    clock.advance(3)  # mark expired although the rebroadcast window has not
    assert await s.typing_start(7, 1, ttl=2, rebroadcast_after=10) is True
    assert await s.typing_start(7, 1, ttl=2, rebroadcast_after=10) is False


async def test_typing_stop_is_true_once(backend: Backend) -> None:
    s = backend.store
    await s.typing_start(7, 1, ttl=5, rebroadcast_after=3)
    assert await s.typing_stop(7, 1) is True
    assert await s.typing_stop(7, 1) is False
    assert await s.typing_users(7) == []
    # Stopping cleared the rebroadcast mark: the next start is announced again.
    assert await s.typing_start(7, 1, ttl=5, rebroadcast_after=3) is True


async def test_typing_stop_after_expiry_is_false(backend: Backend) -> None:
    s, clock = backend.store, backend.clock
    await s.typing_start(7, 1, ttl=5, rebroadcast_after=3)
    clock.advance(6)
    assert await s.typing_stop(7, 1) is False
    assert await s.typing_expire(7, 1) is False  # stop removed the mark


async def test_typing_expire_only_when_due(backend: Backend) -> None:
    s, clock = backend.store, backend.clock
    assert await s.typing_expire(7, 1) is False  # never typed
    await s.typing_start(7, 1, ttl=5, rebroadcast_after=3)
    clock.advance(4)
    assert await s.typing_expire(7, 1) is False
    await s.typing_start(7, 1, ttl=5, rebroadcast_after=3)  # moves the deadline to 9 s
    clock.advance(2)  # 6 s: the first deadline passed, the current one has not
    assert await s.typing_expire(7, 1) is False
    assert await s.typing_users(7) == [1]
    clock.advance(3.5)
    assert await s.typing_expire(7, 1) is True
    assert await s.typing_expire(7, 1) is False
    assert await s.typing_users(7) == []


async def test_expired_mark_survives_other_activity_for_the_timer(backend: Backend) -> None:
    s, clock = backend.store, backend.clock
    await s.typing_start(7, 1, ttl=5, rebroadcast_after=3)
    clock.advance(6)
    # Another user's activity and a listing must not swallow user 1's pending stop.
    await s.typing_start(7, 2, ttl=5, rebroadcast_after=3)
    assert await s.typing_users(7) == [2]
    assert await s.typing_expire(7, 1) is True


async def test_expired_marks_are_pruned_after_the_grace_period(backend: Backend) -> None:
    s, clock = backend.store, backend.clock
    await s.typing_start(7, 1, ttl=5, rebroadcast_after=3)
    clock.advance(5 + TYPING_GRACE + 1)
    await s.typing_start(7, 2, ttl=5, rebroadcast_after=3)
    assert await s.typing_expire(7, 1) is False  # pruned, nothing left to clear


async def test_typing_users_excludes_expired_marks(backend: Backend) -> None:
    s, clock = backend.store, backend.clock
    await s.typing_start(7, 3, ttl=5, rebroadcast_after=3)
    await s.typing_start(7, 1, ttl=10, rebroadcast_after=3)
    await s.typing_start(8, 2, ttl=10, rebroadcast_after=3)
    assert await s.typing_users(7) == [1, 3]
    clock.advance(6)
    assert await s.typing_users(7) == [1]
    assert await s.typing_users(8) == [2]
    assert await s.typing_users(9) == []


# -- rate limits and throttles ----------------------------------------------------------


async def test_throttle_once_per_interval(backend: Backend) -> None:
    s, clock = backend.store, backend.clock
    assert await s.throttle("digest:1", 10) is True
    assert await s.throttle("digest:1", 10) is False
    assert await s.throttle("digest:2", 10) is True
    clock.advance(9)
    assert await s.throttle("digest:1", 10) is False
    clock.advance(2)
    assert await s.throttle("digest:1", 10) is True
    assert await s.throttle("digest:1", 10) is False


async def test_rate_hit_token_bucket(backend: Backend) -> None:
    s, clock = backend.store, backend.clock
    rate = Rate(2, 1.0, burst=3)  # 2 tokens/s, up to 3 at once
    for _ in range(3):
        assert (await s.rate_hit("ev:u1", rate)).allowed
    denied = await s.rate_hit("ev:u1", rate)
    assert not denied.allowed
    assert denied.retry_after == pytest.approx(0.5)
    assert (await s.rate_hit("ev:u2", rate)).allowed  # buckets are per key
    clock.advance(0.5)
    assert (await s.rate_hit("ev:u1", rate)).allowed
    assert not (await s.rate_hit("ev:u1", rate)).allowed
    clock.advance(10)  # refills to the burst, not beyond
    costly = await s.rate_hit("ev:u1", rate, cost=3)
    assert costly.allowed
    again = await s.rate_hit("ev:u1", rate, cost=2)
    assert not again.allowed
    assert again.retry_after == pytest.approx(1.0)


# -- lifecycle and Redis hygiene ----------------------------------------------------------


async def test_ping(backend: Backend) -> None:
    await backend.store.ping()


async def test_every_redis_key_has_a_ttl(redis_backend: Backend) -> None:
    backend = redis_backend
    assert backend.raw is not None
    s, p = backend.store, backend.prefix
    await s.connection_add(1, "a", 30)
    await s.connection_add(2, "b", 30)
    await s.connection_remove(2, "zzz")
    await s.connections_refresh([(1, "a")], 30)
    await s.presence_set(1, "online", 30)
    await s.presence_set(2, "online", 30, only_if_absent=True)
    await s.typing_start(7, 1, ttl=5, rebroadcast_after=3)
    await s.typing_start(7, 2, ttl=5, rebroadcast_after=3)
    await s.typing_stop(7, 2)
    await s.rate_hit("ev:u1", Rate(2, 1.0))
    await s.throttle("digest:1", 10)
    await s.instance_heartbeat("i2", 15, [2])
    await s.connections_refresh([(3, "i3:x")], 30, recreate=True)
    keys = sorted([key async for key in backend.raw.scan_iter(match=f"{p}:*")])
    assert keys == sorted(
        [
            f"{p}:instances",
            f"{p}:iusers:",  # conn ids "a"/"b" name no instance
            f"{p}:iusers:i2",
            f"{p}:iusers:i3",
            f"{p}:conn:3",
            f"{p}:conn:1",
            f"{p}:conn:2",
            f"{p}:presence:1",
            f"{p}:presence:2",
            f"{p}:typing:7",
            f"{p}:typing:7:1",
            f"{p}:rl:ev:u1",
            f"{p}:throttle:digest:1",
        ]
    )
    for key in keys:
        assert await backend.raw.pttl(key) > 0, key


async def test_redis_typing_zset_outlives_its_last_deadline(redis_backend: Backend) -> None:
    """The expiry timer fires at the deadline; the key must still be there then."""
    backend = redis_backend
    assert backend.raw is not None
    await backend.store.typing_start(7, 1, ttl=5, rebroadcast_after=3)
    pttl = await backend.raw.pttl(f"{backend.prefix}:typing:7")
    assert 5000 + TYPING_GRACE * 1000 - 1000 < pttl <= 5000 + TYPING_GRACE * 1000


# -- get_state_store ----------------------------------------------------------------------


@pytest.fixture
def fresh_state(settings: Any) -> Iterator[Any]:
    reset_state_store()
    get_rate_limiter().reset()
    yield settings
    reset_state_store()


async def test_memory_store_is_shared_and_uses_the_process_limiter(
    fresh_state: Any,
) -> None:
    fresh_state.REDIS_URL = ""
    store = get_state_store()
    assert isinstance(store, MemoryStateStore)
    assert get_state_store() is store
    rate = Rate(1, 60.0)
    assert get_rate_limiter().hit("shared-bucket", rate).allowed
    assert not (await store.rate_hit("shared-bucket", rate)).allowed
    get_rate_limiter().reset()


async def test_redis_store_is_cached_for_the_running_loop(fresh_state: Any) -> None:
    fresh_state.REDIS_URL = require_redis()
    fresh_state.REDIS_PREFIX = f"banter-test-{uuid4().hex}"
    store = get_state_store()
    try:
        assert isinstance(store, RedisStateStore)
        assert get_state_store() is store
        await store.ping()
    finally:
        await store.close()


def test_redis_store_per_event_loop(fresh_state: Any) -> None:
    fresh_state.REDIS_URL = require_redis()
    fresh_state.REDIS_PREFIX = f"banter-test-{uuid4().hex}"

    async def use() -> StateStore:
        store = get_state_store()
        await store.ping()
        await store.close()
        return store

    first = asyncio.run(use())
    second = asyncio.run(use())
    assert first is not second
    assert isinstance(second, RedisStateStore)
    # The first loop is closed, so its store was dropped rather than kept forever.
    assert first not in state._redis_stores.values()


async def test_redis_refresh_extends_presence_ttl(redis_backend: Backend) -> None:
    """Presence lifetime is a Redis TTL, so the heartbeat must move that TTL."""
    backend = redis_backend
    assert backend.raw is not None
    await backend.store.presence_set(1, "online", 1)
    await backend.store.connections_refresh([(1, "a")], 60)
    assert await backend.raw.pttl(f"{backend.prefix}:presence:1") > 50_000
    assert await backend.raw.exists(f"{backend.prefix}:conn:1") == 0  # XX: not created


async def test_memory_store_sweeps_keys_nobody_touches_again() -> None:
    clock = FakeClock()
    store = MemoryStateStore(clock=clock)
    for user_id in range(100):
        await store.connection_add(user_id, "c", 10)
        await store.presence_set(user_id, "online", 10)
        await store.typing_start(user_id, user_id, ttl=5, rebroadcast_after=3)
        await store.throttle(f"k{user_id}", 10)
    clock.advance(TYPING_GRACE + 61)
    await store.connection_count(0)  # any call past the sweep interval sweeps
    # White-box: nothing else can observe that abandoned entries were freed.
    tables = (store._conns, store._presence, store._typing, store._typing_sent, store._throttles)
    assert [len(table) for table in tables] == [0, 0, 0, 0, 0]
