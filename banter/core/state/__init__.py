"""The shared ephemeral state store: connection registry, presence, typing, rate limits.

One interface, two backends: `MemoryStateStore` (the embedded default, one process) and
`RedisStateStore` (REDIS_URL, several instances). Everything here is ephemeral and carries
a TTL, so a crashed instance cannot leave a user "online" or "typing" forever; durable
facts (messages, read positions, last_seen) live in the database.

One module per concern, each with its contract, memory mixin, Redis mixin and Lua, and its
Redis keys (prefix = settings.REDIS_PREFIX, default "banter"):

    connections.py   {p}:conn:{userId}, {p}:iusers:{instanceId}
    instances.py     {p}:instances (and the iusers lists, to reap a dead instance)
    presence.py      {p}:presence:{userId}
    typing_marks.py  {p}:typing:{roomId}, {p}:typing:{roomId}:{userId}
    limits.py        {p}:rl:{key}, {p}:throttle:{key}

This module composes them into one store object per backend, so callers see one
`StateStore` and a Redis store keeps one client for every concern.

Times are wall-clock seconds from an injectable `clock`, passed into Redis scripts as
milliseconds, so tests control time and instances agree on expiries: sorted-set scores and
the "due" values decide, and the keys' TTLs only reclaim what nobody cleans up. The one
exception is presence, a plain status string whose lifetime is its Redis TTL (so a fake
clock does not expire it there).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from django.conf import settings

from banter.core.ratelimit import MemoryRateLimiter, get_rate_limiter, loop_local
from banter.core.state.connections import ConnectionRegistry, MemoryConnections, RedisConnections
from banter.core.state.instances import InstanceRegistry, MemoryInstances, RedisInstances
from banter.core.state.limits import Limits, MemoryLimits, RedisLimits
from banter.core.state.presence import MemoryPresence, PresenceStore, RedisPresence
from banter.core.state.typing_marks import (
    TYPING_GRACE,
    MemoryTypingMarks,
    RedisTypingMarks,
    TypingMarks,
)

__all__ = [
    "TYPING_GRACE",
    "MemoryStateStore",
    "RedisStateStore",
    "StateStore",
    "get_state_store",
    "reset_state_store",
]


class StateStore(
    ConnectionRegistry, InstanceRegistry, PresenceStore, TypingMarks, Limits, Protocol
):
    async def ping(self) -> None:
        """Raise if the backend is unreachable (readiness checks)."""

    async def close(self) -> None:
        """Release connections (tests, shutdown)."""


# MemoryInstances builds on MemoryConnections, which builds on MemoryPresence (reaping
# removes connections, the heartbeat extends presence), so they come first and in that order.
class MemoryStateStore(
    MemoryInstances, MemoryConnections, MemoryPresence, MemoryTypingMarks, MemoryLimits
):
    """The embedded backend: plain dicts for one process on one event loop (see
    base.MemoryBackend for atomicity and expiry)."""

    def __init__(
        self, clock: Callable[[], float] = time.time, limiter: MemoryRateLimiter | None = None
    ):
        super().__init__(clock)
        self._limiter = limiter if limiter is not None else MemoryRateLimiter(clock=clock)


class RedisStateStore(
    RedisConnections, RedisInstances, RedisPresence, RedisTypingMarks, RedisLimits
):
    """The shared backend: one Redis client for every concern, one round trip per method.

    Use an instance on one event loop only (get_state_store() keeps one per loop).
    """

    def __init__(self, url: str, prefix: str = "banter", clock: Callable[[], float] = time.time):
        super().__init__(url, prefix, clock)


_memory_store: MemoryStateStore | None = None
_redis_stores: dict[asyncio.AbstractEventLoop, RedisStateStore] = {}


def get_state_store() -> StateStore:
    """The process's state store: Redis-backed when settings.REDIS_URL is set.

    With Redis, call it from the event loop that will use the store (one instance per loop).
    """
    global _memory_store
    url = getattr(settings, "REDIS_URL", "")
    if url:
        prefix = getattr(settings, "REDIS_PREFIX", "banter")
        return loop_local(_redis_stores, lambda: RedisStateStore(url, prefix=prefix))
    if _memory_store is None:
        limiter = get_rate_limiter()
        # Share the REST/dispatch buckets so a key means the same budget everywhere.
        _memory_store = MemoryStateStore(
            limiter=limiter if isinstance(limiter, MemoryRateLimiter) else None
        )
    return _memory_store


def reset_state_store() -> None:
    """Forget cached stores (tests); the next get_state_store() builds fresh ones."""
    global _memory_store
    _memory_store = None
    _redis_stores.clear()
