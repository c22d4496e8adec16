"""Pure codec for the Engine.IO v4 / Socket.IO v5 wire protocols.

No I/O and no Django: bytes and strings in, typed packets out. Every malformed input raises
``ProtocolError`` (and nothing else), cheaply, so callers can feed it untrusted client data.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import orjson

__all__ = [
    "EngineType",
    "Packet",
    "PacketDecoder",
    "PacketType",
    "ProtocolError",
    "encode_ack_frame",
    "encode_event_frame",
    "encode_packet",
    "engine_decode",
    "engine_decode_payload",
    "engine_encode",
    "engine_encode_payload",
]


class ProtocolError(ValueError):
    """Malformed or unacceptable Engine.IO / Socket.IO input (or unencodable output)."""


# ---------------------------------------------------------------------------------------------
# Engine.IO v4
# ---------------------------------------------------------------------------------------------


class EngineType(IntEnum):
    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


_ENGINE_BY_CHAR: dict[str, EngineType] = {str(int(t)): t for t in EngineType}
_BINARY = (bytes, bytearray, memoryview)
_SEP = "\x1e"  # record separator between packets of a long-polling payload

EngineData = str | bytes | None


def engine_decode(frame: str | bytes) -> tuple[EngineType, EngineData]:
    """Decode one WebSocket frame: text is ``<type digit><data>``, binary is a MESSAGE.

    Empty text data becomes ``None``, except for MESSAGE where it stays ``""``.
    """
    if isinstance(frame, str):
        kind = _ENGINE_BY_CHAR.get(frame[:1])
        if kind is None:
            raise ProtocolError("empty frame" if not frame else "unknown engine.io packet type")
        data = frame[1:]
        if not data and kind is not EngineType.MESSAGE:
            return kind, None
        return kind, data
    if isinstance(frame, _BINARY):
        # An empty binary frame is legal: it is how an empty Buffer attachment travels.
        return EngineType.MESSAGE, bytes(frame)
    raise ProtocolError("frame must be str or bytes")


def engine_encode(kind: EngineType, data: EngineData = None) -> str | bytes:
    """Encode one WebSocket frame; bytes data (MESSAGE only) is returned as-is."""
    if isinstance(data, _BINARY):
        if kind != EngineType.MESSAGE:
            raise ProtocolError("binary data is only allowed in MESSAGE packets")
        return bytes(data)
    try:
        prefix = str(int(EngineType(kind)))
    except ValueError:
        raise ProtocolError(f"unknown engine.io packet type {kind!r}") from None
    if data is None:
        return prefix
    if not isinstance(data, str):
        raise ProtocolError("engine.io data must be str, bytes or None")
    return prefix + data


def engine_decode_payload(
    body: str | bytes, max_packets: int = 1000
) -> list[tuple[EngineType, EngineData]]:
    """Decode an HTTP long-polling body: ``\\x1e``-separated packets, ``b<base64>`` = binary."""
    if isinstance(body, _BINARY):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("payload is not valid UTF-8") from None
    elif not isinstance(body, str):
        raise ProtocolError("payload must be str or bytes")
    # maxsplit bounds the work on a hostile body made of separators.
    parts = body.split(_SEP, max_packets)
    if len(parts) > max_packets:
        raise ProtocolError("too many packets in payload")
    packets: list[tuple[EngineType, EngineData]] = []
    for part in parts:
        if part[:1] == "b":
            try:
                packets.append((EngineType.MESSAGE, base64.b64decode(part[1:], validate=True)))
            except ValueError:  # binascii.Error, or non-ASCII characters
                raise ProtocolError("invalid base64 binary packet") from None
        else:
            packets.append(engine_decode(part))
    return packets


def engine_encode_payload(frames: Iterable[str | bytes]) -> str:
    """Join encoded text frames (and raw bytes, sent as ``b<base64>``) into a polling body."""
    out: list[str] = []
    for frame in frames:
        if isinstance(frame, str):
            # A separator inside a frame would split it on the client: refuse, never corrupt.
            if frame[:1] not in _ENGINE_BY_CHAR or _SEP in frame:
                raise ProtocolError("invalid engine.io text frame for a payload")
            out.append(frame)
        elif isinstance(frame, _BINARY):
            out.append("b" + base64.b64encode(frame).decode("ascii"))
        else:
            raise ProtocolError("payload frames must be str or bytes")
    return _SEP.join(out)


# ---------------------------------------------------------------------------------------------
# Socket.IO v5
# ---------------------------------------------------------------------------------------------


class PacketType(IntEnum):
    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


@dataclass(slots=True)
class Packet:
    """A Socket.IO packet; binary packets carry their attachments as bytes inside ``data``."""

    type: PacketType
    namespace: str = "/"
    data: Any = None
    id: int | None = None


_PACKET_BY_CHAR: dict[str, PacketType] = {str(int(t)): t for t in PacketType}
_BINARY_TYPES = frozenset((PacketType.BINARY_EVENT, PacketType.BINARY_ACK))
_ID_TYPES = frozenset(
    (PacketType.EVENT, PacketType.ACK, PacketType.BINARY_EVENT, PacketType.BINARY_ACK)
)
_TO_BINARY = {
    PacketType.EVENT: PacketType.BINARY_EVENT,
    PacketType.ACK: PacketType.BINARY_ACK,
    PacketType.BINARY_EVENT: PacketType.BINARY_EVENT,
    PacketType.BINARY_ACK: PacketType.BINARY_ACK,
}
_TO_TEXT = {
    PacketType.BINARY_EVENT: PacketType.EVENT,
    PacketType.BINARY_ACK: PacketType.ACK,
}
_MAX_ID_DIGITS = 15  # keeps ids exact as JavaScript numbers (< 2**53)
_MAX_COUNT_DIGITS = 6  # attachment-count digits scanned before giving up
_MISSING: Any = object()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if value in (float("inf"), float("-inf")):
        raise ValueError("number out of range")
    return value


def _check_encodable(name: str) -> None:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise ProtocolError("event name is not valid Unicode") from None


def _loads_lenient(text: str) -> Any:
    """The standard library's parser, for valid JSON that orjson refuses: escaped lone
    surrogates ("\\ud800", which JavaScript's JSON.stringify emits) and integers beyond
    64 bits. The application then rejects such values with a proper error code instead of
    the whole connection being dropped. Only reached when orjson fails, so never on the
    hot path."""
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):
        raise ProtocolError("invalid JSON payload") from None


def _check_namespace(namespace: str) -> None:
    if not isinstance(namespace, str) or namespace[:1] != "/" or "," in namespace:
        raise ProtocolError(f"invalid namespace {namespace!r}")


def _dumps(data: Any, default: Any = None) -> str:
    try:
        return orjson.dumps(data, default=default).decode()
    except orjson.JSONEncodeError as exc:
        raise ProtocolError(f"payload is not JSON-serializable: {exc}") from None


def encode_packet(packet: Packet) -> list[str | bytes]:
    """Encode as ``<type>[<n>-][<nsp>,][<id>][<json>]`` followed by the binary attachments.

    EVENT/ACK data holding bytes (at any depth) becomes BINARY_EVENT/BINARY_ACK with placeholders,
    and BINARY_* data without bytes is sent as plain EVENT/ACK. No engine.io "4" prefix.
    """
    try:
        ptype = PacketType(packet.type)
    except ValueError:
        raise ProtocolError(f"unknown socket.io packet type {packet.type!r}") from None
    namespace, ack_id, data = packet.namespace, packet.id, packet.data
    if namespace != "/":
        _check_namespace(namespace)
    if ack_id is not None and (type(ack_id) is not int or not 0 <= ack_id < 10**_MAX_ID_DIGITS):
        raise ProtocolError(f"invalid ack id {ack_id!r}")
    if ack_id is None and (ptype is PacketType.ACK or ptype is PacketType.BINARY_ACK):
        raise ProtocolError("ACK requires an ack id")

    attachments: list[str | bytes] = []
    body = ""
    if data is not None:
        if ptype in _TO_BINARY:
            # orjson calls `default` for bytes-likes in document order: exactly the placeholder
            # numbering socket.io-parser uses, and free when there is no binary at all.
            def extract(obj: Any) -> Any:
                if isinstance(obj, _BINARY):
                    attachments.append(bytes(obj))
                    return {"_placeholder": True, "num": len(attachments) - 1}
                raise TypeError(f"Type is not JSON serializable: {type(obj).__name__}")

            body = _dumps(data, extract)
        else:
            body = _dumps(data)

    if attachments:
        head = f"{int(_TO_BINARY[ptype])}{len(attachments)}-"
    else:
        head = str(int(_TO_TEXT.get(ptype, ptype)))
    if namespace != "/":
        head += namespace + ","
    if ack_id is not None:
        head += str(ack_id)
    return [head + body, *attachments]


def encode_event_frame(event: str, *args: Any, namespace: str = "/") -> str:
    """Complete engine.io text frame for a JSON-only EVENT, e.g. ``42["msg",{...}]``."""
    if not isinstance(event, str):  # str subclasses (StrEnum) are fine: orjson emits them as str
        raise ProtocolError("event name must be a string")
    try:
        body = orjson.dumps([event, *args]).decode()
    except orjson.JSONEncodeError as exc:
        raise ProtocolError(f"payload is not JSON-serializable: {exc}") from None
    if namespace == "/":
        return "42" + body
    _check_namespace(namespace)
    return "42" + namespace + "," + body


def encode_ack_frame(ack_id: int, args: list[Any], namespace: str = "/") -> str:
    """Complete engine.io text frame for a JSON-only ACK, e.g. ``4312["ok"]``."""
    if type(ack_id) is not int or not 0 <= ack_id < 10**_MAX_ID_DIGITS:
        raise ProtocolError(f"invalid ack id {ack_id!r}")
    if not isinstance(args, list | tuple):
        raise ProtocolError("ack args must be a list")
    nsp = "" if namespace == "/" else namespace + ","
    if nsp:
        _check_namespace(namespace)
    return "43" + nsp + str(ack_id) + _dumps(args)


_Slot = tuple[Any, Any, int]  # (container, key or index, attachment number)


def _find_placeholders(data: list[Any], count: int) -> list[_Slot]:
    """Locate ``{"_placeholder":true,"num":n}`` objects; reject malformed or out-of-range ones."""
    slots: list[_Slot] = []
    # Iterative walk: orjson allows ~1024 levels, more than Python's recursion limit.
    stack: list[Any] = [data]
    while stack:
        node = stack.pop()
        for key, value in enumerate(node) if type(node) is list else node.items():
            kind = type(value)
            if kind is dict:
                if value.get("_placeholder") is True:
                    num = value.get("num")
                    # `type(...) is int` on purpose: bool is an int subclass but not an index.
                    if len(value) != 2 or type(num) is not int or not 0 <= num < count:
                        raise ProtocolError("invalid binary placeholder")
                    slots.append((node, key, num))
                elif value:
                    stack.append(value)
            elif kind is list and value:
                stack.append(value)
    return slots


def _decode_text(text: str, max_attachments: int) -> tuple[Packet, int]:
    """Parse one Socket.IO text packet; returns it with its announced attachment count."""
    if type(text) is not str:
        raise ProtocolError("socket.io packet must be text")
    ptype = _PACKET_BY_CHAR.get(text[:1])
    if ptype is None:
        raise ProtocolError("unknown socket.io packet type")
    size = len(text)
    i = 1
    count = 0
    if ptype in _BINARY_TYPES:
        dash = text.find("-", 1, 2 + _MAX_COUNT_DIGITS)
        digits = text[1:dash]
        if dash < 0 or not (digits.isascii() and digits.isdigit()):
            raise ProtocolError("invalid attachment count")
        count = int(digits)
        if not 1 <= count <= max_attachments:
            raise ProtocolError("attachment count out of range")
        i = dash + 1

    namespace = "/"
    if text[i : i + 1] == "/":
        # The namespace runs to the first "," or, with no payload/id, to the end ("40/admin").
        comma = text.find(",", i)
        end = size if comma < 0 else comma
        namespace = text[i:end]
        i = end + 1

    ack_id = None
    start = i
    limit = min(size, start + _MAX_ID_DIGITS + 1)
    while i < limit and "0" <= text[i] <= "9":
        i += 1
    if i > start:
        if i - start > _MAX_ID_DIGITS:
            raise ProtocolError("ack id too long")
        if ptype not in _ID_TYPES:
            raise ProtocolError("ack id not allowed on this packet type")
        ack_id = int(text[start:i])

    data: Any = _MISSING
    if i < size:
        try:
            data = orjson.loads(text[i:])
        except orjson.JSONDecodeError:
            if ptype is PacketType.CONNECT:
                raise ProtocolError("invalid JSON payload") from None
            data = _loads_lenient(text[i:])
            if isinstance(data, list) and data and isinstance(data[0], str):
                _check_encodable(data[0])

    if ptype is PacketType.CONNECT:
        if data is _MISSING:
            data = None
        elif type(data) is not dict:
            raise ProtocolError("CONNECT payload must be an object")
    elif ptype is PacketType.DISCONNECT:
        if data is not _MISSING:
            raise ProtocolError("DISCONNECT takes no payload")
        data = None
    elif ptype is PacketType.CONNECT_ERROR:
        if type(data) is not dict:
            raise ProtocolError("CONNECT_ERROR payload must be an object")
    elif ptype is PacketType.EVENT or ptype is PacketType.BINARY_EVENT:
        if type(data) is not list or not data or type(data[0]) is not str:
            raise ProtocolError("EVENT payload must be a non-empty array starting with a name")
    else:  # ACK / BINARY_ACK
        if type(data) is not list:
            raise ProtocolError("ACK payload must be an array")
        if ack_id is None:
            raise ProtocolError("ACK requires an ack id")
    return Packet(ptype, namespace, data, ack_id), count


class PacketDecoder:
    """Decodes client Socket.IO packets, reassembling binary ones from the following frames."""

    __slots__ = ("_buffers", "_count", "_max_attachments", "_pending", "_slots")

    def __init__(self, max_attachments: int = 10) -> None:
        self._max_attachments = max_attachments
        self._pending: Packet | None = None
        self._slots: list[_Slot] = []
        self._buffers: list[bytes] = []
        self._count = 0

    @property
    def awaiting_attachments(self) -> bool:
        """True between a BINARY_* header packet and its last attachment."""
        return self._pending is not None

    def reset(self) -> None:
        """Drop any partially received binary packet."""
        self._pending = None
        self._slots = []
        self._buffers = []
        self._count = 0

    def feed_text(self, text: str) -> Packet | None:
        """Decode engine.io MESSAGE text; ``None`` means attachments must follow via feed_binary."""
        if self._pending is not None:
            self.reset()
            raise ProtocolError("text packet received while awaiting binary attachments")
        packet, count = _decode_text(text, self._max_attachments)
        if not count:
            return packet
        # Validate placeholders now so a bad header is rejected before any attachment arrives.
        self._slots = _find_placeholders(packet.data, count)
        self._pending, self._count = packet, count
        return None

    def feed_binary(self, data: bytes) -> Packet | None:
        """Add one attachment; returns the reconstructed packet once the last one arrived."""
        if self._pending is None:
            raise ProtocolError("unexpected binary attachment")
        if not isinstance(data, _BINARY):
            self.reset()
            raise ProtocolError("attachment must be bytes")
        self._buffers.append(bytes(data))
        if len(self._buffers) < self._count:
            return None
        packet, buffers = self._pending, self._buffers
        for container, key, num in self._slots:
            container[key] = buffers[num]
        self.reset()
        return packet
