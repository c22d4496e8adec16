"""What a reconnecting socket missed, from the room event log (chat.RoomEvent).

Replays only rooms the user is a member of now, in each only what was recorded since they
joined it, only within RECOVERY_WINDOW, and at most RECOVERY_MAX_EVENTS events: beyond that
the client is told it was not recovered and resyncs over REST
(GET /api/rooms/{id}/messages?after=<seq>), which is cheaper than a flood of events.

The stored payloads are replayed as they are: chat.services rewrites a message's records
when it is edited or deleted (services._rewrite_recorded), so every replay here (recovery,
the gap replay, the sequencer's fills) shows the current content, never a pre-edit or a
deleted text.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import F, Max, Q
from django.utils import timezone

from banter.core.coalesce import Coalescer
from banter.core.state import get_state_store
from banter.realtime.codec import encode_event_frame
from banter.realtime.dispatch import run_sync
from chat.models import RoomEvent
from chat.payloads import MESSAGE_RECEIVED

logger = logging.getLogger("chat.recovery")

# A channel-layer gap replays at most this many events per instance (a longer outage than
# that is better served by the clients' own resync).
MAX_GAP_REPLAY = 10_000
# One sequence gap of one room is filled with at most this many messages at a time.
MAX_SEQUENCE_FILL = 1000
PRUNE_INTERVAL = 3600.0


def _window_start() -> datetime:
    return timezone.now() - timedelta(seconds=settings.BANTER["RECOVERY_WINDOW"])


def _frame(record_id: int, event: str, payload: object) -> str:
    return encode_event_frame(event, payload, str(record_id))


def _high_water() -> int:
    return int(RoomEvent.objects.aggregate(newest=Max("pk"))["newest"] or 0)


def _high_water_batch(callers: list[None]) -> dict[None, int]:
    """One read for every connect of a batch: it starts after each of them asked (after
    their subscriptions), which is all a pid's high water needs."""
    return {None: _high_water()}


_high_water_read = Coalescer(_high_water_batch)


def _missed(user_id: int, after: int) -> list[tuple[int, str]] | None:
    window_start = _window_start()
    missed = Q(pk__gt=after)
    if after > 0:
        offset_created = (
            RoomEvent.objects.filter(pk=after, created_at__gte=window_start)
            .values_list("created_at", flat=True)
            .first()
        )
        if offset_created is None:
            return None  # pruned, or older than the window: there may be a hole before it
        lookback = timedelta(seconds=settings.BANTER["RECOVERY_LOOKBACK"])
        if lookback:
            # Recorded just before the last event the client got, maybe still in flight
            # when it dropped (published by a slower instance): sent again to be safe.
            missed |= Q(pk__lt=after, created_at__gte=offset_created - lookback)
    cap = settings.BANTER["RECOVERY_MAX_EVENTS"]
    rows = list(
        RoomEvent.objects.filter(
            missed,
            # Joined per room (one filter(): one join, the (room, user) pair is unique):
            # only the rooms the user is in now, and in each only what was recorded since
            # they joined it, never what was said before they were there (or in an earlier
            # stay: leaving deletes the membership, rejoining starts a new one).
            room__memberships__user_id=user_id,
            room__memberships__joined_at__lte=F("created_at"),
            created_at__gte=window_start,
        )
        .order_by("pk")
        .values_list("pk", "event", "payload")[: cap + 1]
    )
    if len(rows) > cap:
        return None
    return [(pk, _frame(pk, event, payload)) for pk, event, payload in rows]


def _missed_since(room_ids: list[int], since: datetime) -> list[tuple[int, int, str]]:
    rows = (
        RoomEvent.objects.filter(room_id__in=room_ids, created_at__gte=since)
        .order_by("pk")
        .values_list("room_id", "pk", "event", "payload")[:MAX_GAP_REPLAY]
    )
    return [(room_id, pk, _frame(pk, event, payload)) for room_id, pk, event, payload in rows]


def _missed_in_sequence(
    room_id: int, after: int, first_seq: int, before_seq: int | None
) -> list[tuple[int, int, str]]:
    # A room's messages take their seq under the room's row lock, so their records' ids
    # grow with seq: the ones wanted all come after the last one delivered (`after`).
    limit = (
        MAX_SEQUENCE_FILL if before_seq is None else min(before_seq - first_seq, MAX_SEQUENCE_FILL)
    )
    rows = (
        RoomEvent.objects.filter(
            room_id=room_id,
            pk__gt=after,
            event=MESSAGE_RECEIVED,
            payload__seq__gte=first_seq,
            **({} if before_seq is None else {"payload__seq__lt": before_seq}),
        )
        .order_by("pk")
        .values_list("pk", "payload")[:limit]
    )
    return [(pk, payload["seq"], _frame(pk, MESSAGE_RECEIVED, payload)) for pk, payload in rows]


def prune_room_events() -> int:
    """Delete events older than the recovery window (nobody can recover that far back)."""
    deleted, _ = RoomEvent.objects.filter(created_at__lt=_window_start()).delete()
    return deleted


class RoomEventRecovery:
    """The RecoverySource of banter.realtime.recovery, over chat.RoomEvent."""

    async def high_water(self) -> int:
        return await _high_water_read(None)

    async def missed(self, user_id: int, after: int) -> list[tuple[int, str]] | None:
        return await run_sync(_missed, user_id, after)

    async def missed_since(self, groups: set[str], since: float) -> list[tuple[str, int, str]]:
        room_ids = [int(g.split(".", 1)[1]) for g in groups if g.startswith("room.")]
        if not room_ids:
            return []
        rows = await run_sync(_missed_since, room_ids, datetime.fromtimestamp(since, tz=UTC))
        return [(f"room.{room_id}", pk, frame) for room_id, pk, frame in rows]

    async def missed_in_sequence(
        self, group: str, after: int, first_seq: int, before_seq: int | None
    ) -> list[tuple[int, int, str]]:
        if not group.startswith("room."):
            return []
        room_id = int(group.split(".", 1)[1])
        return await run_sync(_missed_in_sequence, room_id, after, first_seq, before_seq)


async def run_room_event_pruner() -> None:
    """Background loop: one instance per hour deletes events past the recovery window."""
    while True:
        await asyncio.sleep(PRUNE_INTERVAL)
        try:
            if await get_state_store().throttle("room-event-prune", PRUNE_INTERVAL):
                deleted = await run_sync(prune_room_events)
                logger.info("pruned %d room events past the recovery window", deleted)
        except Exception:
            logger.warning("room event pruning could not run", exc_info=True)
