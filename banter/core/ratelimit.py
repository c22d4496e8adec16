"""Rate limiting shared by REST throttles and socket dispatch.

A token bucket per key: `rate` tokens per `period` seconds, up to `burst` at once. The clock
is injectable so tests need no sleeping. The in-process backend serves the embedded default;
a Redis backend (same interface) serves several instances.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import redis
import redis.asyncio
from django.conf import settings
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript, Script
from redis.retry import Retry

from banter.core import redis_conn

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rate:
    tokens: int
    period: float
    burst: int | None = None

    @property
    def capacity(self) -> float:
        return float(self.burst if self.burst is not None else self.tokens)

    @property
    def per_second(self) -> float:
        return self.tokens / self.period


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after: float


class RateLimiter(Protocol):
    def hit(self, key: str, rate: Rate, cost: float = 1.0) -> Decision:
        """Take `cost` tokens from the key's bucket (sync: DRF views run in worker threads)."""

    def reset(self) -> None:
        """Forget every bucket (tests)."""


class MemoryRateLimiter:
    """Token buckets in process memory; thread-safe (DRF views run in worker threads)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000):
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def hit(self, key: str, rate: Rate, cost: float = 1.0) -> Decision:
        now = self._clock()
        with self._lock:
            tokens, stamp = self._buckets.get(key, (rate.capacity, now))
            tokens = min(rate.capacity, tokens + (now - stamp) * rate.per_second)
            if tokens >= cost:
                self._store(key, tokens - cost, now)
                return Decision(True, 0.0)
            self._store(key, tokens, now)
            return Decision(False, (cost - tokens) / rate.per_second)

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()

    def _store(self, key: str, tokens: float, now: float) -> None:
        if len(self._buckets) >= self._max_keys and key not in self._buckets:
            # Bounded memory: drop the oldest half (dict keeps insertion order).
            for stale in list(self._buckets)[: self._max_keys // 2]:
                del self._buckets[stale]
        self._buckets[key] = (tokens, now)


T = TypeVar("T")


def loop_local(cache: dict[asyncio.AbstractEventLoop, T], factory: Callable[[], T]) -> T:
    """The cache's value for the running event loop, made by factory on first use.

    redis.asyncio connections belong to the loop that opened them, and each test (and each
    `async_to_sync` call) may run on a new loop; entries of closed loops are dropped.
    """
    loop = asyncio.get_running_loop()
    for stale in [other for other in cache if other.is_closed()]:
        del cache[stale]
    value = cache.get(loop)
    if value is None:
        value = cache[loop] = factory()
    return value


# One round trip, atomic across instances. Times are milliseconds from the caller's clock; a
# caller whose clock lags the stored stamp sees no refill rather than a negative one.
_BUCKET_LUA = """
local now = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local per_second = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(state[1]) or capacity
local stamp = tonumber(state[2]) or now
if now < stamp then now = stamp end
tokens = math.min(capacity, tokens + (now - stamp) / 1000 * per_second)
local allowed = 0
local retry_after = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry_after = (cost - tokens) / per_second
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'stamp', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / per_second * 1000) + 1000)
return {allowed, string.format('%.17g', retry_after)}
"""

_ALLOW = Decision(True, 0.0)
_OUTAGE_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class ScriptPipeline:
    """Concurrent calls of one Lua script, sent as one pipeline per round trip.

    Every socket event is charged to a bucket (dispatch); one awaited EVALSHA each was 11% of
    the event loop with REDIS_URL at 1500 msgs/s (py-spy), most of it redis-py's per-call
    round trip. The calls made while one pipeline is out go together in the next: each is
    still its own atomic script run in Redis, in the order it was made.
    """

    MAX_CALLS = 500

    def __init__(self, script: AsyncScript) -> None:
        self._script = script
        self._queue: list[tuple[list[str], list[str | int], asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def __call__(self, keys: list[str], args: list[str | int]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((keys, args, future))
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._queue:
                batch = self._queue[: self.MAX_CALLS]
                del self._queue[: self.MAX_CALLS]
                try:
                    replies = await self._run(batch)
                except Exception as error:
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for (_, _, future), reply in zip(batch, replies, strict=True):
                    if future.done():
                        continue
                    if isinstance(reply, Exception):
                        future.set_exception(reply)
                    else:
                        future.set_result(reply)
        finally:
            self._flusher = None

    async def _run(self, batch: list[tuple[list[str], list[str | int], Any]]) -> list[Any]:
        pipeline = self._script.registered_client.pipeline(transaction=False)
        for keys, args, _ in batch:
            await self._script(keys=keys, args=args, client=pipeline)  # type: ignore[arg-type]
        return list(await pipeline.execute(raise_on_error=False))


class RedisRateLimiter:
    """Token buckets in Redis (`{prefix}:rl:{key}`), shared by every instance.

    Fails open: while Redis is unreachable every hit is allowed, because a cache outage must
    not take REST and sockets down with it.
    """

    # After a failure, skip Redis this long so each request does not wait out a timeout.
    _RETRY_DOWN_AFTER = 1.0
    _WARN_EVERY = 10.0

    def __init__(
        self,
        url: str,
        prefix: str = "banter",
        clock: Callable[[], float] = time.time,
        *,
        aclient: redis.asyncio.Redis | None = None,
    ):
        self.url = url
        self.prefix = prefix
        self._clock = clock
        self._lock = threading.Lock()
        self._sync: Script | None = None
        self._async_injected = (
            ScriptPipeline(aclient.register_script(_BUCKET_LUA)) if aclient is not None else None
        )
        self._async_per_loop: dict[asyncio.AbstractEventLoop, ScriptPipeline] = {}
        self._down_until = 0.0
        self._warned_at = -self._WARN_EVERY

    def hit(self, key: str, rate: Rate, cost: float = 1.0) -> Decision:
        if time.monotonic() < self._down_until:
            return _ALLOW
        try:
            reply = self._sync_script()(keys=[self._key(key)], args=self._args(rate, cost))
        except _OUTAGE_ERRORS as exc:
            return self._fail_open(exc)
        return _decision(reply)

    async def ahit(self, key: str, rate: Rate, cost: float = 1.0) -> Decision:
        if time.monotonic() < self._down_until:
            return _ALLOW
        script = self._async_injected or loop_local(self._async_per_loop, self._new_async_script)
        try:
            reply = await script(keys=[self._key(key)], args=self._args(rate, cost))
        except _OUTAGE_ERRORS as exc:
            return self._fail_open(exc)
        return _decision(reply)

    def reset(self) -> None:
        client = self._sync_script().registered_client
        batch = list(client.scan_iter(match=f"{self.prefix}:rl:*", count=1000))
        if batch:
            client.delete(*batch)

    def _key(self, key: str) -> str:
        return f"{self.prefix}:rl:{key}"

    def _args(self, rate: Rate, cost: float) -> list[str | int]:
        return [int(self._clock() * 1000), repr(rate.capacity), repr(rate.per_second), repr(cost)]

    def _sync_script(self) -> Script:
        with self._lock:
            if self._sync is None:
                client = redis_conn.sync_client(
                    self.url,
                    decode_responses=True,
                    # Bounded waits: a REST request pays at most this when Redis is down.
                    socket_connect_timeout=1.0,
                    socket_timeout=1.0,
                    retry=Retry(NoBackoff(), 1),
                )
                self._sync = client.register_script(_BUCKET_LUA)
            return self._sync

    def _new_async_script(self) -> ScriptPipeline:
        client = redis_conn.async_client(self.url, decode_responses=True)
        return ScriptPipeline(client.register_script(_BUCKET_LUA))

    def _fail_open(self, exc: Exception) -> Decision:
        now = time.monotonic()
        self._down_until = now + self._RETRY_DOWN_AFTER
        if now - self._warned_at >= self._WARN_EVERY:
            self._warned_at = now
            logger.warning("rate limiter: Redis unreachable, allowing requests (%s)", exc)
        return _ALLOW


def _decision(reply: Any) -> Decision:
    allowed, retry_after = reply
    return Decision(bool(int(allowed)), float(retry_after))


_memory: MemoryRateLimiter | None = None
_redis: RedisRateLimiter | None = None


def get_rate_limiter() -> RateLimiter:
    """The process-wide limiter: Redis-backed when settings.REDIS_URL is set."""
    global _memory, _redis
    url = getattr(settings, "REDIS_URL", "")
    if url:
        prefix = getattr(settings, "REDIS_PREFIX", "banter")
        if _redis is None or (_redis.url, _redis.prefix) != (url, prefix):
            _redis = RedisRateLimiter(url, prefix)
        return _redis
    if _memory is None:
        _memory = MemoryRateLimiter()
    return _memory


def parse_rate(spec: str) -> Rate:
    """'tokens/period_seconds[/burst]', e.g. '100/60/20'."""
    parts = [float(part) for part in spec.split("/")]
    burst = int(parts[2]) if len(parts) > 2 else None
    return Rate(int(parts[0]), parts[1], burst)


def rate_for_class(rate_class: str) -> Rate:
    """The limit of a rate class of settings.BANTER["RATE_LIMITS"] (unknown: "default")."""
    limits: Mapping[str, str] = settings.BANTER["RATE_LIMITS"]
    return parse_rate(limits.get(rate_class) or limits["default"])


def event_rate_key(rate_class: str, user_id: int) -> str:
    """The bucket of a user's events of one class: shared by socket events and the REST
    endpoints that do the same thing (a message sent over REST spends the socket budget)."""
    return f"ev:{rate_class}:{user_id}"
