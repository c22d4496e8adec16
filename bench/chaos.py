"""Chaos run: acked messages survive a kill -9 of one of two instances.

What it sets up: a fresh database (PostgreSQL when ``--database-url``/``DATABASE_URL`` is a
postgres URL, else a SQLite file; ``tests.e2e.conftest.fresh_database``), Redis, and two
``manage.py serve`` instances on them (``instance_pair``, a private ``REDIS_PREFIX``, message
rate limit out of the way). ``--clients`` users are created in the database with access
tokens minted as the API mints them (registering over REST hashes a password per user: too
slow for a CI-sized run), then put in ``--rooms`` rooms over REST (each user in 1-3 rooms,
every room at least two members); client i connects to instance ``i % 2`` (python-socketio,
websocket).

What the clients do, like a careful real client (docs/protocol.md, docs/guarantees.md):

* send ``--rate`` messages a second, each with a unique ``clientId``, and wait ``--ack-timeout``
  seconds for the ack; an ack that does not come (timeout, disconnect) is RESENT with the same
  ``clientId`` once connected again, until it is acked (at-least-once sending);
* keep the CONNECT reply's ``pid`` and the last recovery offset (the last argument of
  ``message-received`` & co.); when the connection drops they reconnect at once (the other
  instance first, then round-robin) with ``{token, pid, offset}``: the same pid back means
  recovered (the missed events are replayed), a new pid means not recovered, and every room is
  resynced over REST (``GET /api/rooms/{id}/messages?after=<seq>``, paging with ``nextAfter``);
* keep every message they get (live, replayed, from their own ack, or over REST) per room,
  de-duplicated by ``(roomId, seq)``; a ``(roomId, seq)`` that reaches one client twice over
  the socket is counted as a *wire duplicate* (allowed, reported), two different messages
  with one ``(roomId, seq)`` as a *conflict* (a failure);
* fetch over REST a ``seq`` gap that is still open ``--gap-grace`` seconds after it appeared,
  as the protocol tells clients to. Gap fills are reported with their messages, and whether
  each came over the socket later (late) or never (missed by live delivery and recovery);
  ``--no-gap-fill`` turns them off to see what live delivery and recovery alone achieve.

The chaos: at ``--kill-at`` seconds instance 1 gets SIGKILL; ``--down`` seconds later it is
started again on the same port, and a few seconds after that the clients whose home it was
move back to it (a clean disconnect and a recovering reconnect: the restarted instance must
serve them). After ``--duration`` seconds the senders stop (finishing their pending sends),
then ``--quiet`` seconds pass (longer while deliveries still arrive), then clients that were
ever not recovered resync once more and open gaps are filled.

What is checked, against the database (every room read over REST by its owner):

* acked messages lost: an acked message missing from a member's received set (must be 0);
* duplicates after de-duplication: two messages with one (room, seq) at a client or in the
  database, seqs not 1..n, or two messages for one (sender, clientId) (must be 0);
* acks agree with the database (same id, room and seq for the clientId), no send left
  without an ack, no message at a client that the database does not have;
* every dropped client reconnected, each within ``--reconnect-limit`` (30) seconds of its
  disconnect, and every client is connected at the end.

Stored but never acked messages (possible if a sender gave up) are reported, not failed.
Figures are printed at the end (also as one ``CHAOS-FIGURES {json}`` line), with PASS or FAIL;
the exit code is 0 on PASS, 1 on FAIL, 2 when Redis is unreachable.

Run::

    .venv/bin/python bench/chaos.py --clients 40 --rooms 8 --duration 30
    .venv/bin/python bench/chaos.py --database-url postgres://postgres@127.0.0.1:5432/postgres
    make chaos CHAOS_ARGS="--clients 60 --duration 60"
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from socketio.exceptions import SocketIOError  # noqa: E402

from tests.e2e.client import RECOVERABLE, RecoveringClient, RestClient, User  # noqa: E402
from tests.e2e.conftest import fresh_database, instance_pair, server_env  # noqa: E402
from tests.live_server import LiveServer  # noqa: E402
from tests.services import TEST_REDIS_URL, tcp_reachable  # noqa: E402

PROGRESS_EVERY = 3.0
REBALANCE_AFTER = 2.0  # seconds after the restart before the moved clients go back
SEND_DEADLINE = 60.0  # after --duration, pending sends get this long to be acked
SETTLE_MAX = 30.0  # longest wait for late deliveries after the quiet period
RETRYABLE = {"internal_error", "rate_limited"}
PAGE = 100
REST_CONCURRENCY = 8


# -- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    clients: int
    rooms: int
    duration: float
    rate: float
    kill_at: float
    down: float
    quiet: float
    ack_timeout: float
    reconnect_limit: float
    seed: int
    redis_url: str
    log_dir: Path
    recovery_max_events: int | None
    rebalance: bool
    gap_grace: float
    gap_fill: bool
    dump: Path | None


def parse_args(argv: list[str] | None = None) -> tuple[Config, str | None]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--rooms", type=int, default=8)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of sending")
    parser.add_argument("--rate", type=float, default=2.0, help="messages/s per client")
    parser.add_argument("--kill-at", type=float, default=None, help="default 30%% of duration")
    parser.add_argument("--down", type=float, default=5.0, help="seconds before the restart")
    parser.add_argument("--quiet", type=float, default=5.0, help="seconds before checking")
    parser.add_argument("--ack-timeout", type=float, default=5.0)
    parser.add_argument("--reconnect-limit", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--dump", type=Path, default=None, help="write everything seen as JSON")
    parser.add_argument("--database-url", default=None, help="default: $DATABASE_URL, SQLite")
    parser.add_argument("--redis-url", default=TEST_REDIS_URL)
    parser.add_argument("--log-dir", type=Path, default=None, help="default: a new temp dir")
    parser.add_argument(
        "--recovery-max-events", type=int, default=None, help="server RECOVERY_MAX_EVENTS"
    )
    parser.add_argument(
        "--gap-grace",
        type=float,
        default=5.0,
        help="seconds a seq gap may stay open (late live delivery) before REST fills it",
    )
    parser.add_argument(
        "--no-gap-fill",
        action="store_true",
        help="clients never fill seq gaps over REST (only live, replay, ack, not-recovered "
        "resync): shows what live delivery and recovery alone deliver",
    )
    parser.add_argument(
        "--no-rebalance", action="store_true", help="do not move clients back after the restart"
    )
    args = parser.parse_args(argv)
    if args.clients < 2 or args.rooms < 1:
        parser.error("need at least 2 clients and 1 room")
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="banter-chaos-"))
    config = Config(
        clients=args.clients,
        rooms=args.rooms,
        duration=args.duration,
        rate=args.rate,
        kill_at=args.kill_at if args.kill_at is not None else round(args.duration * 0.3, 1),
        down=args.down,
        quiet=args.quiet,
        ack_timeout=args.ack_timeout,
        reconnect_limit=args.reconnect_limit,
        seed=args.seed if args.seed is not None else random.randrange(1_000_000),
        redis_url=args.redis_url,
        log_dir=log_dir,
        recovery_max_events=args.recovery_max_events,
        rebalance=not args.no_rebalance,
        gap_grace=args.gap_grace,
        gap_fill=not args.no_gap_fill,
        dump=args.dump,
    )
    return config, args.database_url


# -- records ---------------------------------------------------------------------------------


@dataclass
class Send:
    client_id: str
    room: int
    started: float
    attempts: int = 0  # emitted send-message events for this clientId
    acked_at: float | None = None
    message_id: int | None = None
    seq: int | None = None
    errors: list[str] = field(default_factory=list)
    instances: list[int] = field(default_factory=list)  # where each attempt was emitted


@dataclass
class Outage:
    cause: str  # "kill" (its instance was killed), "drop" (anything else), "move" (rebalance)
    began: float
    from_instance: int
    offset: str | None = None  # the recovery offset presented when reconnecting
    ended: float | None = None
    to_instance: int | None = None
    recovered: bool | None = None
    attempts: int = 0

    @property
    def seconds(self) -> float | None:
        return None if self.ended is None else self.ended - self.began


@dataclass
class GapFill:
    client: str
    room: int
    messages: list[dict[str, Any]]
    at: float
    had_outage: bool


@dataclass
class Delivery:
    """One message event as it came off a socket (kept to explain gaps and duplicates)."""

    at: float
    session: int
    instance: int
    room: int
    seq: int
    offset: str | None
    latency: float  # seconds from the message's createdAt to its arrival here
    replayed: bool


def created_at(payload: dict[str, Any]) -> float:
    try:
        return datetime.fromisoformat(str(payload["createdAt"])).timestamp()
    except (KeyError, ValueError):
        return 0.0


# -- one client ------------------------------------------------------------------------------


class ChaosClient:
    """One user with one socket: sends with acks, reconnects, recovers or resyncs, records."""

    def __init__(self, run: Run, index: int, user: User, rooms: list[int]) -> None:
        self.run = run
        self.name = f"c{index:03d}"
        self.user = user
        self.rooms = rooms
        self.home = index % 2
        self.rng = random.Random(run.config.seed * 7919 + index)
        self.sio: RecoveringClient | None = None
        self.instance = self.home
        self.session = 0
        self.resumed = False  # the current session was opened with a pid
        self.opened_wall = 0.0
        self.pid: str | None = None
        self.offset: str | None = None
        self.connected = asyncio.Event()
        self.lost = asyncio.Event()
        self.send_lock = asyncio.Lock()
        self.closing = False
        self.moving = False
        # (room -> seq -> message id): the de-duplicated received set
        self.held: dict[int, dict[int, int]] = {room: {} for room in rooms}
        self.contiguous: dict[int, int] = dict.fromkeys(rooms, 0)
        self.top: dict[int, int] = dict.fromkeys(rooms, 0)
        self.hole_seen: dict[tuple[int, int], float] = {}  # (room, first missing seq) -> when
        self.socket_seen: set[tuple[int, int]] = set()
        self.paths: Counter[str] = Counter()
        self.wire_duplicates: list[tuple[int, int]] = []
        self.deliveries: list[Delivery] = []
        self.last_live: dict[tuple[int, int], int] = {}  # (session, room) -> last seq
        self.inversions: list[tuple[int, int, int]] = []  # room, seq, after seq
        self.conflicts: list[tuple[int, int, int, int]] = []  # room, seq, held id, other id
        self.foreign: list[tuple[int, int]] = []  # messages of rooms this user is not in
        self.errors: Counter[str] = Counter()
        self.sends: dict[str, Send] = {}
        self.outages: list[Outage] = []
        self.gap_fills: list[GapFill] = []
        self.ever_not_recovered = False

    # -- receiving ---------------------------------------------------------------------------

    def accept(self, message: dict[str, Any], path: str) -> None:
        room, seq, message_id = int(message["roomId"]), int(message["seq"]), int(message["id"])
        held = self.held.get(room)
        if held is None:
            self.foreign.append((room, seq))
            return
        known = held.get(seq)
        if known is not None:
            if known != message_id:
                self.conflicts.append((room, seq, known, message_id))
            return
        held[seq] = message_id
        self.paths[path] += 1
        self.top[room] = max(self.top[room], seq)
        while self.contiguous[room] + 1 in held:
            self.contiguous[room] += 1

    def _on_event(self, session: int, instance: int, event: str, *args: Any) -> None:
        offset = None
        if event in RECOVERABLE and len(args) >= 2 and isinstance(args[-1], str):
            offset = args[-1]
            if session == self.session:
                self.offset = offset
            args = args[:-1]
        if event == "message-received" and args and isinstance(args[0], dict):
            message = args[0]
            key = (int(message["roomId"]), int(message["seq"]))
            created = created_at(message)
            # A replay: on a resumed session, created before the session was opened (after
            # the offset it resumed from, or within RECOVERY_LOOKBACK before it).
            replayed = self.resumed and created < self.opened_wall
            self.deliveries.append(
                Delivery(
                    self.run.now(),
                    session,
                    instance,
                    *key,
                    offset,
                    time.time() - created,
                    replayed,
                )
            )
            if key in self.socket_seen:
                self.wire_duplicates.append(key)
            self.socket_seen.add(key)
            previous = self.last_live.get((session, key[0]), 0)
            if key[1] < previous:
                self.inversions.append((key[0], key[1], previous))
            self.last_live[(session, key[0])] = max(previous, key[1])
            self.accept(message, "replay" if replayed else "live")
        elif event == "error":
            payload = args[0] if args and isinstance(args[0], dict) else {}
            self.errors[f"event:{payload.get('code')}"] += 1

    def _on_disconnect(self, session: int, *_: Any) -> None:
        if session != self.session or self.closing or self.moving:
            return
        self.connected.clear()
        run = self.run
        killed = run.killed_at is not None and self.instance == run.killed_instance
        cause = "kill" if killed and run.now() - (run.killed_at or 0) < 10 else "drop"
        self.outages.append(Outage(cause, run.now(), self.instance, self.offset))
        self.lost.set()

    # -- connecting --------------------------------------------------------------------------

    async def open(self, instance: int, resume: bool) -> bool:
        """Connect to one instance; True when the server recovered the session."""
        self.session += 1
        session = self.session
        sio = RecoveringClient(reconnection=False)
        sio.on("*", functools.partial(self._on_event, session, instance))
        sio.on("disconnect", functools.partial(self._on_disconnect, session))
        auth: dict[str, str] = {"token": self.user.access}
        old_pid = self.pid
        if resume and old_pid:
            auth["pid"] = old_pid
            if self.offset is not None:
                auth["offset"] = self.offset
        self.resumed = "pid" in auth
        self.opened_wall = time.time()
        try:
            await sio.connect(
                self.run.servers[instance].url,
                auth=auth,
                transports=["websocket"],
                wait_timeout=10,
            )
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sio.disconnect(), 1)
            raise
        self.sio, self.instance, self.pid = sio, instance, sio.pid
        self.connected.set()
        return self.resumed and sio.pid == old_pid

    async def reconnect(self, outage: Outage, prefer: int | None = None) -> None:
        first = prefer if prefer is not None else (outage.from_instance + 1) % 2
        delay = 0.05
        while not self.closing:
            target = (first + outage.attempts) % 2
            outage.attempts += 1
            outage.offset = self.offset  # what this attempt presents
            try:
                recovered = await self.open(target, resume=True)
            except Exception as error:  # refused, CONNECT timeout or CONNECT_ERROR
                self.errors[f"connect:{type(error).__name__}"] += 1
                await asyncio.sleep(delay * (0.5 + self.rng.random()))
                delay = min(delay * 2, 1.0)
                continue
            outage.ended, outage.to_instance, outage.recovered = self.run.now(), target, recovered
            if not recovered:
                self.ever_not_recovered = True
                await self.resync_all("resync")
            return

    async def supervise(self) -> None:
        """Reconnect whenever the connection drops (until closing)."""
        while not self.closing:
            await self.lost.wait()
            self.lost.clear()
            if self.closing:
                return
            await self.reconnect(self.outages[-1])

    async def move(self, target: int) -> None:
        """Leave cleanly and reconnect (recovering) to another instance."""
        async with self.send_lock:
            if not self.connected.is_set() or self.sio is None or self.instance == target:
                return
            self.moving = True
            try:
                self.connected.clear()
                outage = Outage("move", self.run.now(), self.instance, self.offset)
                self.outages.append(outage)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.sio.disconnect(), 5)
                await self.reconnect(outage, prefer=target)
            finally:
                self.moving = False

    async def close(self) -> None:
        self.closing = True
        self.lost.set()
        if self.sio is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.sio.disconnect(), 5)

    # -- REST --------------------------------------------------------------------------------

    async def resync(
        self, room: int, path: str, after: int | None = None, until: int | None = None
    ) -> list[dict[str, Any]]:
        """Page the room over REST from `after` (default: the last contiguous seq) up to
        `until` (default: the end); what was new to this client."""
        start = self.contiguous[room] if after is None else after
        added = []
        messages = await self.run.fetch_room(
            room, start, self.user.access, prefer=self.instance, until=until
        )
        for message in messages:
            before = len(self.held[room])
            self.accept(message, path)
            if len(self.held[room]) > before:
                added.append(message)
        return added

    def holes(self, room: int) -> list[tuple[int, int]]:
        """(first, last) of each run of missing seqs below the highest one held."""
        held, runs = self.held[room], []
        seq = self.contiguous[room] + 1
        while seq < self.top[room]:
            if seq in held:
                seq += 1
                continue
            first = seq
            while seq not in held:
                seq += 1
            runs.append((first, seq - 1))
        return runs

    async def resync_all(self, path: str) -> None:
        for room in self.rooms:
            await self.resync(room, path)

    async def fill_gaps(self, grace: float) -> None:
        """Fetch over REST the seq gaps that have been open for `grace` seconds (a shorter
        one may still be a late live delivery)."""
        now = self.run.now()
        for room in self.rooms:
            added = []
            for first, last in self.holes(room):
                seen = self.hole_seen.setdefault((room, first), now)
                if now - seen >= grace:
                    added += await self.resync(room, "gap", after=first - 1, until=last)
            if added:
                had_outage = any(o.cause != "move" for o in self.outages)
                self.gap_fills.append(GapFill(self.name, room, added, now, had_outage))

    # -- sending -----------------------------------------------------------------------------

    async def send_loop(self, stop_at: float, give_up_at: float) -> None:
        interval = 1.0 / self.run.config.rate
        next_at = self.run.now() + self.rng.random() * interval
        number = 0
        while True:
            await asyncio.sleep(max(0.0, next_at - self.run.now()))
            if self.run.now() >= stop_at:
                return
            number += 1
            client_id = f"{self.name}-{self.run.tag}-{number}"
            await self.send(self.rng.choice(self.rooms), client_id, give_up_at)
            next_at = max(next_at + interval, self.run.now())  # no burst after a stall

    async def send(self, room: int, client_id: str, give_up_at: float) -> None:
        record = Send(client_id, room, self.run.now())
        self.sends[client_id] = record
        payload = {"roomId": room, "content": f"chaos {client_id}", "clientId": client_id}
        while self.run.now() < give_up_at:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.connected.wait(), 1)
            async with self.send_lock:
                sio = self.sio
                if not self.connected.is_set() or sio is None or not sio.connected:
                    continue
                record.attempts += 1
                record.instances.append(self.instance)
                try:
                    ack = await sio.call(
                        "send-message", payload, timeout=self.run.config.ack_timeout
                    )
                except SocketIOError as error:  # timeout or disconnected
                    record.errors.append(type(error).__name__)
                    continue
            if isinstance(ack, dict) and ack.get("ok") is True:
                message = ack["data"]
                record.acked_at = self.run.now()
                record.message_id, record.seq = int(message["id"]), int(message["seq"])
                self.accept(message, "ack")
                return
            code = ack.get("error", {}).get("code") if isinstance(ack, dict) else repr(ack)
            record.errors.append(str(code))
            self.errors[f"ack:{code}"] += 1
            if code not in RETRYABLE:
                return
            await asyncio.sleep(0.5)


# -- the run ---------------------------------------------------------------------------------


class Run:
    def __init__(
        self,
        config: Config,
        servers: tuple[LiveServer, LiveServer],
        database: str,
        extra: dict[str, str],
    ) -> None:
        self.config = config
        self.servers = servers
        self.database_url = database
        self.extra = extra
        self.rest = [RestClient(server.url) for server in servers]
        self.tag = uuid.uuid4().hex[:6]
        self.t0 = time.monotonic()
        self.t0_wall = time.time()
        self.killed_at: float | None = None
        self.killed_instance: int | None = None
        self.restarted_at: float | None = None
        self.down: set[int] = set()
        self.clients: list[ChaosClient] = []
        self.owners: dict[int, User] = {}
        self.timeline: list[str] = []
        self.cpu: dict[str, float | None] = {}
        self.stored: dict[int, list[dict[str, Any]]] = {}  # the database, read at the end
        self.rest_slots = asyncio.Semaphore(REST_CONCURRENCY)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def note(self, text: str) -> None:
        line = f"[{self.now():6.1f}s] {text}"
        self.timeline.append(line)
        print(line, flush=True)

    async def fetch_room(
        self, room: int, after: int, token: str, prefer: int = 1, until: int | None = None
    ) -> list[dict[str, Any]]:
        """The room's messages after seq `after` (up to `until`), paging with nextAfter, from
        `prefer` or, when that fails, the other instance."""
        messages: list[dict[str, Any]] = []
        attempt = 0
        while True:
            instance = (prefer + attempt) % 2
            if instance in self.down:
                instance = (instance + 1) % 2
            limit = PAGE if until is None else max(1, min(PAGE, until - after))
            path = f"/api/rooms/{room}/messages?after={after}&limit={limit}"
            try:
                async with self.rest_slots:
                    page = await asyncio.to_thread(
                        self.rest[instance].call, "GET", path, None, token
                    )
            except Exception:  # instance down or restarting, a 5xx: try the other one
                attempt += 1
                if attempt > 40:
                    raise
                await asyncio.sleep(0.25)
                continue
            messages.extend(page["results"])
            if not page["hasMore"] or (until is not None and int(page["nextAfter"]) >= until):
                return messages
            after = int(page["nextAfter"])

    # -- setup -------------------------------------------------------------------------------

    def populate(self) -> None:
        """Create the users and the rooms (blocking, before the clock starts)."""
        config = self.config
        rng = random.Random(config.seed)
        users = create_users(self.database_url, config.clients, self.tag, self.extra)
        memberships: list[list[int]] = [
            rng.sample(range(config.rooms), rng.randint(1, min(3, config.rooms)))
            for _ in range(config.clients)
        ]
        for room in range(config.rooms):  # every room gets at least two members
            while sum(room in rooms for rooms in memberships) < 2:
                candidates = [i for i, rooms in enumerate(memberships) if room not in rooms]
                memberships[rng.choice(candidates)].append(room)
        room_ids: list[int] = []
        for room in range(config.rooms):
            members = [users[i] for i, rooms in enumerate(memberships) if room in rooms]
            owner = members[0]
            created = self.rest[room % 2].create_room(owner, f"chaos-{room}", members[1:])
            room_ids.append(int(created["id"]))
            self.owners[room_ids[-1]] = owner
        for index, user in enumerate(users):
            rooms = sorted(room_ids[room] for room in memberships[index])
            client = ChaosClient(self, index, user, rooms)
            self.clients.append(client)

    # -- phases ------------------------------------------------------------------------------

    async def chaos(self) -> None:
        config = self.config
        await asyncio.sleep(max(0.0, config.kill_at - self.now()))
        victim = 0
        on_victim = sum(c.instance == victim and c.connected.is_set() for c in self.clients)
        self.killed_at, self.killed_instance = self.now(), victim
        self.down.add(victim)
        pid = self.servers[victim].pid
        await asyncio.to_thread(self.servers[victim].kill)
        self.note(f"SIGKILL instance 1 (pid {pid}; {on_victim} of {config.clients} clients on it)")
        await asyncio.sleep(config.down)
        await asyncio.to_thread(self.servers[victim].start, 60)
        self.down.discard(victim)
        self.restarted_at = self.now()
        self.note(f"instance 1 restarted on port {self.servers[victim].port}")
        if not config.rebalance:
            return
        await asyncio.sleep(REBALANCE_AFTER)
        movers = [c for c in self.clients if c.home == victim and c.instance != victim]
        self.note(f"moving {len(movers)} clients back to instance 1")
        await asyncio.gather(*(self._move_later(c, victim, i * 0.02) for i, c in enumerate(movers)))
        self.note("moves done")

    async def _move_later(self, client: ChaosClient, target: int, delay: float) -> None:
        await asyncio.sleep(delay)
        await client.move(target)

    async def fill_gaps(self, grace: float) -> None:
        async def one(client: ChaosClient) -> None:
            try:
                await client.fill_gaps(grace)
            except Exception as error:
                client.errors[f"gap:{type(error).__name__}"] += 1

        await asyncio.gather(*(one(client) for client in self.clients))

    async def gap_watch(self) -> None:
        while self.config.gap_fill:
            await asyncio.sleep(1.0)
            await self.fill_gaps(self.config.gap_grace)

    async def progress(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_EVERY)
            sends = [s for c in self.clients for s in c.sends.values()]
            acked = sum(s.acked_at is not None for s in sends)
            resends = sum(max(0, s.attempts - 1) for s in sends)
            outages = [o for c in self.clients for o in c.outages]
            states = " ".join(
                f"i{i + 1}={'down' if i in self.down else 'up'}" for i in range(len(self.servers))
            )
            print(
                f"[{self.now():6.1f}s] {states} connected "
                f"{sum(c.connected.is_set() for c in self.clients)}/{len(self.clients)} "
                f"sent {len(sends)} acked {acked} resends {resends} "
                f"held {sum(sum(map(len, c.held.values())) for c in self.clients)} "
                f"reconnects {sum(o.ended is not None for o in outages)}/{len(outages)}",
                flush=True,
            )

    async def execute(self) -> dict[str, Any]:
        config = self.config
        self.note(
            f"{config.clients} clients, {config.rooms} rooms, {config.duration:g}s at "
            f"{config.rate:g}/s each; kill at {config.kill_at:g}s for {config.down:g}s; "
            f"seed {config.seed}; logs {config.log_dir}"
        )
        await asyncio.gather(*(c.open(c.home, resume=False) for c in self.clients))
        self.t0, self.t0_wall = time.monotonic(), time.time()
        self.note("all clients connected; sending")
        background = [
            asyncio.create_task(coro)
            for coro in (self.progress(), self.gap_watch(), *(c.supervise() for c in self.clients))
        ]
        chaos = asyncio.create_task(self.chaos())
        try:
            stop_at, give_up_at = config.duration, config.duration + SEND_DEADLINE
            await asyncio.gather(*(c.send_loop(stop_at, give_up_at) for c in self.clients))
            self.note("senders done")
            await chaos
            await self.settle()
            not_recovered = [c for c in self.clients if c.ever_not_recovered]
            for client in not_recovered:
                await client.resync_all("resync")
            if config.gap_fill:
                await self.fill_gaps(0.0)
            self.note(f"final resync of {len(not_recovered)} not-recovered clients; gaps filled")
            connected_at_end = sum(c.connected.is_set() for c in self.clients)
            times = os.times()
            self.cpu = {
                "bench": round(times.user + times.system, 1),
                "instance1 (since restart)": cpu_seconds(self.servers[0].pid),
                "instance2": cpu_seconds(self.servers[1].pid),
                "wall": round(self.now(), 1),
            }
            database = await self.read_database()
        finally:
            for task in [*background, chaos]:
                task.cancel()
            await asyncio.gather(*background, chaos, return_exceptions=True)
            await asyncio.gather(*(c.close() for c in self.clients))
        return self.report(database, connected_at_end)

    async def settle(self) -> None:
        """Wait --quiet seconds, then on while deliveries still arrive (a publishing backlog
        drains late), for at most SETTLE_MAX seconds more."""
        await asyncio.sleep(self.config.quiet)
        deadline = self.now() + SETTLE_MAX
        count = sum(len(c.deliveries) for c in self.clients)
        while self.now() < deadline:
            await asyncio.sleep(1.0)
            previous, count = count, sum(len(c.deliveries) for c in self.clients)
            if count == previous:
                return
        self.note(f"deliveries still arriving {SETTLE_MAX:g}s after the quiet period")

    async def read_database(self) -> dict[int, list[dict[str, Any]]]:
        rooms = {}
        for room, owner in self.owners.items():
            rooms[room] = await self.fetch_room(room, 0, owner.access, prefer=1)
        return rooms

    # -- checking ----------------------------------------------------------------------------

    def report(self, database: dict[int, list[dict[str, Any]]], connected: int) -> dict[str, Any]:
        config = self.config
        self.stored = database
        problems: list[str] = []
        details: list[str] = []
        sends = {s.client_id: (c, s) for c in self.clients for s in c.sends.values()}
        db_count = sum(len(messages) for messages in database.values())

        # The database itself: seqs 1..n per room, one message per (sender, clientId).
        by_client_id: dict[tuple[int, str], list[dict[str, Any]]] = {}
        seq_faults = 0
        for room, messages in database.items():
            seqs = [int(m["seq"]) for m in messages]
            if seqs != list(range(1, len(seqs) + 1)):
                seq_faults += 1
                details.append(f"room {room}: seqs are not 1..{len(seqs)}: {seqs[:20]}...")
            for message in messages:
                key = (int(message["user"]["id"]), str(message["clientId"]))
                by_client_id.setdefault(key, []).append(message)
        client_id_dupes = sum(len(found) - 1 for found in by_client_id.values())
        for (sender, cid), found in by_client_id.items():
            if len(found) > 1:
                details.append(f"clientId {cid} of user {sender} stored {len(found)} times")

        # Acks against the database.
        db_by_id = {int(m["id"]): m for messages in database.values() for m in messages}
        db_by_cid = {cid: found[0] for (_, cid), found in by_client_id.items()}
        acked = {cid: s for cid, (_, s) in sends.items() if s.acked_at is not None}
        unacked = [cid for cid, (_, s) in sends.items() if s.acked_at is None]
        ack_mismatch = 0
        for cid, send in acked.items():
            stored = db_by_cid.get(cid)
            if stored is None or (int(stored["id"]), int(stored["seq"]), stored["roomId"]) != (
                send.message_id,
                send.seq,
                send.room,
            ):
                ack_mismatch += 1
                details.append(f"ack of {cid} ({send}) does not match the database: {stored}")
        unknown = [cid for cid in db_by_cid if cid not in sends]
        stored_unacked = [cid for cid in db_by_cid if cid in sends and cid not in acked]

        # Every member's received set against the database.
        lost: list[str] = []
        missing_unacked = 0
        phantoms = 0
        conflicts = sum(len(c.conflicts) for c in self.clients)
        for client in self.clients:
            for room in client.rooms:
                stored_seqs = {int(m["seq"]): m for m in database[room]}
                held = client.held[room]
                for seq, message in stored_seqs.items():
                    if seq in held:
                        if held[seq] != int(message["id"]):
                            conflicts += 1
                        continue
                    cid = str(message["clientId"])
                    if cid in acked:
                        lost.append(self.describe_loss(client, room, message, acked[cid]))
                    else:
                        missing_unacked += 1
                phantoms += sum(
                    1 for seq, mid in held.items() if seq not in stored_seqs or mid not in db_by_id
                )
            for room, seq, known, other in client.conflicts:
                details.append(f"{client.name}: room {room} seq {seq} was {known} and {other}")

        outages = [o for c in self.clients for o in c.outages]
        unplanned = [o for o in outages if o.cause != "move"]
        moves = [o for o in outages if o.cause == "move"]
        times = sorted(o.seconds for o in unplanned if o.seconds is not None)
        move_times = sorted(o.seconds for o in moves if o.seconds is not None)
        never_back = [o for o in outages if o.ended is None]
        slow = [t for t in times if t > config.reconnect_limit]
        paths: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        for client in self.clients:
            paths.update(client.paths)
            errors.update(client.errors)
        for _, send in sends.values():
            errors.update(f"send:{e}" for e in send.errors)
        gap_fills = [g for c in self.clients for g in c.gap_fills]
        wire = [(c, key) for c in self.clients for key in c.wire_duplicates]
        late_after_fill = 0
        missed: list[tuple[ChaosClient, dict[str, Any]]] = []  # never came over the socket
        for gap in gap_fills:
            client = next(c for c in self.clients if c.name == gap.client)
            for message in gap.messages:
                if (gap.room, int(message["seq"])) in client.socket_seen:
                    late_after_fill += 1
                else:
                    missed.append((client, message))
        latencies = sorted(d.latency for c in self.clients for d in c.deliveries if not d.replayed)
        notes = [self.describe_missed(client, message) for client, message in missed[:30]]
        notes += [self.describe_gap(gap) for gap in gap_fills[:10]]
        notes += [self.describe_wire(client, room, seq) for client, (room, seq) in wire[:3]]
        notes += [
            self.describe_inversion(client, *inversion)
            for client in self.clients
            for inversion in client.inversions
        ][:3]
        foreign = sum(len(c.foreign) for c in self.clients)

        duplicates = conflicts + client_id_dupes + seq_faults
        checks = {
            "acked messages lost": len(lost),
            "duplicates after de-duplication": duplicates,
            "acks not matching the database": ack_mismatch,
            "sends never acked": len(unacked),
            "messages at clients but not in the database": phantoms,
            "messages of rooms the client is not in": foreign,
            "messages in the database from no client": len(unknown),
            "outages never reconnected": len(never_back),
            f"reconnects slower than {config.reconnect_limit:g}s": len(slow),
            "clients not connected at the end": len(self.clients) - connected,
            "clients on the killed instance that saw no disconnect": self.unnoticed_kill(),
        }
        problems = [f"{name}: {value}" for name, value in checks.items() if value]
        figures: dict[str, Any] = {
            "passed": not problems,
            "seed": config.seed,
            "clients": config.clients,
            "rooms": config.rooms,
            "duration": config.duration,
            "killed_at": self.killed_at,
            "restarted_at": self.restarted_at,
            "sent": len(sends),
            "acked": len(acked),
            "send_attempts": sum(s.attempts for _, s in sends.values()),
            "resends": sum(max(0, s.attempts - 1) for _, s in sends.values()),
            "resent_messages": sum(s.attempts > 1 for _, s in sends.values()),
            "db_messages": db_count,
            "db_stored_never_acked": len(stored_unacked),
            "members_missing_unacked": missing_unacked,
            "lost": len(lost),
            "duplicates": duplicates,
            "wire_duplicates": len(wire),
            "order_inversions": sum(len(c.inversions) for c in self.clients),
            "disconnects": len(unplanned),
            "disconnects_by_kill": sum(o.cause == "kill" for o in unplanned),
            "recovered": sum(o.recovered is True for o in unplanned),
            "not_recovered": sum(o.recovered is False for o in unplanned),
            "reconnect_max": round(times[-1], 3) if times else None,
            "reconnect_p50": round(statistics.median(times), 3) if times else None,
            "moves": len(moves),
            "moves_recovered": sum(o.recovered is True for o in moves),
            "move_max": round(move_times[-1], 3) if move_times else None,
            "gap_fills": len(gap_fills),
            "gap_filled_messages": sum(len(g.messages) for g in gap_fills),
            "gap_filled_later_on_socket": late_after_fill,
            "gap_filled_never_on_socket": len(missed),
            "live_latency_p50": percentile(latencies, 0.5),
            "live_latency_p99": percentile(latencies, 0.99),
            "live_latency_max": percentile(latencies, 1.0),
            "cpu": self.cpu,
            "paths": dict(paths),
            "errors": dict(errors),
            "checks": checks,
            "log_dir": str(config.log_dir),
        }
        self.print_report(figures, problems, lost, notes + details)
        if config.dump is not None:
            self.write_dump(config.dump, figures)
        return figures

    def write_dump(self, path: Path, figures: dict[str, Any]) -> None:
        """Everything the run saw, for analysis after the fact."""
        data = {
            "figures": figures,
            "timeline": self.timeline,
            "t0_wall": self.t0_wall,
            "database": self.stored,
            "clients": [
                {
                    "name": c.name,
                    "user": c.user.id,
                    "home": c.home,
                    "rooms": c.rooms,
                    "outages": [asdict(o) for o in c.outages],
                    "sends": [asdict(s) for s in c.sends.values()],
                    "deliveries": [asdict(d) for d in c.deliveries],
                    "gap_fills": [asdict(g) for g in c.gap_fills],
                    "held": c.held,
                }
                for c in self.clients
            ],
        }
        path.write_text(json.dumps(data))
        print(f"dump written to {path}", flush=True)

    def unnoticed_kill(self) -> int:
        if self.killed_at is None:
            return 0
        return sum(
            1
            for c in self.clients
            if c.home == self.killed_instance and not any(o.cause == "kill" for o in c.outages)
        )

    # -- explaining --------------------------------------------------------------------------

    @staticmethod
    def outages_text(client: ChaosClient) -> str:
        return (
            "; ".join(
                f"{o.cause} at {o.began:.2f}s from i{o.from_instance + 1} (last offset {o.offset}) "
                f"back at {'never' if o.ended is None else f'{o.ended:.2f}s'} on "
                f"{'?' if o.to_instance is None else f'i{o.to_instance + 1}'}, "
                f"recovered={o.recovered}"
                for o in client.outages
            )
            or "no outage"
        )

    def message_text(self, message: dict[str, Any]) -> str:
        """Where a message came from: sender, its instance, when it was created and acked."""
        cid = str(message.get("clientId"))
        sender = next((c for c in self.clients if cid in c.sends), None)
        send = sender.sends[cid] if sender else None
        created = created_at(message) - self.t0_wall
        text = f"room {message['roomId']} seq {message['seq']} id {message['id']} ({cid}"
        if sender is None or send is None:
            return text + f", created at {created:.2f}s)"
        acked = "never acked" if send.acked_at is None else f"acked at {send.acked_at:.2f}s"
        via = ",".join(f"i{i + 1}" for i in send.instances)
        return (
            text + f" from {sender.name}, created at {created:.2f}s, sent at {send.started:.2f}s,"
            f" {acked} after {send.attempts} attempt(s) via {via}; sender: "
            f"{self.outages_text(sender)})"
        )

    @staticmethod
    def deliveries_text(deliveries: list[Delivery]) -> str:
        return ", ".join(
            f"[{d.at:.2f}s s{d.session} i{d.instance + 1} r{d.room}#{d.seq} o{d.offset}]"
            for d in deliveries
        )

    def context_text(self, client: ChaosClient, room: int, seq: int) -> str:
        """The client's deliveries of the neighbouring seqs of the room, and around its
        session changes (what it had last before each outage, what came first after)."""
        near = [d for d in client.deliveries if d.room == room and abs(d.seq - seq) <= 2]
        log, around = client.deliveries, []
        for index in range(1, len(log)):
            if log[index - 1].session != log[index].session:
                around += log[max(0, index - 3) : index + 2]
        return (
            f"deliveries of room {room} near seq {seq}: {self.deliveries_text(near)}; "
            f"around reconnects: {self.deliveries_text(around)}"
        )

    def describe_gap(self, gap: GapFill) -> str:
        client = next(c for c in self.clients if c.name == gap.client)
        seqs = [int(m["seq"]) for m in gap.messages]
        came = [
            d for d in client.deliveries if d.room == gap.room and d.seq in seqs and d.at > gap.at
        ]
        late = f"; over the socket later: {self.deliveries_text(came[:5])}" if came else ""
        return (
            f"gap fill: {gap.client} got room {gap.room} seqs {seqs} over REST at {gap.at:.2f}s "
            f"({'after an outage' if gap.had_outage else 'connected throughout'}){late}"
        )

    def describe_missed(self, client: ChaosClient, message: dict[str, Any]) -> str:
        room, seq = int(message["roomId"]), int(message["seq"])
        filled = next(g.at for g in client.gap_fills if message in g.messages)
        return (
            f"missed live and by recovery (gap-filled over REST at {filled:.2f}s): "
            f"{client.name} ({self.outages_text(client)}) never got over the socket "
            f"{self.message_text(message)}; " + self.context_text(client, room, seq)
        )

    def describe_wire(self, client: ChaosClient, room: int, seq: int) -> str:
        twice = [d for d in client.deliveries if (d.room, d.seq) == (room, seq)]
        return (
            f"wire duplicate: {client.name} got room {room} seq {seq} "
            f"{self.deliveries_text(twice)}; {self.outages_text(client)}; "
            + self.context_text(client, room, seq)
        )

    def describe_inversion(self, client: ChaosClient, room: int, seq: int, after: int) -> str:
        stored = {int(m["seq"]): m for m in self.stored.get(room, [])}
        return (
            f"order inversion: {client.name} got room {room} seq {seq} after seq {after}: "
            + "; ".join(self.message_text(stored[s]) for s in (seq, after) if s in stored)
            + "; "
            + self.context_text(client, room, seq)
        )

    def describe_loss(
        self, client: ChaosClient, room: int, message: dict[str, Any], send: Send
    ) -> str:
        return (
            f"{client.name} (user {client.user.id}, now on i{client.instance + 1}) never got "
            f"{self.message_text(message)}; it holds room {room} up to seq {client.top[room]}, "
            f"contiguous to {client.contiguous[room]}; {client.name}: "
            f"{self.outages_text(client)}; " + self.context_text(client, room, int(message["seq"]))
        )

    def print_report(
        self, figures: dict[str, Any], problems: list[str], lost: list[str], details: list[str]
    ) -> None:
        f = figures
        lines = [
            "",
            "=== chaos figures ===",
            f"clients {f['clients']}, rooms {f['rooms']}, duration {f['duration']:g}s, "
            f"seed {f['seed']}; instance 1 killed at {f['killed_at']:.1f}s, restarted at "
            f"{f['restarted_at'] or 0:.1f}s",
            f"messages: sent {f['sent']}, acked {f['acked']}, in the database "
            f"{f['db_messages']}; send attempts {f['send_attempts']}, resends {f['resends']} "
            f"({f['resent_messages']} messages)",
            f"stored but never acked {f['db_stored_never_acked']} (allowed); members missing "
            f"those {f['members_missing_unacked']}",
            f"acked messages lost: {f['lost']}",
            f"duplicates after de-duplication: {f['duplicates']}; wire duplicates (same seq "
            f"twice on the socket, allowed): {f['wire_duplicates']}; seq order inversions on "
            f"a socket (a seq after a higher one of the same room): {f['order_inversions']}",
            f"disconnects {f['disconnects']} ({f['disconnects_by_kill']} by the kill): "
            f"recovered {f['recovered']}, not recovered {f['not_recovered']}; reconnect max "
            f"{f['reconnect_max']}s, p50 {f['reconnect_p50']}s",
            f"moves back to the restarted instance {f['moves']}: recovered "
            f"{f['moves_recovered']}, max {f['move_max']}s",
            f"gap fills over REST: {f['gap_fills']} ({f['gap_filled_messages']} messages: "
            f"{f['gap_filled_later_on_socket']} came over the socket later, "
            f"{f['gap_filled_never_on_socket']} never did)",
            f"live delivery latency: p50 {f['live_latency_p50']}s, p99 {f['live_latency_p99']}s, "
            f"max {f['live_latency_max']}s; CPU seconds {f['cpu']}",
            f"first arrival by path: {dict(sorted(f['paths'].items()))}",
            f"errors: {dict(sorted(f['errors'].items())) or 'none'}",
            f"server logs: {f['log_dir']}",
        ]
        lines += [f"  LOST: {text}" for text in lost[:50]]
        lines += [f"  {text}" for text in details[:50]]
        lines.append(("FAIL: " + "; ".join(problems)) if problems else "PASS")
        print("\n".join(lines), flush=True)
        print("CHAOS-FIGURES " + json.dumps(figures, sort_keys=True), flush=True)
        if problems:
            for server in self.servers:
                print(f"--- {server.log_path} (errors) ---")
                print(log_excerpt(server.log_path))


# Users are created in the database rather than over POST /api/auth/register: registration
# hashes the password (PBKDF2, about a second of CPU each), which would make the setup of a
# CI-sized run take longer than the run. Tokens are minted the way the API mints them.
CREATE_USERS = """
import json, os
from banter.accounts.models import User
from banter.accounts.tokens import token_pair_for_user
count, tag = int(os.environ["CHAOS_USERS"]), os.environ["CHAOS_TAG"]
for index in range(count):
    user = User(username=f"chaos{index}_{tag}", display_name=f"chaos {index}")
    user.set_unusable_password()
    user.save()
    pair = token_pair_for_user(user)
    print(json.dumps([user.pk, user.username, pair.access, pair.refresh]))
"""


def create_users(database: str, count: int, tag: str, extra: dict[str, str]) -> list[User]:
    env = {**os.environ, **server_env(database, 0, **extra), "CHAOS_USERS": str(count)}
    env["CHAOS_TAG"] = tag
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", CREATE_USERS],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("[")]
    return [
        User(id=pk, username=name, access=access, refresh=refresh)
        for pk, name, access, refresh in rows
    ]


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(fraction * len(values)))], 3)


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a live process (Linux /proc), None if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 1)


def log_excerpt(path: Path, limit: int = 40) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log)"
    keys = ("ERROR", "WARNING", "Traceback", "Error")
    picked = [line for line in lines if any(key in line for key in keys)]
    return "\n".join(picked[-limit:]) or "(no warnings or errors)"


def flush_redis(url: str, prefix: str) -> None:
    with contextlib.suppress(Exception):
        import redis

        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)


def main(argv: list[str] | None = None) -> int:
    config, database_url = parse_args(argv)
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    if not tcp_reachable(config.redis_url, 6379):
        print(f"Redis not reachable at {config.redis_url}", file=sys.stderr)
        return 2
    prefix = f"banter-chaos-{uuid.uuid4().hex[:8]}"
    extra = {
        "REDIS_URL": config.redis_url,
        "REDIS_PREFIX": prefix,
        "RATE_LIMIT_MESSAGE": "100000/60/100000",
        "REST_RATE_PER_MINUTE": "100000",
        "JWT_ACCESS_SECONDS": str(int(config.duration + SEND_DEADLINE) + 3600),
        "AUTH_EXPIRING_NOTICE": "60",
        "AUTH_EXPIRY_GRACE": "30",
    }
    if config.recovery_max_events is not None:
        extra["RECOVERY_MAX_EVENTS"] = str(config.recovery_max_events)
    config.log_dir.mkdir(parents=True, exist_ok=True)
    kind = "PostgreSQL" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "SQLite"
    print(f"chaos: {kind} database, Redis {config.redis_url}, logs in {config.log_dir}", flush=True)
    try:
        with (
            fresh_database(config.log_dir) as database,
            instance_pair(database, config.log_dir, "chaos", **extra) as servers,
        ):
            run = Run(config, servers, database, extra)
            run.populate()
            figures = asyncio.run(run.execute())
    finally:
        flush_redis(config.redis_url, prefix)
    return 0 if figures["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
