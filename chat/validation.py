"""Input rules of the chat domain, applied by services before they touch the database.

Services may be called from REST (already typed by serializers) or from socket handlers
(raw JSON), so these checks assume nothing about the caller.
"""

from __future__ import annotations

import re
from typing import Any, cast

from django.conf import settings

from banter.core.errors import not_found, validation_error

MAX_ID = 2**63 - 1  # BIGINT: larger ids would overflow the database driver, not just miss
MAX_ROOM_NAME_LENGTH = 100
# C0 and C1 control characters except tab (\x09) and newline (\x0a); \r goes too, so
# "\r\n" line ends arrive as "\n".
_CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Visible ASCII only: client ids are opaque retry keys (UUIDs, ULIDs, counters).
_CLIENT_ID = re.compile(r"[!-~]{1,64}")


def _is_int(value: Any) -> bool:
    return type(value) is int  # bool is an int subclass but never an id


def check_id(value: Any, *, what: str) -> int:
    """The id of the entity a call acts on: wrong type -> validation_error, unknown -> not_found."""
    if not _is_int(value):
        raise validation_error(f"{what} id must be an integer")
    if not 1 <= value <= MAX_ID:
        raise not_found(what)
    return int(value)


def check_reference_id(value: Any, *, field: str) -> int:
    """An id named in the input (replyTo, userId): any bad value is a validation_error."""
    if not _is_int(value) or not 1 <= value <= MAX_ID:
        raise validation_error(f"{field} must be a valid id", **{field: "invalid id"})
    return int(value)


def check_optional_seq(value: Any, *, field: str) -> int | None:
    if value is None:
        return None
    if not _is_int(value) or not 0 <= value <= MAX_ID:
        raise validation_error(f"{field} must be a non-negative integer", **{field: "invalid"})
    return int(value)


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


def clean_content(value: Any) -> str:
    max_length = cast(int, settings.BANTER["MAX_MESSAGE_LENGTH"])
    return clean_text(value, field="content", max_length=max_length)


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


def check_choice(value: Any, *, field: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise validation_error(
            f"{field} must be one of: {', '.join(choices)}", **{field: "invalid choice"}
        )
    return value
