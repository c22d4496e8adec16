"""A benchmark-only room event, without the database (settings BENCH_EVENTS=1, off by default).

`bench:send {roomId, text, sentAt}` fans `bench:message {roomId, userId, text, sentAt}` out to
the whole room exactly as `message-received` goes out (one frame encoded once, the
per-process hub, every local member socket, other instances through the channel layer) but
stores nothing. `make bench` uses it to compare Banter's transport and fan-out with servers
that do not persist either (the python-socketio reference in bench/peers/); `send-message`
measures the real, persisted path. Membership is proved by the socket's subscription to the
room group (made from the database at connect), so the handler runs no query.
"""

from __future__ import annotations

from typing import Any

from banter.core.errors import forbidden, validation_error
from banter.core.validation import check_id
from banter.realtime.broadcast import broadcast_now, room_group
from banter.realtime.dispatch import EventContext
from chat.validation import clean_content

BENCH_MESSAGE = "bench:message"


async def bench_send(ctx: EventContext, payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise validation_error("payload must be an object")
    room_id = check_id(payload.get("roomId"), what="Room")
    text = clean_content(payload.get("text"))
    sent_at = payload.get("sentAt")
    if sent_at is not None and type(sent_at) not in (int, float):
        raise validation_error("sentAt must be a number", sentAt="not a number")
    group = room_group(room_id)
    if group not in ctx.socket.groups:
        raise forbidden("You are not a member of this room")
    broadcast_now(
        group,
        BENCH_MESSAGE,
        {"roomId": room_id, "userId": ctx.user_id, "text": text, "sentAt": sent_at},
    )
    return {}
