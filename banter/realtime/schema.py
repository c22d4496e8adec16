"""Inbound payloads parsed at the edge: socket JSON -> a typed value before the handler runs.

A schema checks SHAPE and TYPES only (msgspec, chosen by measurement: bench/
payload_validators.py, docs/benchmarks.md "Socket payload validation"); ranges, lengths and
other domain rules stay in the services, which REST calls too.

A payload that fails is explained by `explain`: the event's legacy checks in the order the
service applies them (banter/core/validation.py, chat/validation.py ...), so the client gets
the same code and message it always did, including which of several bad fields it hears
about first. Only the failure path pays for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import msgspec

from banter.core.errors import validation_error

PayloadT = TypeVar("PayloadT", bound="Payload")


class Payload(msgspec.Struct, frozen=True, rename="camel"):
    """Base of the event payload types: camelCase on the wire, snake_case in Python, unknown
    keys ignored (clients may send more than an event reads)."""


class EdgeSchema(Generic[PayloadT]):
    """Parses one event's payload into `type`; `prepare` first adapts a legacy form (a bare
    roomId for {"roomId": ...}); `explain(payload)` raises the client's error on failure."""

    __slots__ = ("explain", "prepare", "type")

    def __init__(
        self,
        type: type[PayloadT],
        *,
        explain: Callable[[Any], None],
        prepare: Callable[[Any], Any] | None = None,
    ) -> None:
        self.type = type
        self.explain = explain
        self.prepare = prepare

    def parse(self, payload: Any) -> PayloadT:
        prepared = payload if self.prepare is None else self.prepare(payload)
        try:
            return msgspec.convert(prepared, self.type, strict=True)
        except msgspec.ValidationError:
            pass
        except UnicodeEncodeError:
            # msgspec encodes keys (and what it shows of a wrong value) as UTF-8, and the
            # codec lets lone surrogates through: without the keys the event does not read
            # (ignored anyway), a payload of the right types still parses.
            if isinstance(prepared, dict):
                names = self.type.__struct_encode_fields__
                known = {key: prepared[key] for key in names if key in prepared}
                try:
                    return msgspec.convert(known, self.type, strict=True)
                except (msgspec.ValidationError, UnicodeEncodeError):
                    pass
        self.explain(payload)
        # Only when the schema refuses what the legacy checks accept: a schema bug (the
        # tests in tests/realtime/test_schema.py hold the two together).
        raise validation_error("Payload is invalid")


def require_object(payload: Any) -> dict[str, Any]:
    """The legacy first check of events whose payload is an object."""
    if not isinstance(payload, dict):
        raise validation_error("Payload must be an object")
    return payload
