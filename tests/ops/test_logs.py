"""LOG_FORMAT=json lines, the repeat filter and the redaction of sids, tokens and queries."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from banter.core.instance import INSTANCE_ID
from banter.ops.logs import JsonFormatter, RedactFilter, RepeatFilter, install_redaction


def _record(msg: str, created: float, *args: object) -> logging.LogRecord:
    record = logging.LogRecord("banter.x", logging.WARNING, __file__, 1, msg, args, None)
    record.created = created
    return record


def test_json_formatter_one_object_per_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = _record("user=%s left", 1_700_000_000.0, 7)
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = orjson.loads(line)
    assert entry["msg"] == "user=7 left"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "banter.x"
    assert entry["instance"] == INSTANCE_ID
    assert entry["ts"] == "2023-11-14T22:13:20.000+00:00"
    assert "ValueError: boom" in entry["exc"]


def test_repeat_filter_lets_one_through_per_window() -> None:
    repeat = RepeatFilter(seconds=30)
    assert repeat.filter(_record("Unexpected exception", 100.0))
    assert not repeat.filter(_record("Unexpected exception", 110.0))
    assert repeat.filter(_record("another message", 110.0))
    assert repeat.filter(_record("Unexpected exception", 131.0))


# -- redaction ----------------------------------------------------------------------------

SID = "Xy7kQ2pLmN4vR8sT1uWz"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjo3fQ.c2lnbmF0dXJl"
QUERY = f"EIO=4&transport=polling&sid={SID}&token={TOKEN}"


def _server_record(name: str, msg: str, args: Any) -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)


def _redacted(record: logging.LogRecord) -> str:
    assert RedactFilter().filter(record) is True  # redacts, never drops
    message = record.getMessage()
    assert SID not in message and TOKEN not in message, message
    return message


@pytest.mark.parametrize(
    ("name", "msg", "args", "expected"),
    [
        (  # uvicorn's access log: (client, method, path_with_query, http_version, status)
            "uvicorn.access",
            '%s - "%s %s HTTP/%s" %d',
            ("127.0.0.1:5000", "GET", f"/socket.io/?{QUERY}", "1.1", 200),
            '127.0.0.1:5000 - "GET /socket.io/ HTTP/1.1" 200',
        ),
        (  # uvicorn's WebSocket handshake lines: (client, path_with_query)
            "uvicorn.error",
            '%s - "WebSocket %s" [accepted]',
            ("127.0.0.1:5000", f"/socket.io/?{QUERY}"),
            '127.0.0.1:5000 - "WebSocket /socket.io/" [accepted]',
        ),
        (  # serve --server daphne's access log (serving/with_daphne.py LoggingAccessLog)
            "daphne.access",
            '%s - "%s" %s %s',
            ("127.0.0.1:5000", f"POST /socket.io/?{QUERY}", 200, 2),
            '127.0.0.1:5000 - "POST /socket.io/" 200 2',
        ),
        (  # daphne logs repr(uri) when the path is not ASCII
            "daphne.http_protocol",
            "bad uri %s",
            (repr(f"/socket.io/\xff?{QUERY}".encode("latin-1")),),
            "bad uri b'/socket.io/\\xff'",
        ),
        (  # django.request: the path in the args
            "django.request",
            "%s: %s",
            ("Not Found", f"/api/x?{QUERY}"),
            "Not Found: /api/x",
        ),
        (  # django.request: the path already in msg, no args
            "django.request",
            f"Internal Server Error: /api/x?{QUERY}",
            (),
            "Internal Server Error: /api/x",
        ),
        (  # runserver: the whole request line as one argument
            "django.server",
            '"%s" %s %s',
            (f"GET /socket.io/?{QUERY} HTTP/1.1", "200", "118"),
            '"GET /socket.io/ HTTP/1.1" 200 118',
        ),
        (  # a single mapping argument (%(name)s formats)
            "daphne.server",
            "%(method)s %(path)s",
            {"method": "GET", "path": f"http://example.test/socket.io/?{QUERY}"},
            "GET http://example.test/socket.io/",
        ),
    ],
)
def test_server_loggers_lose_every_query_string(
    name: str, msg: str, args: Any, expected: str
) -> None:
    record = _server_record(name, msg, args)
    assert _redacted(record) == expected
    assert record.args == ()  # later handlers see only the cleaned text


def test_other_loggers_keep_their_text_but_not_credentials() -> None:
    record = _server_record("banter.realtime.socketio", "closing sid=%s on %s", (SID, "x?y=1"))
    assert _redacted(record) == f"closing sid={SID[:4]}... on x?y=1"
    record = _server_record(
        "banter.x", "tried token=%s then %s", (TOKEN, f'{{"sid": "{SID}", "token": "{TOKEN}"}}')
    )
    assert _redacted(record) == (
        f'tried token=[redacted] then {{"sid": "{SID[:4]}...", "token": "[redacted]"}}'
    )
    plain = _server_record("banter.x", "user=%s left room=%s", (7, 3))
    assert RedactFilter().filter(plain) and plain.args == (7, 3)  # untouched


@pytest.mark.parametrize(
    ("name", "msg", "args", "expected"),
    [
        (  # an Engine.IO v3 handshake: b64 and the v2 client's token query
            "uvicorn.access",
            '%s - "%s %s HTTP/%s" %d',
            (
                "127.0.0.1:5000",
                "GET",
                f"/socket.io/?EIO=3&transport=polling&b64=1&{QUERY}",
                "1.1",
                200,
            ),
            '127.0.0.1:5000 - "GET /socket.io/ HTTP/1.1" 200',
        ),
        (  # a Socket.IO v2 namespace CONNECT quoted by one of our lines
            "banter.realtime.socketio",
            "packet %s",
            (f"40/chat?token={TOKEN},",),
            "packet 40/chat?token=[redacted],",
        ),
        (  # a token no `token=` names: percent-encoded, after Bearer, raw
            "banter.x",
            "query %s header %s body %s",
            (f"token%3D{TOKEN}", f"Bearer {TOKEN}", f"[{TOKEN}]"),
            "query token%3D[redacted] header Bearer [redacted] body [[redacted]]",
        ),
    ],
)
def test_eio3_queries_and_unnamed_tokens_are_redacted(
    name: str, msg: str, args: Any, expected: str
) -> None:
    assert _redacted(_server_record(name, msg, args)) == expected


def test_a_bad_format_string_is_left_to_the_handler() -> None:
    record = _server_record("uvicorn.access", "%d items", ("not a number",))
    assert RedactFilter().filter(record) is True
    assert record.msg == "%d items"


@pytest.fixture
def root_handler() -> Iterator[logging.Handler]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    others = [h for h in [*root.handlers, logging.lastResort] if h is not None and h is not handler]
    before = {id(h): list(h.filters) for h in others}
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for other in others:  # what install_redaction added to pytest's handlers
            other.filters = before[id(other)]


def test_install_redaction_covers_every_root_handler_once(root_handler: logging.Handler) -> None:
    install_redaction()
    install_redaction()
    assert sum(isinstance(f, RedactFilter) for f in root_handler.filters) == 1
    access = logging.getLogger("uvicorn.access")
    previous = access.level
    access.setLevel(logging.INFO)
    try:
        access.info(
            '%s - "%s %s HTTP/%s" %d', "1.2.3.4:5", "GET", f"/socket.io/?{QUERY}", "1.1", 200
        )
    finally:
        access.setLevel(previous)
    stream = root_handler.stream  # type: ignore[attr-defined]
    entry = orjson.loads(stream.getvalue().splitlines()[-1])
    assert entry["msg"] == '1.2.3.4:5 - "GET /socket.io/ HTTP/1.1" 200'


def test_settings_put_the_filter_on_the_console_handler() -> None:
    from django.conf import settings

    logging_config: dict[str, Any] = settings.LOGGING
    assert "redact" in logging_config["handlers"]["console"]["filters"]
    assert logging_config["filters"]["redact"]["()"] == "banter.ops.logs.RedactFilter"
