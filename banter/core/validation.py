"""Input checks shared by every domain's services (ids, enumerations).

Services may be called from REST (already typed by serializers) or from socket handlers
(raw JSON), so these checks assume nothing about the caller.
"""

from __future__ import annotations

from typing import Any

from banter.core.errors import not_found, validation_error

MAX_ID = 2**63 - 1  # BIGINT: larger ids would overflow the database driver, not just miss


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


def check_limit(value: Any, *, maximum: int) -> int:
    """A page size: an integer from 1 to `maximum`."""
    if not _is_int(value) or not 1 <= value <= maximum:
        raise validation_error(
            f"limit must be an integer from 1 to {maximum}", limit="out of range"
        )
    return int(value)


def check_choice(value: Any, *, field: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise validation_error(
            f"{field} must be one of: {', '.join(choices)}", **{field: "invalid choice"}
        )
    return value
