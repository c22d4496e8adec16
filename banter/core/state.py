"""The shared ephemeral state store: connection registry, presence, typing, rate limits.

One interface, two backends: `MemoryStateStore` (the embedded default, one process) and
`RedisStateStore` (REDIS_URL, several instances). Everything here is ephemeral and carries
a TTL, so a crashed instance cannot leave a user "online" or "typing" forever; durable
facts (messages, read positions, last_seen) live in the database.

Redis keys (prefix = settings.REDIS_PREFIX, default "banter"):

    {p}:conn:{userId}              ZSET  connId -> expiry (ms)   live connections of a user
    {p}:instances                  ZSET  instanceId -> expiry (ms)  server instances (heartbeat)
    {p}:iusers:{instanceId}        ZSET  userId -> last seen (ms)   users an instance serves
    {p}:presence:{userId}          STRING status, PX ttl         set while the user is online
    {p}:typing:{roomId}            ZSET  userId -> expiry (ms)   who is typing in a room
    {p}:typing:{roomId}:{userId}   STRING due (ms), PX rebroadcast  "user-typing was sent"
    {p}:rl:{key}                   HASH  tokens, stamp, PX       token bucket
    {p}:throttle:{key}             STRING due (ms), PX interval  at most one per interval

Connection ids are "{instanceId}:{anything}": the part before the last colon names the
instance holding the connection, so a surviving instance can clean up after a dead one
(`instances_expired`, `instance_reap`).

Times are wall-clock seconds from an injectable `clock`, passed into Redis scripts as
milliseconds, so tests control time and instances agree on expiries: sorted-set scores and
the "due" values decide, and the keys' TTLs only reclaim what nobody cleans up. The one
exception is presence, a plain status string whose lifetime is its Redis TTL (so a fake
clock does not expire it there).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, cast

from django.conf import settings

from banter.core import redis_conn
from banter.core.ratelimit import (
    Decision,
    MemoryRateLimiter,
    Rate,
    RedisRateLimiter,
    get_rate_limiter,
    loop_local,
)


class StateStore(Protocol):
    # -- connection registry --------------------------------------------------------
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

    # -- instances (crash safety) ---------------------------------------------------
    async def instance_heartbeat(
        self, instance_id: str, ttl: float, user_ids: Iterable[int] = ()
    ) -> bool:
        """Mark the instance alive until now+ttl and note the users it serves.

        True when the instance was not registered: its first beat, or it was reaped as dead
        (a stall longer than ttl), or the backend lost its data (Redis restarted). The caller
        must then re-register its connections.
        """

    async def instances_expired(self) -> list[tuple[str, float]]:
        """(instanceId, expiry) of every instance whose heartbeat ran out."""

    async def instance_reap(self, instance_id: str) -> dict[int, tuple[int, list[str]]] | None:
        """Claim a dead instance and remove its connections from the registry.

        Exactly one caller gets the result (None for the others): for each user the instance
        served, (live connections left anywhere, the connection ids removed).
        """

    async def instance_remove(self, instance_id: str) -> None:
        """Forget an instance that shut down cleanly (nobody reaps it)."""

    # -- presence -------------------------------------------------------------------
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

    # -- typing ---------------------------------------------------------------------
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

    # -- rate limits and throttles --------------------------------------------------
    async def rate_hit(self, key: str, rate: Rate, cost: float = 1.0) -> Decision:
        """Token bucket shared by every instance (see banter.core.ratelimit)."""

    async def throttle(self, key: str, interval: float) -> bool:
        """True at most once per interval per key (the first caller wins)."""

    # -- lifecycle ------------------------------------------------------------------
    async def ping(self) -> None:
        """Raise if the backend is unreachable (readiness checks)."""

    async def close(self) -> None:
        """Release connections (tests, shutdown)."""


# An instance's user list outlives its heartbeat long enough for a survivor to reap it.
_IUSERS_TTL_MS = 120_000
# Expired typing marks are kept this long past their deadline before pruning, so the
# instance whose expiry timer is due still finds the mark and broadcasts the stop.
TYPING_GRACE = 30.0
# MemoryStateStore sweeps every table this often, dropping keys nobody touched again.
_SWEEP_EVERY = 60.0


class MemoryStateStore:
    """The embedded backend: plain dicts for one process on one event loop.

    Methods are async for the interface's sake but never suspend, so each one is atomic.
    Expired entries count as absent; they are pruned when their user/room/key is touched
    (typing marks only after TYPING_GRACE) and by a sweep of all tables at most once per
    clock minute, which bounds memory.
    """

    def __init__(
        self, clock: Callable[[], float] = time.time, limiter: MemoryRateLimiter | None = None
    ):
        self._clock = clock
        self._limiter = limiter if limiter is not None else MemoryRateLimiter(clock=clock)
        self._conns: dict[int, dict[str, float]] = {}  # user -> connId -> deadline
        self._presence: dict[int, tuple[str, float]] = {}  # user -> (status, deadline)
        self._typing: dict[int, dict[int, float]] = {}  # room -> user -> deadline
        self._typing_sent: dict[tuple[int, int], float] = {}  # (room, user) -> rebroadcast at
        self._throttles: dict[str, float] = {}  # key -> deadline
        self._instances: dict[str, float] = {}  # instance -> deadline
        self._instance_users: dict[str, dict[int, float]] = {}  # instance -> user -> seen
        self._next_sweep = clock() + _SWEEP_EVERY

    # -- connection registry --------------------------------------------------------
    async def connection_add(self, user_id: int, conn_id: str, ttl: float) -> int:
        now = self._now()
        conns = self._live_conns(user_id, now)
        conns[conn_id] = now + ttl
        self._conns[user_id] = conns
        self._instance_users.setdefault(_instance_of(conn_id), {})[user_id] = now
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
                self._instance_users.setdefault(_instance_of(conn_id), {})[user_id] = now
            elif conns is not None and conn_id in conns:
                conns[conn_id] = now + ttl
            presence = self._presence.get(user_id)
            if presence is not None and presence[1] > now:
                self._presence[user_id] = (presence[0], now + ttl)

    # -- instances -------------------------------------------------------------------
    async def instance_heartbeat(
        self, instance_id: str, ttl: float, user_ids: Iterable[int] = ()
    ) -> bool:
        now = self._now()
        new = instance_id not in self._instances
        self._instances[instance_id] = now + ttl
        users = self._instance_users.setdefault(instance_id, {})
        for user_id in user_ids:
            users[user_id] = now
        for user_id in [u for u, seen in users.items() if seen <= now - ttl]:
            del users[user_id]
        return new

    async def instances_expired(self) -> list[tuple[str, float]]:
        now = self._now()
        return sorted((i, deadline) for i, deadline in self._instances.items() if deadline <= now)

    async def instance_reap(self, instance_id: str) -> dict[int, tuple[int, list[str]]] | None:
        if self._instances.pop(instance_id, None) is None:
            return None
        now = self._now()
        reaped: dict[int, tuple[int, list[str]]] = {}
        for user_id in self._instance_users.pop(instance_id, {}):
            conns = self._conns.get(user_id, {})
            removed = [c for c in conns if _instance_of(c) == instance_id]
            for conn_id in removed:
                del conns[conn_id]
            reaped[user_id] = (len(self._live_conns(user_id, now)), removed)
        return reaped

    async def instance_remove(self, instance_id: str) -> None:
        self._instances.pop(instance_id, None)
        self._instance_users.pop(instance_id, None)

    # -- presence -------------------------------------------------------------------
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

    # -- typing ---------------------------------------------------------------------
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

    # -- rate limits and throttles --------------------------------------------------
    async def rate_hit(self, key: str, rate: Rate, cost: float = 1.0) -> Decision:
        return self._limiter.hit(key, rate, cost)

    async def throttle(self, key: str, interval: float) -> bool:
        now = self._now()
        if self._throttles.get(key, now) > now:
            return False
        self._throttles[key] = now + interval
        return True

    # -- lifecycle ------------------------------------------------------------------
    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    # -- internals ------------------------------------------------------------------
    def _now(self) -> float:
        now = self._clock()
        if now >= self._next_sweep:
            self._next_sweep = now + _SWEEP_EVERY
            self._sweep(now)
        return now

    def _sweep(self, now: float) -> None:
        for user_id in list(self._conns):
            self._live_conns(user_id, now)
        for user_id in list(self._presence):
            self._live_presence(user_id, now)
        for room_id in list(self._typing):
            self._room_typing(room_id, now)
        self._throttles = {k: deadline for k, deadline in self._throttles.items() if deadline > now}

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

    def _live_presence(self, user_id: int, now: float) -> str | None:
        entry = self._presence.get(user_id)
        if entry is None:
            return None
        if entry[1] <= now:
            del self._presence[user_id]
            return None
        return entry[0]

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


def _instance_of(conn_id: str) -> str:
    return conn_id.rpartition(":")[0]


def _ms(seconds: float) -> int:
    # PX/PEXPIRE reject 0: the shortest lifetime Redis accepts is 1 ms.
    return max(1, round(seconds * 1000))


# Scripts take the caller's clock as ARGV[1] (ms) so every instance and every test decides
# expiry by the same clock; key TTLs (Redis time) only bound garbage.
# KEYS: conn zset, instance users zset. ARGV: now, connId, deadline, userId, iusers ttl.
_CONNECTION_ADD_LUA = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(last[2]) - now))
redis.call('ZADD', KEYS[2], now, ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return redis.call('ZCARD', KEYS[1])
"""

# KEYS: instances zset, instance users zset.
# ARGV: now, instanceId, deadline, ttl, iusers ttl, userId...
# Returns 1 when the instance was not registered (new, reaped, or Redis lost it). Users not
# re-noted for a whole ttl have left the instance and are dropped from its list.
_INSTANCE_HEARTBEAT_LUA = """
local now = tonumber(ARGV[1])
local added = redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
for i = 6, #ARGV do redis.call('ZADD', KEYS[2], now, ARGV[i]) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[4]))
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return added
"""

# KEYS: instances zset. ARGV: prefix, instanceId, now. The ZREM is the claim: of several
# reapers exactly one removes the member. Per-user conn keys are derived from the prefix
# (fine on one Redis or Sentinel; Redis Cluster would need hash tags).
# Returns false (claimed by another) or a flat list: userId, left, n, connId*n, ...
_INSTANCE_REAP_LUA = """
if redis.call('ZREM', KEYS[1], ARGV[2]) == 0 then return false end
local iusers = ARGV[1] .. ':iusers:' .. ARGV[2]
local mark = ARGV[2] .. ':'
local out = {}
for _, uid in ipairs(redis.call('ZRANGE', iusers, 0, -1)) do
  local key = ARGV[1] .. ':conn:' .. uid
  local removed = {}
  for _, conn in ipairs(redis.call('ZRANGE', key, 0, -1)) do
    if string.sub(conn, 1, #mark) == mark then table.insert(removed, conn) end
  end
  for _, conn in ipairs(removed) do redis.call('ZREM', key, conn) end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[3])
  table.insert(out, uid)
  table.insert(out, redis.call('ZCARD', key))
  table.insert(out, #removed)
  for _, conn in ipairs(removed) do table.insert(out, conn) end
end
redis.call('DEL', iusers)
return out
"""

# KEYS: typing zset, sent marker. ARGV: now, userId, deadline, grace, rebroadcast (ms).
# The sent marker holds the time the next rebroadcast is due; its PX only bounds garbage.
_TYPING_START_LUA = """
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

_TYPING_EXPIRE_LUA = """
local deadline = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[2]))
if deadline == nil or deadline > tonumber(ARGV[1]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2])
return 1
"""

# The value is the deadline, so the clock (not Redis time) decides; PX bounds garbage.
_THROTTLE_LUA = """
local due = tonumber(redis.call('GET', KEYS[1]))
if due ~= nil and due > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), 'PX', ARGV[2])
return 1
"""


class RedisStateStore:
    """The shared backend: one Redis for every instance, one round trip per method.

    A redis.asyncio client belongs to the event loop that first uses it, so use an instance
    on one loop only (get_state_store() keeps one per loop).
    """

    def __init__(self, url: str, prefix: str = "banter", clock: Callable[[], float] = time.time):
        self._redis = redis_conn.async_client(url, decode_responses=True)
        self._prefix = prefix
        self._clock = clock
        self._limiter = RedisRateLimiter(url, prefix, clock, aclient=self._redis)
        self._connection_add = self._redis.register_script(_CONNECTION_ADD_LUA)
        self._instance_heartbeat = self._redis.register_script(_INSTANCE_HEARTBEAT_LUA)
        self._instance_reap = self._redis.register_script(_INSTANCE_REAP_LUA)
        self._typing_start = self._redis.register_script(_TYPING_START_LUA)
        self._typing_expire = self._redis.register_script(_TYPING_EXPIRE_LUA)
        self._throttle = self._redis.register_script(_THROTTLE_LUA)

    # -- connection registry --------------------------------------------------------
    async def connection_add(self, user_id: int, conn_id: str, ttl: float) -> int:
        now = self._now_ms()
        count = await self._connection_add(
            keys=[self._key("conn", user_id), self._key("iusers", _instance_of(conn_id))],
            args=[now, conn_id, now + _ms(ttl), user_id, _IUSERS_TTL_MS],
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
        if not entries:
            return
        ttl_ms = _ms(ttl)
        now = self._now_ms()
        deadline = now + ttl_ms
        pipe = self._redis.pipeline(transaction=False)
        for user_id, conn_id in entries:
            key = self._key("conn", user_id)
            pipe.zadd(key, {conn_id: deadline}, xx=not recreate)
            if recreate:
                pipe.expire(key, 1, nx=True)  # a re-created key must get a TTL below
                iusers = self._key("iusers", _instance_of(conn_id))
                pipe.zadd(iusers, {str(user_id): now})
                pipe.pexpire(iusers, _IUSERS_TTL_MS)
            # GT: never shorten the key below another instance's longer-lived entry.
            pipe.pexpire(key, ttl_ms, gt=True)
        for user_id in {user_id for user_id, _ in entries}:
            pipe.pexpire(self._key("presence", user_id), ttl_ms)
        await pipe.execute()

    # -- instances -------------------------------------------------------------------
    async def instance_heartbeat(
        self, instance_id: str, ttl: float, user_ids: Iterable[int] = ()
    ) -> bool:
        now = self._now_ms()
        added = await self._instance_heartbeat(
            keys=[self._key("instances"), self._key("iusers", instance_id)],
            args=[now, instance_id, now + _ms(ttl), _ms(ttl), _IUSERS_TTL_MS, *user_ids],
        )
        return bool(added)

    async def instances_expired(self) -> list[tuple[str, float]]:
        expired = await self._redis.zrangebyscore(
            self._key("instances"), "-inf", self._now_ms(), withscores=True
        )
        pairs = cast(list[tuple[str, float]], expired)
        return [(str(member), float(score) / 1000) for member, score in pairs]

    async def instance_reap(self, instance_id: str) -> dict[int, tuple[int, list[str]]] | None:
        flat = await self._instance_reap(
            keys=[self._key("instances")], args=[self._prefix, instance_id, self._now_ms()]
        )
        if flat is None:
            return None
        reaped: dict[int, tuple[int, list[str]]] = {}
        items = iter(flat)
        for user_id in items:
            left, count = int(next(items)), int(next(items))
            reaped[int(user_id)] = (left, [str(next(items)) for _ in range(count)])
        return reaped

    async def instance_remove(self, instance_id: str) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.zrem(self._key("instances"), instance_id)
        pipe.delete(self._key("iusers", instance_id))
        await pipe.execute()

    # -- presence -------------------------------------------------------------------
    async def presence_set(
        self, user_id: int, status: str, ttl: float, *, only_if_absent: bool = False
    ) -> str | None:
        # SET ... NX GET (Redis >= 7.0) keeps and returns an existing status atomically.
        previous = await self._redis.set(
            self._key("presence", user_id), status, px=_ms(ttl), nx=only_if_absent, get=True
        )
        return _str_or_none(previous)

    async def presence_clear(self, user_id: int) -> str | None:
        return _str_or_none(await self._redis.getdel(self._key("presence", user_id)))

    async def presence_get_many(self, user_ids: Sequence[int]) -> dict[int, str]:
        if not user_ids:
            return {}
        values = await self._redis.mget([self._key("presence", u) for u in user_ids])
        return {u: str(v) for u, v in zip(user_ids, values, strict=True) if v is not None}

    # -- typing ---------------------------------------------------------------------
    async def typing_start(
        self, room_id: int, user_id: int, ttl: float, rebroadcast_after: float
    ) -> bool:
        now = self._now_ms()
        started = await self._typing_start(
            keys=[self._key("typing", room_id), self._key("typing", room_id, user_id)],
            args=[now, user_id, now + _ms(ttl), _ms(TYPING_GRACE), _ms(rebroadcast_after)],
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

    # -- rate limits and throttles --------------------------------------------------
    async def rate_hit(self, key: str, rate: Rate, cost: float = 1.0) -> Decision:
        return await self._limiter.ahit(key, rate, cost)

    async def throttle(self, key: str, interval: float) -> bool:
        won = await self._throttle(
            keys=[self._key("throttle", key)], args=[self._now_ms(), _ms(interval)]
        )
        return bool(won)

    # -- lifecycle ------------------------------------------------------------------
    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()

    # -- internals ------------------------------------------------------------------
    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _key(self, kind: str, *parts: int | str) -> str:
        return ":".join([self._prefix, kind, *map(str, parts)])


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


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
