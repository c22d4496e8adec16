"""Typing over sockets: `typing-start` / `typing-stop`, and the socket's own typing marks.

Each socket remembers the rooms it is typing in (ctx.state["typing_rooms"]), so sending
a message there, leaving the room or disconnecting ends its typing; the rules and timers
are TypingService's (chat/typing_service.py).
"""

from __future__ import annotations

from typing import Any

from banter.core.validation import check_id
from banter.realtime.dispatch import EventContext
from chat.inbound import RoomRef
from chat.typing_service import TypingService


def is_typing_in(ctx: EventContext, room_id: int) -> bool:
    return room_id in ctx.state.get("typing_rooms", ())


async def stop_typing(ctx: EventContext, typing: TypingService, room_id: int) -> None:
    """End this socket's typing in a room (typing-stop, a sent message, leaving, disconnect)."""
    ctx.state.get("typing_rooms", set()).discard(room_id)
    await typing.stop(room_id, ctx.user_id)


class TypingHandlers:
    def __init__(self, typing: TypingService) -> None:
        self.typing = typing

    async def typing_start(self, ctx: EventContext, payload: RoomRef) -> dict[str, Any]:
        room_id = check_id(payload.room_id, what="Room")  # the range: out of it, not_found
        await self.typing.start(ctx.user, room_id)
        ctx.state.setdefault("typing_rooms", set()).add(room_id)
        return {}

    async def typing_stop(self, ctx: EventContext, payload: RoomRef) -> dict[str, Any]:
        # No membership check: clearing one's own mark reveals and changes nothing else, and
        # a user removed from the room must still be able to stop typing there.
        await stop_typing(ctx, self.typing, check_id(payload.room_id, what="Room"))
        return {}

    async def clear_on_disconnect(self, ctx: EventContext) -> None:
        for room_id in list(ctx.state.get("typing_rooms", ())):
            await stop_typing(ctx, self.typing, room_id)
