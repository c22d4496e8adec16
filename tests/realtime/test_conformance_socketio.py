"""Socket.IO v5 conformance, ported from the official test suite, plus a reliability corpus.

Source: the "Socket.IO protocol" part of ``docs/socket.io-protocol/v5-test-suite/test-suite.js``
in socketio/socket.io and ``docs/socket.io-protocol/v5-current.md`` (its "Engine.IO protocol"
part is ported in ``test_conformance_engineio.py``). Each test's docstring names the ``it()`` it
ports. The reference server configuration (from the spec) is: pingInterval 300 ms, pingTimeout
200 ms, maxPayload 1000000, connectTimeout 1000 ms; ``auth`` emitted on connect to ``/`` and
``/custom``; ``message`` -> ``message-back``; ``message-with-ack`` -> ack with the same args.

Deliberate tightening: where the suite waits for a close, our WebSocket client keeps answering
pings, so the close must come from the behaviour under test and not from the ping timeout.
"""

from __future__ import annotations

import json
import time

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(30)]

PING_INTERVAL = 0.3
PING_TIMEOUT = 0.2
MAX_PAYLOAD = 1_000_000


def placeholders(count: int) -> str:
    return ",".join(f'{{"_placeholder":true,"num":{i}}}' for i in range(count))


def assert_sio_handshake(packet: str | bytes, prefix: str) -> str:
    assert isinstance(packet, str)
    assert packet.startswith(prefix), packet
    handshake = json.loads(packet[len(prefix) :])
    assert set(handshake) == {"sid"}, handshake
    assert isinstance(handshake["sid"], str)
    return handshake["sid"]


# ================================================================================== connect


class TestConnect:
    async def test_main_namespace(self, eio):
        """it("should allow connection to the main namespace")."""
        client = await eio.open_ws()
        await client.send("40")
        assert_sio_handshake(await client.recv(), "40")
        assert await client.recv() == '42["auth",{}]'

    async def test_main_namespace_with_a_payload(self, eio):
        """it("should allow connection to the main namespace with a payload")."""
        client = await eio.open_ws()
        await client.send('40{"token":"123"}')
        assert_sio_handshake(await client.recv(), "40")
        assert await client.recv() == '42["auth",{"token":"123"}]'

    async def test_custom_namespace(self, eio):
        """it("should allow connection to a custom namespace")."""
        client = await eio.open_ws()
        await client.send("40/custom,")
        assert_sio_handshake(await client.recv(), "40/custom,")
        assert await client.recv() == '42/custom,["auth",{}]'

    async def test_custom_namespace_with_a_payload(self, eio):
        """it("should allow connection to a custom namespace with a payload")."""
        client = await eio.open_ws()
        await client.send('40/custom,{"token":"abc"}')
        assert_sio_handshake(await client.recv(), "40/custom,")
        assert await client.recv() == '42/custom,["auth",{"token":"abc"}]'

    async def test_each_connection_gets_its_own_sid(self, eio):
        """Spec (connection to a namespace): the CONNECT reply carries the session's sid."""
        first = await eio.open_ws()
        second = await eio.open_ws()
        assert await first.sio_connect() != await second.sio_connect()

    async def test_disallows_an_unknown_namespace(self, eio):
        """it("should disallow connection to an unknown namespace")."""
        client = await eio.open_ws()
        await client.send("40/random")
        assert await client.recv() == '44/random,{"message":"Invalid namespace"}'

    async def test_unknown_namespace_keeps_the_connection(self, eio):
        """A refused namespace is a CONNECT_ERROR, not a broken connection: the client can
        still join a namespace that exists (as with the reference server)."""
        client = await eio.open_ws()
        await client.send("40/random")
        assert await client.recv() == '44/random,{"message":"Invalid namespace"}'
        await client.sio_connect()
        await client.assert_echo("still connected")

    async def test_disallows_an_invalid_handshake(self, eio):
        """it("should disallow connection with an invalid handshake")."""
        client = await eio.open_ws()
        await client.send("4abc")
        await client.wait_closed()

    async def test_closes_if_no_handshake_is_received(self, eio):
        """it("should close the connection if no handshake is received"), as in the suite:
        the client neither connects nor answers pings."""
        client = await eio.ws_connect(auto_pong=False)
        await client.wait_closed()

    async def test_closes_if_no_handshake_is_received_while_answering_pings(self, eio):
        """Same case, strict: the client answers every ping but never sends CONNECT, so only
        the connect timeout (1000 ms in the reference configuration) can close it."""
        client = await eio.open_ws()
        started = time.monotonic()
        await client.wait_closed(within=3)
        assert time.monotonic() - started > PING_INTERVAL + PING_TIMEOUT, "closed by heartbeat?"

    async def test_closes_if_the_first_packet_is_not_connect(self, eio):
        """Spec: "If the server does not receive a CONNECT packet first, then it MUST close
        the connection immediately"."""
        client = await eio.open_ws()
        await client.send('42["message","too early"]')
        await client.wait_closed()


# =============================================================================== disconnect


class TestDisconnect:
    async def test_disconnect_from_the_main_namespace(self, eio):
        """it("should disconnect from the main namespace"): nothing is sent back, the next
        packet is the next ping."""
        client = await eio.sio_ws()
        await client.send("41")
        assert await client.recv(skip_pings=False) == "2"

    async def test_connect_then_disconnect_from_a_custom_namespace(self, eio):
        """it("should connect then disconnect from a custom namespace")."""
        client = await eio.sio_ws()
        assert await client.recv(skip_pings=False) == "2"  # a ping first, as in the suite
        await client.send("40/custom")
        assert_sio_handshake(await client.recv(), "40/custom,")
        assert await client.recv() == '42/custom,["auth",{}]'
        await client.send("41/custom")
        await client.send('42["message","message to main namespace"]')
        assert await client.recv() == '42["message-back","message to main namespace"]'


# ================================================================================== message


class TestMessage:
    async def test_plain_text_packet(self, eio):
        """it("should send a plain-text packet")."""
        client = await eio.sio_ws()
        await client.send('42["message",1,"2",{"3":[true]}]')
        assert await client.recv() == '42["message-back",1,"2",{"3":[true]}]'

    async def test_packet_with_binary_attachments(self, eio):
        """it("should send a packet with binary attachments")."""
        client = await eio.sio_ws()
        await client.send(f'452-["message",{placeholders(2)}]')
        await client.send(bytes([1, 2, 3]))
        await client.send(bytes([4, 5, 6]))
        assert await client.recv_many(3) == [
            f'452-["message-back",{placeholders(2)}]',
            bytes([1, 2, 3]),
            bytes([4, 5, 6]),
        ]

    async def test_plain_text_packet_with_an_ack(self, eio):
        """it("should send a plain-text packet with an ack")."""
        client = await eio.sio_ws()
        await client.send('42456["message-with-ack",1,"2",{"3":[false]}]')
        assert await client.recv() == '43456[1,"2",{"3":[false]}]'

    async def test_packet_with_binary_attachments_and_an_ack(self, eio):
        """it("should send a packet with binary attachments and an ack")."""
        client = await eio.sio_ws()
        await client.send(f'452-789["message-with-ack",{placeholders(2)}]')
        await client.send(bytes([1, 2, 3]))
        await client.send(bytes([4, 5, 6]))
        assert await client.recv_many(3) == [
            f"462-789[{placeholders(2)}]",
            bytes([1, 2, 3]),
            bytes([4, 5, 6]),
        ]

    async def test_binary_event_over_polling(self, eio):
        """The binary case over HTTP long-polling: attachments travel as base64 ``b``
        packets in both directions."""
        session = await eio.open_polling()
        await session.sio_connect()
        body = "\x1e".join(['451-["message",{"_placeholder":true,"num":0}]', "bAQIDBA=="])
        assert await session.post(body) == (200, "ok")
        assert await session.read_packets(2) == [
            '451-["message-back",{"_placeholder":true,"num":0}]',
            "bAQIDBA==",
        ]

    async def test_closes_upon_unknown_packet_type(self, eio):
        """it("should close the connection upon invalid format (unknown packet type)")."""
        client = await eio.sio_ws()
        await client.send("4abc")
        await client.wait_closed()

    async def test_closes_upon_invalid_payload_format(self, eio):
        """it("should close the connection upon invalid format (invalid payload format)")."""
        client = await eio.sio_ws()
        await client.send("42{}")
        await client.wait_closed()

    async def test_closes_upon_invalid_ack_id(self, eio):
        """it("should close the connection upon invalid format (invalid ack id)")."""
        client = await eio.sio_ws()
        await client.send('42abc["message-with-ack",1,"2",{"3":[false]}]')
        await client.wait_closed()


# ============================================================================== reliability

# Each input must close the offending session, and only that one. The first three are the
# suite's invalid-format cases; the rest is our corpus of malformed and hostile packets.
BAD_INPUTS = [
    pytest.param(["4abc"], id="unknown-packet-type"),
    pytest.param(["42{}"], id="event-payload-not-an-array"),
    pytest.param(['42abc["message-with-ack",1,"2",{"3":[false]}]'], id="invalid-ack-id"),
    pytest.param(["abc"], id="invalid-engineio-packet"),
    pytest.param(['42["some","data"'], id="truncated-json"),
    pytest.param(['40/admin,"invalid"'], id="connect-payload-string"),
    pytest.param(["40[]"], id="connect-payload-array"),
    pytest.param(['42[{"toString":"foo"}]'], id="event-name-object"),
    pytest.param(['42[true,"foo"]'], id="event-name-boolean"),
    pytest.param(['42[null,"bar"]'], id="event-name-null"),
    pytest.param(['42["connect"]'], id="event-name-reserved"),
    pytest.param(["45"], id="binary-event-without-count"),
    pytest.param(["451"], id="binary-event-count-without-dash"),
    pytest.param(["45a-"], id="binary-event-count-not-a-number"),
    pytest.param(["451.23-"], id="binary-event-count-fractional"),
    pytest.param(
        [f'4511-["message",{placeholders(11)}]', *(bytes([i]) for i in range(11))],
        id="eleven-attachments",
    ),
    pytest.param(
        ['451-["message",{"_placeholder":true,"num":"splice"}]', b"\x01"],
        id="placeholder-num-string",
    ),
    pytest.param(
        ['451-["message",{"_placeholder":true,"num":1}]', b"\x01"],
        id="placeholder-num-out-of-range",
    ),
    pytest.param(
        ['451-["message",{"_placeholder":true,"num":-1}]', b"\x01"],
        id="placeholder-num-negative",
    ),
    pytest.param([b"\x01\x02\x03"], id="binary-frame-without-header"),
    pytest.param(['42["message","' + "x" * MAX_PAYLOAD + '"]'], id="oversize-frame"),
]


@pytest.fixture
async def control(eio):
    """A well-behaved client connected to ``/`` before the misbehaving one."""
    client = await eio.sio_ws()
    await client.assert_echo("control ready")
    return client


@pytest.mark.parametrize("frames", BAD_INPUTS)
async def test_bad_input_closes_only_that_session(eio, control, frames):
    bad = await eio.sio_ws()
    await bad.send(frames[0])
    for frame in frames[1:]:
        await bad.send_quietly(frame)  # the server may close before the attachments arrive
    await bad.wait_closed()
    await control.assert_echo("control still served")
    assert not control.closed
