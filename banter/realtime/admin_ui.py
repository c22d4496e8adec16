"""The official Socket.IO Admin UI (@socket.io/admin-ui) against a Banter cluster.

The UI speaks to an `/admin` namespace (what its Node server part, and python-socketio's
`instrument()`, serve): it logs in (banter/realtime/admin_auth.py), receives `config`, the
list of sockets (`all_sockets`), every server's `server_stats` every 2 s, and live
`socket_connected`, `socket_updated`, `socket_disconnected`, `room_joined`, `room_left`,
`event_received` and `event_sent`; it may ask for `_disconnect`.

A socket lives on one instance, the UI on any, so everything crosses the channel layer
through the hubs (banter/realtime/hub.py):

- `banter.admin.cluster`: every instance with ADMIN_UI on. `alive` beacons (an instance
  with an admin socket sends one every 2 s: every instance then reports), `list` requests
  (answered to the asking instance's reply group) and `disconnect` requests (the instance
  that holds the socket closes it).
- `banter.admin.view`: instances with an admin socket. Batches of encoded admin frames
  (stats, lifecycle and event records), published every FLUSH_INTERVAL while watched.

Nothing of this runs when ADMIN_UI is off (banter/wiring.py does not build it), and while no
Admin UI is connected anywhere an instance only bumps counters (banter/realtime/admin_taps.py).

Room membership is Banter's (chat's services and their rules), so the UI's `join` and
`leave` (and `emit`) are refused, and not offered in `config`; read-only mode registers no
action at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import socket as socket_module
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.conf import settings

from banter.core import metrics
from banter.core.errors import BanterError, ErrorCode, validation_error
from banter.core.instance import INSTANCE_ID
from banter.realtime import admin_auth, auth
from banter.realtime.admin_shapes import (
    ADMIN_NAMESPACE,
    EventCounts,
    SocketFacts,
    admin_frame,
    event_record,
    iso,
    sent_frame_payload,
    serialize_socket,
)
from banter.realtime.admin_taps import ObservedNamespace, ObservedSocket
from banter.realtime.broadcast import user_group
from banter.realtime.engine import EngineServer
from banter.realtime.hub import Hub, HubProvider
from banter.realtime.socketio import ConnectRefused, Namespace, Socket
from banter.realtime.tasks import spawn

logger = logging.getLogger("banter.realtime.admin_ui")

ADMIN_TYPE = "banter.admin"
CLUSTER_GROUP = "banter.admin.cluster"
VIEW_GROUP = "banter.admin.view"
REPLY_PREFIX = "banter.admin.reply."

STATS_INTERVAL = 2.0  # the UI's servers view marks a server unhealthy after 10 s of silence
FLUSH_INTERVAL = 0.25  # live records reach the UI in batches this often
WATCH_TTL = 3 * STATS_INTERVAL  # an instance reports this long after the last beacon
# The socket list waits at least GATHER_MIN for the other instances' answers (on a cold start
# this instance does not know them yet), at most GATHER_MAX for a slow one.
GATHER_MIN = 0.3
GATHER_MAX = 2.0
# Per instance per flush: event records beyond are counted in the aggregates, not shown (the
# UI keeps its last 1000 events anyway); lifecycle records beyond (a connect storm) are
# dropped with a warning, and the UI is stale until it reconnects.
EVENTS_PER_FLUSH = 100
LIFECYCLE_PER_FLUSH = 5000
FRAMES_PER_MESSAGE = 500
SOCKETS_PER_REPLY = 500
MAX_PENDING_FRAMES = 20000  # held for one admin socket while its socket list is gathered
MAX_FILTER_LENGTH = 256

READONLY_FEATURES = ["AGGREGATED_EVENTS", "ALL_EVENTS"]
# DISCONNECT: one socket (filter = its id); MDISCONNECT: every socket of a room. No EMIT,
# JOIN, LEAVE, MJOIN or MLEAVE: the UI hides what is not listed.
FEATURES = ["DISCONNECT", "MDISCONNECT", *READONLY_FEATURES]
REFUSED_ACTIONS = {
    "join": "Room membership follows Banter's rules (chat services): the Admin UI cannot "
    "make a socket join a room",
    "leave": "Room membership follows Banter's rules (chat services): the Admin UI cannot "
    "make a socket leave a room",
    "emit": "The Admin UI cannot send events to Banter's clients",
}
# The UI sends `join`/`leave`; the underscored spellings (what `_disconnect` might suggest)
# are refused the same way.
REFUSED_ACTIONS["_join"] = REFUSED_ACTIONS["join"]
REFUSED_ACTIONS["_leave"] = REFUSED_ACTIONS["leave"]
PROCESS_STARTED = time.monotonic()


def reply_group(instance_id: str) -> str:
    """An instance's reply group (hashed: channel layer group names are short and plain)."""
    return REPLY_PREFIX + hashlib.blake2b(instance_id.encode(), digest_size=8).hexdigest()


@dataclass(slots=True)
class _Gather:
    """Answers to one `list` request: the sockets so far, the instances that are done."""

    sockets: list[dict[str, Any]] = field(default_factory=list)
    done: set[str] = field(default_factory=set)
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class _AdminClient:
    """One admin socket of this process. Live frames wait while its socket list is gathered:
    `all_sockets` replaces what the UI knows, so what happened meanwhile must come after."""

    __slots__ = ("pending", "socket")

    def __init__(self, socket: Socket) -> None:
        self.socket = socket
        self.pending: list[str] | None = []

    def send(self, frame: str) -> None:
        if self.pending is None:
            self.socket.send_event_frame(frame)
        elif len(self.pending) < MAX_PENDING_FRAMES:
            self.pending.append(frame)

    def release(self) -> None:
        pending, self.pending = self.pending or [], None
        for frame in pending:
            self.socket.send_event_frame(frame)


# A record waiting for the next flush: an encoded frame (lifecycle, stats), or an event
# record encoded then (name, namespace, sid, [event, *args] or a sent frame, time).
_Record = str | tuple[str, str, str, Any, float]


class AdminUI:
    """This instance's part of the Admin UI: the `/admin` namespace, the taps of the observed
    namespaces, and the cluster messages. One per process (banter/wiring.py)."""

    def __init__(
        self,
        hubs: HubProvider,
        credentials: admin_auth.AdminCredentials,
        *,
        readonly: bool = False,
        instance_id: str = INSTANCE_ID,
    ) -> None:
        self.hubs = hubs
        self.credentials = credentials
        self.readonly = readonly
        self.instance_id = instance_id
        self.hostname = socket_module.gethostname()
        self.pid = os.getpid()
        self.reply_group = reply_group(instance_id)
        self.namespace = AdminNamespace(self)
        self.observed: dict[str, ObservedNamespace] = {}
        self.engine: EngineServer | None = None
        self.counts = EventCounts()
        # True while an Admin UI is connected somewhere (an `alive` beacon with admins came
        # within WATCH_TTL): only then are records made and published.
        self.watching = False
        self.hub: Hub | None = None
        self._watched_until = 0.0
        self._next_stats = 0.0
        self._peers: dict[str, float] = {}  # instance -> loop time it was last heard of
        self._clients: dict[str, _AdminClient] = {}
        self._records: list[_Record] = []
        self._event_budget = EVENTS_PER_FLUSH
        self._lifecycle_budget = LIFECYCLE_PER_FLUSH
        self._dropped_warned = 0.0
        self._polling: dict[str, ObservedSocket] = {}  # sockets last shown on polling
        self._gathers: dict[str, _Gather] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Future[Any] | None = None
        self._ready: asyncio.Future[None] | None = None

    @classmethod
    def from_settings(cls, hubs: HubProvider, instance_id: str = INSTANCE_ID) -> AdminUI:
        return cls(
            hubs,
            admin_auth.AdminCredentials.from_settings(),
            readonly=bool(settings.BANTER["ADMIN_UI_READONLY"]),
            instance_id=instance_id,
        )

    # -- wiring ------------------------------------------------------------------------

    def instrument(self, namespaces: Mapping[str, Namespace]) -> dict[str, Namespace]:
        """`namespaces` observed, plus the admin namespace: what the server is to serve."""
        if ADMIN_NAMESPACE in namespaces:
            raise ValueError(f"{ADMIN_NAMESPACE} is the Admin UI's namespace")
        self.observed = {name: ObservedNamespace(inner, self) for name, inner in namespaces.items()}
        served: dict[str, Namespace] = dict(self.observed)
        served[ADMIN_NAMESPACE] = self.namespace
        return served

    def attach(self, engine: EngineServer) -> None:
        """The Engine.IO sessions whose counts `server_stats` reports."""
        self.engine = engine

    async def start(self) -> None:
        """Background entry (banter/wiring.py): join the cluster at startup, so this instance
        reports to a UI connected elsewhere before its own first socket."""
        self.ensure_started()

    def ensure_started(self) -> None:
        """Run the service loop on the running event loop (once per loop)."""
        loop = asyncio.get_running_loop()
        if self._task is not None and not self._task.done() and self._loop is loop:
            return
        self._loop = loop
        self._ready = loop.create_future()
        self._task = spawn(self._run(self._ready), name="admin-ui")  # a failure is logged

    async def ready(self) -> Hub:
        self.ensure_started()
        assert self._ready is not None
        await asyncio.shield(self._ready)
        assert self.hub is not None
        return self.hub

    async def _run(self, ready: asyncio.Future[None]) -> None:
        try:
            hub = await self.hubs.get()
            await hub.join(CLUSTER_GROUP, self)
            await hub.join(self.reply_group, self)
        except BaseException as error:
            ready.set_exception(error)
            ready.exception()  # retrieved: a waiter may never come
            raise
        self.hub = hub
        ready.set_result(None)
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            try:
                self._tick()
            except Exception:
                logger.exception("admin ui tick failed")

    def _tick(self) -> None:
        now = self._now()
        self.watching = now < self._watched_until
        if now >= self._next_stats:
            self._next_stats = now + STATS_INTERVAL
            # Restarted instances leave their ids behind.
            self._peers = {peer: seen for peer, seen in self._peers.items() if now - seen < 60}
            if self._clients:
                self._publish_alive()
            if self.watching:
                self._report_upgrades()
                self._records.append(admin_frame("server_stats", self.server_stats()))
            else:
                self.counts.reset()
        self._flush()

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    # -- the cluster -------------------------------------------------------------------

    def _publish(self, group: str, body: dict[str, Any]) -> None:
        if self.hub is not None:
            self.hub.publish(group, {"type": ADMIN_TYPE, "group": group, **body})

    def _publish_alive(self) -> None:
        self._publish(
            CLUSTER_GROUP,
            {"op": "alive", "instance": self.instance_id, "admins": len(self._clients)},
        )

    def deliver(self, message: dict[str, Any]) -> None:
        """Hub subscriber: the messages of the admin groups (never blocks)."""
        if message.get("type") != ADMIN_TYPE:
            return
        op = message.get("op")
        if op == "frames":
            frames = message.get("frames") or []
            for client in list(self._clients.values()):
                for frame in frames:
                    client.send(frame)
        elif op == "alive":
            now = self._now()
            self._peers[str(message.get("instance"))] = now
            if message.get("admins"):
                self._watch(now)
        elif op == "list":
            reply = str(message.get("reply", ""))
            if reply.startswith(REPLY_PREFIX):
                spawn(self._answer_list(str(message.get("request")), reply), name="admin-list")
        elif op == "sockets":
            self._take_sockets(message)
        elif op == "disconnect":
            self._disconnect_local(message)

    def _watch(self, now: float) -> None:
        self._watched_until = max(self._watched_until, now + WATCH_TTL)
        self.watching = True

    def _live_peers(self) -> set[str]:
        now = self._now()
        alive = {peer for peer, seen in self._peers.items() if now - seen < WATCH_TTL}
        return alive | {self.instance_id}

    async def _answer_list(self, request: str, reply: str) -> None:
        sockets = [s for observed in self.observed.values() for s in observed.sockets.values()]
        for start in range(0, max(len(sockets), 1), SOCKETS_PER_REPLY):
            chunk = [self._serialize(s) for s in sockets[start : start + SOCKETS_PER_REPLY]]
            last = start + SOCKETS_PER_REPLY >= len(sockets)
            body = {"op": "sockets", "request": request, "instance": self.instance_id}
            self._publish(reply, {**body, "sockets": chunk, "last": last})
            await asyncio.sleep(0)  # a big instance answers without stalling its loop

    def _take_sockets(self, message: dict[str, Any]) -> None:
        instance = str(message.get("instance"))
        self._peers[instance] = self._now()
        gather = self._gathers.get(str(message.get("request")))
        if gather is None:
            return
        gather.sockets.extend(message.get("sockets") or [])
        if message.get("last"):
            gather.done.add(instance)
            gather.changed.set()

    async def _gather(self) -> list[dict[str, Any]]:
        """Every instance's sockets (see GATHER_MIN/GATHER_MAX)."""
        request = secrets.token_hex(8)
        gather = self._gathers[request] = _Gather()
        try:
            self._publish(
                CLUSTER_GROUP, {"op": "list", "request": request, "reply": self.reply_group}
            )
            started = self._now()
            while True:
                elapsed = self._now() - started
                if elapsed >= GATHER_MAX:
                    logger.warning(
                        "admin ui: socket list incomplete, no answer from %s",
                        sorted(self._live_peers() - gather.done),
                    )
                    break
                if elapsed >= GATHER_MIN and self._live_peers() <= gather.done:
                    break
                gather.changed.clear()
                wait = GATHER_MIN - elapsed if elapsed < GATHER_MIN else GATHER_MAX - elapsed
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(gather.changed.wait(), wait)
        finally:
            del self._gathers[request]
        return gather.sockets

    def request_disconnect(self, namespace: str, target: str, close: bool, by: str) -> None:
        """Close the sockets `target` names (a socket id or a group) wherever they are."""
        self._publish(
            CLUSTER_GROUP,
            {"op": "disconnect", "nsp": namespace, "filter": target, "close": close, "by": by},
        )

    def _disconnect_local(self, message: dict[str, Any]) -> None:
        observed = self.observed.get(str(message.get("nsp")))
        target = message.get("filter")
        if observed is None or not isinstance(target, str) or not target:
            return
        found = observed.sockets.get(target)
        if found is not None:
            victims = [found]
        else:
            victims = [s for s in list(observed.sockets.values()) if target in s.groups]
        close = bool(message.get("close"))
        for victim in victims:
            logger.warning(
                "admin ui disconnect sid=%s user=%s close=%s by=%s",
                victim.sid,
                victim.identity,
                close,
                message.get("by"),
            )
            if close:  # the whole client, as Socket.IO's disconnect(true)
                for other in list(victim.connection.sockets.values()):
                    other.disconnect()
                victim.engine.close("forced close")
            else:
                victim.disconnect()

    # -- admin sockets -----------------------------------------------------------------

    async def admin_joined(self, socket: Socket) -> None:
        """A UI connected here: it gets every instance's sockets, then live frames."""
        hub = await self.ready()
        client = _AdminClient(socket)
        first = not self._clients
        self._clients[socket.sid] = client
        if first:
            await hub.join(VIEW_GROUP, self)
        # Every instance starts reporting, and answers the list after the beacon (one
        # publisher per process keeps the order): what connects after its answer is sent live.
        self._watch(self._now())
        self._publish_alive()
        sockets = await self._gather()
        if socket.connected:
            socket.emit("all_sockets", sockets)
            socket.emit("server_stats", self.server_stats(aggregated=False))
        client.release()

    def admin_left(self, socket: Socket) -> None:
        gone = self._clients.pop(socket.sid, None) is not None
        if gone and not self._clients and self.hub is not None:
            self.hub.leave(VIEW_GROUP, self)

    # -- reports -----------------------------------------------------------------------

    def server_stats(self, aggregated: bool = True) -> dict[str, Any]:
        sessions = list(self.engine.sessions.values()) if self.engine is not None else []
        namespaces = [
            {"name": name, "socketsCount": len(observed.sockets)}
            for name, observed in self.observed.items()
        ]
        namespaces.append({"name": ADMIN_NAMESPACE, "socketsCount": len(self._clients)})
        return {
            "serverId": self.instance_id,
            "hostname": self.hostname,
            "pid": self.pid,
            "uptime": round(time.monotonic() - PROCESS_STARTED, 3),
            "clientsCount": len(sessions),
            "pollingClientsCount": sum(1 for s in sessions if s.transport == "polling"),
            "aggregatedEvents": self.counts.take() if aggregated else [],
            "namespaces": namespaces,
        }

    def _serialize(self, socket: ObservedSocket) -> dict[str, Any]:
        request = socket.request
        ctx = socket.state.get("ctx")
        user = getattr(ctx, "user", None)
        return serialize_socket(
            SocketFacts(
                sid=socket.sid,
                engine_sid=socket.engine.sid,
                namespace=socket.namespace,
                transport=socket.engine.transport,
                client_ip=request.client_ip,
                headers=request.headers,
                query=request.query,
                origin=request.origin,
                issued=socket.issued,
                groups=tuple(socket.groups),
                data={
                    "userId": socket.identity,
                    "username": getattr(user, "username", None),
                    "serverId": self.instance_id,
                },
            )
        )

    def _report_upgrades(self) -> None:
        for sid, socket in list(self._polling.items()):
            if socket.engine.transport != "polling":
                del self._polling[sid]
                update = {"id": sid, "nsp": socket.namespace, "transport": socket.engine.transport}
                self._lifecycle(partial(admin_frame, "socket_updated", update))

    def _lifecycle(self, make: Callable[[], str]) -> None:
        if self._lifecycle_budget > 0:
            self._lifecycle_budget -= 1
            self._records.append(make())
        else:
            self._warn_dropped()

    def _warn_dropped(self) -> None:
        now = time.monotonic()
        if now - self._dropped_warned > 60:
            self._dropped_warned = now
            logger.warning(
                "admin ui: more than %d connects, disconnects or room changes in %.2fs; the "
                "rest are not shown (reconnect the UI for a fresh socket list)",
                LIFECYCLE_PER_FLUSH,
                FLUSH_INTERVAL,
            )

    def _flush(self) -> None:
        records, self._records = self._records, []
        self._event_budget = EVENTS_PER_FLUSH
        self._lifecycle_budget = LIFECYCLE_PER_FLUSH
        if not records:
            return
        frames: list[str] = []
        for record in records:
            if isinstance(record, str):
                frames.append(record)
                continue
            name, namespace, sid, payload, at = record
            if name == "frame":
                payload = sent_frame_payload(payload)
                if payload is None:
                    continue
                name = "event_sent"
            frames.append(event_record(name, namespace, sid, payload, at))
        for start in range(0, len(frames), FRAMES_PER_MESSAGE):
            chunk = frames[start : start + FRAMES_PER_MESSAGE]
            self._publish(VIEW_GROUP, {"op": "frames", "frames": chunk})

    # -- taps (banter/realtime/admin_taps.py) ------------------------------------------

    def socket_connected(self, socket: ObservedSocket) -> None:
        self.counts.connections += 1
        if socket.engine.transport == "polling":
            self._polling[socket.sid] = socket
        if self.watching:
            serialized = self._serialize(socket)
            at = iso(time.time())
            self._lifecycle(partial(admin_frame, "socket_connected", serialized, at))

    def socket_disconnected(self, socket: ObservedSocket, reason: str) -> None:
        disconnections = self.counts.disconnections
        disconnections[reason] = disconnections.get(reason, 0) + 1
        self._polling.pop(socket.sid, None)
        if self.watching:
            args = (socket.namespace, socket.sid, reason, iso(time.time()))
            self._lifecycle(partial(admin_frame, "socket_disconnected", *args))

    def room_joined(self, socket: ObservedSocket, group: str) -> None:
        if self.watching and socket.announced:
            args = (socket.namespace, group, socket.sid, iso(time.time()))
            self._lifecycle(partial(admin_frame, "room_joined", *args))

    def room_left(self, socket: ObservedSocket, group: str) -> None:
        if self.watching and socket.announced:
            args = (socket.namespace, group, socket.sid, iso(time.time()))
            self._lifecycle(partial(admin_frame, "room_left", *args))

    def event_received(self, socket: ObservedSocket, event: str, args: list[Any]) -> None:
        counts = self.counts
        counts.packets_in += 1
        counts.bytes_in += socket.last_event_size
        if self.watching and self._event_budget > 0:
            self._event_budget -= 1
            record = ("event_received", socket.namespace, socket.sid, [event, *args], time.time())
            self._records.append(record)

    def event_sent(self, socket: ObservedSocket, event: str, args: tuple[Any, ...]) -> None:
        self.counts.packets_out += 1
        if self.watching and self._event_budget > 0:
            self._event_budget -= 1
            record = ("event_sent", socket.namespace, socket.sid, [event, *args], time.time())
            self._records.append(record)

    def frame_sent(self, socket: ObservedSocket, frame: str) -> None:
        counts = self.counts
        counts.packets_out += 1
        counts.bytes_out += len(frame)
        if self.watching and self._event_budget > 0:
            self._event_budget -= 1
            self._records.append(("frame", socket.namespace, socket.sid, frame, time.time()))


class _RevokeWatch:
    """Hub subscriber on a staff user's group: their sessions revoked (logout, deactivation)
    ends their Admin UI socket too. Frames for the user's main-namespace sockets are not for
    it."""

    __slots__ = ("socket",)

    def __init__(self, socket: Socket) -> None:
        self.socket = socket

    def deliver(self, message: dict[str, Any]) -> None:
        if message.get("type") == "banter.control" and message.get("action") == "revoke":
            auth.end_session(self.socket, f"revoked: {message.get('reason', 'revoked')}")


class AdminNamespace(Namespace):
    """The `/admin` namespace: the UI's login, its greeting, and its actions."""

    def __init__(self, service: AdminUI) -> None:
        self.service = service
        actions: dict[str, Callable[[Socket, list[Any]], dict[str, Any]]] = {}
        if not service.readonly:
            actions["_disconnect"] = self._disconnect
        self.actions = actions
        self.features = READONLY_FEATURES if service.readonly else FEATURES

    async def on_connect(self, socket: Socket, auth_payload: dict[str, Any] | None) -> None:
        self.service.ensure_started()
        request = socket.request
        try:
            if request.extra.get("origin_denied"):
                raise ConnectRefused("Origin not allowed", {"code": "origin_not_allowed"})
            login = await admin_auth.authenticate(auth_payload, request, self.service.credentials)
        except ConnectRefused as refused:
            code = str((refused.data or {}).get("code"))
            metrics.AUTH_FAILURES.labels(f"admin_{code}").inc()
            logger.warning(
                "admin ui login refused code=%s ip=%s origin=%s",
                code,
                request.client_ip,
                request.origin,
            )
            raise
        socket.state["admin_login"] = login
        if login.user_id is not None:
            hub = await self.service.hubs.get()
            watch = _RevokeWatch(socket)
            await hub.join(user_group(login.user_id), watch)
            socket.state["admin_revoke"] = (hub, user_group(login.user_id), watch)
        if login.expires is not None:
            auth.schedule_expiry(socket, login.expires)
        logger.info(
            "admin ui login %s ip=%s origin=%s", login.identity, request.client_ip, request.origin
        )

    async def on_connected(self, socket: Socket) -> None:
        login: admin_auth.AdminLogin = socket.state["admin_login"]
        if login.session_id is not None:
            socket.emit("session", login.session_id)
        socket.emit("config", {"supportedFeatures": list(self.features)})
        await self.service.admin_joined(socket)

    async def on_event(
        self, socket: Socket, event: str, args: list[Any], ack_id: int | None
    ) -> None:
        try:
            action = self.actions.get(event)
            if action is None:
                raise self._refusal(event)
            reply: dict[str, Any] = {"ok": True, "data": action(socket, args)}
        except BanterError as error:
            logger.info(
                "admin ui event refused event=%r code=%s by=%s",
                event[:64],
                error.code.value,
                socket.state["admin_login"].identity,
            )
            reply = {"ok": False, "error": error.as_dict()}
        if ack_id is not None:
            socket.ack(ack_id, [reply])
        elif not reply["ok"]:
            socket.emit("error", {**reply["error"], "event": event[:64]})

    def _refusal(self, event: str) -> BanterError:
        if event in REFUSED_ACTIONS:
            return BanterError(ErrorCode.FORBIDDEN, REFUSED_ACTIONS[event])
        if self.service.readonly and event == "_disconnect":
            return BanterError(ErrorCode.FORBIDDEN, "The Admin UI is read-only (ADMIN_UI_READONLY)")
        return BanterError(ErrorCode.NOT_FOUND, f"Unknown event {event[:64]!r}")

    def _disconnect(self, socket: Socket, args: list[Any]) -> dict[str, Any]:
        """`_disconnect(nsp, close, filter)`: the socket `filter` names, or every socket of
        the room it names, on whichever instance holds them."""
        namespace, close, target = [*args, None, None, None][:3]
        if not isinstance(namespace, str) or namespace not in self.service.observed:
            raise validation_error("Unknown namespace", nsp="unknown")
        if not isinstance(target, str) or not target or len(target) > MAX_FILTER_LENGTH:
            # Never "every socket of the namespace": a slip of the UI must not end them all.
            raise validation_error("A socket id or a room is required", filter="required")
        identity = socket.state["admin_login"].identity
        self.service.request_disconnect(namespace, target, bool(close), identity)
        return {}

    async def on_disconnect(self, socket: Socket, reason: str) -> None:
        auth.cancel_expiry(socket)
        revoke = socket.state.pop("admin_revoke", None)
        if revoke is not None:
            hub, group, watch = revoke
            hub.leave(group, watch)
        self.service.admin_left(socket)
        login = socket.state.get("admin_login")
        if login is not None:
            logger.info("admin ui logout %s reason=%s", login.identity, reason)
