"""Typing indicators: `typing-start` / `typing-stop` -> `user-typing` / `user-stopped-typing`.

The marks live in the state store (shared by instances, with TTLs); this process keeps
one timer per (room, user) it saw typing, which emits `user-stopped-typing` once the mark's
deadline (TYPING_TIMEOUT after the last start, on any device or instance) has passed.
Typing events are ephemeral: they go out at once, not after a commit, and only to the rest
of the room.
"""

from __future__ import annotations

import asyncio
from typing import Any

from django.conf import settings

from banter.core.state import get_state_store
from banter.core.validation import check_id
from banter.realtime.broadcast import broadcast_now, room_group
from banter.realtime.dispatch import EventContext, run_sync
from banter.realtime.tasks import spawn
from chat import payloads, selectors

_expiry_timers: dict[tuple[int, int], asyncio.TimerHandle] = {}


def _room_id(payload: Any) -> int:
    # PROTOCOL.md sends the bare roomId; {"roomId": ...} is accepted too.
    return check_id(payload.get("roomId") if isinstance(payload, dict) else payload, what="Room")


async def typing_start(ctx: EventContext, payload: Any) -> dict[str, Any]:
    room_id = _room_id(payload)
    await run_sync(selectors.membership_get, ctx.user, room_id)
    config = settings.BANTER
    if await get_state_store().typing_start(
        room_id, ctx.user_id, config["TYPING_TIMEOUT"], config["TYPING_REBROADCAST"]
    ):
        broadcast_now(
            room_group(room_id),
            payloads.USER_TYPING,
            payloads.user_typing_payload(room_id=room_id, user=ctx.user),
            exclude=ctx.user_id,
        )
    ctx.state.setdefault("typing_rooms", set()).add(room_id)
    _schedule_expiry(room_id, ctx.user_id, config["TYPING_TIMEOUT"])
    return {}


async def typing_stop(ctx: EventContext, payload: Any) -> dict[str, Any]:
    # No membership check: clearing one's own mark reveals and changes nothing else, and a
    # user removed from the room must still be able to stop typing there.
    await stop(ctx, _room_id(payload))
    return {}


async def stop(ctx: EventContext, room_id: int) -> None:
    """Clear the user's typing mark in a room (typing-stop, a sent message, disconnect)."""
    ctx.state.get("typing_rooms", set()).discard(room_id)
    timer = _expiry_timers.pop((room_id, ctx.user_id), None)
    if timer is not None:
        timer.cancel()
    if await get_state_store().typing_stop(room_id, ctx.user_id):
        _announce_stopped(room_id, ctx.user_id)


async def clear_on_disconnect(ctx: EventContext) -> None:
    for room_id in list(ctx.state.get("typing_rooms", ())):
        await stop(ctx, room_id)


async def typing_users(room_id: int) -> list[int]:
    return await get_state_store().typing_users(room_id)


def _schedule_expiry(room_id: int, user_id: int, timeout: float) -> None:
    key = (room_id, user_id)
    previous = _expiry_timers.pop(key, None)
    if previous is not None:
        previous.cancel()
    # A little after the deadline, so the store agrees it has passed.
    _expiry_timers[key] = asyncio.get_running_loop().call_later(
        timeout + 0.05,
        lambda: spawn(_expire(room_id, user_id), name=f"typing-expire-{room_id}-{user_id}"),
    )


async def _expire(room_id: int, user_id: int) -> None:
    _expiry_timers.pop((room_id, user_id), None)
    if await get_state_store().typing_expire(room_id, user_id):
        _announce_stopped(room_id, user_id)


def _announce_stopped(room_id: int, user_id: int) -> None:
    broadcast_now(
        room_group(room_id),
        payloads.USER_STOPPED_TYPING,
        payloads.user_stopped_typing_payload(room_id=room_id, user_id=user_id),
        exclude=user_id,
    )
