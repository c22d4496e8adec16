"""THE inbound event table: Socket.IO event name -> handler (like urls.py for sockets).

Each handler is `async def handler(ctx, payload) -> ack data` raising BanterError; the rate
class names a limit in settings.BANTER["RATE_LIMITS"].
"""

from __future__ import annotations

from django.conf import settings

from banter.notifications import handlers as notifications
from banter.realtime import cluster
from banter.realtime.auth import auth_refresh
from banter.realtime.dispatch import EventSpec
from calls import handlers as calls
from calls.sweeper import run_call_sweeper
from chat import bench, receipts, typing
from chat import handlers as chat
from chat.recovery import RoomEventRecovery, run_room_event_pruner
from presence import handlers as presence

EVENTS: dict[str, EventSpec] = {
    "join-room": EventSpec(chat.join_room, "join"),
    "leave-room": EventSpec(chat.leave_room, "join"),
    "send-message": EventSpec(chat.send_message, "message"),
    "edit-message": EventSpec(chat.edit_message, "message"),
    "delete-message": EventSpec(chat.delete_message, "message"),
    "typing-start": EventSpec(typing.typing_start, "typing"),
    "typing-stop": EventSpec(typing.typing_stop, "typing"),
    "mark-read": EventSpec(receipts.mark_read, "read"),
    "presence:update": EventSpec(presence.presence_update, "presence"),
    "call:initiate": EventSpec(calls.call_initiate, "call"),
    "call:accept": EventSpec(calls.call_accept),
    "call:reject": EventSpec(calls.call_reject),
    "call:cancel": EventSpec(calls.call_cancel),
    "call:end": EventSpec(calls.call_end),
    "call:signal": EventSpec(calls.call_signal, "signal"),
    "notifications:read": EventSpec(notifications.notifications_read),
    "auth:refresh": EventSpec(auth_refresh),
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

# Connection state recovery and channel-layer gap replay, from the room event log.
RECOVERY = RoomEventRecovery()

# Once per local user when the shared state lost this instance's registrations (Redis
# restarted, or a stall got the instance reaped): the user is still connected here.
ON_RESYNC = [presence.on_resync]
# When a survivor reaps an instance that stopped heartbeating (realtime/cluster.py).
ON_INSTANCE_LOST = [presence.on_instance_lost, calls.on_instance_lost]


# Run in order during a graceful shutdown, after every socket was closed (lifecycle).
ON_SHUTDOWN = [presence.flush_offline_timers, cluster.deregister]


async def run_instance_reaper() -> None:
    await cluster.run_instance_reaper(ON_INSTANCE_LOST)


# Loops every server process runs in the background (started with its event loop).
BACKGROUND = [
    run_call_sweeper,
    run_instance_reaper,
    presence.run_online_reconciler,
    run_room_event_pruner,
]
