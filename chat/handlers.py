"""Socket event handlers for chat: take a typed payload (chat/inbound.py), call a service,
return ack data.

Services check membership on every call (not only at join), persist, and broadcast after
commit; these handlers only adapt socket payloads and keep the socket's groups in step.
"""

from __future__ import annotations

from banter.core.coalesce import Coalescer
from banter.realtime.broadcast import room_group
from banter.realtime.dispatch import EventContext, run_sync
from chat import payloads, reactions, selectors, services
from chat.inbound import EditMessage, MessageRef, ReactionRef, RoomRef, SendMessage
from chat.message_batch import SendRequest
from chat.message_writer import MessageWriter
from chat.typing import is_typing_in, stop_typing
from chat.typing_service import TypingService
from presence.live import PresenceService

# A user's room ids, read after the call; a connect storm's in one query per batch.
member_room_ids = Coalescer(selectors.room_ids_for_users)


async def subscribe_member_rooms(ctx: EventContext) -> None:
    """On connect: the socket receives events of every room the user belongs to."""
    for room_id in await member_room_ids(ctx.user_id):
        await ctx.join_group(room_group(room_id))


class RoomHandlers:
    """The room events that touch live state: joining reports who is online and typing,
    leaving a room and sending to it end the socket's typing there; sends go through the
    process's group-committing writer."""

    def __init__(
        self, typing: TypingService, presence: PresenceService, messages: MessageWriter
    ) -> None:
        self.typing = typing
        self.presence = presence
        self.messages = messages

    async def join_room(self, ctx: EventContext, payload: RoomRef) -> payloads.RoomJoinedPayload:
        """Join (public rooms create the membership) and get the room's live state.

        The ack and a `room-joined` event to this socket carry the same data, so clients that
        listen for the event and clients that use the ack both work.
        """
        view = None
        if room_group(payload.room_id) in ctx.socket.groups:
            # A member since before this socket connected (or told since): subscribed
            # already, so the room's state is one hop of reads, no write.
            view = await run_sync(selectors.room_view_of_member, ctx.user, payload.room_id)
        if view is None:
            room, _membership, _created = await run_sync(
                services.room_join, user=ctx.user, room_id=payload.room_id
            )
            # Subscribed before the state is read: no event slips between the two.
            await ctx.join_group(room_group(room.pk))
            view = await run_sync(selectors.room_get_for_member, ctx.user, room.pk)
        member_ids = [member.user_id for member in view.members or ()]
        statuses = await self.presence.online_statuses(member_ids)
        typing_ids = [
            uid for uid in await self.typing.typing_users(view.room.pk) if uid != ctx.user_id
        ]
        data: payloads.RoomJoinedPayload = {
            "roomId": view.room.pk,
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

    async def leave_room(self, ctx: EventContext, payload: RoomRef) -> payloads.RoomIdPayload:
        room_id = payload.room_id
        await run_sync(services.room_leave, user=ctx.user, room_id=room_id)
        await stop_typing(ctx, self.typing, room_id)
        ctx.leave_group(room_group(room_id))
        return {"roomId": room_id}

    async def send_message(
        self, ctx: EventContext, payload: SendMessage
    ) -> payloads.MessagePayload:
        message, _created = await self.messages.send(
            SendRequest(
                sender=ctx.user,
                room_id=payload.room_id,
                content=payload.content,
                message_type=payload.message_type,
                client_id=payload.client_id,
                reply_to_id=payload.reply_to,
                attachments=tuple(payload.attachments or ()),
            )
        )
        # Sending ends this socket's typing in that room (skipped, with its store round trip,
        # when the socket was not typing there: the common case).
        if is_typing_in(ctx, message.room_id):
            await stop_typing(ctx, self.typing, message.room_id)
        return payloads.message_payload(message)


async def edit_message(ctx: EventContext, payload: EditMessage) -> payloads.MessagePayload:
    message = await run_sync(
        services.message_edit,
        user=ctx.user,
        message_id=payload.message_id,
        content=payload.content,
    )
    return await run_sync(reactions.with_reactions, message, ctx.user_id)


async def delete_message(ctx: EventContext, payload: MessageRef) -> payloads.MessageDeletedPayload:
    message = await run_sync(services.message_delete, user=ctx.user, message_id=payload.message_id)
    return {"messageId": message.pk, "roomId": message.room_id, "seq": message.seq}


async def react(ctx: EventContext, payload: ReactionRef) -> payloads.MessageReactionPayload:
    """`react {messageId, emoji}`: the room hears `message-reaction` when it is new."""
    return await run_sync(
        reactions.reaction_add, user=ctx.user, message_id=payload.message_id, emoji=payload.emoji
    )


async def unreact(ctx: EventContext, payload: ReactionRef) -> payloads.MessageReactionPayload:
    return await run_sync(
        reactions.reaction_remove,
        user=ctx.user,
        message_id=payload.message_id,
        emoji=payload.emoji,
    )
