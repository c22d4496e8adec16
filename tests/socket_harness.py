"""In-process Socket.IO clients for the real Banter namespace: no server process, no network.

`SocketHarness` builds the ASGI app the way production does (the composition root,
banter/wiring.py build_realtime: BanterNamespace with the event table and hooks of
banter/socket_routes.py) and drives it with Channels' WebsocketCommunicator in the test's own
event loop. Each `SocketClient` speaks the Engine.IO v4 / Socket.IO v5 text protocol itself,
so tests assert on exactly what goes over the wire:

    client = await sockets.connect(user)
    ack = await client.emit("send-message", {"roomId": 1, "content": "hi"})  # {ok, data}
    event = await other.wait_for("message-received")  # the event's first argument
    other.received("message-received")  # every one so far

Handlers run the ORM in worker threads (run_sync), so tests using this need the
`transactional_db` fixture (or django_db(transaction=True)).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from banter.accounts.models import User
from banter.realtime import hub
from banter.realtime.asgi_routing import ASGIApp, realtime_asgi
from chat.models import Room

WEBSOCKET_PATH = "/socket.io/?EIO=4&transport=websocket"
# Seconds to wait for what should arrive: in process it takes milliseconds, but a loaded
# 2-core machine can stall a worker thread for seconds. Waits end as soon as it arrives.
TIMEOUT = 10.0

# The fixtures of tests/inprocess/conftest.py, for annotations.
MakeUser = Callable[..., Awaitable[User]]
MakeRoom = Callable[..., Awaitable[Room]]
OverrideBanter = Callable[..., None]


class SocketClosedError(AssertionError):
    """The server closed the WebSocket while the test was waiting for something."""


class SocketClient:
    """One connected Socket.IO client on the main namespace, recording every server event.

    A background task reads every frame: pings are answered, acks resolve their `emit`,
    events are recorded per name (first argument, and all arguments in `received_args`).
    """

    def __init__(self, communicator: WebsocketCommunicator, user: User) -> None:
        self.communicator = communicator
        self.user = user
        self.sid = ""
        self.connect_reply: dict[str, Any] = {}
        self.events: list[tuple[str, list[Any]]] = []  # every event, in arrival order
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self._ack_ids = itertools.count(1)
        self._acks: dict[int, asyncio.Future[Any]] = {}
        self._by_event: dict[str, list[list[Any]]] = defaultdict(list)
        self._arrived = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None
        self._connect_reply: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    # -- what tests call ---------------------------------------------------------------------

    async def emit(self, event: str, *args: Any, timeout: float = TIMEOUT) -> Any:
        """Send `event(*args)` with an ack id; returns the ack's first argument (the
        `{"ok": true, "data": ...}` / `{"ok": false, "error": ...}` envelope)."""
        ack_id = next(self._ack_ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = future
        await self._send(f"42{ack_id}" + json.dumps([event, *args]))
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            raise AssertionError(f"no ack for {event!r} within {timeout}s") from None
        finally:
            self._acks.pop(ack_id, None)

    async def send_event(self, event: str, *args: Any) -> None:
        """Send `event(*args)` without asking for an ack."""
        await self._send("42" + json.dumps([event, *args]))

    async def wait_for(self, event: str, *, skip: int = 0, timeout: float = TIMEOUT) -> Any:
        """The first argument of the (skip+1)-th `event` received (waits for it)."""
        return (await self.wait_for_args(event, skip=skip, timeout=timeout))[0]

    async def wait_for_args(
        self, event: str, *, skip: int = 0, timeout: float = TIMEOUT
    ) -> list[Any]:
        """All arguments of the (skip+1)-th `event` (recoverable events end with an offset)."""
        async with self._arrived:
            try:
                await asyncio.wait_for(
                    self._arrived.wait_for(
                        lambda: len(self._by_event[event]) > skip or self.closed.is_set()
                    ),
                    timeout,
                )
            except TimeoutError:
                seen = [name for name, _ in self.events]
                raise AssertionError(
                    f"{self.user.username}: no {event!r} #{skip + 1} within {timeout}s "
                    f"(received {seen})"
                ) from None
            if len(self._by_event[event]) <= skip:
                raise SocketClosedError(f"socket closed (code {self.close_code}) before {event!r}")
            return self._by_event[event][skip]

    def received(self, event: str) -> list[Any]:
        """The first argument of every `event` received so far."""
        return [args[0] if args else None for args in self._by_event[event]]

    def received_args(self, event: str) -> list[list[Any]]:
        return list(self._by_event[event])

    async def disconnect(self) -> None:
        """Close the WebSocket (the server runs its disconnect hooks) and stop reading."""
        if not self.closed.is_set():
            await self.communicator.send_input({"type": "websocket.disconnect", "code": 1000})
        await self._stop()

    # -- plumbing ----------------------------------------------------------------------------

    async def open(self, auth: dict[str, Any]) -> None:
        connected, _ = await self.communicator.connect(timeout=TIMEOUT)
        assert connected, "the WebSocket upgrade was refused"
        opening = await self.communicator.receive_from(TIMEOUT)
        assert opening.startswith("0"), f"expected the Engine.IO open packet, got {opening!r}"
        self._reader = asyncio.create_task(self._read(), name=f"socket-reader-{self.user.pk}")
        await self._send("40" + json.dumps(auth))
        reply = await asyncio.wait_for(asyncio.shield(self._connect_reply), TIMEOUT)
        if not reply.startswith("40"):
            raise AssertionError(f"CONNECT refused: {reply!r}")
        self.connect_reply = json.loads(reply[2:])
        self.sid = self.connect_reply["sid"]

    async def _send(self, text: str) -> None:
        if self.closed.is_set():
            raise SocketClosedError(f"socket closed (code {self.close_code})")
        await self.communicator.send_to(text_data=text)

    async def _read(self) -> None:
        try:
            while True:
                message = await self.communicator.output_queue.get()
                if message["type"] == "websocket.close":
                    self.close_code = message.get("code")
                    break
                text = message.get("text")
                if text is not None:
                    await self._take(text)
        finally:
            self.closed.set()
            if not self._connect_reply.done():
                self._connect_reply.set_result("closed")
            for future in self._acks.values():
                if not future.done():
                    future.set_exception(SocketClosedError("socket closed before the ack"))
            async with self._arrived:
                self._arrived.notify_all()

    async def _take(self, text: str) -> None:
        if text == "2":  # Engine.IO ping
            await self.communicator.send_to(text_data="3")
        elif text.startswith(("40", "44")) and not self._connect_reply.done():
            self._connect_reply.set_result(text)
        elif text.startswith("42"):
            name, *args = json.loads(text[2:])
            async with self._arrived:
                self.events.append((name, args))
                self._by_event[name].append(args)
                self._arrived.notify_all()
        elif text.startswith("43"):
            body = text[2:]
            digits = len(body) - len(body.lstrip("0123456789"))
            future = self._acks.get(int(body[:digits]))
            if future is not None and not future.done():
                future.set_result(json.loads(body[digits:])[0])

    async def _stop(self) -> None:
        if self._reader is not None and not self._reader.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._reader), 1)
            except TimeoutError:
                self._reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._reader
        with contextlib.suppress(Exception):
            await self.communicator.wait(1)


class SocketHarness:
    """Builds the production realtime app once per test and connects clients to it."""

    def __init__(self, app: ASGIApp | None = None) -> None:
        # build_realtime installs its hubs as the process's (what services publish through):
        # put back the previous ones on close, so later tests see what they would alone.
        self._previous_hubs = hub.process_hubs()
        if app is None:
            from banter.wiring import build_realtime

            # The realtime half of the composition root's build_application: no Django HTTP
            # fallback and no background loops (sweepers, reapers, started per event loop),
            # which would outlive the test's loop.
            app = realtime_asgi(build_realtime(), http_fallback=None)
        self.app = app
        self.clients: list[SocketClient] = []

    async def connect(self, user: User, **auth: Any) -> SocketClient:
        """A client connected as `user` with a fresh access token (extra auth fields, such
        as a recovery `pid`/`offset`, go into the CONNECT payload)."""
        token = await sync_to_async(lambda: str(AccessToken.for_user(user)))()
        client = SocketClient(WebsocketCommunicator(self.app, WEBSOCKET_PATH), user)
        self.clients.append(client)
        await client.open({"token": token, **auth})
        return client

    async def close(self) -> None:
        for client in self.clients:
            with contextlib.suppress(Exception):
                await client.disconnect()
        self.clients.clear()
        hub.install(self._previous_hubs)


def ok(ack: Any) -> Any:
    """The data of a successful ack (fails the test with the error otherwise)."""
    assert isinstance(ack, dict) and ack.get("ok") is True, ack
    return ack["data"]


def error_code(ack: Any) -> str:
    """The error code of a failed ack."""
    assert isinstance(ack, dict) and ack.get("ok") is False, ack
    return str(ack["error"]["code"])


async def settle(seconds: float = 0.1) -> None:
    """Time for in-process broadcasts that should NOT arrive to have arrived if sent."""
    await asyncio.sleep(seconds)
