"""`mark-read` with burst coalescing: at most one write + `message-read` per user/room per
READ_COALESCE_INTERVAL on this process.

A client scrolling through history may mark every message it shows. The first mark of a
burst is written at once; marks arriving within the interval are checked (membership, the
message is in the room) and acked right away, and the furthest of them is written when the
interval ends, with the time the client marked it. The position only moves forward (the
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
from banter.core.errors import validation_error
from banter.core.timestamps import iso_utc
from banter.realtime.dispatch import EventContext, run_sync
from banter.realtime.tasks import spawn
from chat import selectors, services
from chat.models import Membership

_MAX_TRACKED = 10_000


@dataclass(slots=True)
class _Pending:
    user: User
    room_id: int
    message_id: int
    seq: int
    read_at: datetime


_last_write: dict[tuple[int, int], float] = {}
_pending: dict[tuple[int, int], _Pending] = {}


def read_ack(membership: Membership) -> dict[str, Any]:
    return {
        "roomId": membership.room_id,
        "messageId": membership.last_read_message_id,
        "readAt": iso_utc(membership.read_at),
        "seq": membership.last_read_seq,
    }


async def mark_read(ctx: EventContext, payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise validation_error("Payload must be an object")
    membership, message = await run_sync(
        selectors.read_target, ctx.user, payload.get("roomId"), payload.get("messageId")
    )
    room_id = membership.room_id
    key = (ctx.user_id, room_id)
    interval = float(settings.BANTER["READ_COALESCE_INTERVAL"])
    now = time.monotonic()
    pending = _pending.get(key)
    if pending is None and now - _last_write.get(key, -interval) >= interval:
        _remember_write(key, now)
        written = await run_sync(
            services.read_position_mark, user=ctx.user, room_id=room_id, message_id=message.pk
        )
        return read_ack(written)

    read_at = timezone.now()
    if pending is None:
        _pending[key] = _Pending(ctx.user, room_id, message.pk, message.seq, read_at)
        delay = max(0.0, _last_write.get(key, now) + interval - now)
        spawn(_write_later(key, delay), name=f"mark-read-{key[0]}-{key[1]}")
    elif message.seq >= pending.seq:
        pending.message_id, pending.seq, pending.read_at = message.pk, message.seq, read_at
    furthest = _pending[key]
    if membership.last_read_seq >= furthest.seq:
        return read_ack(membership)  # already read further: the position stays
    return {
        "roomId": room_id,
        "messageId": furthest.message_id,
        "readAt": iso_utc(furthest.read_at),
        "seq": furthest.seq,
    }


async def _write_later(key: tuple[int, int], delay: float) -> None:
    await asyncio.sleep(delay)
    pending = _pending.pop(key, None)
    if pending is None:
        return
    _remember_write(key, time.monotonic())
    await run_sync(
        services.read_position_mark,
        user=pending.user,
        room_id=pending.room_id,
        message_id=pending.message_id,
        read_at=pending.read_at,
    )


def _remember_write(key: tuple[int, int], now: float) -> None:
    if len(_last_write) >= _MAX_TRACKED:
        # Entries older than any interval decide nothing any more.
        horizon = now - 60.0
        for stale in [k for k, stamp in _last_write.items() if stamp < horizon]:
            del _last_write[stale]
    _last_write[key] = now
