"""Read receipts with burst coalescing: at most one write + `message-read` per user/room
per READ_COALESCE_INTERVAL on this process.

A client scrolling through history may mark every message it shows. The first mark of a
burst is written at once; marks arriving within the interval are checked (membership, the
message is in the room) and answered right away, and the furthest of them is written when
the interval ends, with the time the client marked it. The position only moves forward (the
service's conditional UPDATE), so the order in which writes land does not matter.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from banter.accounts.models import User
from banter.realtime.dispatch import run_sync
from banter.realtime.tasks import spawn
from chat import selectors, services
from chat.models import Membership

_MAX_TRACKED = 10_000


@dataclass(frozen=True, slots=True)
class ReadPosition:
    """Where the user's read position in a room is (or will be once a coalesced write lands)."""

    room_id: int
    message_id: int | None
    read_at: datetime | None
    seq: int

    @classmethod
    def of(cls, membership: Membership) -> ReadPosition:
        return cls(
            membership.room_id,
            membership.last_read_message_id,
            membership.read_at,
            membership.last_read_seq,
        )


@dataclass(slots=True)
class _Pending:
    user: User
    room_id: int
    message_id: int
    seq: int
    read_at: datetime


class ReadReceiptService:
    """Read-position moves and this process's coalescing state (one instance per process)."""

    def __init__(self) -> None:
        # When each (user, room) was last written, and the furthest mark waiting for the
        # interval to end.
        self._last_write: dict[tuple[int, int], float] = {}
        self._pending: dict[tuple[int, int], _Pending] = {}

    async def mark_read(self, user: User, room_id: Any, message_id: Any) -> ReadPosition:
        """Move the user's read position in a room forward to the message (both unchecked)."""
        membership, message = await run_sync(selectors.read_target, user, room_id, message_id)
        room_id = membership.room_id
        key = (int(user.pk), room_id)
        interval = float(settings.BANTER["READ_COALESCE_INTERVAL"])
        now = time.monotonic()
        pending = self._pending.get(key)
        if pending is None and now - self._last_write.get(key, -interval) >= interval:
            self._remember_write(key, now)
            written = await run_sync(
                services.read_position_mark, user=user, room_id=room_id, message_id=message.pk
            )
            return ReadPosition.of(written)

        read_at = timezone.now()
        if pending is None:
            self._pending[key] = _Pending(user, room_id, message.pk, message.seq, read_at)
            delay = max(0.0, self._last_write.get(key, now) + interval - now)
            spawn(self._write_later(key, delay), name=f"mark-read-{key[0]}-{key[1]}")
        elif message.seq >= pending.seq:
            pending.message_id, pending.seq, pending.read_at = message.pk, message.seq, read_at
        furthest = self._pending[key]
        if membership.last_read_seq >= furthest.seq:
            return ReadPosition.of(membership)  # already read further: the position stays
        return ReadPosition(room_id, furthest.message_id, furthest.read_at, furthest.seq)

    async def _write_later(self, key: tuple[int, int], delay: float) -> None:
        await asyncio.sleep(delay)
        pending = self._pending.pop(key, None)
        if pending is None:
            return
        self._remember_write(key, time.monotonic())
        await run_sync(
            services.read_position_mark,
            user=pending.user,
            room_id=pending.room_id,
            message_id=pending.message_id,
            read_at=pending.read_at,
        )

    def _remember_write(self, key: tuple[int, int], now: float) -> None:
        if len(self._last_write) >= _MAX_TRACKED:
            # Entries older than any interval decide nothing any more.
            horizon = now - 60.0
            for stale in [k for k, stamp in self._last_write.items() if stamp < horizon]:
                del self._last_write[stale]
        self._last_write[key] = now
