"""Socket event handlers for chat: validate the payload's shape, call a service, return ack data."""

from __future__ import annotations

from typing import Any

from banter.core.errors import validation_error
from banter.realtime.broadcast import room_group
from banter.realtime.dispatch import EventContext, run_sync
from chat import events, selectors, services


def _fields(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise validation_error("Payload must be an object")
    return payload


def _room_id(payload: Any) -> Any:
    # PROTOCOL.md sends the bare roomId; {"roomId": ...} is accepted too.
    return payload.get("roomId") if isinstance(payload, dict) else payload


async def subscribe_member_rooms(ctx: EventContext) -> None:
    """On connect: the socket receives events of every room the user belongs to."""
    for room_id in await run_sync(selectors.room_ids_for_user, ctx.user_id):
        await ctx.join_group(room_group(room_id))


async def join_room(ctx: EventContext, payload: Any) -> dict[str, Any]:
    room, _membership, _created = await run_sync(
        services.room_join, user=ctx.user, room_id=_room_id(payload)
    )
    await ctx.join_group(room_group(room.pk))
    view = await run_sync(selectors.room_get_for_member, ctx.user, room.pk)
    return {"room": events.room_payload(view)}


async def leave_room(ctx: EventContext, payload: Any) -> dict[str, Any]:
    room_id = _room_id(payload)
    await run_sync(services.room_leave, user=ctx.user, room_id=room_id)
    ctx.leave_group(room_group(int(room_id)))
    return {"roomId": int(room_id)}


async def send_message(ctx: EventContext, payload: Any) -> dict[str, Any]:
    fields = _fields(payload)
    message, _created = await run_sync(
        services.message_send,
        sender=ctx.user,
        room_id=fields.get("roomId"),
        content=fields.get("content"),
        message_type=fields.get("messageType", "text"),
        client_id=fields.get("clientId"),
        reply_to_id=fields.get("replyTo"),
    )
    return events.message_payload(message)
