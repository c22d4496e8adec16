"""Edge schemas (banter/realtime/schema.py): typed values for good payloads, and for bad ones
exactly the error the legacy checks give, never the schema's own fallback."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import pytest

from banter.core.errors import BanterError, ErrorCode
from banter.notifications.handlers import MARK_READ
from banter.realtime.auth import AUTH_REFRESH, AuthRefresh
from banter.realtime.schema import EdgeSchema
from calls import inbound as calls_in
from chat import inbound as chat_in
from presence import inbound as presence_in

MISSING = object()
# Values of every JSON type plus the ones the legacy checks single out (bool is not an int,
# ids beyond BIGINT, empty and lone-surrogate strings).
VALUES: list[Any] = [
    MISSING,
    None,
    True,
    0,
    7,
    2**70,
    1.5,
    "",
    "x",
    "\ud800",
    [],
    [1],
    {},
    {"a": 1},
]

SCHEMAS: dict[str, tuple[EdgeSchema[Any], tuple[str, ...]]] = {
    "room-ref": (chat_in.ROOM_REF, ("roomId",)),
    "send-message": (
        chat_in.SEND_MESSAGE,
        ("roomId", "content", "messageType", "clientId", "replyTo"),
    ),
    "edit-message": (chat_in.EDIT_MESSAGE, ("messageId", "content")),
    "message-ref": (chat_in.MESSAGE_REF, ("messageId",)),
    "call:initiate": (calls_in.CALL_INITIATE, ("receiverId", "callType")),
    "call-ref": (calls_in.CALL_REF, ("callId",)),
    "call:signal": (calls_in.CALL_SIGNAL, ("callId", "signal")),
    "notifications:read": (MARK_READ, ("ids", "all")),
    "auth:refresh": (AUTH_REFRESH, ("token",)),
    "mark-read": (chat_in.READ_MARK, ("roomId", "messageId")),
    "presence:update": (presence_in.STATUS_UPDATE, ("status",)),
}


def _payloads(keys: tuple[str, ...]) -> list[Any]:
    # Every combination for up to three fields; beyond that, each field varied alone.
    shapes: list[Any] = [None, 5, "5", [], [{}]]
    combos: Iterable[tuple[Any, ...]]
    if len(keys) <= 3:
        combos = itertools.product(VALUES, repeat=len(keys))
    else:
        combos = (
            tuple(value if i == index else 7 for i in range(len(keys)))
            for index in range(len(keys))
            for value in VALUES
        )
    for combo in combos:
        fields = {k: v for k, v in zip(keys, combo, strict=True) if v is not MISSING}
        # An unknown key the codec let through with a lone surrogate: ignored, as any other.
        shapes += [fields, {**fields, "\udc00": 1}]
    return shapes


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_a_refused_payload_gets_a_legacy_error(name: str) -> None:
    schema, keys = SCHEMAS[name]
    for payload in _payloads(keys):
        try:
            parsed = schema.parse(payload)
        except BanterError as error:
            refused = error
        else:
            assert isinstance(parsed, schema.type)
            continue
        assert refused.message != "Payload is invalid", payload
        assert refused.code in (ErrorCode.VALIDATION_ERROR, ErrorCode.NOT_FOUND), payload


def test_typed_values() -> None:
    assert chat_in.ROOM_REF.parse(12) == chat_in.RoomRef(room_id=12)
    assert chat_in.ROOM_REF.parse({"roomId": 12, "extra": 1}) == chat_in.RoomRef(room_id=12)
    sent = chat_in.SEND_MESSAGE.parse({"roomId": 12, "content": "hi", "clientId": "c-1"})
    assert sent == chat_in.SendMessage(room_id=12, content="hi", client_id="c-1")
    assert sent.message_type == "text" and sent.reply_to is None
    signal = calls_in.CALL_SIGNAL.parse({"callId": 3, "signal": {"sdp": "v=0"}})
    assert signal.signal == {"sdp": "v=0"}
    assert MARK_READ.parse({"all": 1}).all == 1  # not `true`: the handler reads it as not all
    assert AUTH_REFRESH.parse({"token": "t"}) == AuthRefresh(token="t")
    assert presence_in.STATUS_UPDATE.parse("away") == presence_in.StatusUpdate(status="away")


@pytest.mark.parametrize(
    ("schema", "payload", "code", "message", "details"),
    [
        (chat_in.ROOM_REF, "12", "validation_error", "Room id must be an integer", {}),
        (chat_in.ROOM_REF, {"roomId": True}, "validation_error", "Room id must be an integer", {}),
        (chat_in.ROOM_REF, None, "validation_error", "Room id must be an integer", {}),
        (chat_in.SEND_MESSAGE, [1], "validation_error", "Payload must be an object", {}),
        (
            chat_in.SEND_MESSAGE,
            {"roomId": 1, "content": 5},
            "validation_error",
            "content must be a string",
            {"fields": {"content": "not a string"}},
        ),
        # Several bad fields: the first in the service's order wins, domain rules included.
        (
            chat_in.SEND_MESSAGE,
            {"roomId": "x", "content": " "},
            "validation_error",
            "content must not be empty",
            {"fields": {"content": "empty"}},
        ),
        (
            chat_in.SEND_MESSAGE,
            {"roomId": "x", "content": "hi", "messageType": None},
            "validation_error",
            "messageType must be one of: text, image, file",
            {"fields": {"messageType": "invalid choice"}},
        ),
        (
            chat_in.SEND_MESSAGE,
            {"roomId": "x", "content": "hi", "replyTo": "1"},
            "validation_error",
            "replyTo must be a valid id",
            {"fields": {"replyTo": "invalid id"}},
        ),
        (
            chat_in.EDIT_MESSAGE,
            {"messageId": 1.0, "content": "hi"},
            "validation_error",
            "Message id must be an integer",
            {},
        ),
        (
            calls_in.CALL_SIGNAL,
            {"callId": "1", "signal": 5},
            "validation_error",
            "signal must be an object or a string",
            {"fields": {"signal": "invalid"}},
        ),
        (
            MARK_READ,
            {"ids": "all"},
            "validation_error",
            "ids must be a list of integers",
            {"fields": {"ids": ["Expected a list."]}},
        ),
        (
            MARK_READ,
            {"ids": ["1"]},
            "validation_error",
            "ids must be integers",
            {"fields": {"ids": ["Expected a list of integers."]}},
        ),
        (
            chat_in.READ_MARK,
            {"roomId": "1", "messageId": 0},
            "validation_error",
            "messageId must be a valid id",
            {"fields": {"messageId": "invalid id"}},
        ),
        (
            presence_in.STATUS_UPDATE,
            {"status": 1},
            "validation_error",
            "status must be one of: online, away, busy, invisible",
            {"fields": {"status": "invalid choice"}},
        ),
        (
            AUTH_REFRESH,
            "token",
            "validation_error",
            "token is required",
            {"fields": {"token": "required"}},
        ),
    ],
)
def test_legacy_errors(
    schema: EdgeSchema[Any], payload: Any, code: str, message: str, details: dict[str, Any]
) -> None:
    with pytest.raises(BanterError) as refused:
        schema.parse(payload)
    assert refused.value.as_dict() == {"code": code, "message": message, "details": details}
