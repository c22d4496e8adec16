"""Which validator parses socket payloads at the edge (EventSpec.schema): timed, not guessed.

Times one `send-message` payload, already decoded by the codec (orjson) into a dict, turned
into a typed value by each candidate, valid and invalid (a string roomId, so the error
path with its exception is timed too). The candidates must agree with the legacy checks
(banter/core/validation.py): bool is never an int, 12.0 is not an id, and an id too large
for BIGINT still parses as an int (the service answers not_found).

    .venv/bin/python bench/payload_validators.py            # the candidates that are installed
    PYTHONPATH=/tmp/benchlibs .venv/bin/python bench/payload_validators.py   # all of them

Candidates not installed are skipped with a note: msgspec and pydantic are not in the
product's requirements unless chosen (docs/benchmarks.md "Socket payload validation").
"""

from __future__ import annotations

import sys
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VALID: dict[str, Any] = {
    "roomId": 12,
    "content": "hello",
    "clientId": "5b0f4c8e-7d0a-4b8e-9a57-3f7c2d1e6a90",
    "messageType": "text",
}
INVALID: dict[str, Any] = {**VALID, "roomId": "12"}
FRAME = orjson.dumps(VALID)  # for the decode baseline only
NUMBER = 200_000
REPEAT = 5


class Invalid(Exception):
    """What each candidate raises for a bad payload (the edge then maps it to BanterError)."""


# -- plain dataclass + hand checks --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendMessage:
    room_id: int
    content: str
    message_type: str = "text"
    client_id: str | None = None
    reply_to: int | None = None


def parse_by_hand(payload: Any) -> SendMessage:
    if type(payload) is dict:
        room_id = payload.get("roomId")
        content = payload.get("content")
        message_type = payload.get("messageType", "text")
        client_id = payload.get("clientId")
        reply_to = payload.get("replyTo")
        if (
            type(room_id) is int
            and type(content) is str
            and type(message_type) is str
            and (client_id is None or type(client_id) is str)
            and (reply_to is None or type(reply_to) is int)
        ):
            return SendMessage(room_id, content, message_type, client_id, reply_to)
    raise Invalid


def _candidates() -> dict[str, Callable[[Any], Any]]:
    found: dict[str, Callable[[Any], Any]] = {"dataclass + hand checks": parse_by_hand}
    try:
        import msgspec
    except ImportError:
        print("msgspec not installed: skipped", file=sys.stderr)
    else:

        class SendMessageStruct(msgspec.Struct, frozen=True, rename="camel"):
            room_id: int
            content: str
            message_type: str = "text"
            client_id: str | None = None
            reply_to: int | None = None

        def parse_msgspec(payload: Any) -> SendMessageStruct:
            try:
                return msgspec.convert(payload, SendMessageStruct, strict=True)
            except msgspec.ValidationError:
                raise Invalid from None

        found[f"msgspec {msgspec.__version__} Struct + convert"] = parse_msgspec
    try:
        import pydantic
    except ImportError:
        print("pydantic not installed: skipped", file=sys.stderr)
    else:
        from pydantic.alias_generators import to_camel

        config = pydantic.ConfigDict(strict=True, alias_generator=to_camel, frozen=True)

        class SendMessageModel(pydantic.BaseModel):
            model_config = config
            room_id: int
            content: str
            message_type: str = "text"
            client_id: str | None = None
            reply_to: int | None = None

        # Strict per field: a strict config would refuse a dict for a dataclass.
        @pydantic.dataclasses.dataclass(
            config=pydantic.ConfigDict(alias_generator=to_camel, frozen=True)
        )
        class SendMessagePydanticDataclass:
            room_id: pydantic.StrictInt
            content: pydantic.StrictStr
            message_type: pydantic.StrictStr = "text"
            client_id: pydantic.StrictStr | None = None
            reply_to: pydantic.StrictInt | None = None

        adapter = pydantic.TypeAdapter(SendMessagePydanticDataclass)

        def parse_model(payload: Any) -> SendMessageModel:
            try:
                return SendMessageModel.model_validate(payload)
            except pydantic.ValidationError:
                raise Invalid from None

        def parse_adapter(payload: Any) -> SendMessagePydanticDataclass:
            try:
                return adapter.validate_python(payload)
            except pydantic.ValidationError:
                raise Invalid from None

        found[f"pydantic {pydantic.VERSION} BaseModel.model_validate"] = parse_model
        found[f"pydantic {pydantic.VERSION} TypeAdapter(dataclass)"] = parse_adapter
    return found


def _agrees_with_legacy(parse: Callable[[Any], Any]) -> bool:
    """Accepts what the services accept as types, refuses what they refuse."""
    accepted: list[Any] = [VALID, {**VALID, "roomId": 2**70}, {**VALID, "clientId": None}]
    refused: list[Any] = [
        INVALID,
        {**VALID, "roomId": True},
        {**VALID, "roomId": 12.0},
        [VALID],
        None,
    ]
    for payload in accepted:
        try:
            parse(payload)
        except Invalid:
            return False
    for payload in refused:
        try:
            parse(payload)
        except Invalid:
            continue
        return False
    return True


def _per_call_us(function: Callable[[], Any]) -> float:
    best = min(timeit.repeat(function, number=NUMBER, repeat=REPEAT))
    return best / NUMBER * 1e6


def _invalid_call(parse: Callable[[Any], Any]) -> Callable[[], None]:
    def call() -> None:
        # Not contextlib.suppress: its own cost would be timed with the candidate.
        try:  # noqa: SIM105
            parse(INVALID)
        except Invalid:
            pass

    return call


def main() -> None:
    print(f"Python {sys.version.split()[0]}, best of {REPEAT} x {NUMBER:,} calls, µs per call")
    decode = _per_call_us(lambda: orjson.loads(FRAME))
    print(f"{'(baseline) orjson.loads of the payload':48} {decode:6.2f}")
    print(f"{'candidate':48} {'valid':>6} {'invalid':>8}  legacy types")
    for name, parse in _candidates().items():
        valid = _per_call_us(partial(parse, VALID))
        invalid = _per_call_us(_invalid_call(parse))
        agrees = "agree" if _agrees_with_legacy(parse) else "DIFFER"
        print(f"{name:48} {valid:6.2f} {invalid:8.2f}  {agrees}")


if __name__ == "__main__":
    main()
