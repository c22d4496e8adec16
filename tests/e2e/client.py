"""Small clients for end-to-end tests: REST over urllib, Socket.IO via python-socketio."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import socketio


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
        request = Request(self.base_url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
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
    _waiters: list[tuple[str, asyncio.Future[Any]]] = field(default_factory=list)

    def _record(self, event: str, *args: Any) -> None:
        data = args[0] if len(args) == 1 else list(args)
        self.events.append((event, data))
        for name, future in list(self._waiters):
            if name == event and not future.done():
                future.set_result(data)
                self._waiters.remove((name, future))

    async def wait_for(self, event: str, timeout: float = 5.0, *, skip: int = 0) -> Any:
        """The next (or already recorded, after `skip` earlier ones) occurrence of `event`."""
        seen = [data for name, data in self.events if name == event]
        if len(seen) > skip:
            return seen[skip]
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.append((event, future))
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
