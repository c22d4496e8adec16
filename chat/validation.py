"""Input rules of the chat domain, applied by services before they touch the database.

Services may be called from REST (already typed by serializers) or from socket handlers
(raw JSON), so these checks assume nothing about the caller.
"""

from __future__ import annotations

import re
from typing import Any, cast

from django.conf import settings

from banter.core.errors import validation_error

MAX_ROOM_NAME_LENGTH = 100
# C0 and C1 control characters except tab (\x09) and newline (\x0a); \r goes too, so
# "\r\n" line ends arrive as "\n".
_CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Visible ASCII only: client ids are opaque retry keys (UUIDs, ULIDs, counters).
_CLIENT_ID = re.compile(r"[!-~]{1,64}")


def clean_text(value: Any, *, field: str, max_length: int) -> str:
    """Strip control characters (keeping \\n and \\t) and surrounding whitespace; reject lone
    surrogates, which no encoder can store or send; require 1..max_length characters."""
    if not isinstance(value, str):
        raise validation_error(f"{field} must be a string", **{field: "not a string"})
    if _LONE_SURROGATE.search(value):
        raise validation_error(f"{field} is not valid Unicode", **{field: "lone surrogate"})
    cleaned = _CONTROL_CHARACTERS.sub("", value).strip()
    if not cleaned:
        raise validation_error(f"{field} must not be empty", **{field: "empty"})
    if len(cleaned) > max_length:
        raise validation_error(
            f"{field} must be at most {max_length} characters", **{field: "too long"}
        )
    return cleaned


def clean_content(value: Any, *, caption: bool = False) -> str:
    """Message text; `caption`: the text of a message with attachments, which may be empty
    or absent."""
    max_length = cast(int, settings.BANTER["MAX_MESSAGE_LENGTH"])
    if caption and (value is None or (isinstance(value, str) and not _visible(value))):
        return ""
    return clean_text(value, field="content", max_length=max_length)


def _visible(value: str) -> bool:
    return bool(_CONTROL_CHARACTERS.sub("", value).strip())


def clean_room_name(value: Any) -> str:
    return clean_text(value, field="name", max_length=MAX_ROOM_NAME_LENGTH)


def check_client_id(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _CLIENT_ID.fullmatch(value):
        raise validation_error(
            "clientId must be 1 to 64 visible ASCII characters", clientId="invalid"
        )
    return value
