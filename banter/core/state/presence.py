"""Presence: each online user's status.

Redis key: {p}:presence:{userId}, a STRING status with PX ttl, set while the user is online.
Unlike the other concerns it is a plain status whose lifetime is its Redis TTL (so a fake
clock does not expire it there); the connection heartbeat extends that TTL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from banter.core.state.base import MemoryBackend, RedisBackend, ms, str_or_none


class PresenceStore(Protocol):
    async def presence_set(
        self, user_id: int, status: str, ttl: float, *, only_if_absent: bool = False
    ) -> str | None:
        """Store the user's status; returns the previous one (None when offline).

        With only_if_absent an existing status is kept (and returned): of several instances
        racing to announce a user online, exactly one sees None.
        """

    async def presence_clear(self, user_id: int) -> str | None:
        """Mark the user offline; returns the status they had (None if already offline)."""

    async def presence_get_many(self, user_ids: Sequence[int]) -> dict[int, str]:
        """Status of each online user among user_ids (offline users are absent)."""


class MemoryPresence(MemoryBackend):
    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(clock)
        self._presence: dict[int, tuple[str, float]] = {}  # user -> (status, deadline)

    async def presence_set(
        self, user_id: int, status: str, ttl: float, *, only_if_absent: bool = False
    ) -> str | None:
        now = self._now()
        previous = self._live_presence(user_id, now)
        if previous is None or not only_if_absent:
            self._presence[user_id] = (status, now + ttl)
        return previous

    async def presence_clear(self, user_id: int) -> str | None:
        previous = self._live_presence(user_id, self._now())
        self._presence.pop(user_id, None)
        return previous

    async def presence_get_many(self, user_ids: Sequence[int]) -> dict[int, str]:
        now = self._now()
        found = {user_id: self._live_presence(user_id, now) for user_id in user_ids}
        return {user_id: status for user_id, status in found.items() if status is not None}

    def _sweep(self, now: float) -> None:
        super()._sweep(now)
        for user_id in list(self._presence):
            self._live_presence(user_id, now)

    def _live_presence(self, user_id: int, now: float) -> str | None:
        entry = self._presence.get(user_id)
        if entry is None:
            return None
        if entry[1] <= now:
            del self._presence[user_id]
            return None
        return entry[0]


class RedisPresence(RedisBackend):
    async def presence_set(
        self, user_id: int, status: str, ttl: float, *, only_if_absent: bool = False
    ) -> str | None:
        # SET ... NX GET (Redis >= 7.0) keeps and returns an existing status atomically.
        previous = await self._redis.set(
            self._key("presence", user_id), status, px=ms(ttl), nx=only_if_absent, get=True
        )
        return str_or_none(previous)

    async def presence_clear(self, user_id: int) -> str | None:
        return str_or_none(await self._redis.getdel(self._key("presence", user_id)))

    async def presence_get_many(self, user_ids: Sequence[int]) -> dict[int, str]:
        if not user_ids:
            return {}
        values = await self._redis.mget([self._key("presence", u) for u in user_ids])
        return {u: str(v) for u, v in zip(user_ids, values, strict=True) if v is not None}
