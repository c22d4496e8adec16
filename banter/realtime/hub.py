"""Per-process fan-out hub: one channel-layer subscription per process, local delivery.

Instead of one channel per socket (one channel-layer message per recipient), each process
owns one channel, adds it to a group when the first local socket subscribes, and fans each
group message out to its local subscribers. A broadcast to a 10-member room on 2 instances
costs 2 channel-layer messages, not 10.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from typing import Any, Protocol

from asgiref.sync import async_to_sync
from channels.layers import BaseChannelLayer, get_channel_layer

logger = logging.getLogger("banter.realtime.hub")

GROUP_REFRESH_SECONDS = 3600.0  # channel layers expire group membership after a day


class Subscriber(Protocol):
    def deliver(self, message: dict[str, Any]) -> None:
        """Handle one group message; must not block (enqueue, do not await)."""


class Hub:
    def __init__(self, layer: BaseChannelLayer, loop: asyncio.AbstractEventLoop) -> None:
        self.layer = layer
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

    async def start(self) -> None:
        self.channel_name = await self.layer.new_channel("banter.hub.")
        self._thread_id = threading.get_ident()
        self.running = True
        for coroutine in (self._receive_loop(), self._publish_loop(), self._refresh_loop()):
            self._tasks.append(self.loop.create_task(coroutine))

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
                future.set_result(None)
            except Exception as exc:
                self.layer_errors += 1
                future.set_exception(exc)
                future.exception()  # mark retrieved; the caller sees the raise below
                raise
            finally:
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
            self.loop.create_task(self._discard(group))

    async def _discard(self, group: str) -> None:
        if group in self._local:  # re-joined meanwhile
            return
        try:
            await self.layer.group_discard(group, self.channel_name)
        except Exception:
            self.layer_errors += 1
            logger.exception("channel layer group_discard failed for %s", group)

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
            sent = 0
            while self._outbox:
                group, message = self._outbox.popleft()
                try:
                    await self.layer.group_send(group, message)
                except Exception:
                    self.layer_errors += 1
                    logger.exception("channel layer group_send to %s failed", group)
                sent += 1
                if sent % 64 == 0:
                    # The in-memory layer never suspends in group_send and drops messages
                    # silently past its capacity: let the receive loop drain between batches.
                    await asyncio.sleep(0)

    async def _receive_loop(self) -> None:
        backoff = 0.1
        while True:
            try:
                message = await self.layer.receive(self.channel_name)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception:
                self.layer_errors += 1
                logger.exception("channel layer receive failed; retrying in %.1fs", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            self.deliver_local(message)

    def deliver_local(self, message: dict[str, Any]) -> None:
        members = self._local.get(message.get("group", ""))
        if not members:
            return
        # Copy: a delivery may close a socket, which leaves the group while we iterate.
        for subscriber in tuple(members):
            try:
                subscriber.deliver(message)
            except Exception:
                logger.exception("subscriber failed to take a group message")

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(GROUP_REFRESH_SECONDS)
            for group in list(self._local):
                try:
                    await self.layer.group_add(group, self.channel_name)
                except Exception:
                    self.layer_errors += 1
                    logger.exception("channel layer group refresh failed for %s", group)


_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}
_starting: dict[asyncio.AbstractEventLoop, asyncio.Future[Hub]] = {}


async def get_hub() -> Hub:
    """The hub of the running event loop, started on first use."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is not None:
        return hub
    starting = _starting.get(loop)
    if starting is not None:  # another connection is starting it: share that start
        return await asyncio.shield(starting)
    future: asyncio.Future[Hub] = loop.create_future()
    _starting[loop] = future
    try:
        for stale_loop in [known for known in _hubs if known.is_closed()]:
            del _hubs[stale_loop]
        layer = get_channel_layer()
        if layer is None:
            raise RuntimeError("Banter needs a channel layer (CHANNEL_LAYERS['default'])")
        hub = Hub(layer, loop)
        await hub.start()
        _hubs[loop] = hub
        future.set_result(hub)
        return hub
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()
        raise
    finally:
        del _starting[loop]


def running_hub() -> Hub | None:
    for loop, hub in _hubs.items():
        if hub.running and not loop.is_closed() and loop.is_running():
            return hub
    return None


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
