"""Per-process fan-out hub: one channel-layer subscription per process, local delivery.

Instead of one channel per socket (one channel-layer message per recipient), each process
owns one channel, adds it to a group when the first local socket subscribes, and fans each
group message out to its local subscribers. A broadcast to a 10-member room on 2 instances
costs 2 channel-layer messages, not 10.

The hub survives channel-layer outages. A watch loop sends a probe through the layer to
itself every PROBE_INTERVAL; when one does not come back (Redis down, restarted, or it lost
the group memberships) the hub is unhealthy: it re-adds every local group as soon as the
layer answers again, and meanwhile delivers its own broadcasts to its local sockets only,
so an instance keeps serving the clients it has.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from asgiref.sync import async_to_sync
from channels.layers import BaseChannelLayer, get_channel_layer

from banter.core import metrics
from banter.realtime.sequencer import Fill, Sequencer

logger = logging.getLogger("banter.realtime.hub")

GROUP_REFRESH_SECONDS = 3600.0  # channel layers expire group membership after a day
PROBE_INTERVAL = 2.0
PROBE_TIMEOUT = 2.0
PROBE_TYPE = "banter.probe"
# Every hub is in this group: the survivor that reaps a dead instance tells all of them, so
# each catches up on what the dead one committed but never published.
CLUSTER_GROUP = "banter.cluster"
INSTANCE_LOST_TYPE = "banter.instance_lost"
RECEIVE_BACKOFF_MAX = 1.0
UNHEALTHY_SEND_TIMEOUT = 0.5
# Broadcasts per pipelined publish (a layer with group_send_many: Redis).
PUBLISH_BATCH = 256
SendMany = Callable[[list[tuple[str, dict[str, Any]]]], Awaitable[None]]
# Replay from this long before the last moment the layer was known to deliver (clock skew
# between instances and the database).
GAP_MARGIN = 2.0

# (groups with local subscribers, since Unix time) -> (group, offset, frame) recorded since.
GapSource = Callable[
    [set[str], float], Awaitable[list[tuple[str, int, str]]]
]  # retry a failing receive at least every second


class Subscriber(Protocol):
    def deliver(self, message: dict[str, Any]) -> None:
        """Handle one group message; must not block (enqueue, do not await)."""


class Hub:
    def __init__(
        self,
        layer: BaseChannelLayer,
        loop: asyncio.AbstractEventLoop,
        gap_source: GapSource | None = None,
        fill: Fill | None = None,
    ) -> None:
        self.layer = layer
        # Layers that can publish a run of broadcasts in one call (Redis: one pipeline).
        self._send_many: SendMany | None = getattr(layer, "group_send_many", None)
        self.loop = loop
        self.channel_name = ""
        self._local: dict[str, set[Subscriber]] = {}
        self._adding: dict[str, asyncio.Future[None]] = {}
        self._outbox: deque[tuple[str, dict[str, Any]]] = deque()
        self._outbox_ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.running = False
        self.layer_errors = 0
        self._thread_id = 0
        # False from a failed probe or layer call until a probe comes back after re-adding
        # every local group.
        self.healthy = True
        self._probe_group = f"banter.probe.{uuid.uuid4().hex}"
        self._probe_ids = itertools.count(1)
        self._probes: dict[int, asyncio.Future[None]] = {}
        # Gap replay: where the events of a channel-layer gap can be read back (given by
        # the composition root, banter/wiring.py), when the layer was last known to deliver,
        # and whether a subscriber connection reconnected since (it may have missed messages).
        self.gap_source = gap_source
        self._last_good = time.time()
        self._gap_since: float | None = None
        self._watched: set[int] = set()
        # Sequenced broadcasts (room messages) reach local sockets in seq order, gaps filled
        # from the log (`fill`, given with the gap source).
        self.sequencer = Sequencer(self.deliver_local, loop)
        self.sequencer.fill = fill

    async def start(self) -> None:
        self.channel_name = await self.layer.new_channel("banter.hub.")
        self._thread_id = threading.get_ident()
        self.running = True
        try:
            await self.layer.group_add(self._probe_group, self.channel_name)
            await self.layer.group_add(CLUSTER_GROUP, self.channel_name)
        except Exception:
            self._layer_failed("group_add", "channel layer unreachable at start")
        metrics.set_size_source(
            "event_loop_tasks", "Tasks on the serving event loop.", self._task_count
        )
        metrics.set_size_source(
            "hub_groups", "Groups this process is subscribed to (rooms, users).", self._group_count
        )
        loops = (self._receive_loop(), self._publish_loop(), self._refresh_loop())
        for coroutine in (*loops, self._watch_loop()):
            self._tasks.append(self.loop.create_task(coroutine))

    def _task_count(self) -> int:
        return len(asyncio.all_tasks(self.loop))

    def _group_count(self) -> int:
        return len(self._local)

    async def stop(self) -> None:
        self.running = False
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- local membership -------------------------------------------------------------

    async def join(self, group: str, subscriber: Subscriber) -> None:
        """Subscribe locally; the first local subscriber also adds this process to the group.

        Returns only once the channel layer knows, so a broadcast made after an awaited join
        reaches the subscriber.
        """
        members = self._local.get(group)
        if members is None:
            members = self._local[group] = set()
            members.add(subscriber)
            future = self.loop.create_future()
            self._adding[group] = future
            try:
                await self.layer.group_add(group, self.channel_name)
            except Exception:
                # Serve the socket anyway: local broadcasts still reach it, and the watch
                # loop adds the group once the layer is back.
                self._layer_failed("group_add", f"group_add {group} failed")
            finally:
                future.set_result(None)
                self._adding.pop(group, None)
            return
        members.add(subscriber)
        pending = self._adding.get(group)
        if pending is not None:
            await asyncio.shield(pending)

    def leave(self, group: str, subscriber: Subscriber) -> None:
        members = self._local.get(group)
        if members is None:
            return
        members.discard(subscriber)
        if not members and group not in self._adding:
            del self._local[group]
            self.sequencer.forget(group)
            self.loop.create_task(self._discard(group))

    async def _discard(self, group: str) -> None:
        if group in self._local:  # re-joined meanwhile
            return
        try:
            await self.layer.group_discard(group, self.channel_name)
        except Exception:
            # Harmless: messages for a group with no local subscriber are dropped here.
            self._layer_failed("group_discard", f"group_discard {group} failed")

    # -- publishing -------------------------------------------------------------------

    def publish(self, group: str, message: dict[str, Any]) -> None:
        """Queue a group message; callable from any thread. Order per process is kept."""
        if threading.get_ident() == self._thread_id:
            self._enqueue(group, message)
        else:
            self.loop.call_soon_threadsafe(self._enqueue, group, message)

    def _enqueue(self, group: str, message: dict[str, Any]) -> None:
        self._outbox.append((group, message))
        self._outbox_ready.set()

    async def _publish_loop(self) -> None:
        # One publisher per process keeps broadcasts in on_commit order: concurrent
        # group_send tasks could overtake each other on the Redis layer.
        while True:
            await self._outbox_ready.wait()
            self._outbox_ready.clear()
            if self._send_many is not None:
                await self._publish_batches(self._send_many)
                continue
            sent = 0
            while self._outbox:
                group, message = self._outbox.popleft()
                metrics.BROADCASTS.inc()
                try:
                    if self.healthy:
                        await self.layer.group_send(group, message)
                    else:
                        # Still try (other instances may be reachable again), but do not let
                        # an unreachable Redis hold up this instance's own sockets.
                        async with asyncio.timeout(UNHEALTHY_SEND_TIMEOUT):
                            await self.layer.group_send(group, message)
                except Exception:
                    self._layer_failed("group_send", f"group_send to {group} failed")
                    # This instance's own sockets still get the broadcast.
                    self.take(message)
                sent += 1
                if sent % 64 == 0:
                    # The in-memory layer never suspends in group_send and drops messages
                    # silently past its capacity: let the receive loop drain between batches.
                    await asyncio.sleep(0)

    async def _publish_batches(self, send_many: SendMany) -> None:
        """What waits in the outbox, PUBLISH_BATCH at a time, each batch one layer call (one
        pipeline on Redis) instead of one awaited group_send per broadcast."""
        while self._outbox:
            count = min(len(self._outbox), PUBLISH_BATCH)
            batch = [self._outbox.popleft() for _ in range(count)]
            metrics.BROADCASTS.inc(amount=count)
            try:
                if self.healthy:
                    await send_many(batch)
                else:
                    async with asyncio.timeout(UNHEALTHY_SEND_TIMEOUT):
                        await send_many(batch)
            except Exception:
                self._layer_failed("group_send", f"group_send of {count} broadcasts failed")
                # This instance's own sockets still get them.
                for _, message in batch:
                    self.take(message)

    async def _receive_loop(self) -> None:
        backoff = 0.1
        while True:
            try:
                message = await self.layer.receive(self.channel_name)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception:
                self._layer_failed("receive", f"receive failed; retrying in {backoff:.1f}s")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RECEIVE_BACKOFF_MAX)
                continue
            kind = message.get("type")
            if kind == PROBE_TYPE:
                probe = self._probes.get(message.get("probe", 0))
                if probe is not None and not probe.done():
                    probe.set_result(None)
                continue
            if kind == INSTANCE_LOST_TYPE:
                self.loop.create_task(self._catch_up(message.get("instance", "?")))
                continue
            self.take(message)

    def take(self, message: dict[str, Any]) -> None:
        """A group message for the local sockets: frames in seq order, the rest as is."""
        if message.get("type") == "banter.frame":
            self.sequencer.offer(message)
        else:
            self.deliver_local(message)

    async def _catch_up(self, instance: str) -> None:
        delivered = await self.sequencer.catch_up()
        if delivered:
            logger.warning(
                "instance %s died: %d of its messages had not reached this instance; delivered "
                "from the log",
                instance,
                delivered,
            )

    def deliver_local(self, message: dict[str, Any]) -> None:
        members = self._local.get(message.get("group", ""))
        if not members:
            return
        started = time.perf_counter()
        # Copy: a delivery may close a socket, which leaves the group while we iterate.
        for subscriber in tuple(members):
            try:
                subscriber.deliver(message)
            except Exception:
                logger.exception("subscriber failed to take a group message")
        metrics.FANOUT_SECONDS.observe(time.perf_counter() - started)

    # -- health -----------------------------------------------------------------------

    async def probe(self, timeout: float | None = None) -> bool:
        """True when a message sent through the channel layer came back within timeout."""
        timeout = PROBE_TIMEOUT if timeout is None else timeout
        probe_id = next(self._probe_ids)
        arrived: asyncio.Future[None] = self.loop.create_future()
        self._probes[probe_id] = arrived
        message = {"type": PROBE_TYPE, "group": self._probe_group, "probe": probe_id}
        try:
            async with asyncio.timeout(timeout):
                await self.layer.group_send(self._probe_group, message)
                await arrived
            return True
        except Exception:
            return False
        finally:
            del self._probes[probe_id]

    async def _watch_loop(self) -> None:
        while True:
            self._watch_subscribers()
            healthy = await self.probe()
            if not healthy:
                if self.healthy:
                    self._layer_failed("probe", "probe did not come back")
                self.healthy = False
                # Redis may have restarted without the memberships: add them all again.
                healthy = await self._resubscribe() and await self.probe()
            if healthy and not self.healthy:
                logger.warning("channel layer is back: re-added %d groups", len(self._local))
            self.healthy = healthy
            if healthy:
                if self._gap_since is not None:
                    since, self._gap_since = self._gap_since, None
                    await self._replay_gap(since)
                self._last_good = time.time()
            elif self._gap_since is None:
                self._gap_since = self._last_good
            await asyncio.sleep(PROBE_INTERVAL)

    async def _replay_gap(self, since: float) -> None:
        """Hand the local sockets what the layer may have dropped since `since`, from the
        durable records (sockets skip what they already got, by offset)."""
        if self.gap_source is None or not self._local:
            return
        try:
            rows = await self.gap_source(set(self._local), since - GAP_MARGIN)
        except Exception:
            logger.exception("replaying the channel-layer gap failed")
            return
        for group, offset, frame in rows:
            self.take({"type": "banter.frame", "group": group, "frame": frame, "offset": offset})
        metrics.GAP_REPLAYS.inc()
        logger.warning(
            "channel-layer gap since %.1f: replayed %d recorded events", since, len(rows)
        )

    def _watch_subscribers(self) -> None:
        """Hear when a pub/sub subscriber connection reconnects: messages published while it
        was down are gone, even if no probe was lost (a blip between two probes).

        Best effort over channels-redis' pub/sub internals; other layers are skipped.
        """
        get_layer = getattr(self.layer, "_get_layer", None)
        try:
            shards = get_layer()._shards if get_layer is not None else []
        except Exception:
            return
        for shard in shards:
            connection = getattr(getattr(shard, "_pubsub", None), "connection", None)
            if connection is not None and id(connection) not in self._watched:
                self._watched.add(id(connection))
                connection.register_connect_callback(self._subscriber_reconnected)

    async def _subscriber_reconnected(self, connection: Any) -> None:
        if self._gap_since is None:
            self._gap_since = self._last_good

    async def _resubscribe(self) -> bool:
        try:
            await self.layer.group_add(self._probe_group, self.channel_name)
            await self.layer.group_add(CLUSTER_GROUP, self.channel_name)
            for group in list(self._local):
                await self.layer.group_add(group, self.channel_name)
            return True
        except Exception:
            metrics.LAYER_ERRORS.labels("group_add").inc()
            return False

    def _layer_failed(self, op: str, what: str) -> None:
        """Count and log a failed layer call (loudly once, then at debug while it lasts)."""
        self.layer_errors += 1
        metrics.LAYER_ERRORS.labels(op).inc()
        if self.healthy:
            logger.error("channel layer: %s; serving local sockets only until it is back", what)
        else:
            logger.debug("channel layer: %s", what)
        self.healthy = False

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(GROUP_REFRESH_SECONDS)
            for group in [self._probe_group, CLUSTER_GROUP, *self._local]:
                try:
                    await self.layer.group_add(group, self.channel_name)
                except Exception:
                    self._layer_failed("group_add", f"group refresh of {group} failed")


class HubProvider:
    """This process's hubs: one per event loop, built and started on that loop on first use.

    A hub must live on the loop that serves its sockets, which exists only once the server
    runs, so the composition root (banter/wiring.py) builds this provider, with the recovery
    reads every hub gets at construction, and hands it to the namespace and the endpoints.
    One loop serves in production; tests run one per test.
    """

    def __init__(
        self,
        gap_source: GapSource | None = None,
        fill: Fill | None = None,
        layer: Callable[[], BaseChannelLayer | None] = get_channel_layer,
    ) -> None:
        self.gap_source = gap_source
        self.fill = fill
        self._layer = layer
        self._hubs: dict[asyncio.AbstractEventLoop, Hub] = {}
        self._starting: dict[asyncio.AbstractEventLoop, asyncio.Future[Hub]] = {}

    async def get(self) -> Hub:
        """The hub of the running event loop, started on first use."""
        loop = asyncio.get_running_loop()
        hub = self._hubs.get(loop)
        if hub is not None:
            return hub
        starting = self._starting.get(loop)
        if starting is not None:  # another connection is starting it: share that start
            return await asyncio.shield(starting)
        future: asyncio.Future[Hub] = loop.create_future()
        self._starting[loop] = future
        try:
            for stale_loop in [known for known in self._hubs if known.is_closed()]:
                del self._hubs[stale_loop]
            layer = self._layer()
            if layer is None:
                raise RuntimeError("Banter needs a channel layer (CHANNEL_LAYERS['default'])")
            hub = Hub(layer, loop, self.gap_source, self.fill)
            await hub.start()
            self._hubs[loop] = hub
            future.set_result(hub)
            return hub
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()
            raise
        finally:
            del self._starting[loop]

    def running(self) -> Hub | None:
        """The hub serving sockets right now, if one was started; callable from any thread."""
        for loop, hub in list(self._hubs.items()):
            if hub.running and not loop.is_closed() and loop.is_running():
                return hub
        return None


# THE registration point: the provider whose hub carries this process's broadcasts.
# Services publish from worker threads (broadcast_on_commit), far from any namespace, so they
# reach the hub through here; the composition root installs its provider at startup
# (banter/wiring.py), and until then a provider without recovery reads stands in (tests
# that build a namespace by hand, management commands).
_process_hubs = HubProvider()


def install(provider: HubProvider) -> None:
    """Make `provider` the process's hubs: what publish() and namespaces built without one use."""
    global _process_hubs
    _process_hubs = provider


def process_hubs() -> HubProvider:
    return _process_hubs


def running_hub() -> Hub | None:
    return _process_hubs.running()


def publish(group: str, message: dict[str, Any]) -> None:
    """Publish from anywhere: through this process's hub if it runs, else straight to the layer."""
    hub = running_hub()
    if hub is not None:
        hub.publish(group, message)
        return
    # No sockets served here (management command, REST-only test): send directly so hubs
    # of other processes (same Redis) still get it.
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:
        logger.exception("channel layer group_send to %s failed", group)
