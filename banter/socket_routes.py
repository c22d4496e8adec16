"""THE inbound event table: Socket.IO event name -> handler (like urls.py for sockets).

Each handler is `async def handler(ctx, payload) -> ack data` raising BanterError; the rate
class names a limit in settings.BANTER["RATE_LIMITS"]; the schema (an app's inbound.py)
turns the payload into the typed value the handler takes, with the legacy errors.
The composition root, banter/wiring.py, builds the server from these tables.
"""

from __future__ import annotations

from django.conf import settings

from banter.notifications import handlers as notifications
from banter.realtime import cluster
from banter.realtime.auth import AUTH_REFRESH, auth_refresh
from banter.realtime.dispatch import EventSpec
from calls import handlers as calls
from calls import inbound as calls_in
from calls.sweeper import run_call_sweeper
from chat import bench
from chat import handlers as chat
from chat import inbound as chat_in
from chat.message_writer import MESSAGES
from chat.read_receipts import ReadReceiptService
from chat.receipts import ReadReceiptHandlers
from chat.recovery import run_room_event_pruner
from chat.typing import TypingHandlers
from chat.typing_service import TypingService
from media.sweeper import run_upload_sweeper
from presence import inbound as presence_in
from presence.handlers import PresenceHandlers
from presence.live import PresenceService
from push.delivery import run_push_delivery

# The live (ephemeral) services, one of each per process: their state (timers, coalescing)
# lives on these objects, and every handler and hook below uses these same instances.
# Presence is below chat: it learns a user's rooms (its audience) from chat's selector.
PRESENCE = PresenceService(rooms_of_user=chat.member_room_ids)
TYPING = TypingService()
READ_RECEIPTS = ReadReceiptService()

rooms = chat.RoomHandlers(TYPING, PRESENCE, MESSAGES)
typing = TypingHandlers(TYPING)
receipts = ReadReceiptHandlers(READ_RECEIPTS)
presence = PresenceHandlers(PRESENCE)

# The seed's clients learn of a failed call event from `call:error {error}` (no acks).
CALL_ERROR = "call:error"

EVENTS: dict[str, EventSpec] = {
    "join-room": EventSpec(rooms.join_room, "join", chat_in.ROOM_REF),
    "leave-room": EventSpec(rooms.leave_room, "join", chat_in.ROOM_REF),
    "send-message": EventSpec(rooms.send_message, "message", chat_in.SEND_MESSAGE),
    "edit-message": EventSpec(chat.edit_message, "message", chat_in.EDIT_MESSAGE),
    "delete-message": EventSpec(chat.delete_message, "message", chat_in.MESSAGE_REF),
    "react": EventSpec(chat.react, "message", chat_in.REACTION_REF),
    "unreact": EventSpec(chat.unreact, "message", chat_in.REACTION_REF),
    "typing-start": EventSpec(typing.typing_start, "typing", chat_in.ROOM_REF),
    "typing-stop": EventSpec(typing.typing_stop, "typing", chat_in.ROOM_REF),
    "mark-read": EventSpec(receipts.mark_read, "read", chat_in.READ_MARK),
    "presence:update": EventSpec(presence.presence_update, "presence", presence_in.STATUS_UPDATE),
    "call:initiate": EventSpec(calls.call_initiate, "call", calls_in.CALL_INITIATE, CALL_ERROR),
    "call:accept": EventSpec(calls.call_accept, schema=calls_in.CALL_REF, error_event=CALL_ERROR),
    "call:reject": EventSpec(calls.call_reject, schema=calls_in.CALL_REF, error_event=CALL_ERROR),
    "call:cancel": EventSpec(calls.call_cancel, schema=calls_in.CALL_REF, error_event=CALL_ERROR),
    "call:end": EventSpec(calls.call_end, schema=calls_in.CALL_REF, error_event=CALL_ERROR),
    "call:signal": EventSpec(calls.call_signal, "signal", calls_in.CALL_SIGNAL, CALL_ERROR),
    "call:token-refresh": EventSpec(
        calls.call_token_refresh, "call", calls_in.CALL_REF, CALL_ERROR
    ),
    "notifications:read": EventSpec(
        notifications.notifications_read, schema=notifications.MARK_READ
    ),
    "auth:refresh": EventSpec(auth_refresh, schema=AUTH_REFRESH),
}
if settings.BANTER["BENCH_EVENTS"]:
    # `make bench` only: a room broadcast without persistence (chat/bench.py).
    EVENTS["bench:send"] = EventSpec(bench.bench_send, "message")

# Run in order when a socket connects: ON_CONNECT after authentication and before the
# CONNECT reply (subscriptions), ON_CONNECTED after the reply (emits, announcements);
# ON_DISCONNECT after it disconnects.
ON_CONNECT = [chat.subscribe_member_rooms]
ON_CONNECTED = [
    calls.on_connected,  # first: a call waiting for this user's return is time-critical
    presence.on_connected,
    notifications.send_pending,
]
ON_DISCONNECT = [
    typing.clear_on_disconnect,
    presence.on_disconnected,
    calls.on_disconnected,
]

# Once per local user when the shared state lost this instance's registrations (Redis
# restarted, or a stall got the instance reaped): the user is still connected here.
ON_RESYNC = [presence.on_resync]
# When a survivor reaps an instance that stopped heartbeating (realtime/cluster.py).
ON_INSTANCE_LOST = [PRESENCE.on_instance_lost, calls.on_instance_lost]


# Run in order during a graceful shutdown, after every socket was closed (lifecycle).
ON_SHUTDOWN = [PRESENCE.flush_offline_timers, cluster.deregister]


async def run_instance_reaper() -> None:
    await cluster.run_instance_reaper(ON_INSTANCE_LOST)


# Loops every server process runs in the background (started with its event loop).
BACKGROUND = [
    run_call_sweeper,
    run_instance_reaper,
    PRESENCE.run_online_reconciler,
    run_room_event_pruner,
    run_upload_sweeper,
    run_push_delivery,
]
