"""Typing indicators: who is typing in which room, and `user-typing` / `user-stopped-typing`.

The marks live in the state store (shared by instances, with TTLs); this process keeps
one timer per (room, user) it saw typing, which emits `user-stopped-typing` once the mark's
deadline (TYPING_TIMEOUT after the last start, on any device or instance) has passed.
Typing events are ephemeral: they go out at once, not after a commit, and only to the rest
of the room.
"""

from __future__ import annotations

import asyncio

from django.conf import settings

from banter.accounts.models import User
from banter.core.state import get_state_store
from banter.realtime.broadcast import broadcast_now, room_group
from banter.realtime.dispatch import run_sync
from banter.realtime.tasks import spawn
from chat import payloads, selectors


class TypingService:
    """Typing rules and this process's expiry timers (one instance per process)."""

    def __init__(self) -> None:
        self._expiry_timers: dict[tuple[int, int], asyncio.TimerHandle] = {}

    async def start(self, user: User, room_id: int) -> None:
        """The user types in a room they are a member of: tell the rest of the room (at most
        once per TYPING_REBROADCAST) and stop the mark TYPING_TIMEOUT after the last start."""
        await run_sync(selectors.membership_get, user, room_id)
        config = settings.BANTER
        user_id = int(user.pk)
        if await get_state_store().typing_start(
            room_id, user_id, config["TYPING_TIMEOUT"], config["TYPING_REBROADCAST"]
        ):
            broadcast_now(
                room_group(room_id),
                payloads.USER_TYPING,
                payloads.user_typing_payload(room_id=room_id, user=user),
                exclude=user_id,
            )
        self._schedule_expiry(room_id, user_id, config["TYPING_TIMEOUT"])

    async def stop(self, room_id: int, user_id: int) -> None:
        """Clear the user's typing mark in a room, announcing it if it was still on."""
        timer = self._expiry_timers.pop((room_id, user_id), None)
        if timer is not None:
            timer.cancel()
        if await get_state_store().typing_stop(room_id, user_id):
            self._announce_stopped(room_id, user_id)

    async def typing_users(self, room_id: int) -> list[int]:
        return await get_state_store().typing_users(room_id)

    def _schedule_expiry(self, room_id: int, user_id: int, timeout: float) -> None:
        key = (room_id, user_id)
        previous = self._expiry_timers.pop(key, None)
        if previous is not None:
            previous.cancel()
        # A little after the deadline, so the store agrees it has passed.
        self._expiry_timers[key] = asyncio.get_running_loop().call_later(
            timeout + 0.05,
            lambda: spawn(
                self._expire(room_id, user_id), name=f"typing-expire-{room_id}-{user_id}"
            ),
        )

    async def _expire(self, room_id: int, user_id: int) -> None:
        self._expiry_timers.pop((room_id, user_id), None)
        if await get_state_store().typing_expire(room_id, user_id):
            self._announce_stopped(room_id, user_id)

    def _announce_stopped(self, room_id: int, user_id: int) -> None:
        broadcast_now(
            room_group(room_id),
            payloads.USER_STOPPED_TYPING,
            payloads.user_stopped_typing_payload(room_id=room_id, user_id=user_id),
            exclude=user_id,
        )
