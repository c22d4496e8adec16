"""LOG_FORMAT=json lines and the repeat filter."""

from __future__ import annotations

import logging

import orjson

from banter.core.instance import INSTANCE_ID
from banter.ops.logs import JsonFormatter, RepeatFilter


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
