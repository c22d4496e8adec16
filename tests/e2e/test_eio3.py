"""Engine.IO v3 clients (ALLOW_EIO3) with the real socket.io-client 2.x from npm.

On WebSocket, on long-polling without upgrade and with the polling -> WebSocket upgrade, with
the token in the query and in an Authorization header: refusals, the message path, and a
heartbeat longer than pingInterval + pingTimeout (the client drives it in v3). A server
without the setting refuses EIO=3 exactly as before.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from tests.e2e.client import RestClient, run_node_script
from tests.e2e.conftest import start_banter
from tests.live_server import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

SCENARIO = Path(__file__).parent / "node" / "eio3_scenario.mjs"
# Short, so the scenario's wait (STAY_MS) outlasts pingInterval + pingTimeout several times.
PING_INTERVAL, PING_TIMEOUT = 0.5, 0.5
STAY_MS = 2500


@pytest.fixture(scope="module")
def eio3_server(
    e2e_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    server = start_banter(
        e2e_database,
        tmp_path_factory.mktemp("eio3-logs"),
        "eio3",
        ALLOW_EIO3="1",
        PING_INTERVAL=str(PING_INTERVAL),
        PING_TIMEOUT=str(PING_TIMEOUT),
    )
    yield server
    server.stop()


@pytest.mark.parametrize("auth", ["query", "header"])
@pytest.mark.parametrize(
    ("transports", "upgrade", "expected"),
    [
        (["websocket"], False, "websocket"),
        (["polling"], False, "polling"),
        (["polling", "websocket"], True, "websocket"),
    ],
    ids=["websocket", "polling", "upgrade"],
)
async def test_socketio_client_v2(
    eio3_server: LiveServer, transports: list[str], upgrade: bool, expected: str, auth: str
) -> None:
    rest = RestClient(eio3_server.url)
    alice, bob = rest.register("alice"), rest.register("bob")
    room = rest.create_room(alice, "v2", [bob])
    result = dict(
        await run_node_script(
            SCENARIO,
            {
                "url": eio3_server.url,
                "transports": transports,
                "upgrade": upgrade,
                "auth": auth,
                "tokenA": alice.access,
                "tokenB": bob.access,
                "roomId": room["id"],
                "content": "hi from socket.io-client 2",
                "stayMs": STAY_MS,
            },
        )
    )
    # Socket.IO v4 has no CONNECT_ERROR: the refusal is an ERROR packet, the `error` event.
    assert result["badToken"] == {"message": "Token is invalid", "data": {"code": "token_invalid"}}
    assert result["noToken"] == {
        "message": "Authentication required",
        "data": {"code": "auth_required"},
    }
    assert result["ack"]["ok"] is True, result
    message = result["ack"]["data"]
    assert message["content"] == "hi from socket.io-client 2" and message["clientId"] == "v2-1"
    assert message["user"]["id"] == alice.id
    assert result["received"] == message
    assert result["transports"] == [expected, expected]
    assert result["disconnects"] == []  # the client's pings kept both sessions
    assert result["afterWait"]["ok"] is True, result
    assert result["afterWait"]["data"]["seq"] == message["seq"] + 1


def test_a_server_without_the_setting_refuses_eio3(banter_server: LiveServer) -> None:
    """The default (ALLOW_EIO3 off): 400 "Unsupported protocol version" on polling, the
    WebSocket handshake refused, as for any version but 4."""
    with pytest.raises(HTTPError) as refused:
        urlopen(f"{banter_server.url}/socket.io/?EIO=3&transport=polling", timeout=10)
    assert refused.value.code == 400
    assert json.loads(refused.value.read()) == {
        "code": 5,
        "message": "Unsupported protocol version",
    }
    with pytest.raises(InvalidStatus) as rejected:
        ws_connect(f"{banter_server.ws_url}/socket.io/?EIO=3&transport=websocket", open_timeout=10)
    assert rejected.value.response.status_code == 403


async def test_socketio_client_v2_cannot_connect_without_the_setting(
    banter_server: LiveServer, rest: RestClient
) -> None:
    alice = rest.register("alice")
    result = await run_node_script(
        SCENARIO,
        {"url": banter_server.url, "unsupported": True, "auth": "query", "tokenA": alice.access},
    )
    # A transport error (connect_error), never a Socket.IO refusal: no session was opened.
    for transport in ("websocket", "polling"):
        assert result[transport]["refused"] is None, result
        assert result[transport]["error"], result
