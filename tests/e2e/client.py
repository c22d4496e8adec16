"""Small clients for end-to-end tests: REST over urllib, Socket.IO via python-socketio."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import socketio

# Events that carry a recovery offset as their last argument.
RECOVERABLE = {"message-received", "message-edited", "message-deleted", "message-read"}


class RestError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class RestClient:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        return self._json(method, path, data, "application/json", token)

    def upload(
        self,
        token: str | None,
        data: bytes,
        name: str,
        content_type: str = "application/octet-stream",
    ) -> Any:
        """`POST /api/uploads` with `data` as the multipart field `file`: the stored upload."""
        boundary = f"banter-e2e-{uuid.uuid4().hex}"
        head = (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        body = head + data + f"\r\n--{boundary}--\r\n".encode()
        return self._json(
            "POST", "/api/uploads", body, f"multipart/form-data; boundary={boundary}", token
        )

    def get_bytes(self, path: str, token: str | None = None) -> Download:
        """GET `path` (an API path or a signed link); any status, never raised."""
        request = Request(self.base_url + path, method="GET")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urlopen(request, timeout=10) as response:
                return Download(response.status, _headers(response.headers), response.read())
        except HTTPError as error:
            return Download(error.code, _headers(error.headers), error.read())

    def _json(
        self, method: str, path: str, data: bytes | None, content_type: str, token: str | None
    ) -> Any:
        request = Request(self.base_url + path, data=data, method=method)
        request.add_header("Content-Type", content_type)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urlopen(request, timeout=10) as response:
                raw = response.read()
        except HTTPError as error:
            raw = error.read()
            raise RestError(error.code, json.loads(raw) if raw else None) from None
        return json.loads(raw) if raw else None

    def register(self, prefix: str = "user") -> User:
        username = f"{prefix}_{uuid.uuid4().hex[:8]}"
        body = self.call(
            "POST",
            "/api/auth/register",
            {"username": username, "password": "e2e-Pass-123456", "displayName": prefix},
        )
        return User(
            id=body["user"]["id"], username=username, access=body["access"], refresh=body["refresh"]
        )

    def create_room(
        self, owner: User, name: str, members: list[User], is_public: bool = False
    ) -> dict:
        room = self.call(
            "POST",
            "/api/rooms",
            {"name": name, "isPublic": is_public, "memberIds": [m.id for m in members]},
            token=owner.access,
        )
        return dict(room)


def _headers(message: Message) -> dict[str, str]:
    return {name.lower(): value for name, value in message.items()}


@dataclass(frozen=True)
class Download:
    """A GET's answer as it came: status, headers (lower-cased names) and bytes."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class User:
    id: int
    username: str
    access: str
    refresh: str


@dataclass
class RecordingClient:
    """A python-socketio AsyncClient that records every server event it receives."""

    client: socketio.AsyncClient
    events: list[tuple[str, Any]] = field(default_factory=list)
    offsets: list[str] = field(default_factory=list)
    _waiters: list[tuple[str, int, asyncio.Future[Any]]] = field(default_factory=list)

    def _record(self, event: str, *args: Any) -> None:
        if event in RECOVERABLE and len(args) == 2 and isinstance(args[1], str):
            # The Socket.IO recovery offset appended to room events (docs/protocol.md).
            self.offsets.append(args[1])
            args = args[:1]
        data = args[0] if len(args) == 1 else list(args)
        self.events.append((event, data))
        for waiter in list(self._waiters):
            name, skip, future = waiter
            if name != event:
                continue
            seen = self.received(event)
            if future.done():
                self._waiters.remove(waiter)
            elif len(seen) > skip:
                future.set_result(seen[skip])
                self._waiters.remove(waiter)

    async def wait_for(self, event: str, timeout: float = 5.0, *, skip: int = 0) -> Any:
        """The occurrence of `event` after `skip` earlier ones, recorded or still to come.

        (It used to wait for the next occurrence when fewer than `skip` were recorded: a test
        waiting for the 20th message went on at the first one, so its pass depended on
        which arrived first, the acks or the deliveries.)"""
        seen = self.received(event)
        if len(seen) > skip:
            return seen[skip]
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.append((event, skip, future))
        return await asyncio.wait_for(future, timeout)

    def received(self, event: str) -> list[Any]:
        return [data for name, data in self.events if name == event]

    async def call(self, event: str, payload: Any, timeout: float = 10.0) -> Any:
        return await self.client.call(event, payload, timeout=timeout)

    async def disconnect(self) -> None:
        await self.client.disconnect()


async def connect(
    url: str, token: str | None, transports: list[str] | None = None, **kwargs: Any
) -> RecordingClient:
    client = socketio.AsyncClient(reconnection=False)
    recorder = RecordingClient(client)
    client.on("*", recorder._record)
    await client.connect(
        url,
        auth={"token": token} if token else None,
        transports=transports or ["websocket"],
        wait_timeout=10,
        **kwargs,
    )
    return recorder


class Clients:
    """The connected clients of one test (on `url`, or on the server each was given); all
    are disconnected at the end of the test."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url
        self.open: list[RecordingClient] = []

    async def connect(
        self, user: User, transports: list[str] | None = None, *, url: str | None = None
    ) -> RecordingClient:
        target = url or self.url
        assert target, "Clients.connect needs a url"
        client = await connect(target, user.access, transports)
        self.open.append(client)
        return client

    async def close(self) -> None:
        for client in self.open:
            if client.client.connected:
                await client.disconnect()


class RecoveringClient(socketio.AsyncClient):
    """python-socketio plus the CONNECT reply's pid, which python-socketio drops (it does not
    implement connection state recovery: tests pass pid and offset back by hand)."""

    pid: str | None = None

    async def _handle_connect(self, namespace: str, data: Any) -> None:
        if isinstance(data, dict):
            self.pid = data.get("pid")
        await super()._handle_connect(namespace, data)


async def run_node_script(script: Path, config: dict[str, Any], timeout: float = 60) -> Any:
    """Run a node scenario (tests/e2e/node) with a JSON config; its last stdout line, parsed."""
    from tests.services import require_node

    process = await asyncio.create_subprocess_exec(
        require_node(),
        str(script),
        json.dumps(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode == 0, stderr.decode()
    return json.loads(stdout.decode().strip().splitlines()[-1])
