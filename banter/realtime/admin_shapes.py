"""What the Socket.IO Admin UI is shown, as it expects it: pure shapes, no I/O, no Django.

The UI (@socket.io/admin-ui, https://admin.socket.io) reads the events of its server part
(the npm package's lib/index.ts, and python-socketio's socketio/admin.py): a serialized
socket, `server_stats` with aggregated counts, and per-socket event records. Everything an
operator's browser receives passes through here, so this is also where secrets are taken
out: handshake headers and query parameters that authenticate, and event arguments under
secret-looking keys (an `auth:refresh` token, a call's media token, WebRTC signals).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson

from banter.realtime.codec import encode_event_frame

ADMIN_NAMESPACE = "/admin"

# Header and query names that authenticate a request (request_info keeps only a few headers,
# but a deployment may keep more): never shown.
SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key"})
# A key (header, query or payload field) whose lowercase name contains one of these is
# replaced by REDACTED: tokens, passwords, WebRTC SDP (it carries ICE credentials).
SECRET_PARTS = ("token", "password", "secret", "authorization", "cookie", "credential", "sdp")
# Payload keys redacted by their exact name: a call's opaque WebRTC signal.
SECRET_KEYS = frozenset({"signal"})
REDACTED = "[redacted]"

# Bounds of one event record (an operator's view, not a copy of the traffic).
MAX_STRING = 200
MAX_ITEMS = 20
MAX_DEPTH = 6
MAX_RECORD_BYTES = 4096


def is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in SECRET_KEYS or any(part in lowered for part in SECRET_PARTS)


def redact(value: Any, depth: int = 0) -> Any:
    """`value` (decoded JSON) with secret-looking keys replaced, long strings cut and deep or
    long containers shortened: what an event record may show."""
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            return f"{value[:MAX_STRING]}… ({len(value)} chars)"
        return value
    if depth >= MAX_DEPTH and isinstance(value, dict | list | tuple):
        return "[…]"
    if isinstance(value, dict):
        shown: dict[str, Any] = {}
        for index, (key, item) in enumerate(value.items()):
            if index == MAX_ITEMS:
                shown["…"] = f"{len(value) - MAX_ITEMS} more keys"
                break
            name = str(key)
            shown[name] = REDACTED if is_secret_key(name) else redact(item, depth + 1)
        return shown
    if isinstance(value, list | tuple):
        items = [redact(item, depth + 1) for item in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            items.append(f"… {len(value) - MAX_ITEMS} more items")
        return items
    if isinstance(value, bytes | bytearray | memoryview):
        return f"[{len(value)} bytes]"
    return value


def safe_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Handshake headers minus the ones that authenticate."""
    return {
        name: value
        for name, value in headers.items()
        if name.lower() not in SECRET_HEADERS and not is_secret_key(name)
    }


def safe_query(query: Mapping[str, str]) -> dict[str, str]:
    """Handshake query minus secrets (a `?token=`) and the Engine.IO session id."""
    return {name: value for name, value in query.items() if not is_secret_key(name)}


def client_id(engine_sid: str) -> str:
    """The UI groups sockets by client (one Engine.IO session). Never the session id
    itself: whoever knows a polling session's sid can read and write as it."""
    return hashlib.blake2b(engine_sid.encode(), digest_size=6).hexdigest()


def iso(timestamp: float) -> str:
    """JavaScript's Date.toISOString() of a Unix time (what the UI's Node server sends)."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class SocketFacts:
    """What the UI shows about one socket, read from it by the caller."""

    sid: str
    engine_sid: str
    namespace: str
    transport: str
    client_ip: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    origin: str | None
    issued: float  # Unix time of the CONNECT
    groups: tuple[str, ...]
    data: Mapping[str, Any] = field(default_factory=dict)


def serialize_socket(facts: SocketFacts) -> dict[str, Any]:
    """The UI's SerializedSocket. Rooms are Banter's groups (`room.<id>`, `user.<id>`) plus,
    as in Socket.IO, a private room named after the socket id."""
    query = safe_query(facts.query)
    url = "/socket.io/?" + urlencode(query)
    return {
        "id": facts.sid,
        "clientId": client_id(facts.engine_sid),
        "transport": facts.transport,
        "nsp": facts.namespace,
        "data": dict(facts.data),
        "handshake": {
            "address": facts.client_ip,
            "headers": safe_headers(facts.headers),
            "query": query,
            "issued": int(facts.issued * 1000),
            "time": iso(facts.issued),
            "url": url,
            "xdomain": facts.origin is not None,
        },
        "rooms": [facts.sid, *sorted(facts.groups)],
    }


def event_record(name: str, namespace: str, sid: str, payload: list[Any], at: float) -> str:
    """An `event_received` / `event_sent` frame of the admin namespace: [event, *args]
    redacted and bounded."""
    shown = redact(payload)
    encoded = orjson.dumps(shown)
    if len(encoded) > MAX_RECORD_BYTES:
        shown = [shown[0] if shown else "?", f"[{len(encoded)} bytes]"]
    return admin_frame(name, namespace, sid, shown, iso(at))


def sent_frame_payload(frame: str) -> list[Any] | None:
    """[event, *args] of a pre-encoded main-namespace event frame (`42[...]`), else None."""
    if not frame.startswith("42["):
        return None
    try:
        payload = orjson.loads(frame[2:])
    except orjson.JSONDecodeError:
        return None
    return payload if isinstance(payload, list) and payload else None


def admin_frame(event: str, *args: Any) -> str:
    """A complete Engine.IO text frame of an event on the admin namespace."""
    return encode_event_frame(event, *args, namespace=ADMIN_NAMESPACE)


class EventCounts:
    """The UI's aggregated events (its dashboard charts): plain counters on the hot path,
    turned into {timestamp, type, subType, count} records once per stats interval."""

    __slots__ = (
        "bytes_in",
        "bytes_out",
        "connections",
        "disconnections",
        "packets_in",
        "packets_out",
    )

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.connections = 0
        self.disconnections: dict[str, int] = {}
        self.packets_in = 0
        self.bytes_in = 0
        self.packets_out = 0
        self.bytes_out = 0

    def take(self, now: float | None = None) -> list[dict[str, Any]]:
        """The counts since the last take, as records stamped with this second; resets."""
        stamp = int(time.time() if now is None else now) * 1000
        records: list[dict[str, Any]] = []

        def add(kind: str, count: int, sub_type: str | None = None) -> None:
            if count:
                record: dict[str, Any] = {"timestamp": stamp, "type": kind, "count": count}
                if sub_type is not None:
                    record["subType"] = sub_type
                records.append(record)

        add("rawConnection", self.connections)
        for reason, count in sorted(self.disconnections.items()):
            add("rawDisconnection", count, reason)
        add("packetsIn", self.packets_in)
        add("bytesIn", self.bytes_in)
        add("packetsOut", self.packets_out)
        add("bytesOut", self.bytes_out)
        self.reset()
        return records
