"""banter.realtime.codec_eio3: Engine.IO v3 payloads and WebSocket frames.

The expected encodings were produced by engine.io-parser 2.2.1 (the parser of
socket.io-client 2.5.0 and engine.io 3.x, node_modules/socket.io-client-v2) with
``encodePayload(packets, supportsBinary, cb)``; its decoder refuses the malformed inputs below
as well (or, where it is laxer, the case says so).
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from banter.realtime.codec import EngineType, ProtocolError
from banter.realtime.codec_eio3 import (
    decode_payload,
    decode_websocket_frame,
    encode_binary_payload,
    encode_payload,
    encode_text_payload,
    encode_websocket_frame,
    utf16_length,
)

E = EngineType


@pytest.mark.parametrize(
    ("text", "length"),
    [("", 0), ("4hello", 6), ("héllo", 5), ("😀", 2), ("4héllo 😀", 9), ("\u20ac\U0001f600x", 4)],
)
def test_utf16_length_is_javascripts_string_length(text: str, length: int) -> None:
    assert utf16_length(text) == length


# -- encoding: what engine.io-parser 2.x produces ----------------------------------------------


@pytest.mark.parametrize(
    ("frames", "base64_only", "expected"),
    [
        # encodePayload([message "héllo 😀", pong], false): lengths in UTF-16 code units
        (["4héllo 😀", "3"], True, "9:4héllo 😀1:3"),
        # encodePayload([message <01 02 03>, noop], false): binary as b4<base64>
        ([b"\x01\x02\x03", "6"], True, "6:b4AQID1:6"),
        # encodePayload([], false)
        ([], True, "0:"),
        # encodePayload([open "x"*12], true): no binary, so text even when binary is taken
        (["0" + "x" * 12], False, "13:0xxxxxxxxxxxx"),
        # encodePayload([message "hello", message <01 02 03>], true): the XHR2 format
        (
            ["4hello", b"\x01\x02\x03"],
            False,
            bytes([0, 6, 255, 52, 104, 101, 108, 108, 111, 1, 4, 255, 4, 1, 2, 3]),
        ),
        # encodePayload([message "é😀", message <>, close], true): text as UTF-8 bytes
        (
            ["4é😀", b"", "1"],
            False,
            bytes([0, 7, 255, 52, 195, 169, 240, 159, 152, 128, 1, 1, 255, 4, 0, 1, 255, 49]),
        ),
    ],
)
def test_encode_payload_matches_engine_io_parser(
    frames: list[str | bytes], base64_only: bool, expected: str | bytes
) -> None:
    assert encode_payload(frames, base64_only) == expected


def test_long_packets_take_every_length_digit() -> None:
    frame = "4" + "a" * 1233
    assert encode_text_payload([frame]) == "1234:" + frame
    assert encode_binary_payload([frame]) == bytes([0, 1, 2, 3, 4, 255]) + frame.encode()
    assert decode_payload("1234:" + frame) == [(E.MESSAGE, "a" * 1233)]


@pytest.mark.parametrize("frame", ["", "x", "b4AQ", 7])
def test_encode_refuses_what_is_not_an_engine_io_frame(frame: str) -> None:
    with pytest.raises(ProtocolError):
        encode_text_payload([frame])
    with pytest.raises(ProtocolError):
        encode_binary_payload([frame])


def test_the_binary_payload_refuses_text_that_is_not_unicode() -> None:
    with pytest.raises(ProtocolError):
        encode_binary_payload(["4\ud800"])


# -- decoding ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("9:4héllo 😀1:3", [(E.MESSAGE, "héllo 😀"), (E.PONG, None)]),
        ("6:b4AQID1:6", [(E.MESSAGE, b"\x01\x02\x03"), (E.NOOP, None)]),
        ("0:", []),  # the empty payload
        ("1:21:2", [(E.PING, None), (E.PING, None)]),
        ("6:2probe", [(E.PING, "probe")]),
        ("1:4", [(E.MESSAGE, "")]),
        ("003:4ab", [(E.MESSAGE, "ab")]),  # Number("003") == 3
        ("2:b4", [(E.MESSAGE, b"")]),
        ("1:1", [(E.CLOSE, None)]),
        (
            bytes([0, 6, 255, 52, 104, 101, 108, 108, 111, 1, 4, 255, 4, 1, 2, 3]),
            [(E.MESSAGE, "hello"), (E.MESSAGE, b"\x01\x02\x03")],
        ),
        (
            bytes([0, 7, 255, 52, 195, 169, 240, 159, 152, 128, 1, 1, 255, 4, 0, 1, 255, 49]),
            [(E.MESSAGE, "é😀"), (E.MESSAGE, b""), (E.CLOSE, None)],
        ),
        ("9:4héllo 😀".encode(), [(E.MESSAGE, "héllo 😀")]),  # a POST body: UTF-8 bytes
    ],
)
def test_decode_payload(body: str | bytes, expected: list[tuple[E, str | bytes | None]]) -> None:
    assert decode_payload(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        "",  # engine.io-parser: "parser error - ignoring payload"
        "4hello",  # no length
        ":4hi",
        "x:4hi",
        "3:4hi5",  # trailing length without its packet
        "5:4hi",  # shorter than announced
        "2:4h2:",  # second packet cut short
        "12345678901:4",  # more length digits than any body could need
        "5:4héllo😀",  # 5 code units are "4héll": then "o😀" is no length
        "2:4😀",  # the length cuts the surrogate pair in two
        "2:9x",  # unknown packet type
        "3:b5A",  # binary data in a non-MESSAGE packet
        "4:b4!!",  # not base64
        "1:\u0664",  # an Arabic-Indic digit is no packet type
        "\u0664:4",  # nor a length digit
        b"\xff\xfe",  # neither UTF-8 nor a binary payload
        "4:4hi😀".encode(),  # a POST body cutting the pair
        bytes([0, 255]),  # no length digits
        bytes([2, 1, 255, 52]),  # flag neither 0 nor 1
        bytes([0, 12, 255, 52]),  # a "digit" over 9
        bytes([0, 5, 255, 52, 104]),  # shorter than announced
        bytes([0, 2, 255, 0xC3, 0x28]),  # invalid UTF-8 text packet
        bytes([0, 0, 255]),  # an empty text packet
        bytes([1, 2, 255, 2, 9]),  # binary in a PING
        bytes([1, 0, 255]),  # binary without even its type byte
        bytes([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2]),  # digits without their 0xFF end
    ],
)
def test_malformed_payloads_raise_protocol_error(body: str | bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_payload(body)


def test_a_payload_of_too_many_packets_is_refused() -> None:
    assert len(decode_payload("1:6" * 1000)) == 1000
    with pytest.raises(ProtocolError):
        decode_payload("1:6" * 1001)
    with pytest.raises(ProtocolError):
        decode_payload(bytes([0, 1, 255, 54]) * 1001)
    with pytest.raises(ProtocolError):
        decode_payload("1:é" * 1001)  # the non-ASCII path counts too


def test_decode_refuses_what_is_not_a_body() -> None:
    with pytest.raises(ProtocolError):
        decode_payload(123)  # type: ignore[arg-type]


# -- WebSocket frames -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ("2", (E.PING, None)),
        ("2probe", (E.PING, "probe")),
        ("5", (E.UPGRADE, None)),
        ('42["x"]', (E.MESSAGE, '2["x"]')),
        (b"\x04\x01\x02", (E.MESSAGE, b"\x01\x02")),  # the type byte leads a binary frame
        (b"\x04", (E.MESSAGE, b"")),
        ("b4AQI=", (E.MESSAGE, b"\x01\x02")),  # a client without binary frames (b64=1)
    ],
)
def test_decode_websocket_frame(frame: str | bytes, expected: tuple[E, str | bytes | None]) -> None:
    assert decode_websocket_frame(frame) == expected


@pytest.mark.parametrize("frame", [b"", b"\x02", b"\x01\x02", "", "9", "b2AQI=", 7])
def test_malformed_websocket_frames_raise_protocol_error(frame: str | bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_websocket_frame(frame)


def test_encode_websocket_frame_adds_the_type_byte_to_binary_only() -> None:
    assert encode_websocket_frame('42["x"]') == '42["x"]'
    assert encode_websocket_frame(b"\x01\x02") == b"\x04\x01\x02"
    assert encode_websocket_frame(b"") == b"\x04"


# -- properties ----------------------------------------------------------------------------------

text_frames = st.builds(
    lambda kind, data: kind + data,
    st.sampled_from("0123456"),
    st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=30),
)


def _decoded(frame: str | bytes) -> tuple[E, str | bytes | None]:
    if isinstance(frame, bytes):
        return E.MESSAGE, frame
    kind = E(int(frame[0]))
    return kind, frame[1:] if frame[1:] or kind is E.MESSAGE else None


@given(st.lists(text_frames | st.binary(max_size=30), min_size=1, max_size=20), st.booleans())
def test_every_encoded_payload_decodes_to_its_frames(
    frames: list[str | bytes], base64_only: bool
) -> None:
    assert decode_payload(encode_payload(frames, base64_only)) == [_decoded(f) for f in frames]


@given(st.text(max_size=40) | st.binary(max_size=40))
def test_decoding_anything_either_works_or_raises_protocol_error(body: str | bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode_payload(body)
    with contextlib.suppress(ProtocolError):
        decode_websocket_frame(body)
