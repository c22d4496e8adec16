"""LOG_FORMAT=json: one JSON object per log line, for log shippers (Loki, ELK, Cloud Logging).

Fields: ts (ISO 8601, UTC), level, logger, msg (the formatted message), instance (the
realtime INSTANCE_ID, so lines from N instances can be told apart), and exc (traceback)
when there is one. Our log calls put facts in the message as key=value pairs and never log
tokens, query strings or message bodies, so nothing else needs redacting here.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import orjson

from banter.core.instance import INSTANCE_ID


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "instance": INSTANCE_ID,
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class RepeatFilter(logging.Filter):
    """Let the same (logger, message) through at most once per `seconds`.

    For libraries that log a traceback per retry while a dependency is down (channels-redis'
    pub/sub reader retries every second): the first one is loud, the rest would drown it.
    """

    def __init__(self, seconds: float = 30.0) -> None:
        super().__init__()
        self.seconds = seconds
        self._last: dict[tuple[str, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        last = self._last.get(key)
        if last is not None and record.created - last < self.seconds:
            return False
        self._last[key] = record.created
        return True
