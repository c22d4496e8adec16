"""The bare Engine.IO echo server at ``/engine.io/`` that the upstream Engine.IO v4 suite
(``engine.io-protocol/v4-test-suite``) talks to: every message comes back as is.

test_conformance_engineio.py ports that suite onto the Socket.IO server at ``/socket.io/``;
these are the cases whose bytes differ on the bare echo, against the same live
``manage.py socketio_conformance`` server. Docstrings name the ``it()`` they follow.
"""

from __future__ import annotations

import json

import pytest

from tests.realtime.conftest import SEP, EioClient, WsClient, compact

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(30)]

ECHO_PATH = "/engine.io/"
POLLING = "EIO=4&transport=polling"
WEBSOCKET = "EIO=4&transport=websocket"


class EchoClient(EioClient):
    """EioClient speaking to /engine.io/ instead of /socket.io/."""

    def url(self, query: str) -> str:
        return f"{self.base_url}{ECHO_PATH}?{query}"

    def ws_url(self, query: str) -> str:
        return f"{self.ws_base}{ECHO_PATH}?{query}"


@pytest.fixture
async def echo(conformance_server, http):
    client = EchoClient(conformance_server, http)
    try:
        yield client
    finally:
        await client.aclose()


async def test_polling_handshake(echo):
    """it("successfully opens a session") - HTTP long-polling, with the suite's settings."""
    session = await echo.open_polling()
    assert session.handshake["upgrades"] == ["websocket"]
    assert (session.handshake["pingInterval"], session.handshake["pingTimeout"]) == (300, 200)
    assert session.handshake["maxPayload"] == 1_000_000


async def test_polling_echoes_text_packets(echo):
    """it("sends and receives a payload containing several plain text packets")."""
    session = await echo.open_polling()
    assert await session.post(SEP.join(["4test1", "4test2", "4test3"])) == (200, "ok")
    assert await session.read_packets(3) == ["4test1", "4test2", "4test3"]


async def test_polling_echoes_text_and_binary_packets(echo):
    """it("sends and receives a payload containing plain text and binary packets"): binary
    comes back base64 (``bAQIDBA==`` is 01 02 03 04)."""
    session = await echo.open_polling()
    assert await session.post(f"4hello{SEP}bAQIDBA==") == (200, "ok")
    assert await session.read_packets(2) == ["4hello", "bAQIDBA=="]


async def test_no_socketio_on_the_echo(echo):
    """A Socket.IO CONNECT is just a message here: echoed, not answered with a CONNECT."""
    session = await echo.open_polling()
    assert await session.post("40") == (200, "ok")
    assert await session.read_packets(1) == ["40"]


async def test_websocket_echoes_text_and_binary(echo):
    """it("sends and receives a plain text packet") and it("sends and receives a binary
    packet") - WebSocket: binary stays a binary frame."""
    client = await echo.open_ws()
    assert client.handshake is not None and client.handshake["upgrades"] == []
    await client.send("4hello")
    assert await client.recv() == "4hello"
    await client.send(bytes([1, 2, 3, 4]))
    assert await client.recv() == bytes([1, 2, 3, 4])


async def test_websocket_invalid_packet_closes(echo):
    """it("closes the session upon invalid packet format") - WebSocket."""
    client = await echo.open_ws()
    await client.send("abc")
    await client.wait_closed()


async def upgrade(echo: EchoClient) -> tuple[str, WsClient]:
    session = await echo.open_polling()
    client = await echo.ws_connect(f"{WEBSOCKET}&sid={session.sid}")
    await client.send("2probe")
    assert await client.recv() == "3probe"
    assert await session.get() == (200, "6")
    await client.send("5")
    await client.send("4hello")
    assert await client.recv() == "4hello"  # the server has handled the "5" too
    return session.sid, client


async def test_upgrade_then_echo(echo):
    """it("successfully upgrades from HTTP long-polling to WebSocket") and it("ignores HTTP
    requests with same sid after upgrade")."""
    sid, client = await upgrade(echo)
    assert (await echo.get(f"{POLLING}&sid={sid}"))[0] == 400
    await client.send("4" + compact({"after": "upgrade"}))
    assert json.loads((await client.recv())[1:]) == {"after": "upgrade"}


async def test_ignores_websocket_connection_with_same_sid_after_upgrade(echo):
    """it("ignores WebSocket connection with same sid after upgrade"): the second WebSocket
    is accepted, then closed (the suite awaits its "close"), and the first still echoes."""
    sid, client = await upgrade(echo)
    second = await echo.ws_connect(f"{WEBSOCKET}&sid={sid}")
    assert await second.wait_closed() == []
    await client.send("4hello again")
    assert await client.recv() == "4hello again"
