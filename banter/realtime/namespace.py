"""The Banter namespace: JWT connect, the event table, group subscriptions, revocation.

Chat knows nothing of sockets and this module knows nothing of chat: banter/socket_routes.py
lists the event table and connect/disconnect hooks, and the composition root
(banter/wiring.py) hands them in, with the hubs and the recovery source.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from django.conf import settings

from banter.core import metrics
from banter.core.instance import INSTANCE_ID
from banter.core.state import get_state_store
from banter.realtime import auth, cluster, recovery
from banter.realtime.broadcast import user_group
from banter.realtime.dispatch import EventContext, EventSpec, dispatch
from banter.realtime.hub import HubProvider, process_hubs
from banter.realtime.recovery import RecoverySource
from banter.realtime.socketio import ConnectRefused, Namespace, Socket
from banter.realtime.tasks import spawn

logger = logging.getLogger("banter.realtime.namespace")

Hook = Callable[[EventContext], Awaitable[None]]


class BanterNamespace(Namespace):
    def __init__(
        self,
        events: Mapping[str, EventSpec],
        on_connect_hooks: Sequence[Hook] = (),
        on_disconnect_hooks: Sequence[Hook] = (),
        on_connected_hooks: Sequence[Hook] = (),
        on_resync_hooks: Sequence[Hook] = (),
        recovery_source: RecoverySource | None = None,
        hubs: HubProvider | None = None,
    ) -> None:
        self.events = events
        # Before the CONNECT reply (group subscriptions: no event may slip past), and after
        # it (whatever emits to the socket or announces it: emits before the reply are lost).
        self.on_connect_hooks = on_connect_hooks
        self.on_connected_hooks = on_connected_hooks
        self.on_disconnect_hooks = on_disconnect_hooks
        # Run once per local user (with one of its sockets) when the shared state lost this
        # instance's registrations: Redis restarted, or a stall got the instance reaped.
        self.on_resync_hooks = on_resync_hooks
        # Connection state recovery reads durable events here (the hubs' gap replay and
        # sequence fill read the same source: the composition root gives it to both).
        self.recovery_source = recovery_source
        # Where this namespace's sockets subscribe to groups. By default the process's hubs
        # (banter.realtime.hub.install), which is also where publish() sends: a namespace
        # built by hand (tests) receives what services broadcast.
        self.hubs = hubs if hubs is not None else process_hubs()
        # This process's sockets per user (the per-user connection limit).
        self.local_sockets: dict[int, set[Socket]] = defaultdict(set)
        self.socket_count = 0
        self._heartbeats: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}
        self._registered = False  # the instance heartbeat has succeeded once

    async def on_connect(self, socket: Socket, auth_payload: dict[str, Any] | None) -> None:
        try:
            await self._admit(socket, auth_payload)
        except BaseException as error:
            if isinstance(error, ConnectRefused):
                metrics.AUTH_FAILURES.labels(str((error.data or {}).get("code"))).inc()
            if socket.groups:  # refused after the user group was joined
                hub = await self.hubs.get()
                for group in list(socket.groups):
                    hub.leave(group, socket)
                socket.groups.clear()
            raise

    async def _admit(self, socket: Socket, auth_payload: dict[str, Any] | None) -> None:
        request = socket.request
        if request.extra.get("origin_denied"):
            raise ConnectRefused("Origin not allowed", {"code": "origin_not_allowed"})
        try:
            user_id, claims = auth.verify_for_connect(auth.handshake_token(auth_payload, request))
        except ConnectRefused as refused:
            logger.info(
                "auth failed code=%s ip=%s origin=%s",
                (refused.data or {}).get("code"),
                request.client_ip,
                request.origin,
            )
            raise
        hub = await self.hubs.get()
        # Subscribed to the user's group before the user row is read: a revoke (logout,
        # deactivation) or an unsubscribe committed from here on is held for this socket and
        # applied once it is connected (Socket.deliver), instead of passing it by.
        await hub.join(user_group(user_id), socket)
        socket.groups.add(user_group(user_id))
        user = await auth.load_user(user_id)
        if user is None:
            raise ConnectRefused("Token is invalid", {"code": "token_invalid"})
        if not user.is_active:
            raise ConnectRefused("User is inactive", {"code": "user_inactive"})
        auth.refuse_if_revoked(user, claims)
        limits = settings.BANTER
        if self.socket_count >= limits["MAX_CONNECTIONS_PER_PROCESS"]:
            raise ConnectRefused("Too many connections", {"code": "too_many_connections"})
        # The registry counts the user's connections on every instance: the per-user limit
        # is cluster-wide, and presence knows when the last device leaves.
        store = get_state_store()
        conn_id = f"{INSTANCE_ID}:{socket.sid}"
        try:
            count = await store.connection_add(user_id, conn_id, limits["CONNECTION_TTL"])
        except Exception:
            # Redis is down: serve the connection (the per-process limit still holds); the
            # heartbeat registers it once Redis is back.
            logger.warning("connection registry unavailable; admitting user=%s", user_id)
            count = len(self.local_sockets.get(user_id, ())) + 1
        if count > limits["MAX_CONNECTIONS_PER_USER"]:
            await store.connection_remove(user_id, conn_id)
            logger.info(
                "connect refused: too many connections user=%s ip=%s", user_id, request.client_ip
            )
            raise ConnectRefused("Too many connections", {"code": "too_many_connections"})

        async def join_group(group: str) -> None:
            await hub.join(group, socket)
            socket.groups.add(group)

        def leave_group(group: str) -> None:
            hub.leave(group, socket)
            socket.groups.discard(group)

        ctx = EventContext(
            socket=socket,
            user=user,
            client_ip=request.client_ip,
            origin=request.origin,
            join_group=join_group,
            leave_group=leave_group,
        )
        socket.state["ctx"] = ctx
        socket.state["conn_id"] = conn_id
        socket.identity = user_id
        self.local_sockets[user_id].add(socket)
        self.socket_count += 1
        try:
            for hook in self.on_connect_hooks:
                await hook(ctx)
            # After the subscriptions: an event committed from here on is held for the
            # socket, and anything before is in the replay (duplicates are skipped).
            await self._recover(socket, ctx, auth_payload)
        except BaseException:
            await self._forget(socket, ctx)
            raise
        self._ensure_heartbeat()
        metrics.CONNECTS.inc()
        auth.schedule_expiry(socket, float(claims["exp"]))
        logger.info(
            "connect user=%s ip=%s origin=%s transport=%s",
            user_id,
            request.client_ip,
            request.origin,
            socket.engine.transport,
        )

    async def _recover(
        self, socket: Socket, ctx: EventContext, auth_payload: dict[str, Any] | None
    ) -> None:
        # Socket.IO v4 clients (Engine.IO v3 sessions) have no recovery: no pid to issue.
        if self.recovery_source is None or socket.engine.protocol == 3:
            return
        try:
            result = await recovery.recover(self.recovery_source, ctx.user_id, auth_payload)
        except Exception:
            # The database is struggling: connect without recovery (the client resyncs).
            logger.exception("connection state recovery failed user=%s", ctx.user_id)
            return
        socket.state["connect_reply_extra"] = {"pid": result.pid}
        socket.replay = result.frames
        if result.recovered:
            metrics.RECOVERIES.labels("recovered").inc()
            logger.info("recovered user=%s replayed=%d", ctx.user_id, len(result.frames))
        elif isinstance(auth_payload, dict) and "pid" in auth_payload:
            metrics.RECOVERIES.labels("not_recovered").inc()

    async def on_connected(self, socket: Socket) -> None:
        ctx: EventContext = socket.state["ctx"]
        for hook in self.on_connected_hooks:
            try:
                await hook(ctx)
            except Exception:
                logger.exception("connected hook failed user=%s", ctx.user_id)

    async def on_event(
        self, socket: Socket, event: str, args: list[Any], ack_id: int | None
    ) -> None:
        ctx: EventContext = socket.state["ctx"]
        await dispatch(ctx, self.events, event, args, ack_id, socket.last_event_size)

    async def on_disconnect(self, socket: Socket, reason: str) -> None:
        ctx: EventContext | None = socket.state.get("ctx")
        if ctx is None:
            return
        await self._forget(socket, ctx)
        metrics.DISCONNECTS.inc()
        logger.info("disconnect user=%s ip=%s reason=%s", ctx.user_id, ctx.client_ip, reason)
        for hook in self.on_disconnect_hooks:
            try:
                await hook(ctx)
            except Exception:
                logger.exception("disconnect hook failed user=%s", ctx.user_id)

    async def _forget(self, socket: Socket, ctx: EventContext) -> None:
        auth.cancel_expiry(socket)
        for group in list(socket.groups):
            ctx.leave_group(group)
        sockets = self.local_sockets.get(ctx.user_id)
        if sockets is None or socket not in sockets:
            return
        sockets.discard(socket)
        self.socket_count -= 1
        if not sockets:
            del self.local_sockets[ctx.user_id]
        try:
            left = await get_state_store().connection_remove(ctx.user_id, socket.state["conn_id"])
        except Exception:
            # The entry expires with its TTL; presence then treats the user as gone.
            logger.exception("connection registry remove failed user=%s", ctx.user_id)
            left = 0
        # Disconnect hooks (presence) read this: 0 means the user's last device left.
        ctx.state["connections_left"] = left

    def _ensure_heartbeat(self) -> None:
        loop = asyncio.get_running_loop()
        task = self._heartbeats.get(loop)
        if task is None or task.done():
            self._heartbeats[loop] = loop.create_task(self._heartbeat())

    async def _heartbeat(self) -> None:
        """Keep this instance, its registry entries and its users' presence alive.

        If the process dies, a survivor reaps it after INSTANCE_TTL (banter.realtime.cluster)
        and the entries expire after CONNECTION_TTL anyway. Runs for the process's life.
        """
        failing = False
        while True:
            try:
                await self._beat()
                if failing:
                    logger.warning("connection registry heartbeat recovered")
                failing = False
            except Exception:
                if not failing:
                    logger.exception("connection registry heartbeat failed")
                failing = True
            await asyncio.sleep(cluster.heartbeat_interval())

    async def _beat(self) -> None:
        store = get_state_store()
        entries = [
            (user_id, socket.state["conn_id"])
            for user_id, sockets in list(self.local_sockets.items())
            for socket in sockets
        ]
        users = list(self.local_sockets)
        lost = await store.instance_heartbeat(INSTANCE_ID, cluster.instance_ttl(), users)
        ttl = float(settings.BANTER["CONNECTION_TTL"])
        await store.connections_refresh(entries, ttl, recreate=lost)
        if lost and entries:
            # The first beat registers the instance: expected, and quiet. Its resync is for
            # connections admitted while Redis was unreachable (no registry entry, no
            # presence); for the others it finds presence set and does nothing.
            if self._registered:
                logger.warning(
                    "shared state lost this instance (Redis restarted, or a stall got it "
                    "reaped): re-registered %d connections of %d users",
                    len(entries),
                    len(users),
                )
            await self._resync(users)
        self._registered = True

    async def _resync(self, users: list[int]) -> None:
        for user_id in users:
            sockets = self.local_sockets.get(user_id)
            if not sockets:
                continue
            ctx: EventContext = next(iter(sockets)).state["ctx"]
            for hook in self.on_resync_hooks:
                try:
                    await hook(ctx)
                except Exception:
                    logger.exception("resync hook failed user=%s", user_id)

    def on_control(self, socket: Socket, message: dict[str, Any]) -> None:
        ctx: EventContext | None = socket.state.get("ctx")
        if ctx is None:
            return
        action = message.get("action")
        if action == "revoke":
            reason = message.get("reason", "revoked")
            socket.emit(
                "error",
                {
                    "code": "unauthorized",
                    "message": "Session revoked",
                    "details": {"reason": reason},
                },
            )
            auth.end_session(socket, f"revoked: {reason}")
        elif action == "subscribe":
            spawn(ctx.join_group(str(message["target"])), name="subscribe")
        elif action == "unsubscribe":
            ctx.leave_group(str(message["target"]))
