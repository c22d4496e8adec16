"""How Socket.IO v2 clients (Engine.IO v3 sessions) authenticate: no CONNECT payload, so the
`Authorization: Bearer` header or, on EIO=3 sessions only, `?token=`; the token checks are
CONNECT's own (banter.realtime.auth), refusals an ERROR packet."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from banter.accounts.models import User
from banter.realtime import auth
from banter.realtime.asgi_routing import realtime_asgi
from banter.realtime.engine import EngineConfig, RequestInfo
from banter.realtime.namespace import BanterNamespace
from banter.realtime.transports import OriginPolicy, RealtimeServer

CONFIG = EngineConfig(ping_interval=60, ping_timeout=60, connect_timeout=5, allow_eio3=True)


def request(query: dict[str, str], headers: dict[str, str] | None = None) -> RequestInfo:
    return RequestInfo(
        headers=headers or {}, query=query, client_ip="127.0.0.1", origin=None, host=None
    )


@pytest.fixture
def banter_settings(settings: Any) -> Any:
    def set_to(**values: bool) -> None:
        settings.BANTER = {**settings.BANTER, **values}

    return set_to


def test_the_setting_is_off_by_default(settings: Any) -> None:
    assert settings.BANTER["ALLOW_EIO3"] is False


@pytest.mark.parametrize(
    ("eio", "allow_eio3", "used"),
    [("3", True, True), ("3", False, False), ("4", True, False), (None, True, False)],
)
def test_query_token_counts_on_eio3_sessions_only(
    banter_settings: Any, eio: str | None, allow_eio3: bool, used: bool
) -> None:
    banter_settings(ALLOW_EIO3=allow_eio3, ALLOW_QUERY_TOKEN=False)
    query = {"transport": "polling", "token": "t0k"}
    if eio is not None:
        query["EIO"] = eio
    assert auth.handshake_token(None, request(query)) == ("t0k" if used else None)


def test_the_header_comes_before_the_query(banter_settings: Any) -> None:
    banter_settings(ALLOW_EIO3=True)
    info = request({"EIO": "3", "token": "from-query"}, {"authorization": "Bearer from-header"})
    assert auth.handshake_token(None, info) == "from-header"


class CountingSource:
    """A recovery source that only counts what it is asked (a v2 client has no recovery)."""

    def __init__(self) -> None:
        self.asked = 0

    async def high_water(self) -> int:
        self.asked += 1
        return 0

    async def missed(self, user_id: int, after: int) -> list[tuple[int, str]] | None:
        self.asked += 1
        return []

    async def missed_since(self, groups: set[str], since: float) -> list[tuple[str, int, str]]:
        return []

    async def missed_in_sequence(
        self, group: str, after: int, first_seq: int, before_seq: int | None
    ) -> list[tuple[int, int, str]]:
        return []


async def connect(
    path: str,
    headers: list[tuple[bytes, bytes]] | None = None,
    source: CountingSource | None = None,
) -> str:
    """What the server sends after the open packet of a v3 WebSocket session on `path`."""
    namespace = BanterNamespace({}, recovery_source=source)
    app = realtime_asgi(RealtimeServer({"/": namespace}, CONFIG, OriginPolicy(None)), None)
    client = WebsocketCommunicator(app, path, headers=headers)
    assert (await client.connect())[0]
    assert (await client.receive_from()).startswith("0{")
    reply = await client.receive_from(10)
    await client.disconnect()
    return str(reply)


@pytest.mark.django_db(transaction=True)
async def test_v2_clients_connect_with_a_query_token_or_a_header(banter_settings: Any) -> None:
    banter_settings(ALLOW_EIO3=True, ALLOW_QUERY_TOKEN=False)
    user = await sync_to_async(User.objects.create_user)(username="v2", password="x")
    token = await sync_to_async(lambda: str(AccessToken.for_user(user)))()
    base = "/socket.io/?EIO=3&transport=websocket"
    source = CountingSource()
    assert await connect(f"{base}&token={token}", source=source) == "40"
    assert await connect(base, [(b"authorization", f"Bearer {token}".encode())]) == "40"
    assert source.asked == 0  # no pid to issue, no recovery: no database read for it


@pytest.mark.django_db(transaction=True)
async def test_v2_refusals_are_error_packets(banter_settings: Any) -> None:
    banter_settings(ALLOW_EIO3=True)
    base = "/socket.io/?EIO=3&transport=websocket"
    assert await connect(f"{base}&token=not-a-jwt") == (
        '44{"message":"Token is invalid","data":{"code":"token_invalid"}}'
    )
    assert await connect(base) == (
        '44{"message":"Authentication required","data":{"code":"auth_required"}}'
    )
