"""Rate limits and throttles shared by every instance.

Redis keys:

    {p}:rl:{key}         HASH  tokens, stamp, PX       token bucket (banter.core.ratelimit)
    {p}:throttle:{key}   STRING due (ms), PX interval  at most one per interval
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from banter.core.ratelimit import Decision, MemoryRateLimiter, Rate, RedisRateLimiter
from banter.core.state.base import MemoryBackend, RedisBackend, ms


class Limits(Protocol):
    async def rate_hit(self, key: str, rate: Rate, cost: float = 1.0) -> Decision:
        """Token bucket shared by every instance (see banter.core.ratelimit)."""

    async def throttle(self, key: str, interval: float) -> bool:
        """True at most once per interval per key (the first caller wins)."""


class MemoryLimits(MemoryBackend):
    # Set by the composed store: get_state_store() shares the process's limiter with it.
    _limiter: MemoryRateLimiter

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(clock)
        self._throttles: dict[str, float] = {}  # key -> deadline

    async def rate_hit(self, key: str, rate: Rate, cost: float = 1.0) -> Decision:
        return self._limiter.hit(key, rate, cost)

    async def throttle(self, key: str, interval: float) -> bool:
        now = self._now()
        if self._throttles.get(key, now) > now:
            return False
        self._throttles[key] = now + interval
        return True

    def _sweep(self, now: float) -> None:
        super()._sweep(now)
        self._throttles = {k: deadline for k, deadline in self._throttles.items() if deadline > now}


# The value is the deadline, so the clock (not Redis time) decides; PX bounds garbage.
THROTTLE_LUA = """
local due = tonumber(redis.call('GET', KEYS[1]))
if due ~= nil and due > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), 'PX', ARGV[2])
return 1
"""


class RedisLimits(RedisBackend):
    def __init__(self, url: str, prefix: str, clock: Callable[[], float]) -> None:
        super().__init__(url, prefix, clock)
        # The token buckets share this store's client (and so its event loop).
        self._limiter = RedisRateLimiter(url, prefix, clock, aclient=self._redis)
        self._throttle = self._redis.register_script(THROTTLE_LUA)

    async def rate_hit(self, key: str, rate: Rate, cost: float = 1.0) -> Decision:
        return await self._limiter.ahit(key, rate, cost)

    async def throttle(self, key: str, interval: float) -> bool:
        won = await self._throttle(
            keys=[self._key("throttle", key)], args=[self._now_ms(), ms(interval)]
        )
        return bool(won)
