"""THE inbound event table: Socket.IO event name -> handler (like urls.py for sockets).

Each handler is `async def handler(ctx, payload) -> ack data` raising BanterError; the rate
class names a limit in settings.BANTER["RATE_LIMITS"].
"""

from __future__ import annotations

from banter.realtime.auth import auth_refresh
from banter.realtime.dispatch import EventSpec
from chat import handlers as chat

EVENTS: dict[str, EventSpec] = {
    "join-room": EventSpec(chat.join_room, "join"),
    "leave-room": EventSpec(chat.leave_room, "join"),
    "send-message": EventSpec(chat.send_message, "message"),
    "auth:refresh": EventSpec(auth_refresh),
}

# Run in order when a socket connects (after authentication) and after it disconnects.
ON_CONNECT = [chat.subscribe_member_rooms]
ON_DISCONNECT: list = []
