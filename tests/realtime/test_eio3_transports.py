"""Engine.IO v3 / Socket.IO v4 sessions (EngineConfig.allow_eio3) on both transports, in
process: the handshake, the implicit default-namespace connect, payload formats (text,
``b64``, XHR2 binary), binary WebSocket frames, the upgrade, refusals, and bad input closing
only its own session. Without the setting, EIO=3 is refused as any unsupported version is."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from channels.testing import HttpCommunicator, WebsocketCommunicator

from banter.realtime.asgi_routing import ASGIApp, realtime_asgi
from banter.realtime.codec import EngineType
from banter.realtime.codec_eio3 import decode_payload, encode_binary_payload, encode_text_payload
from banter.realtime.engine import EngineConfig
from banter.realtime.socketio import ConnectRefused, Namespace, Socket
from banter.realtime.transports import OriginPolicy, RealtimeServer

POLLING = "/socket.io/?EIO=3&transport=polling"
WEBSOCKET = "/socket.io/?EIO=3&transport=websocket"
CONFIG = EngineConfig(ping_interval=60, ping_timeout=60, connect_timeout=5, allow_eio3=True)
PH0 = '{"_placeholder":true,"num":0}'


class Echo(Namespace):
    """`echo` -> `echo-back` with the same arguments (binary too); any ack id is answered."""

    def __init__(self) -> None:
        self.auths: list[dict[str, Any] | None] = []

    async def on_connect(self, socket: Socket, auth: dict[str, Any] | None) -> None:
        self.auths.append(auth)

    async def on_event(
        self, socket: Socket, event: str, args: list[Any], ack_id: int | None
    ) -> None:
        if event == "echo":
            socket.emit("echo-back", *args)
        if ack_id is not None:
            socket.ack(ack_id, args)


class Refusing(Namespace):
    async def on_connect(self, socket: Socket, auth: dict[str, Any] | None) -> None:
        raise ConnectRefused("Token is invalid", {"code": "token_invalid"})


def build(
    namespaces: dict[str, Namespace] | None = None, config: EngineConfig = CONFIG
) -> tuple[RealtimeServer, ASGIApp]:
    realtime = RealtimeServer(namespaces or {"/": Echo()}, config, OriginPolicy(None))
    return realtime, realtime_asgi(realtime, None)


async def http(app: ASGIApp, method: str, path: str, body: bytes = b"") -> tuple[int, str, bytes]:
    """(status, content type, body) of one request."""
    response = await HttpCommunicator(app, method, path, body=body).get_response(timeout=3)
    headers = dict(response["headers"])
    return response["status"], headers.get(b"content-type", b"").decode(), response["body"]


async def open_polling(app: ASGIApp, query: str = "") -> tuple[str, dict[str, Any]]:
    """A v3 polling session: (its URL, the open packet's body); the implicit "40" taken."""
    status, content_type, body = await http(app, "GET", POLLING + query)
    assert status == 200 and content_type.startswith("text/plain"), body
    ((kind, data),) = decode_payload(body)
    assert kind is EngineType.OPEN and isinstance(data, str)
    handshake = orjson.loads(data)
    url = f"{POLLING}&sid={handshake['sid']}"
    assert await http(app, "GET", url) == (200, "text/plain; charset=UTF-8", b"2:40")
    return url, handshake


async def open_websocket(app: ASGIApp, path: str = WEBSOCKET) -> WebsocketCommunicator:
    """A v3 WebSocket session, its open packet and implicit "40" taken."""
    client = WebsocketCommunicator(app, path)
    assert (await client.connect())[0]
    opening = await client.receive_from()
    assert opening.startswith("0{"), opening
    assert await client.receive_from() == "40"
    return client


# -- the setting ---------------------------------------------------------------------------------


async def test_eio3_is_refused_without_the_setting() -> None:
    _, app = build(config=EngineConfig(ping_interval=60, ping_timeout=60))
    status, content_type, body = await http(app, "GET", POLLING)
    assert (status, content_type) == (400, "application/json")
    assert orjson.loads(body) == {"code": 5, "message": "Unsupported protocol version"}
    client = WebsocketCommunicator(app, WEBSOCKET)
    assert await client.connect() == (False, 1002)  # refused before the accept


async def test_v4_sessions_are_unchanged_with_the_setting() -> None:
    realtime, app = build()
    status, _, body = await http(app, "GET", "/socket.io/?EIO=4&transport=polling")
    assert status == 200 and body.startswith(b"0{")  # no v3 length prefix
    assert "maxPayload" in orjson.loads(body[1:])
    sid = orjson.loads(body[1:])["sid"]
    assert realtime.engine.sessions[sid].protocol == 4
    # No implicit connect: the client's "40" is awaited.
    post = await http(app, "POST", f"/socket.io/?EIO=4&transport=polling&sid={sid}", b"40")
    assert post[0] == 200
    reply = (await http(app, "GET", f"/socket.io/?EIO=4&transport=polling&sid={sid}"))[2]
    assert reply.startswith(b'40{"sid":')


# -- handshake and the implicit connect -------------------------------------------------------


async def test_polling_handshake_is_a_v3_payload_and_the_default_namespace_connects() -> None:
    namespace = Echo()
    realtime, app = build({"/": namespace})
    _, handshake = await open_polling(app)
    assert set(handshake) == {"sid", "upgrades", "pingInterval", "pingTimeout"}  # as 3.x
    assert handshake["upgrades"] == ["websocket"]
    assert (handshake["pingInterval"], handshake["pingTimeout"]) == (60000, 60000)
    assert namespace.auths == [None]  # Socket.IO v4 has no CONNECT payload
    assert realtime.engine.sessions[handshake["sid"]].protocol == 3


async def test_websocket_handshake_and_the_implicit_connect() -> None:
    namespace = Echo()
    _, app = build({"/": namespace})
    client = WebsocketCommunicator(app, WEBSOCKET)
    assert (await client.connect())[0]
    handshake = orjson.loads((await client.receive_from())[1:])
    assert set(handshake) == {"sid", "upgrades", "pingInterval", "pingTimeout"}
    assert handshake["upgrades"] == []
    assert await client.receive_from() == "40"  # bare: no sid, no pid
    assert namespace.auths == [None]
    await client.disconnect()


async def test_a_refused_connect_is_an_error_packet() -> None:
    _, app = build({"/": Refusing()})
    client = WebsocketCommunicator(app, WEBSOCKET)
    assert (await client.connect())[0]
    await client.receive_from()
    # Socket.IO v4's ERROR ("4"): socket.io-client 2.x emits `error` with this object.
    assert await client.receive_from() == (
        '44{"message":"Token is invalid","data":{"code":"token_invalid"}}'
    )
    await client.disconnect()


async def test_namespace_connects_carry_a_query_and_a_repeated_connect_is_ignored() -> None:
    custom = Echo()
    _, app = build({"/": Echo(), "/custom": custom})
    client = await open_websocket(app)
    await client.send_to("40")  # "/" again, as some v2 clients do: nothing happens
    await client.send_to("40/nope?token=abc,")  # socket.io-client 2.x appends its query
    assert await client.receive_from() == '44/nope,{"message":"Invalid namespace"}'
    await client.send_to('40/custom?x=1,{"pid":"p","offset":"1"}')
    assert await client.receive_from() == "40/custom,"
    assert custom.auths == [None]  # Socket.IO v4 has no CONNECT payload: none is read
    await client.send_to('42/custom,1["echo","hi"]')
    assert await client.receive_from() == '42/custom,["echo-back","hi"]'
    assert await client.receive_from() == '43/custom,1["hi"]'
    assert await client.receive_nothing(0.05)
    await client.disconnect()


async def test_jsonp_polling_is_not_served() -> None:
    _, app = build()
    assert (await http(app, "GET", POLLING + "&j=0"))[0] == 400


# -- payloads ------------------------------------------------------------------------------------


async def test_polling_events_and_acks() -> None:
    _, app = build()
    url, _ = await open_polling(app)
    body = encode_text_payload(['42["echo","héllo 😀"]', '421["ack-me",1]'])
    assert await http(app, "POST", url, body.encode()) == (200, "text/plain; charset=UTF-8", b"ok")
    status, _, answer = await http(app, "GET", url)
    assert status == 200
    assert answer.decode() == encode_text_payload(['42["echo-back","héllo 😀"]', "431[1]"])


@pytest.mark.parametrize("binary_post", [False, True])
async def test_polling_binary_with_b64_is_base64_text(binary_post: bool) -> None:
    """socket.io-client 2.x in Node has no XHR2 and asks for `b64=1`: binary travels as
    ``b4<base64>`` in text payloads. What it POSTs is text too; binary POSTs are decoded
    all the same."""
    _, app = build()
    url, _ = await open_polling(app, "&b64=1")
    frames: list[str | bytes] = [f'451-["echo",{PH0}]', b"\x01\x02\x03"]
    body = encode_binary_payload(frames) if binary_post else encode_text_payload(frames).encode()
    assert (await http(app, "POST", url, body))[0] == 200
    status, content_type, answer = await http(app, "GET", url)
    assert (status, content_type) == (200, "text/plain; charset=UTF-8")
    assert answer.decode() == encode_text_payload([f'451-["echo-back",{PH0}]', b"\x01\x02\x03"])


async def test_polling_binary_without_b64_is_the_xhr2_payload() -> None:
    """A browser's socket.io-client 2.x (XHR2): binary payloads both ways."""
    _, app = build()
    url, _ = await open_polling(app)
    frames: list[str | bytes] = [f'451-["echo",{PH0}]', b"\x01\x02\x03"]
    assert (await http(app, "POST", url, encode_binary_payload(frames)))[0] == 200
    status, content_type, answer = await http(app, "GET", url)
    assert (status, content_type) == (200, "application/octet-stream")
    assert answer == encode_binary_payload([f'451-["echo-back",{PH0}]', b"\x01\x02\x03"])


async def test_websocket_binary_frames_carry_their_type_byte() -> None:
    _, app = build()
    client = await open_websocket(app)
    await client.send_to(f'451-["echo",{PH0}]')
    await client.send_to(bytes_data=b"\x04\x01\x02\x03")
    assert await client.receive_from() == f'451-["echo-back",{PH0}]'
    assert (await client.receive_output(3))["bytes"] == b"\x04\x01\x02\x03"
    await client.disconnect()


# -- upgrade and closing ----------------------------------------------------------------------


async def test_upgrade_from_polling_to_websocket() -> None:
    realtime, app = build()
    url, handshake = await open_polling(app)
    sid = handshake["sid"]
    probe = WebsocketCommunicator(app, f"{WEBSOCKET}&sid={sid}")
    assert (await probe.connect())[0]
    await probe.send_to("2probe")
    assert await probe.receive_from() == "3probe"
    assert await http(app, "GET", url) == (200, "text/plain; charset=UTF-8", b"1:6")
    await probe.send_to("5")
    await asyncio.sleep(0.01)
    assert realtime.engine.sessions[sid].transport == "websocket"
    await probe.send_to('42["echo","over ws"]')
    assert await probe.receive_from() == '42["echo-back","over ws"]'
    await probe.disconnect()


async def test_a_session_is_only_served_in_its_own_revision() -> None:
    _, app = build()
    url, handshake = await open_polling(app)
    v4 = url.replace("EIO=3", "EIO=4")
    assert (await http(app, "GET", v4))[0] == 400
    probe = WebsocketCommunicator(
        app, f"/socket.io/?EIO=4&transport=websocket&sid={handshake['sid']}"
    )
    assert (await probe.connect())[0] is False


async def test_client_close_then_the_last_get_gets_a_noop() -> None:
    realtime, app = build()
    url, handshake = await open_polling(app)
    assert (await http(app, "POST", url, b"1:1"))[0] == 200
    assert handshake["sid"] not in realtime.engine.sessions
    assert await http(app, "GET", url) == (200, "text/plain; charset=UTF-8", b"1:6")


@pytest.mark.parametrize(
    "body",
    [b"5:4hi", b"4hello", b"2:4\xf0\x9f", bytes([0, 9, 255, 52]), b"3:b5A", b""],
    ids=["short", "no-length", "split-utf8", "short-binary", "binary-ping", "empty"],
)
async def test_bad_input_closes_only_its_own_session(body: bytes) -> None:
    realtime, app = build()
    bad_url, bad = await open_polling(app)
    good_url, good = await open_polling(app)
    status, content_type, answer = await http(app, "POST", bad_url, body)
    assert (status, content_type) == (400, "application/json")
    assert orjson.loads(answer) == {"code": 3, "message": "Bad request"}
    assert bad["sid"] not in realtime.engine.sessions
    assert (await http(app, "GET", bad_url))[0] == 400
    # The other session carries on.
    post = encode_text_payload(['421["ping","still here"]']).encode()
    assert (await http(app, "POST", good_url, post))[0] == 200
    assert (await http(app, "GET", good_url))[2] == b'17:431["still here"]'
    assert good["sid"] in realtime.engine.sessions


async def test_bad_websocket_frames_close_the_session() -> None:
    realtime, app = build()
    client = await open_websocket(app)
    await client.send_to(bytes_data=b"\x02oops")  # binary, but not a MESSAGE
    assert (await client.receive_output(3))["type"] == "websocket.close"
    assert realtime.engine.sessions == {}
