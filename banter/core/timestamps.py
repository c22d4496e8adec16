"""Times on the wire: one format for REST and socket payloads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


# Overloads: a time that is never null (createdAt) is typed a str in the payload TypedDicts.
@overload
def iso_utc(value: datetime) -> str: ...
@overload
def iso_utc(value: None) -> None: ...
@overload
def iso_utc(value: datetime | None) -> str | None: ...
def iso_utc(value: datetime | None) -> str | None:
    """ISO-8601 UTC with milliseconds and "Z", the form JavaScript's Date.toISOString uses."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
