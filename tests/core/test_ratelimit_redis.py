"""RedisRateLimiter: the same token bucket as MemoryRateLimiter, shared through Redis."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
import redis

from banter.core.ratelimit import (
    Decision,
    MemoryRateLimiter,
    Rate,
    RedisRateLimiter,
    ScriptPipeline,
    get_rate_limiter,
)
from tests.services import require_redis


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _pair(decision: Decision) -> tuple[bool, float]:
    return decision.allowed, decision.retry_after


@pytest.fixture
def prefix() -> Iterator[str]:
    url = require_redis()
    prefix = f"banter-test-{uuid4().hex}"
    yield prefix
    raw = redis.Redis.from_url(url)
    keys = list(raw.scan_iter(match=f"{prefix}:*"))
    if keys:
        raw.delete(*keys)
    raw.close()


def test_sync_hit_burst_denial_and_refill(prefix: str) -> None:
    clock = FakeClock()
    limiter = RedisRateLimiter(require_redis(), prefix, clock=clock)
    rate = Rate(10, 60.0)  # one token per 6 s
    assert all(limiter.hit("rest:u1", rate).allowed for _ in range(10))
    assert _pair(limiter.hit("rest:u1", rate)) == (False, pytest.approx(6.0))
    clock.now += 3
    assert _pair(limiter.hit("rest:u1", rate)) == (False, pytest.approx(3.0))
    clock.now += 3
    assert limiter.hit("rest:u1", rate) == Decision(True, 0.0)


def test_bucket_key_layout_and_ttl(prefix: str) -> None:
    clock = FakeClock()
    limiter = RedisRateLimiter(require_redis(), prefix, clock=clock)
    limiter.hit("rest:u1", Rate(2, 1.0), cost=2)
    raw = redis.Redis.from_url(require_redis(), decode_responses=True)
    try:
        key = f"{prefix}:rl:rest:u1"
        assert float(raw.hget(key, "tokens") or "nan") == 0.0
        assert raw.hget(key, "stamp") == str(int(clock.now * 1000))
        # Empty bucket: 1 s to refill 2 tokens at 2/s, plus 1 s of slack.
        assert 1900 < raw.pttl(key) <= 2000
    finally:
        raw.close()


def test_matches_the_memory_limiter(prefix: str) -> None:
    clock = FakeClock()
    shared = RedisRateLimiter(require_redis(), prefix, clock=clock)
    local = MemoryRateLimiter(clock=clock)
    rate = Rate(5, 2.0, burst=4)
    rng = random.Random(1234)
    outcomes: set[bool] = set()
    for _ in range(200):
        # Binary-exact steps, so neither side's float rounding decides a borderline hit.
        clock.now += rng.choice([0.0, 0.0, 0.125, 0.25, 0.5, 1.0])
        cost = rng.choice([1.0, 1.0, 2.0, 0.5, 5.0])
        expected = local.hit("k", rate, cost)
        got = shared.hit("k", rate, cost)
        assert _pair(got) == (expected.allowed, pytest.approx(expected.retry_after))
        outcomes.add(got.allowed)
    assert outcomes == {True, False}  # the sequence exercised both paths


async def test_async_hit_shares_buckets_with_sync_hit(prefix: str) -> None:
    clock = FakeClock()
    limiter = RedisRateLimiter(require_redis(), prefix, clock=clock)
    rate = Rate(2, 1.0)
    assert limiter.hit("ev:u1", rate).allowed
    assert (await limiter.ahit("ev:u1", rate)).allowed
    denied = await limiter.ahit("ev:u1", rate)
    assert not denied.allowed
    assert denied.retry_after == pytest.approx(0.5)
    assert not limiter.hit("ev:u1", rate).allowed


async def test_concurrent_async_hits_share_a_pipeline_and_each_gets_its_own_decision(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    limiter = RedisRateLimiter(require_redis(), prefix, clock=clock)
    rate = Rate(3, 1.0)
    batches: list[int] = []
    run = ScriptPipeline._run

    async def counted(self: ScriptPipeline, batch: list[Any]) -> list[Any]:
        batches.append(len(batch))
        return await run(self, batch)

    monkeypatch.setattr(ScriptPipeline, "_run", counted)
    decisions = await asyncio.gather(
        *(limiter.ahit("ev:u1", rate) for _ in range(5)), limiter.ahit("ev:u2", rate)
    )
    # In call order, each its own atomic script run: the bucket of 3 allows the first 3.
    assert [d.allowed for d in decisions] == [True, True, True, False, False, True]
    assert batches == [6]


def test_reset_forgets_buckets(prefix: str) -> None:
    limiter = RedisRateLimiter(require_redis(), prefix, clock=FakeClock())
    rate = Rate(1, 60.0)
    assert limiter.hit("a", rate).allowed
    assert not limiter.hit("a", rate).allowed
    limiter.reset()
    assert limiter.hit("a", rate).allowed


def test_fails_open_when_redis_is_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", "banter-test-down")
    rate = Rate(1, 60.0)
    with caplog.at_level(logging.WARNING, logger="banter.core.ratelimit"):
        decisions = [limiter.hit("a", rate) for _ in range(5)]
    assert decisions == [Decision(True, 0.0)] * 5
    warnings = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(warnings) == 1


async def test_async_hit_fails_open_when_redis_is_unreachable() -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", "banter-test-down")
    assert await limiter.ahit("a", Rate(1, 60.0)) == Decision(True, 0.0)


def test_get_rate_limiter_follows_redis_url(settings: Any) -> None:
    settings.REDIS_URL = ""
    assert isinstance(get_rate_limiter(), MemoryRateLimiter)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.REDIS_PREFIX = "banter-test-x"
    limiter = get_rate_limiter()
    assert isinstance(limiter, RedisRateLimiter)
    assert (limiter.url, limiter.prefix) == ("redis://127.0.0.1:1/0", "banter-test-x")
    assert get_rate_limiter() is limiter
    settings.REDIS_URL = ""
    assert isinstance(get_rate_limiter(), MemoryRateLimiter)
