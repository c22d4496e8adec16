"""The connection registry: which connections each user has live, on every instance.

Redis keys:

    {p}:conn:{userId}              ZSET  connId -> expiry (ms)   live connections of a user
    {p}:iusers:{instanceId}        ZSET  userId -> last seen (ms)   users an instance serves

Registering a connection also notes its user under the instance holding it, so that a
survivor can clean up after a dead instance (see instances.py). The heartbeat
(`connections_refresh`) extends the users' presence too, in the same round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from banter.core.state.base import RedisBackend, instance_of, ms
from banter.core.state.presence import MemoryPresence

# An instance's user list outlives its heartbeat long enough for a survivor to reap it.
IUSERS_TTL_MS = 120_000


class ConnectionRegistry(Protocol):
    async def connection_add(self, user_id: int, conn_id: str, ttl: float) -> int:
        """Register a live connection (expires after ttl unless refreshed).

        Returns the user's number of live connections, on every instance, including this one.
        """

    async def connection_remove(self, user_id: int, conn_id: str) -> int:
        """Forget a connection; returns the user's remaining live connections."""

    async def connection_count(self, user_id: int) -> int:
        """Live (unexpired) connections of the user on every instance."""

    async def connections_refresh(
        self, entries: Iterable[tuple[int, str]], ttl: float, *, recreate: bool = False
    ) -> None:
        """Heartbeat: extend these (userId, connId) entries and their users' presence keys
        by ttl, in one round trip.

        Entries no longer registered are not re-created (a disconnect racing the heartbeat
        must not leave a ghost), unless `recreate`: after the backend lost them.
        """


class MemoryConnections(MemoryPresence):
    """Builds on MemoryPresence: the heartbeat extends presence deadlines too."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(clock)
        self._conns: dict[int, dict[str, float]] = {}  # user -> connId -> deadline
        self._instance_users: dict[str, dict[int, float]] = {}  # instance -> user -> seen

    async def connection_add(self, user_id: int, conn_id: str, ttl: float) -> int:
        now = self._now()
        conns = self._live_conns(user_id, now)
        conns[conn_id] = now + ttl
        self._conns[user_id] = conns
        self._instance_users.setdefault(instance_of(conn_id), {})[user_id] = now
        return len(conns)

    async def connection_remove(self, user_id: int, conn_id: str) -> int:
        conns = self._live_conns(user_id, self._now())
        conns.pop(conn_id, None)
        if not conns:
            self._conns.pop(user_id, None)
        return len(conns)

    async def connection_count(self, user_id: int) -> int:
        return len(self._live_conns(user_id, self._now()))

    async def connections_refresh(
        self, entries: Iterable[tuple[int, str]], ttl: float, *, recreate: bool = False
    ) -> None:
        now = self._now()
        for user_id, conn_id in entries:
            # Like Redis ZADD XX: only entries still registered are extended.
            conns = self._conns.get(user_id)
            if recreate:
                conns = self._conns.setdefault(user_id, {})
                conns[conn_id] = now + ttl
                self._instance_users.setdefault(instance_of(conn_id), {})[user_id] = now
            elif conns is not None and conn_id in conns:
                conns[conn_id] = now + ttl
            presence = self._presence.get(user_id)
            if presence is not None and presence[1] > now:
                self._presence[user_id] = (presence[0], now + ttl)

    def _sweep(self, now: float) -> None:
        super()._sweep(now)
        for user_id in list(self._conns):
            self._live_conns(user_id, now)

    def _live_conns(self, user_id: int, now: float) -> dict[str, float]:
        """The user's unexpired connections (a new dict, not stored, when there are none)."""
        conns = self._conns.get(user_id)
        if conns is None:
            return {}
        for conn_id in [c for c, deadline in conns.items() if deadline <= now]:
            del conns[conn_id]
        if not conns:
            del self._conns[user_id]
        return conns


# Connections refreshed per heartbeat pipeline (see RedisConnections.connections_refresh).
REFRESH_CHUNK = 100

# Scripts take the caller's clock as ARGV[1] (ms) so every instance and every test decides
# expiry by the same clock; key TTLs (Redis time) only bound garbage.
# KEYS: conn zset, instance users zset. ARGV: now, connId, deadline, userId, iusers ttl.
CONNECTION_ADD_LUA = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(last[2]) - now))
redis.call('ZADD', KEYS[2], now, ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return redis.call('ZCARD', KEYS[1])
"""


class RedisConnections(RedisBackend):
    def __init__(self, url: str, prefix: str, clock: Callable[[], float]) -> None:
        super().__init__(url, prefix, clock)
        self._connection_add = self._redis.register_script(CONNECTION_ADD_LUA)

    async def connection_add(self, user_id: int, conn_id: str, ttl: float) -> int:
        now = self._now_ms()
        count = await self._connection_add(
            keys=[self._key("conn", user_id), self._key("iusers", instance_of(conn_id))],
            args=[now, conn_id, now + ms(ttl), user_id, IUSERS_TTL_MS],
        )
        return int(count)

    async def connection_remove(self, user_id: int, conn_id: str) -> int:
        key = self._key("conn", user_id)
        pipe = self._redis.pipeline(transaction=True)
        pipe.zrem(key, conn_id)
        pipe.zremrangebyscore(key, "-inf", self._now_ms())
        pipe.zcard(key)
        *_, count = await pipe.execute()
        return int(count)

    async def connection_count(self, user_id: int) -> int:
        return int(
            await self._redis.zcount(self._key("conn", user_id), f"({self._now_ms()}", "+inf")
        )

    async def connections_refresh(
        self, entries: Iterable[tuple[int, str]], ttl: float, *, recreate: bool = False
    ) -> None:
        entries = list(entries)
        # In chunks, each its own round trip: one pipeline of 3000 commands for 1000
        # connections was built and parsed on the event loop in one go, a 150 ms stall of
        # every socket each heartbeat (make bench with REDIS_URL at 1500 msgs/s).
        for start in range(0, len(entries), REFRESH_CHUNK):
            await self._refresh_chunk(entries[start : start + REFRESH_CHUNK], ttl, recreate)

    async def _refresh_chunk(
        self, entries: list[tuple[int, str]], ttl: float, recreate: bool
    ) -> None:
        ttl_ms = ms(ttl)
        now = self._now_ms()
        deadline = now + ttl_ms
        pipe = self._redis.pipeline(transaction=False)
        for user_id, conn_id in entries:
            key = self._key("conn", user_id)
            pipe.zadd(key, {conn_id: deadline}, xx=not recreate)
            if recreate:
                pipe.expire(key, 1, nx=True)  # a re-created key must get a TTL below
                iusers = self._key("iusers", instance_of(conn_id))
                pipe.zadd(iusers, {str(user_id): now})
                pipe.pexpire(iusers, IUSERS_TTL_MS)
            # GT: never shorten the key below another instance's longer-lived entry.
            pipe.pexpire(key, ttl_ms, gt=True)
        for user_id in {user_id for user_id, _ in entries}:
            pipe.pexpire(self._key("presence", user_id), ttl_ms)
        await pipe.execute()
