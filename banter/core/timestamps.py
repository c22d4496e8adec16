"""Times on the wire: one format for REST and socket payloads."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(value: datetime | None) -> str | None:
    """ISO-8601 UTC with milliseconds and "Z", the form JavaScript's Date.toISOString uses."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
