"""Live presence: online/offline across devices and instances, and the chosen status.

The connection registry (banter.core.state, kept by the namespace) says how many
connections a user has on every instance; the presence key says whether the user has been
announced online and with which status. `user-online` goes out when the presence key is
created (first connection anywhere), `user-offline` when the last connection has been gone
for PRESENCE_OFFLINE_GRACE seconds, so a reload or network switch does not flap.

Presence events go to every room the user is in, except to the user's own sockets; a socket
sharing several rooms with the user gets each event once (broadcast dedupe).

Presence sits below chat: it knows users, not rooms. Which rooms hear a user's presence
is chat's knowledge, handed in by the composition root (banter/socket_routes.py) as
`rooms_of_user`; chat reads presence through `PresenceService.online_statuses`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from banter.accounts.models import User
from banter.core.coalesce import Coalescer
from banter.core.state import MemoryStateStore, get_state_store
from banter.realtime import lifecycle
from banter.realtime.broadcast import broadcast_now, room_group, user_group
from banter.realtime.cluster import LostInstance
from banter.realtime.dispatch import run_sync
from banter.realtime.tasks import spawn
from presence import payloads, services

logger = logging.getLogger("banter.presence")

INVISIBLE = User.PresenceStatus.INVISIBLE.value

# The rooms whose members see a user's presence events.
RoomsOfUser = Callable[[int], Awaitable[Sequence[int]]]

_mark_online = Coalescer(services.presence_mark_online)


def _ttl() -> float:
    return float(settings.BANTER["CONNECTION_TTL"])


class PresenceService:
    """Presence rules and this process's view of them (one instance per process)."""

    def __init__(self, rooms_of_user: RoomsOfUser) -> None:
        self._rooms_of_user = rooms_of_user
        # Offline announcements waiting out the grace period, per user, with the time the
        # user left.
        self._offline_timers: dict[int, asyncio.TimerHandle] = {}
        self._left_at: dict[int, datetime] = {}
        self._stale_reset_done = False

    async def online_statuses(self, user_ids: Sequence[int]) -> dict[int, str]:
        """Status of each user among user_ids whom others may see online (invisible excluded)."""
        statuses = await get_state_store().presence_get_many(list(user_ids))
        return {user_id: status for user_id, status in statuses.items() if status != INVISIBLE}

    async def user_connected(self, user: User) -> None:
        """Announce the user online if this is their first connection anywhere."""
        await self._reset_stale_online_once()
        user_id = int(user.pk)
        timer = self._offline_timers.pop(user_id, None)
        self._left_at.pop(user_id, None)
        if timer is not None:
            timer.cancel()
        await self.ensure_online(user)

    async def ensure_online(self, user: User) -> None:
        """Make the user's presence key exist; announce them when it did not (resync too:
        the shared state lost this instance's users, who are still connected here)."""
        status = user.presence_status
        user_id = int(user.pk)
        previous = await get_state_store().presence_set(
            user_id, status, _ttl(), only_if_absent=True
        )
        if previous is not None:
            return  # already online (another device, or a reconnect within the grace period)
        await _mark_online(user_id)
        if status != INVISIBLE:
            await self._announce(
                user_id, payloads.USER_ONLINE, payloads.user_online_payload(user, status)
            )

    def last_connection_closed(self, user_id: int) -> None:
        """The user's last connection anywhere closed: go offline after the grace period
        (unless a connection comes back meanwhile)."""
        previous = self._offline_timers.pop(user_id, None)
        if previous is not None:
            previous.cancel()
        # last_seen is when the user left, not when the grace period ran out.
        left_at = self._left_at[user_id] = timezone.now()
        self._offline_timers[user_id] = asyncio.get_running_loop().call_later(
            settings.BANTER["PRESENCE_OFFLINE_GRACE"],
            lambda: spawn(
                self.go_offline_if_idle(user_id, left_at), name=f"presence-offline-{user_id}"
            ),
        )

    async def on_instance_lost(self, lost: LostInstance) -> None:
        """A dead instance's users who have no connection left anywhere are offline now."""
        for user_id in lost.users_gone():
            await self.go_offline_if_idle(user_id, lost.last_beat)

    async def flush_offline_timers(self) -> None:
        """Shutdown hook: the offline announcements still waiting out their grace would die
        with the process. Wait until the last is due, but leave a second of the drain's
        budget to run them all: users who reconnected elsewhere meanwhile stay online, the
        others are announced offline by this instance before it exits."""
        if not self._offline_timers:
            return
        loop = asyncio.get_running_loop()
        due = max(timer.when() for timer in self._offline_timers.values())
        pending = {
            user_id: self._left_at.get(user_id, timezone.now()) for user_id in self._offline_timers
        }
        for timer in self._offline_timers.values():
            timer.cancel()
        self._offline_timers.clear()
        await asyncio.sleep(max(0.0, min(due - loop.time(), lifecycle.time_left() - 1.0)))
        for user_id, left_at in pending.items():
            await self.go_offline_if_idle(user_id, left_at)

    async def go_offline_if_idle(self, user_id: int, left_at: datetime) -> None:
        """Record and announce the user offline (as of left_at) unless a connection exists."""
        self._offline_timers.pop(user_id, None)
        self._left_at.pop(user_id, None)
        store = get_state_store()
        if await store.connection_count(user_id) > 0:
            return
        previous = await store.presence_clear(user_id)
        if previous is None:
            return  # another instance announced it already
        if await store.connection_count(user_id) > 0:
            # A device connected between the count and the clear: it saw the user online and
            # announced nothing, so keep the user online.
            await store.presence_set(user_id, previous, _ttl(), only_if_absent=True)
            return
        if previous == INVISIBLE:
            await run_sync(services.presence_mark_invisible_offline, user_id=user_id)
            return
        last_seen = await run_sync(services.presence_mark_offline, user_id=user_id, at=left_at)
        await self._announce(
            user_id, payloads.USER_OFFLINE, payloads.user_offline_payload(user_id, last_seen)
        )

    async def set_status(self, user: User, status: str) -> None:
        """The user chose a status (already checked): online, away, busy, or invisible
        (appear offline). Others learn what changed for them; the user's devices all do."""
        user_id = int(user.pk)
        previous = await get_state_store().presence_set(user_id, status, _ttl())
        last_seen = await run_sync(services.presence_status_save, user_id=user_id, status=status)
        user.presence_status = status
        was_visible = previous is not None and previous != INVISIBLE
        if status == INVISIBLE:
            if was_visible:
                await self._announce(
                    user_id,
                    payloads.USER_OFFLINE,
                    payloads.user_offline_payload(user_id, last_seen),
                )
        elif not was_visible:
            await self._announce(
                user_id, payloads.USER_ONLINE, payloads.user_online_payload(user, status)
            )
        elif previous != status:
            await self._announce(
                user_id, payloads.PRESENCE_UPDATE, payloads.presence_update_payload(user_id, status)
            )
        # The user's other devices show the chosen status too.
        broadcast_now(
            user_group(user_id),
            payloads.PRESENCE_UPDATE,
            payloads.presence_update_payload(user_id, status),
        )

    async def reconcile_online_flags(self) -> int:
        """Users the database shows online who have neither a connection nor a presence key
        anywhere went away unannounced (every instance died, or Redis lost its data while
        they were gone): record and announce them offline. Returns how many."""
        user_ids = await run_sync(services.online_user_ids)
        store = get_state_store()
        present = await store.presence_get_many(user_ids)
        fixed = 0
        for user_id in user_ids:
            if user_id in present or await store.connection_count(user_id) > 0:
                continue
            last_seen = await run_sync(services.presence_mark_offline, user_id=user_id)
            await self._announce(
                user_id, payloads.USER_OFFLINE, payloads.user_offline_payload(user_id, last_seen)
            )
            fixed += 1
        if fixed:
            logger.warning("presence: %d users were online with no connection; now offline", fixed)
        return fixed

    async def run_online_reconciler(self) -> None:
        """Background loop: one instance per RECONCILE_INTERVAL reconciles the online flags."""
        interval = float(settings.BANTER["PRESENCE_RECONCILE_INTERVAL"])
        while True:
            await asyncio.sleep(interval)
            try:
                if await get_state_store().throttle("presence-reconcile", interval):
                    await self.reconcile_online_flags()
            except Exception:
                logger.warning("presence reconcile could not run", exc_info=True)

    async def _announce(self, user_id: int, event: str, payload: Mapping[str, Any]) -> None:
        room_ids = await self._rooms_of_user(user_id)
        if room_ids:
            broadcast_now(
                [room_group(room_id) for room_id in room_ids], event, payload, exclude=user_id
            )

    async def _reset_stale_online_once(self) -> None:
        """Embedded default: presence lives in this process's memory, so users marked online
        in the database by an earlier run (killed without a clean shutdown) are offline now."""
        if self._stale_reset_done:
            return
        self._stale_reset_done = True
        if isinstance(get_state_store(), MemoryStateStore):
            await run_sync(services.presence_reset_all_offline)
