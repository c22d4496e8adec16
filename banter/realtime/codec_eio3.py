"""Pure codec for Engine.IO v3, the protocol of socket.io-client 2.x (engine.io-parser 2.x).

Where v3 differs from v4 (codec.py), and only there:

- a long-polling payload is ``<length>:<packet>`` repeated, the length counted in UTF-16 code
  units (JavaScript's ``string.length``); a binary packet inside it is ``b4<base64>``;
- a client with XHR2 (browsers; the client asks for text with ``b64=1`` otherwise, as
  Node's does) may POST, and is answered with, the binary payload format: per packet a flag
  byte (0 text, 1 binary), the length as one byte per decimal digit, 0xFF, then the packet
  (text as UTF-8, binary as its type byte then the data);
- a binary WebSocket frame starts with its packet type byte (always 4, MESSAGE).

No I/O and no Django; every malformed input raises ``ProtocolError`` (and nothing else).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

from banter.realtime.codec import EngineData, EngineType, ProtocolError, engine_decode

__all__ = [
    "decode_payload",
    "decode_websocket_frame",
    "encode_binary_payload",
    "encode_payload",
    "encode_text_payload",
    "encode_websocket_frame",
    "utf16_length",
]

_BINARY = (bytes, bytearray, memoryview)
_ENGINE_CHARS = frozenset(str(int(t)) for t in EngineType)
_MESSAGE_BYTE = b"\x04"
# A packet length of more digits than this is refused before it is parsed: bodies are capped
# at maxPayload (1 MB by default) long before.
_MAX_LENGTH_DIGITS = 10
MAX_PACKETS = 1000

Decoded = list[tuple[EngineType, EngineData]]


def utf16_length(text: str) -> int:
    """``text.length`` in JavaScript: characters beyond the BMP count twice."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


# ---------------------------------------------------------------------------------- packets


def _decode_packet(text: str) -> tuple[EngineType, EngineData]:
    """One packet of a payload: ``b4<base64>`` is a binary MESSAGE, the rest as in v4."""
    if text[:1] == "b":
        if text[1:2] != "4":
            raise ProtocolError("binary data is only allowed in MESSAGE packets")
        try:
            return EngineType.MESSAGE, base64.b64decode(text[2:], validate=True)
        except ValueError:  # binascii.Error, or non-ASCII characters
            raise ProtocolError("invalid base64 binary packet") from None
    return engine_decode(text)


def decode_websocket_frame(frame: str | bytes) -> tuple[EngineType, EngineData]:
    """One WebSocket frame: binary frames lead with their type byte (4, MESSAGE)."""
    if isinstance(frame, str):
        return _decode_packet(frame)
    if isinstance(frame, _BINARY):
        data = bytes(frame)
        if data[:1] != _MESSAGE_BYTE:
            raise ProtocolError("binary frame is not a MESSAGE packet")
        return EngineType.MESSAGE, data[1:]
    raise ProtocolError("frame must be str or bytes")


def encode_websocket_frame(frame: str | bytes) -> str | bytes:
    """A v4-encoded frame (codec.engine_encode) as v3 sends it: binary gets its type byte."""
    if isinstance(frame, str):
        return frame
    return _MESSAGE_BYTE + bytes(frame)


# ------------------------------------------------------------------------- text payloads


def _split_ascii(body: str, max_packets: int) -> list[str]:
    messages: list[str] = []
    size = len(body)
    i = 0
    while i < size:
        colon = body.find(":", i, i + _MAX_LENGTH_DIGITS + 1)
        digits = body[i:colon]
        if colon < 0 or not digits.isdigit():
            raise ProtocolError("invalid packet length in payload")
        start = colon + 1
        end = start + int(digits)
        if end > size:
            raise ProtocolError("payload shorter than its packet length")
        messages.append(body[start:end])
        if len(messages) > max_packets:
            raise ProtocolError("too many packets in payload")
        i = end
    return messages


def _split_utf16(units: bytes, max_packets: int) -> list[str]:
    """As _split_ascii, on UTF-16-LE code units (two bytes each)."""
    messages: list[str] = []
    size = len(units) // 2
    i = 0
    while i < size:
        j = i
        length = 0
        while True:
            if j >= size or j - i > _MAX_LENGTH_DIGITS:
                raise ProtocolError("invalid packet length in payload")
            low, high = units[2 * j], units[2 * j + 1]
            if high == 0 and low == 0x3A:  # ":"
                break
            if high != 0 or not 0x30 <= low <= 0x39:
                raise ProtocolError("invalid packet length in payload")
            length = length * 10 + low - 0x30
            j += 1
        if j == i:
            raise ProtocolError("invalid packet length in payload")
        start = j + 1
        end = start + length
        if end > size:
            raise ProtocolError("payload shorter than its packet length")
        try:
            # Strict: a length that cuts a surrogate pair in two is malformed.
            messages.append(units[2 * start : 2 * end].decode("utf-16-le"))
        except UnicodeDecodeError:
            raise ProtocolError("packet length splits a character") from None
        if len(messages) > max_packets:
            raise ProtocolError("too many packets in payload")
        i = end
    return messages


def _decode_text_payload(body: str, max_packets: int) -> Decoded:
    if not body:
        raise ProtocolError("empty payload")
    if body.isascii():
        messages = _split_ascii(body, max_packets)
    else:
        messages = _split_utf16(body.encode("utf-16-le", "surrogatepass"), max_packets)
    # engine.io-parser skips empty packets ("0:" is the empty payload).
    return [_decode_packet(message) for message in messages if message]


def encode_text_payload(frames: Iterable[str | bytes]) -> str:
    """``<length>:<packet>`` per frame; bytes become ``b4<base64>``."""
    out: list[str] = []
    for frame in frames:
        if isinstance(frame, str):
            if frame[:1] not in _ENGINE_CHARS:
                raise ProtocolError("invalid engine.io text frame for a payload")
            out.append(f"{utf16_length(frame)}:{frame}")
        elif isinstance(frame, _BINARY):
            packet = "b4" + base64.b64encode(frame).decode("ascii")
            out.append(f"{len(packet)}:{packet}")
        else:
            raise ProtocolError("payload frames must be str or bytes")
    return "".join(out) or "0:"


# ----------------------------------------------------------------------- binary payloads


def _length_digits(length: int) -> bytes:
    return bytes(digit - 0x30 for digit in str(length).encode("ascii"))


def encode_binary_payload(frames: Iterable[str | bytes]) -> bytes:
    """The XHR2 payload format (engine.io-parser's encodePayloadAsBinary)."""
    out: list[bytes] = []
    for frame in frames:
        if isinstance(frame, str):
            if frame[:1] not in _ENGINE_CHARS:
                raise ProtocolError("invalid engine.io text frame for a payload")
            try:
                data = frame.encode("utf-8")
            except UnicodeEncodeError:
                raise ProtocolError("text frame is not valid Unicode") from None
            flag = b"\x00"
        elif isinstance(frame, _BINARY):
            data = _MESSAGE_BYTE + bytes(frame)
            flag = b"\x01"
        else:
            raise ProtocolError("payload frames must be str or bytes")
        out += (flag, _length_digits(len(data)), b"\xff", data)
    return b"".join(out)


def _decode_binary_payload(body: bytes, max_packets: int) -> Decoded:
    packets: Decoded = []
    size = len(body)
    i = 0
    while i < size:
        flag = body[i]
        stop = body.find(b"\xff", i + 1, i + 2 + _MAX_LENGTH_DIGITS)
        digits = body[i + 1 : stop]
        if flag > 1 or stop < 0 or not digits or max(digits) > 9:
            raise ProtocolError("invalid packet header in binary payload")
        start = stop + 1
        end = start + int("".join(map(str, digits)))
        if end > size:
            raise ProtocolError("payload shorter than its packet length")
        chunk = body[start:end]
        if flag == 0:
            try:
                text = chunk.decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolError("payload is not valid UTF-8") from None
            if not text:
                raise ProtocolError("empty packet in binary payload")
            packets.append(_decode_packet(text))
        else:
            if chunk[:1] != _MESSAGE_BYTE:
                raise ProtocolError("binary data is only allowed in MESSAGE packets")
            packets.append((EngineType.MESSAGE, chunk[1:]))
        if len(packets) > max_packets:
            raise ProtocolError("too many packets in payload")
        i = end
    return packets


# ---------------------------------------------------------------------------- both kinds


def decode_payload(body: str | bytes, max_packets: int = MAX_PACKETS) -> Decoded:
    """A POST body: text (``<length>:<packet>``...) or, recognised by its first byte (0 or
    1, never an ASCII digit), the XHR2 binary format."""
    if isinstance(body, _BINARY):
        raw = bytes(body)
        if raw[:1] in (b"\x00", b"\x01"):
            return _decode_binary_payload(raw, max_packets)
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("payload is not valid UTF-8") from None
    elif not isinstance(body, str):
        raise ProtocolError("payload must be str or bytes")
    return _decode_text_payload(body, max_packets)


def encode_payload(frames: list[str | bytes], base64_only: bool) -> str | bytes:
    """A GET answer: text, unless there is binary and the client takes binary payloads (it
    did not ask for ``b64``), as engine.io 3.x chooses."""
    if not base64_only and any(not isinstance(frame, str) for frame in frames):
        return encode_binary_payload(frames)
    return encode_text_payload(frames)
