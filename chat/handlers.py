"""Socket event handlers for chat: validate the payload's shape, call a service, return ack data.

Services check membership on every call (not only at join), persist, and broadcast after
commit; these handlers only adapt socket payloads and keep the socket's groups in step.
"""

from __future__ import annotations

from typing import Any

from banter.core.errors import validation_error
from banter.realtime.broadcast import room_group
from banter.realtime.dispatch import EventContext, run_sync
from chat import payloads, selectors, services, typing
from presence.handlers import online_statuses


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
    """Join (public rooms create the membership) and get the room's live state.

    The ack and a `room-joined` event to this socket carry the same data, so clients that
    listen for the event and clients that use the ack both work.
    """
    room, _membership, _created = await run_sync(
        services.room_join, user=ctx.user, room_id=_room_id(payload)
    )
    await ctx.join_group(room_group(room.pk))
    view = await run_sync(selectors.room_get_for_member, ctx.user, room.pk)
    member_ids = [member.user_id for member in view.members or ()]
    statuses = await online_statuses(member_ids)
    typing_ids = [uid for uid in await typing.typing_users(room.pk) if uid != ctx.user_id]
    data = {
        "roomId": room.pk,
        "room": payloads.room_payload(view),
        "onlineUsers": [
            {"userId": user_id, "status": statuses[user_id]}
            for user_id in member_ids
            if user_id in statuses
        ],
        "typingUsers": typing_ids,
    }
    ctx.emit(payloads.ROOM_JOINED, data)
    return data


async def leave_room(ctx: EventContext, payload: Any) -> dict[str, Any]:
    room_id = _room_id(payload)
    await run_sync(services.room_leave, user=ctx.user, room_id=room_id)
    await typing.stop(ctx, int(room_id))
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
    # Sending ends this socket's typing in that room (skipped, with its store round trip,
    # when the socket was not typing there: the common case).
    if message.room_id in ctx.state.get("typing_rooms", ()):
        await typing.stop(ctx, message.room_id)
    return payloads.message_payload(message)


async def edit_message(ctx: EventContext, payload: Any) -> dict[str, Any]:
    fields = _fields(payload)
    message = await run_sync(
        services.message_edit,
        user=ctx.user,
        message_id=fields.get("messageId"),
        content=fields.get("content"),
    )
    return payloads.message_payload(message)


async def delete_message(ctx: EventContext, payload: Any) -> dict[str, Any]:
    fields = _fields(payload)
    message = await run_sync(
        services.message_delete, user=ctx.user, message_id=fields.get("messageId")
    )
    return {"messageId": message.pk, "roomId": message.room_id, "seq": message.seq}
