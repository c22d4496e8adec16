"""Server instances and crash safety: heartbeats, and reaping the connections of a dead one.

Redis keys:

    {p}:instances                  ZSET  instanceId -> expiry (ms)  server instances (heartbeat)
    {p}:iusers:{instanceId}        ZSET  userId -> last seen (ms)   users an instance serves

Connection ids are "{instanceId}:{anything}", so a surviving instance finds the connections
a dead one held (`instances_expired`, `instance_reap`) through the users it served.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, cast

from banter.core.state.base import RedisBackend, instance_of, ms
from banter.core.state.connections import IUSERS_TTL_MS, MemoryConnections


class InstanceRegistry(Protocol):
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


class MemoryInstances(MemoryConnections):
    """Builds on MemoryConnections: reaping removes a dead instance's connections."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(clock)
        self._instances: dict[str, float] = {}  # instance -> deadline

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
            removed = [c for c in conns if instance_of(c) == instance_id]
            for conn_id in removed:
                del conns[conn_id]
            reaped[user_id] = (len(self._live_conns(user_id, now)), removed)
        return reaped

    async def instance_remove(self, instance_id: str) -> None:
        self._instances.pop(instance_id, None)
        self._instance_users.pop(instance_id, None)


# KEYS: instances zset, instance users zset.
# ARGV: now, instanceId, deadline, ttl, iusers ttl, userId...
# Returns 1 when the instance was not registered (new, reaped, or Redis lost it). Users not
# re-noted for a whole ttl have left the instance and are dropped from its list.
INSTANCE_HEARTBEAT_LUA = """
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
INSTANCE_REAP_LUA = """
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


class RedisInstances(RedisBackend):
    def __init__(self, url: str, prefix: str, clock: Callable[[], float]) -> None:
        super().__init__(url, prefix, clock)
        self._instance_heartbeat = self._redis.register_script(INSTANCE_HEARTBEAT_LUA)
        self._instance_reap = self._redis.register_script(INSTANCE_REAP_LUA)

    async def instance_heartbeat(
        self, instance_id: str, ttl: float, user_ids: Iterable[int] = ()
    ) -> bool:
        now = self._now_ms()
        added = await self._instance_heartbeat(
            keys=[self._key("instances"), self._key("iusers", instance_id)],
            args=[now, instance_id, now + ms(ttl), ms(ttl), IUSERS_TTL_MS, *user_ids],
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
