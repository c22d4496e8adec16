"""What every concern of the state store shares: the clock, the memory sweep, the Redis
client and its key names.

Each concern (connections, instances, presence, typing_marks, limits) adds a memory mixin on
`MemoryBackend` and a Redis mixin on `RedisBackend`; the package's `__init__` composes them
into `MemoryStateStore` and `RedisStateStore`, so one object (and, for Redis, one client)
serves every concern.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from banter.core import redis_conn

# MemoryStateStore sweeps every table this often, dropping keys nobody touched again.
SWEEP_EVERY = 60.0


class MemoryBackend:
    """Plain dicts for one process on one event loop.

    Methods are async for the interface's sake but never suspend, so each one is atomic.
    Expired entries count as absent; each concern prunes them when their user/room/key is
    touched and in `_sweep`, which runs over every table at most once per clock minute and
    so bounds memory.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._next_sweep = clock() + SWEEP_EVERY

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _now(self) -> float:
        now = self._clock()
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_EVERY
            self._sweep(now)
        return now

    def _sweep(self, now: float) -> None:
        """Drop expired entries; each concern extends this for its own tables."""


class RedisBackend:
    """One Redis for every instance, one round trip per method.

    A redis.asyncio client belongs to the event loop that first uses it, so use a store on
    one loop only (get_state_store() keeps one per loop).
    """

    def __init__(self, url: str, prefix: str, clock: Callable[[], float]) -> None:
        self._redis = redis_conn.async_client(url, decode_responses=True)
        self._prefix = prefix
        self._clock = clock

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _key(self, kind: str, *parts: int | str) -> str:
        return ":".join([self._prefix, kind, *map(str, parts)])


def instance_of(conn_id: str) -> str:
    """The instance holding a connection: its id is "{instanceId}:{anything}"."""
    return conn_id.rpartition(":")[0]


def ms(seconds: float) -> int:
    # PX/PEXPIRE reject 0: the shortest lifetime Redis accepts is 1 ms.
    return max(1, round(seconds * 1000))


def str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
