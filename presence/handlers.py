"""Presence over sockets: `presence:update` and the connect, disconnect and resync hooks.

They adapt the socket's view (the caller, its payload, how many connections it left) to
PresenceService (presence/live.py), which holds the rules and this process's timers.
"""

from __future__ import annotations

from banter.realtime.dispatch import EventContext
from presence import services
from presence.inbound import StatusUpdate
from presence.live import PresenceService
from presence.payloads import StatusPayload


class PresenceHandlers:
    def __init__(self, presence: PresenceService) -> None:
        self.presence = presence

    async def presence_update(self, ctx: EventContext, payload: StatusUpdate) -> StatusPayload:
        """`presence:update {status}`: online, away, busy, or invisible (appear offline)."""
        status = services.check_status(payload.status)
        await self.presence.set_status(ctx.user, status)
        return {"status": status}

    async def on_connected(self, ctx: EventContext) -> None:
        """Connect hook: announce the user online if this is their first connection anywhere."""
        await self.presence.user_connected(ctx.user)

    async def on_resync(self, ctx: EventContext) -> None:
        """The shared state lost this instance's users (Redis restarted, or a stall got the
        instance reaped and its users announced offline): they are still connected here."""
        await self.presence.ensure_online(ctx.user)

    async def on_disconnected(self, ctx: EventContext) -> None:
        """Disconnect hook: when the user's last connection anywhere closed, the user goes
        offline after the grace period."""
        if ctx.state.get("connections_left", 0) > 0:
            return
        self.presence.last_connection_closed(ctx.user_id)
