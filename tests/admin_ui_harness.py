"""An in-process Socket.IO Admin UI client: what @socket.io/admin-ui says and hears on the
`/admin` namespace, spoken over Channels' WebsocketCommunicator (no server process).

    admin = await AdminClient.connect(app, {"username": "ops", "password": "..."})
    sockets = await admin.wait_for("all_sockets")  # the event's first argument
    await admin.wait_until("socket_connected", lambda args: args[0]["id"] == sid)
    ack = await admin.emit_with_ack("_disconnect", "/", False, sid)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from channels.testing import WebsocketCommunicator

from tests.socket_harness import TIMEOUT, WEBSOCKET_PATH

NSP = "/admin"


class AdminRefused(AssertionError):
    """The CONNECT to /admin was answered with CONNECT_ERROR."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(f"CONNECT_ERROR {body}")
        self.body = body


class AdminClient:
    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.sid = ""
        self.events: list[tuple[str, list[Any]]] = []
        self._by_event: dict[str, list[list[Any]]] = defaultdict(list)
        self._arrived = asyncio.Condition()
        self._ack_ids = itertools.count(1)
        self._acks: dict[int, asyncio.Future[Any]] = {}
        self._reply: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._reader: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    @classmethod
    async def connect(
        cls, app: Any, auth: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
    ) -> AdminClient:
        """Connected, or AdminRefused with the CONNECT_ERROR body."""
        client = cls(WebsocketCommunicator(app, WEBSOCKET_PATH, headers=headers or []))
        connected, _ = await client.communicator.connect(timeout=TIMEOUT)
        assert connected, "the WebSocket upgrade was refused"
        opening = await client.communicator.receive_from(TIMEOUT)
        assert opening.startswith("0"), opening
        client._reader = asyncio.create_task(client._read())
        await client.communicator.send_to(text_data=f"40{NSP}," + json.dumps(auth))
        reply = await asyncio.wait_for(asyncio.shield(client._reply), TIMEOUT)
        if reply.startswith(f"44{NSP},"):
            await client.close()
            raise AdminRefused(json.loads(reply[len(NSP) + 3 :]))
        assert reply.startswith(f"40{NSP},"), reply
        client.sid = json.loads(reply[len(NSP) + 3 :])["sid"]
        return client

    async def emit(self, event: str, *args: Any) -> None:
        """Without an ack callback, as the UI sends its actions."""
        await self.communicator.send_to(text_data=f"42{NSP}," + json.dumps([event, *args]))

    async def emit_with_ack(self, event: str, *args: Any) -> Any:
        ack_id = next(self._ack_ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = future
        await self.communicator.send_to(text_data=f"42{NSP},{ack_id}" + json.dumps([event, *args]))
        try:
            return await asyncio.wait_for(future, TIMEOUT)
        finally:
            self._acks.pop(ack_id, None)

    async def wait_until(
        self,
        event: str,
        matches: Callable[[list[Any]], bool] = lambda args: True,
        timeout: float = TIMEOUT,
    ) -> list[Any]:
        """The arguments of the first `event` (received so far or later) that matches."""

        def found() -> list[Any] | None:
            return next((args for args in self._by_event[event] if matches(args)), None)

        async with self._arrived:
            try:
                await asyncio.wait_for(
                    self._arrived.wait_for(lambda: found() is not None or self.closed.is_set()),
                    timeout,
                )
            except TimeoutError:
                seen = [name for name, _ in self.events]
                raise AssertionError(f"no matching {event!r} within {timeout}s: {seen}") from None
        args = found()
        if args is None:
            raise AssertionError(f"admin socket closed before a matching {event!r}")
        return args

    async def wait_for(self, event: str, timeout: float = TIMEOUT) -> Any:
        return (await self.wait_until(event, timeout=timeout))[0]

    def received(self, event: str) -> list[list[Any]]:
        return list(self._by_event[event])

    async def close(self) -> None:
        if not self.closed.is_set():
            with contextlib.suppress(Exception):
                await self.communicator.send_input({"type": "websocket.disconnect", "code": 1000})
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        with contextlib.suppress(Exception):
            await self.communicator.wait(1)

    async def _read(self) -> None:
        prefix = f"4{{}}{NSP},"
        try:
            while True:
                message = await self.communicator.output_queue.get()
                if message["type"] == "websocket.close":
                    break
                text = message.get("text")
                if text is None:
                    continue
                if text == "2":
                    await self.communicator.send_to(text_data="3")
                elif text.startswith((prefix.format(0), prefix.format(4))):
                    if not self._reply.done():
                        self._reply.set_result(text)
                elif text.startswith(prefix.format(2)):
                    name, *args = json.loads(text[len(NSP) + 3 :])
                    async with self._arrived:
                        self.events.append((name, args))
                        self._by_event[name].append(args)
                        self._arrived.notify_all()
                elif text.startswith(prefix.format(3)):
                    body = text[len(NSP) + 3 :]
                    digits = len(body) - len(body.lstrip("0123456789"))
                    future = self._acks.get(int(body[:digits]))
                    if future is not None and not future.done():
                        future.set_result(json.loads(body[digits:])[0])
                elif text.startswith(prefix.format(1)):
                    break  # the server ended the admin namespace connection
        finally:
            self.closed.set()
            if not self._reply.done():
                self._reply.set_result("closed")
            async with self._arrived:
                self._arrived.notify_all()
