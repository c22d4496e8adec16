"""Typing marks: who is typing in a room, and when `user-typing` is due again.

Redis keys:

    {p}:typing:{roomId}            ZSET  userId -> expiry (ms)   who is typing in a room
    {p}:typing:{roomId}:{userId}   STRING due (ms), PX rebroadcast  "user-typing was sent"

(Not named typing.py, which would shadow the standard library's module.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, cast

from banter.core.state.base import MemoryBackend, RedisBackend, ms

# Expired typing marks are kept this long past their deadline before pruning, so the
# instance whose expiry timer is due still finds the mark and broadcasts the stop.
TYPING_GRACE = 30.0


class TypingMarks(Protocol):
    async def typing_start(
        self, room_id: int, user_id: int, ttl: float, rebroadcast_after: float
    ) -> bool:
        """Mark the user typing until now+ttl. True when `user-typing` should be broadcast:
        the user was not typing, or the last broadcast is rebroadcast_after seconds old."""

    async def typing_stop(self, room_id: int, user_id: int) -> bool:
        """Clear the mark; True if the user was typing (so `user-stopped-typing` is due).

        A mark already past its deadline counts as not typing: False.
        """

    async def typing_expire(self, room_id: int, user_id: int) -> bool:
        """Clear the mark only if its deadline has passed; True if it was cleared now.

        The expiry timer calls this: a later typing-start (any device, any instance) moved
        the deadline, and then nothing is cleared. Expired marks are kept TYPING_GRACE
        seconds past their deadline so that a late timer still finds them.
        """

    async def typing_users(self, room_id: int) -> list[int]:
        """Users currently typing in the room (unexpired marks only), by ascending id."""


class MemoryTypingMarks(MemoryBackend):
    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(clock)
        self._typing: dict[int, dict[int, float]] = {}  # room -> user -> deadline
        self._typing_sent: dict[tuple[int, int], float] = {}  # (room, user) -> rebroadcast at

    async def typing_start(
        self, room_id: int, user_id: int, ttl: float, rebroadcast_after: float
    ) -> bool:
        now = self._now()
        marks = self._room_typing(room_id, now)
        was_typing = marks.get(user_id, now) > now
        marks[user_id] = now + ttl
        self._typing[room_id] = marks
        if was_typing and self._typing_sent.get((room_id, user_id), now) > now:
            return False
        self._typing_sent[(room_id, user_id)] = now + rebroadcast_after
        return True

    async def typing_stop(self, room_id: int, user_id: int) -> bool:
        now = self._now()
        deadline = self._room_typing(room_id, now).pop(user_id, None)
        self._typing_sent.pop((room_id, user_id), None)
        return deadline is not None and deadline > now

    async def typing_expire(self, room_id: int, user_id: int) -> bool:
        now = self._now()
        marks = self._room_typing(room_id, now)
        deadline = marks.get(user_id)
        if deadline is None or deadline > now:
            return False
        del marks[user_id]
        self._typing_sent.pop((room_id, user_id), None)
        return True

    async def typing_users(self, room_id: int) -> list[int]:
        now = self._now()
        return sorted(
            u for u, deadline in self._room_typing(room_id, now).items() if deadline > now
        )

    def _sweep(self, now: float) -> None:
        super()._sweep(now)
        for room_id in list(self._typing):
            self._room_typing(room_id, now)

    def _room_typing(self, room_id: int, now: float) -> dict[int, float]:
        """The room's marks, expired ones included until TYPING_GRACE has passed (a new
        dict, not stored, when there are none)."""
        marks = self._typing.get(room_id)
        if marks is None:
            return {}
        for user_id in [u for u, deadline in marks.items() if deadline + TYPING_GRACE <= now]:
            del marks[user_id]
            self._typing_sent.pop((room_id, user_id), None)
        if not marks:
            del self._typing[room_id]
        return marks


# KEYS: typing zset, sent marker. ARGV: now, userId, deadline, grace, rebroadcast (ms).
# The sent marker holds the time the next rebroadcast is due; its PX only bounds garbage.
TYPING_START_LUA = """
local now = tonumber(ARGV[1])
local previous = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[2]))
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[4]))
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(last[2]) - now) + tonumber(ARGV[4]))
if previous ~= nil and previous > now then
  local due = tonumber(redis.call('GET', KEYS[2]))
  if due ~= nil and due > now then return 0 end
end
redis.call('SET', KEYS[2], now + tonumber(ARGV[5]), 'PX', ARGV[5])
return 1
"""

TYPING_EXPIRE_LUA = """
local deadline = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[2]))
if deadline == nil or deadline > tonumber(ARGV[1]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2])
return 1
"""


class RedisTypingMarks(RedisBackend):
    def __init__(self, url: str, prefix: str, clock: Callable[[], float]) -> None:
        super().__init__(url, prefix, clock)
        self._typing_start = self._redis.register_script(TYPING_START_LUA)
        self._typing_expire = self._redis.register_script(TYPING_EXPIRE_LUA)

    async def typing_start(
        self, room_id: int, user_id: int, ttl: float, rebroadcast_after: float
    ) -> bool:
        now = self._now_ms()
        started = await self._typing_start(
            keys=[self._key("typing", room_id), self._key("typing", room_id, user_id)],
            args=[now, user_id, now + ms(ttl), ms(TYPING_GRACE), ms(rebroadcast_after)],
        )
        return bool(started)

    async def typing_stop(self, room_id: int, user_id: int) -> bool:
        key = self._key("typing", room_id)
        pipe = self._redis.pipeline(transaction=True)
        pipe.zscore(key, user_id)
        pipe.zrem(key, user_id)
        pipe.delete(self._key("typing", room_id, user_id))
        deadline, *_ = await pipe.execute()
        return deadline is not None and float(deadline) > self._now_ms()

    async def typing_expire(self, room_id: int, user_id: int) -> bool:
        expired = await self._typing_expire(
            keys=[self._key("typing", room_id), self._key("typing", room_id, user_id)],
            args=[self._now_ms(), user_id],
        )
        return bool(expired)

    async def typing_users(self, room_id: int) -> list[int]:
        """Unexpired typers, sorted by user id."""
        members = await self._redis.zrangebyscore(
            self._key("typing", room_id), f"({self._now_ms()}", "+inf"
        )
        # decode_responses=True: members are str.
        return sorted(int(cast(str, m)) for m in members)
