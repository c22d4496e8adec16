"""LOG_FORMAT=json: one JSON object per log line, for log shippers (Loki, ELK, Cloud Logging).

Fields: ts (ISO 8601, UTC), level, logger, msg (the formatted message), instance (the
realtime INSTANCE_ID, so lines from N instances can be told apart), and exc (traceback)
when there is one. Our log calls put facts in the message as key=value pairs and never log
tokens, query strings or message bodies (a few name an engine sid: RedactFilter cuts it).

The servers' own loggers do log query strings (uvicorn's and daphne's access logs, uvicorn's
"WebSocket /socket.io/?..." lines), and an Engine.IO query holds `sid` (whoever has a polling
session's sid can read and write as that session) and maybe `token`. RedactFilter, on every
handler (settings.LOGGING, install_redaction), takes them out before anything is written.
"""

from __future__ import annotations

import logging
import re
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


# Loggers of the ASGI servers and Django's request/server logs: every query string in their
# messages goes, whatever its parameters.
SERVER_LOGGERS = (
    "uvicorn",  # uvicorn.access, uvicorn.error (WebSocket accepted/403 lines), uvicorn.asgi
    "daphne",  # daphne.server, daphne.http_protocol, daphne.ws_protocol, daphne.access
    "django.server",
    "django.request",
    "django.channels.server",  # daphne's runserver access log
)

# A query string after a path or URL ("/socket.io/?EIO=4&sid=..." , "b'/x?token=...'"), up to
# the next space or quote: the path stays, the query goes.
_QUERY = re.compile(r"(/[^\s?#\"']*)\?[^\s\"']*")
# Credentials as key=value or as a JSON member, anywhere (our own lines log engine sids as
# sid=...; an Engine.IO handshake body is {"sid": ...}).
_TOKEN = re.compile(
    r"""\b((?:access_|refresh_)?token|jwt|password)(=|"\s*:\s*")([^\s&"',;)\]]+)""",
    re.IGNORECASE,
)
_SID = re.compile(r"""\b(sid)(=|"\s*:\s*")([A-Za-z0-9_\-]{1,4})[^\s&"',;)\]]*""")
# A JWT wherever it stands, named or not (its header is base64url JSON, so "eyJ..."): a token
# percent-encoded ("token%3DeyJ..."), after "Bearer ", or under another name (Socket.IO v2
# clients put theirs in queries, their own as well as ours) has no `token=` to be seen by.
_JWT = re.compile(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*")
REDACTED = "[redacted]"


def _is_server_logger(name: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in SERVER_LOGGERS)


def redact(message: str, strip_query: bool = False) -> str:
    """`message` without query strings (strip_query) and without credential values (named
    ones, and anything shaped like a JWT).

    An engine sid keeps its first 4 characters (about 24 of its 120 random bits), enough to
    tell one session's lines from another's and useless for taking the session over.
    """
    if strip_query and "?" in message:
        message = _QUERY.sub(r"\1", message)
    if "=" in message or '"' in message:
        message = _TOKEN.sub(rf"\1\2{REDACTED}", message)
        message = _SID.sub(r"\1\2\3...", message)
    if "eyJ" in message:
        message = _JWT.sub(REDACTED, message)
    return message


class RedactFilter(logging.Filter):
    """Strip query strings from the server loggers' records and credential values
    (token=, sid=) from every record, before any handler formats them.

    Works on the formatted message, so any argument shape is covered: uvicorn.access's
    (client, method, path_with_query, http_version, status), uvicorn's WebSocket lines
    (client, path_with_query), daphne's access lines, django.request's ("%s: %s", reason,
    path). A changed record gets the cleaned message as `msg` and no `args`, so every later
    handler and formatter (plain or JSON) sees only the cleaned text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_banter_redacted", False):
            return True
        record.__dict__["_banter_redacted"] = True  # once, however many handlers
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: the handler reports it as it always does
            return True
        cleaned = redact(message, strip_query=_is_server_logger(record.name))
        if cleaned != message:
            record.msg = cleaned
            record.args = ()
        return True


def install_redaction() -> None:
    """Put a RedactFilter on every handler that could write a server log line: the root
    logger's, the server loggers' own (a deployer's LOGGING may add some) and logging's
    last-resort handler. Idempotent. settings.LOGGING already installs it on "console"; this
    is for handlers configured elsewhere (`manage.py serve` calls it before serving)."""
    loggers = [logging.getLogger()]
    for name in list(logging.root.manager.loggerDict):
        if _is_server_logger(name):
            loggers.append(logging.getLogger(name))
    handlers = [handler for logger in loggers for handler in logger.handlers]
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for handler in handlers:
        if not any(isinstance(existing, RedactFilter) for existing in handler.filters):
            handler.addFilter(RedactFilter())
