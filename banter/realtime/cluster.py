"""Crash safety across instances: each instance heartbeats, survivors reap the dead.

Every instance renews `{p}:instances` (its expiry) and the list of users it serves on each
heartbeat (banter.realtime.namespace). When an instance stops beating for INSTANCE_TTL (kill -9,
a lost machine, a partition), any surviving instance claims it exactly once, removes its
connections from the registry and runs the lost-instance hooks: presence announces the
users whose last connection was there as offline, calls mark their calls dropped. It also
tells every hub (banter.realtime.hub), which then reads from the log the room messages the
dead instance committed but may never have published.

An instance that was only stalled (or whose Redis restarted and lost everything) learns it
on its next heartbeat and registers its connections again (BanterNamespace._heartbeat).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from channels.layers import get_channel_layer
from django.conf import settings

from banter.core.instance import INSTANCE_ID
from banter.core.state import get_state_store
from banter.realtime import hub

logger = logging.getLogger("banter.realtime.cluster")


@dataclass(frozen=True)
class LostInstance:
    """A dead instance's connections, removed from the registry by the reaper."""

    instance_id: str
    last_beat: datetime  # when it was last known alive
    # userId -> (the user's live connections left on other instances, removed conn ids)
    users: dict[int, tuple[int, list[str]]]

    def users_gone(self) -> list[int]:
        """Users who have no connection left anywhere."""
        return sorted(user_id for user_id, (left, _) in self.users.items() if left == 0)


LostHook = Callable[[LostInstance], Awaitable[None]]


def instance_ttl() -> float:
    return float(settings.BANTER["INSTANCE_TTL"])


def heartbeat_interval() -> float:
    """Beat three times per lifetime, so one late beat never expires an instance."""
    return min(instance_ttl(), float(settings.BANTER["CONNECTION_TTL"])) / 3


def device_of(conn_id: str) -> str:
    """The socket id part of a registry connection id ("{instance}:{sid}")."""
    return conn_id.rpartition(":")[2]


async def deregister() -> None:
    """Shutdown hook: this instance's sockets are closed; leave the instance set so nobody
    reaps (and re-announces) what was already cleaned up."""
    await get_state_store().instance_remove(INSTANCE_ID)


async def reap_dead_instances(hooks: Sequence[LostHook]) -> list[LostInstance]:
    """Claim every expired instance (exactly one survivor wins each) and run the hooks."""
    store = get_state_store()
    lost: list[LostInstance] = []
    for instance_id, expiry in await store.instances_expired():
        users = await store.instance_reap(instance_id)
        if users is None:
            continue  # another instance claimed it
        last_beat = datetime.fromtimestamp(expiry - instance_ttl(), tz=UTC)
        dead = LostInstance(instance_id, last_beat, users)
        logger.warning(
            "instance %s stopped heartbeating (last beat %s): removed %d connections of %d "
            "users, %d now offline",
            instance_id,
            last_beat.isoformat(),
            sum(len(ids) for _, ids in users.values()),
            len(users),
            len(dead.users_gone()),
        )
        await _announce_lost(instance_id)
        for hook in hooks:
            try:
                await hook(dead)
            except Exception:
                logger.exception("lost-instance hook %s failed", getattr(hook, "__name__", hook))
        lost.append(dead)
    return lost


async def _announce_lost(instance_id: str) -> None:
    message = {"type": hub.INSTANCE_LOST_TYPE, "instance": instance_id}
    running = hub.running_hub()
    if running is not None:
        running.publish(hub.CLUSTER_GROUP, message)
        return
    # No hub here (no socket served yet): the others still need to hear it.
    layer = get_channel_layer()
    try:
        if layer is not None:
            await layer.group_send(hub.CLUSTER_GROUP, message)
    except Exception:
        logger.warning("could not tell the other instances that %s died", instance_id)


async def run_instance_reaper(hooks: Sequence[LostHook]) -> None:
    """Background loop of every instance: look for dead instances every REAP_INTERVAL."""
    interval = float(settings.BANTER["REAP_INTERVAL"])
    while True:
        await asyncio.sleep(interval)
        try:
            await reap_dead_instances(hooks)
        except Exception:
            # Redis down: the heartbeat and readiness report it; try again next round.
            logger.warning("instance reaper could not run", exc_info=True)
